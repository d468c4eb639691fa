package fanout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/fanout"
	"github.com/watcher-dev/watcher/internal/meter"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/spool"
	"github.com/watcher-dev/watcher/internal/store"
)

// ledgerDown is the real store whose writes about the fleet itself (span
// claims and invocation records) fail while down is set, as they do while
// the database is away; endpoints are read from the last list all the same.
type ledgerDown struct {
	*store.Store
	down atomic.Bool
}

var errDown = errors.New("connection refused (injected)")

func (l *ledgerDown) ClaimSpan(ctx context.Context, s time.Time, shards, checks int) (bool, error) {
	if l.down.Load() {
		return false, errDown
	}
	return l.Store.ClaimSpan(ctx, s, shards, checks)
}

func (l *ledgerDown) RecordSpan(ctx context.Context, c record.SpanClaim) error {
	if l.down.Load() {
		return errDown
	}
	return l.Store.RecordSpan(ctx, c)
}

func (l *ledgerDown) RecordInvocation(ctx context.Context, inv record.Invocation) error {
	if l.down.Load() {
		return errDown
	}
	return l.Store.RecordInvocation(ctx, inv)
}

// brokenSpill is a spill that keeps nothing: the spool's directory or the
// record queue is away too.
type brokenSpill struct{}

func (brokenSpill) RecordInvocation(context.Context, record.Invocation) error {
	return errors.New("spool unwritable (injected)")
}

func (brokenSpill) RecordSpan(context.Context, record.SpanClaim) error {
	return errors.New("spool unwritable (injected)")
}

// TestFanoutKeepsWhatItRecordsAboutItself: a span dispatched while the
// ledger refuses its claim has its claim and invocation record spilled and,
// replayed, recorded once; while they wait, and for a span whose claim was
// lost but whose checks are stored, the missed-span search records no gap.
// Only the span whose event never came is missed. With the spill away too,
// both records are counted lost (summary and EMF RecordsLost).
func TestFanoutKeepsWhatItRecordsAboutItself(t *testing.T) {
	ctx := context.Background()
	base, _ := setup(t, demo(5, "home"))
	st := &ledgerDown{Store: base}
	dir, err := spool.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m0 := time.Now().UTC().Truncate(time.Minute).Add(-time.Hour)
	minute := func(i int) time.Time { return m0.Add(time.Duration(i) * time.Minute) }
	var (
		now time.Time
		emf bytes.Buffer
	)
	cfg := fanout.Config{Probes: map[string]string{"home": "probe-home"}, SpanOffset: testOffset, MaxDelay: testMaxDelay,
		Meter: meter.Config{EMF: &emf}, Spill: dir, RecordTimeout: 1500 * time.Millisecond}
	h := fanout.New(cfg, st, &shardCollector{shards: map[string][]plan.Shard{}}, slog.New(slog.DiscardHandler),
		newClock(func() time.Time { return now }))
	run := func(h *fanout.Handler, i int) fanout.Summary {
		t.Helper()
		now = minute(i).Add(time.Second)
		emf.Reset()
		sum, err := h.Run(ctx, minute(i))
		if err != nil || sum.Status != record.SpanDispatched {
			t.Fatalf("minute %d: %+v, %v; want dispatched", i, sum, err)
		}
		return sum
	}
	span := func(i int) time.Time { return plan.SpanFor(minute(i), testOffset).Start }

	for i := range 3 {
		run(h, i)
	}
	st.down.Store(true)
	if sum := run(h, 3); !sum.ClaimSpilled || sum.RecordsLost != 0 {
		t.Errorf("minute 3, ledger down: %+v; want the claim spilled, nothing lost", sum)
	}
	st.down.Store(false)
	// Minute 4's event came and its checks are stored, but its claim was
	// lost; minute 5's never came.
	if _, err := base.WriteChecks(ctx, []record.Check{{EndpointID: 1, Location: "home", PlannedAt: span(4).Add(time.Second),
		Result: record.Result{StartedAt: span(4).Add(time.Second)}}}); err != nil {
		t.Fatal(err)
	}
	missed := 0
	for i := 6; i <= 8; i++ {
		missed += run(h, i).Missed
	}
	if missed != 1 {
		t.Errorf("%d spans recorded missed, want 1 (minute 5's)", missed)
	}
	ledger := func() map[time.Time]string {
		t.Helper()
		spans, err := base.Spans(ctx, span(0))
		if err != nil {
			t.Fatal(err)
		}
		out := map[time.Time]string{}
		for _, s := range spans {
			out[s.Start] = s.Status
		}
		return out
	}
	if l := ledger(); l[span(3)] != "" || l[span(4)] != "" || l[span(5)] != record.SpanMissed {
		t.Errorf("ledger before replay: %v; want minutes 3 and 4 absent (not gaps), 5 missed", l)
	}

	for range 2 { // a second replay finds nothing
		if _, err := dir.Replay(ctx, base); err != nil {
			t.Fatal(err)
		}
	}
	if l := ledger(); l[span(3)] != record.SpanDispatched {
		t.Errorf("ledger after replay: %v; want minute 3 dispatched", l)
	}
	invs, err := base.Invocations(ctx, minute(0).Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	perSpan := map[time.Time]int{}
	for _, inv := range invs {
		perSpan[*inv.SpanStart]++
	}
	for _, i := range []int{0, 1, 2, 3, 6, 7, 8} {
		if perSpan[span(i)] != 1 {
			t.Errorf("minute %d: %d invocation rows, want 1", i, perSpan[span(i)])
		}
	}

	// The spill away too: both records are counted lost.
	cfg.Spill = brokenSpill{}
	broken := fanout.New(cfg, st, &shardCollector{shards: map[string][]plan.Shard{}}, slog.New(slog.DiscardHandler),
		newClock(func() time.Time { return now }))
	st.down.Store(true)
	if sum := run(broken, 9); sum.RecordsLost != 2 || sum.ClaimSpilled {
		t.Errorf("minute 9, ledger and spill down: %+v; want 2 records lost", sum)
	}
	var line map[string]any
	if err := json.Unmarshal(emf.Bytes(), &line); err != nil || line[meter.RecordsLost] != 2.0 {
		t.Errorf("EMF line %q (%v): want RecordsLost 2", emf.String(), err)
	}
}
