package fanout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/fanout"
	"github.com/watcher-dev/watcher/internal/meter"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/store"
)

// shardCollector stands where the probe functions would be: it receives the
// asynchronous invocations and keeps their shards.
type shardCollector struct {
	mu     sync.Mutex
	shards map[string][]plan.Shard // by function
}

func (c *shardCollector) Invoke(_ context.Context, function string, payload []byte) error {
	sh, err := plan.DecodeShard(payload)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.shards[function] = append(c.shards[function], sh)
	return nil
}

func (c *shardCollector) checks(function string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, s := range c.shards[function] {
		n += s.Checks
	}
	return n
}

// testClock reads the time from now, plus whatever the fanout has slept:
// a wait passes at once and moves the clock on.
type testClock struct {
	mu    sync.Mutex
	now   func() time.Time
	slept time.Duration
	woke  []time.Time // the time at the end of each sleep
}

func newClock(now func() time.Time) *testClock { return &testClock{now: now} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now().Add(c.slept)
}

func (c *testClock) Sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept += d
	c.woke = append(c.woke, c.now().Add(c.slept))
	return nil
}

func setup(t *testing.T, eps []endpoint.Endpoint) (*store.Store, string) {
	t.Helper()
	u := pgtest.New(t)
	st, err := store.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if _, err := st.ImportEndpoints(context.Background(), eps, false); err != nil {
		t.Fatal(err)
	}
	return st, u
}

func demo(n int, locations ...string) []endpoint.Endpoint {
	eps := make([]endpoint.Endpoint, n)
	for i := range eps {
		eps[i] = endpoint.Endpoint{
			Name:     "ep" + string(rune('a'+i%26)) + string(rune('a'+i/26)),
			URL:      "http://target.test/",
			Method:   "GET",
			Interval: time.Duration(5+i%296) * time.Second,
			Timeout:  5 * time.Second,
			Location: locations[i%len(locations)],
			Enabled:  true,
		}
	}
	return eps
}

func TestFanoutDispatchesEveryDueCheck(t *testing.T) {
	st, _ := setup(t, demo(300, "home", "eu"))
	eps, err := st.Endpoints(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	scheduled := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	now := scheduled.Add(3 * time.Second)
	col := &shardCollector{shards: map[string][]plan.Shard{}}
	h := fanout.New(fanout.Config{
		Probes:     map[string]string{"home": "probe-home", "eu": "probe-eu"},
		SpanOffset: 10 * time.Second, MaxDelay: 2 * time.Minute,
		Plan: plan.Options{MaxChecks: 50, MaxPayloadBytes: 900 << 10},
	}, st, col, slog.New(slog.NewTextHandler(io.Discard, nil)), newClock(func() time.Time { return now }))

	out, err := h.Invoke(context.Background(), []byte(`{"detail-type":"Scheduled Event","time":"2026-11-27T12:00:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	var sum fanout.Summary
	if err := json.Unmarshal(out, &sum); err != nil {
		t.Fatal(err)
	}
	span := plan.SpanFor(scheduled, 10*time.Second)
	var home, eu []endpoint.Endpoint
	for _, e := range eps {
		if e.Location == "home" {
			home = append(home, e)
		} else {
			eu = append(eu, e)
		}
	}
	if sum.Status != record.SpanDispatched || sum.Checks != plan.Count(eps, span) || sum.Failed != 0 {
		t.Errorf("summary %+v, want dispatched %d checks", sum, plan.Count(eps, span))
	}
	if got, want := col.checks("probe-home"), plan.Count(home, span); got != want {
		t.Errorf("home probe got %d checks, want %d", got, want)
	}
	if got, want := col.checks("probe-eu"), plan.Count(eu, span); got != want {
		t.Errorf("eu probe got %d checks, want %d", got, want)
	}
	for fn, shards := range col.shards {
		for _, s := range shards {
			if s.Checks > 50 || !s.Span.Start.Equal(span.Start) {
				t.Errorf("%s: shard %d has %d checks, span %v", fn, s.Index, s.Checks, s.Span)
			}
		}
	}

	// The same event again (EventBridge delivers at least once) plans nothing.
	before := len(col.shards["probe-home"])
	sum2, err := h.Run(context.Background(), scheduled)
	if err != nil {
		t.Fatal(err)
	}
	if sum2.Status != record.SpanDuplicate || len(col.shards["probe-home"]) != before {
		t.Errorf("duplicate event: status %q, shards %d -> %d", sum2.Status, before, len(col.shards["probe-home"]))
	}
}

func TestFanoutRecordsMissedSpanForLateEvent(t *testing.T) {
	st, u := setup(t, demo(10, "home"))
	scheduled := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	col := &shardCollector{shards: map[string][]plan.Shard{}}
	h := fanout.New(fanout.Config{
		Probes: map[string]string{"home": "probe-home"}, SpanOffset: 10 * time.Second, MaxDelay: 2 * time.Minute,
	}, st, col, slog.New(slog.NewTextHandler(io.Discard, nil)), newClock(func() time.Time { return scheduled.Add(5 * time.Minute) }))
	sum, err := h.Run(context.Background(), scheduled)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Status != record.SpanMissed || len(col.shards) != 0 {
		t.Errorf("late event: %+v, %d functions invoked", sum, len(col.shards))
	}
	conn, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var status string
	if err := conn.QueryRow(context.Background(), `SELECT status FROM spans WHERE span_start = $1`, sum.SpanStart).Scan(&status); err != nil {
		t.Fatal(err)
	}
	if status != record.SpanMissed {
		t.Errorf("ledger status %q, want %q", status, record.SpanMissed)
	}
}

func TestFanoutReportsUnroutableShards(t *testing.T) {
	st, _ := setup(t, demo(40, "home", "mars"))
	scheduled := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	col := &shardCollector{shards: map[string][]plan.Shard{}}
	h := fanout.New(fanout.Config{
		Probes: map[string]string{"home": "probe-home"}, SpanOffset: 10 * time.Second, MaxDelay: 2 * time.Minute,
	}, st, col, slog.New(slog.NewTextHandler(io.Discard, nil)), newClock(func() time.Time { return scheduled }))
	sum, err := h.Run(context.Background(), scheduled)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed == 0 || sum.FailedChks != sum.ByLocation["mars"] || sum.FailedChks == 0 {
		t.Errorf("summary %+v: want the mars checks reported as not dispatched", sum)
	}
}

func TestFanoutRejectsEventWithoutTime(t *testing.T) {
	h := fanout.New(fanout.Config{}, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), fanout.RealClock{})
	if _, err := h.Invoke(context.Background(), []byte(`{"detail-type":"Scheduled Event"}`)); !errors.Is(err, fanout.ErrNoEvent) {
		t.Errorf("err = %v, want ErrNoEvent", err)
	}
}

// timedCollector notes when, on the fanout's clock, each shard was invoked.
type timedCollector struct {
	clock *testClock
	mu    sync.Mutex
	at    []time.Time
	first []time.Time // each shard's first planned instant
}

func (c *timedCollector) Invoke(_ context.Context, _ string, payload []byte) error {
	sh, err := plan.DecodeShard(payload)
	if err != nil {
		return err
	}
	first := sh.Span.End
	for _, ep := range sh.Endpoints {
		if at := plan.Instants(ep.ID, ep.Interval, sh.Span); len(at) > 0 && at[0].Before(first) {
			first = at[0]
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = append(c.at, c.clock.Now())
	c.first = append(c.first, first)
	return nil
}

// TestFanoutDispatchesEachShardJustBeforeItsFirstCheck holds the rule that
// keeps probes from being billed for waiting: every shard is invoked Lead
// before its first planned instant, never earlier, at once when that time
// has passed; the fanout sleeps until each dispatch time in turn, no longer,
// and ends with the last.
func TestFanoutDispatchesEachShardJustBeforeItsFirstCheck(t *testing.T) {
	st, _ := setup(t, demo(400, "home"))
	scheduled := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	const lead = 2 * time.Second
	tests := []struct {
		name string
		late time.Duration // when the event is handled, after its scheduled time
	}{
		{"on time: the fanout waits for the span", time.Second},
		{"late: passed shards at once, later ones on time", 40 * time.Second},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := scheduled.Add(time.Duration(i) * time.Minute) // a span of its own in the ledger
			handled := at.Add(tt.late)
			clock := newClock(func() time.Time { return handled })
			col := &timedCollector{clock: clock}
			h := fanout.New(fanout.Config{
				Probes: map[string]string{"home": "probe-home"}, SpanOffset: 10 * time.Second, MaxDelay: 2 * time.Minute,
				Lead: lead, Plan: plan.Options{MaxChecks: 40, MaxPayloadBytes: 900 << 10},
			}, st, col, slog.New(slog.DiscardHandler), clock)
			sum, err := h.Run(context.Background(), at)
			if err != nil || sum.Status != record.SpanDispatched || sum.Shards < 3 {
				t.Fatalf("summary %+v, %v: want several shards dispatched", sum, err)
			}
			if len(col.at) != sum.Shards {
				t.Fatalf("%d invocations for %d shards", len(col.at), sum.Shards)
			}
			var wakes []time.Time // the dispatch times still ahead when the event came
			for k := range col.at {
				due := col.first[k].Add(-lead)
				if col.at[k].Before(due) {
					t.Errorf("shard %d invoked at %s, before %s (lead %s before its first check)", k, col.at[k], due, lead)
				}
				if due.After(handled) {
					wakes = append(wakes, due)
				}
			}
			slices.SortFunc(wakes, time.Time.Compare)
			wakes = slices.CompactFunc(wakes, time.Time.Equal)
			if !slices.EqualFunc(clock.woke, wakes, time.Time.Equal) {
				t.Errorf("the fanout woke at %v, want exactly the dispatch times ahead %v", clock.woke, wakes)
			}
			if len(wakes) == 0 {
				t.Error("no shard had to wait: the case tests nothing")
			}
		})
	}
}

// TestFanoutStopsWaitingWhenItOutweighsTheProbes: waiting costs the fanout
// its memory and saves each shard still to go its probe's, so with a
// fanout of 1,024 MB and probes of 512 MB the fanout waits while three or
// more shards remain and sends the last two with the one before them.
func TestFanoutStopsWaitingWhenItOutweighsTheProbes(t *testing.T) {
	st, _ := setup(t, demo(400, "home"))
	scheduled := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	const lead = 2 * time.Second
	handled := scheduled.Add(time.Second)
	clock := newClock(func() time.Time { return handled })
	col := &timedCollector{clock: clock}
	h := fanout.New(fanout.Config{
		Probes: map[string]string{"home": "probe-home"}, SpanOffset: 10 * time.Second, MaxDelay: 2 * time.Minute,
		Lead: lead, ProbeMemoryMB: 512, Meter: meter.Config{MemoryMB: 1024},
		Plan: plan.Options{MaxChecks: 40, MaxPayloadBytes: 900 << 10},
	}, st, col, slog.New(slog.DiscardHandler), clock)
	sum, err := h.Run(context.Background(), scheduled)
	if err != nil || sum.Shards < 4 {
		t.Fatalf("summary %+v, %v: want at least four shards", sum, err)
	}
	firsts := slices.Clone(col.first)
	slices.SortFunc(firsts, time.Time.Compare)
	var wakes []time.Time
	for k, f := range firsts[:len(firsts)-2] { // the last two ride with the third-last
		if due := f.Add(-lead); due.After(handled) && (k == 0 || !due.Equal(firsts[k-1].Add(-lead))) {
			wakes = append(wakes, due)
		}
	}
	if !slices.EqualFunc(clock.woke, wakes, time.Time.Equal) {
		t.Errorf("the fanout woke at %v, want %v: it must stop waiting for the last two shards", clock.woke, wakes)
	}
}

// payloadCollector keeps the payloads as they arrive.
type payloadCollector struct {
	mu       sync.Mutex
	payloads [][]byte
}

func (c *payloadCollector) Invoke(_ context.Context, _ string, payload []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.payloads = append(c.payloads, payload)
	return nil
}

// TestFanoutSendsCompressedShards: a shard of 2,000 endpoints checked once
// a span (the reference's, about 370 KB of JSON) goes out compressed, under
// the payload bound; the probe's decoding gives back every due check once;
// and the invocation records the bytes sent, not the JSON's.
func TestFanoutSendsCompressedShards(t *testing.T) {
	eps := make([]endpoint.Endpoint, 2000)
	for i := range eps {
		eps[i] = endpoint.Endpoint{Name: fmt.Sprintf("reference-%05d", i), URL: fmt.Sprintf("http://127.0.0.1:18089/site/%d", i),
			Method: "GET", Regex: ".*welcome", Interval: time.Minute, Timeout: 10 * time.Second, Location: "home", Enabled: true}
	}
	st, _ := setup(t, eps)
	scheduled := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	col := &payloadCollector{}
	h := fanout.New(fanout.Config{
		Probes: map[string]string{"home": "probe-home"}, SpanOffset: 10 * time.Second, MaxDelay: 2 * time.Minute,
		Plan: plan.DefaultOptions,
	}, st, col, slog.New(slog.DiscardHandler), newClock(func() time.Time { return scheduled.Add(time.Second) }))
	sum, err := h.Run(context.Background(), scheduled)
	if err != nil || sum.Status != record.SpanDispatched || sum.Failed != 0 {
		t.Fatalf("summary %+v, %v", sum, err)
	}
	if len(col.payloads) != sum.Shards || sum.Shards == 0 {
		t.Fatalf("%d payloads for %d shards", len(col.payloads), sum.Shards)
	}
	sent, plain, checks := 0, 0, map[int64]int{}
	for _, p := range col.payloads {
		sent += len(p)
		if !bytes.HasPrefix(p, []byte(`{"shard_gz":"`)) || len(p) > plan.DefaultOptions.MaxPayloadBytes {
			t.Errorf("payload of %d bytes %.40q...: want compressed, at most %d", len(p), p, plan.DefaultOptions.MaxPayloadBytes)
		}
		sh, err := plan.DecodeShard(p)
		if err != nil {
			t.Fatal(err)
		}
		js, err := json.Marshal(sh)
		if err != nil {
			t.Fatal(err)
		}
		plain += len(js)
		for _, ep := range sh.Endpoints {
			checks[ep.ID] += len(plan.Instants(ep.ID, ep.Interval, sh.Span))
		}
	}
	stored, err := st.Endpoints(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	span := plan.SpanFor(scheduled, 10*time.Second)
	for _, ep := range stored {
		if n := len(plan.Instants(ep.ID, ep.Interval, span)); checks[ep.ID] != n {
			t.Errorf("endpoint %d: %d checks sent, %d due", ep.ID, checks[ep.ID], n)
		}
	}
	if sent*10 > plain {
		t.Errorf("sent %d bytes for %d bytes of JSON: want a tenth at most", sent, plain)
	}
	invs, err := st.Invocations(context.Background(), scheduled)
	if err != nil || len(invs) != 1 || invs[0].PayloadBytes != sent {
		t.Errorf("invocations %+v, %v: want one, with the %d bytes sent", invs, err, sent)
	}
}
