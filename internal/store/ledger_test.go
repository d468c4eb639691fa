package store_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/store"
)

func TestLedger(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.New(t))
	ctx := testContext(t)
	t0 := time.Date(2030, 5, 1, 12, 0, 7, 0, time.UTC)
	t1 := t0.Add(time.Minute)

	steps := []struct {
		name        string
		do          func() (bool, error)
		wantClaimed bool
	}{
		{"first delivery claims", func() (bool, error) { return s.ClaimSpan(ctx, t0, 3, 120) }, true},
		{"duplicate delivery does not", func() (bool, error) { return s.ClaimSpan(ctx, t0, 3, 120) }, false},
		{"a missed span on a dispatched span is ignored", func() (bool, error) { return false, s.RecordMissed(ctx, t0, "late") }, false},
		{"a missed span is recorded", func() (bool, error) { return false, s.RecordMissed(ctx, t1, "delivered 3m late") }, false},
		{"a missed span cannot be claimed", func() (bool, error) { return s.ClaimSpan(ctx, t1, 1, 1) }, false},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			claimed, err := st.do()
			if err != nil || claimed != st.wantClaimed {
				t.Fatalf("= %v, %v; want %v", claimed, err, st.wantClaimed)
			}
		})
	}
	spans := spansFrom(t, s, t0)
	want := []store.Span{
		{Start: t0, Status: record.SpanDispatched, Shards: 3, Checks: 120},
		{Start: t1, Status: record.SpanMissed, Detail: "delivered 3m late"},
	}
	if !reflect.DeepEqual(spans, want) {
		t.Errorf("Spans:\n got %+v\nwant %+v", spans, want)
	}
}

// spansFrom returns the ledger from since on, without the instants recorded.
func spansFrom(t *testing.T, s *store.Store, since time.Time) []store.Span {
	t.Helper()
	spans, err := s.Spans(testContext(t), since)
	if err != nil {
		t.Fatal(err)
	}
	for i := range spans {
		spans[i].RecordedAt = time.Time{}
	}
	return spans
}

func TestSpanCounts(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.New(t))
	ctx := testContext(t)
	// Spans start off the minute when the fanout shifts them by an offset.
	t0 := time.Now().UTC().Truncate(time.Minute).Add(-10*time.Minute + 7*time.Second)
	t1, t2 := t0.Add(time.Minute), t0.Add(2*time.Minute)

	for _, sp := range []struct {
		at             time.Time
		shards, checks int
	}{{t0, 2, 3}, {t1, 1, 2}} {
		if _, err := s.ClaimSpan(ctx, sp.at, sp.shards, sp.checks); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordMissed(ctx, t2, "late"); err != nil {
		t.Fatal(err)
	}
	var ms []record.Check
	for i, at := range []time.Time{
		t0.Add(-time.Millisecond), // before any span
		t0, t0.Add(20 * time.Second), t1.Add(-time.Millisecond),
		t1, t1.Add(30 * time.Second),
	} {
		ms = append(ms, metric(int64(i+1), at))
	}
	if _, err := s.WriteChecks(ctx, ms); err != nil {
		t.Fatal(err)
	}

	got, err := s.SpanCounts(ctx, t0, plan.SpanLength)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.SpanCount{
		{Start: t0, Status: record.SpanDispatched, Shards: 2, Planned: 3, Stored: 3},
		{Start: t1, Status: record.SpanDispatched, Shards: 1, Planned: 2, Stored: 2},
		{Start: t2, Status: record.SpanMissed, Stored: 0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("SpanCounts:\n got %+v\nwant %+v", got, want)
	}
}

func TestReport(t *testing.T) {
	t.Parallel()
	for _, f := range pgtest.Flavours {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			testReport(t, pgtest.NewOn(t, f))
		})
	}
}

func testReport(t *testing.T, url string) {
	s := open(t, url)
	ctx := testContext(t)

	a, b, off := ep("https://a.example/", time.Minute), ep("https://b.example/", time.Minute), ep("https://off.example/", time.Minute)
	a.Regex, off.Enabled = "welcome", false
	if _, err := s.ImportEndpoints(ctx, []endpoint.Endpoint{a, b, off}, false); err != nil {
		t.Fatal(err)
	}
	eps, err := s.Endpoints(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	idA, idB := eps[0].ID, eps[1].ID

	since := time.Now().UTC().Truncate(time.Minute).Add(-time.Hour)
	check := func(at time.Duration, location string, rt time.Duration, status *int, match *bool, errClass string) record.Check {
		m := metric(idA, since.Add(at))
		m.Location, m.ResponseTime, m.StatusCode, m.RegexMatch, m.Error = location, rt, status, match, errClass
		return m
	}
	// Five checks in the first minute (one rollup bucket), one before since.
	ms := []record.Check{
		check(-time.Minute, "home", time.Second, ptr(200), ptr(true), ""), // before since: left out
		check(0, "home", 10*time.Millisecond, ptr(200), ptr(true), ""),
		check(10*time.Second, "home", 20*time.Millisecond, ptr(301), nil, ""),
		check(20*time.Second, "home", 30*time.Millisecond, ptr(500), ptr(true), ""),
		check(30*time.Second, "home", 40*time.Millisecond, ptr(200), ptr(false), ""),
		check(40*time.Second, "home", 50*time.Millisecond, nil, nil, checkTimeout),
		check(0, "vpc", 7*time.Millisecond, ptr(204), ptr(true), ""),
	}
	if _, err := s.WriteChecks(ctx, ms); err != nil {
		t.Fatal(err)
	}
	now := since.Add(time.Hour)
	if _, err := s.RollUp(ctx, now); err != nil {
		t.Fatal(err)
	}

	got, err := s.Report(ctx, since, now)
	if err != nil {
		t.Fatal(err)
	}
	if got.Level != store.LevelMinute || !got.From.Equal(since) || !got.Through.Equal(since.Add(time.Minute)) {
		t.Errorf("report of %s from %s through %s, want minute from %s through %s", got.Level, got.From, got.Through,
			since, since.Add(time.Minute))
	}
	// percentile_cont over 10, 20, 30, 40, 50 ms: p50 at rank 2 = 30 ms,
	// p95 at rank 3.8 = 40 + 0.8*10 = 48 ms, p99 at rank 3.96 = 49.6 ms.
	want := []store.EndpointReport{
		{EndpointID: idA, URL: a.URL, Location: "home", Counts: store.Counts{Checks: 5, Up: 2, Errors: 1, ErrTimeout: 1,
			Status2xx: 2, Status3xx: 1, Status5xx: 1, RegexFailures: 1, SumMS: 150},
			P50: 30 * time.Millisecond, P95: 48 * time.Millisecond, P99: 49600 * time.Microsecond, Max: 50 * time.Millisecond},
		{EndpointID: idA, URL: a.URL, Location: "vpc", Counts: store.Counts{Checks: 1, Up: 1, Status2xx: 1, SumMS: 7},
			P50: 7 * time.Millisecond, P95: 7 * time.Millisecond, P99: 7 * time.Millisecond, Max: 7 * time.Millisecond},
		{EndpointID: idB, URL: b.URL, Location: "home"}, // enabled, never checked: still listed
	}
	if !reflect.DeepEqual(got.Endpoints, want) {
		t.Errorf("Report:\n got %+v\nwant %+v", got.Endpoints, want)
	}
	if up := got.Endpoints[0].UpPercent(); up != 40 {
		t.Errorf("UpPercent = %v, want 40", up)
	}
}

const checkTimeout = record.ErrTimeout

func TestInvocations(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.New(t))
	ctx := testContext(t)
	start := time.Date(2030, 5, 1, 12, 0, 0, 123456000, time.UTC)
	tests := []struct {
		name string
		inv  record.Invocation
	}{
		{"fanout: no shard, location or cost", record.Invocation{
			Function: "fanout", Region: "eu-west-1", Arch: "arm64", MemoryMB: 256,
			SpanStart: ptr(start.Truncate(time.Minute)), StartedAt: start, Duration: 150500 * time.Microsecond,
			Billed: 151 * time.Millisecond, ChecksPlanned: 1200, PayloadBytes: 4096,
		}},
		{"probe with everything", record.Invocation{
			Function: "probe", Location: "home", Region: "eu-west-1", Arch: "arm64", MemoryMB: 512,
			Shard: ptr(3), SpanStart: ptr(start.Truncate(time.Minute)), StartedAt: start.Add(time.Second),
			Duration: 59 * time.Second, Billed: 59001 * time.Millisecond, ChecksPlanned: 300, ChecksDone: 299,
			ChecksWritten: 290, ChecksUnwritten: 9, PayloadBytes: 70000, CostUSD: ptr(0.000123),
			Error: "database unreachable",
		}},
		{"no span", record.Invocation{Function: "probe", StartedAt: start.Add(2 * time.Second)}},
	}
	for _, tt := range tests {
		if err := s.RecordInvocation(ctx, tt.inv); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
	}
	got, err := s.Invocations(ctx, start)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(tests) {
		t.Fatalf("read %d invocations, want %d", len(got), len(tests))
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got[i].ID == 0 {
				t.Error("no ID")
			}
			got[i].ID = 0
			if !reflect.DeepEqual(got[i], tt.inv) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got[i], tt.inv)
			}
		})
	}
}

// TestReplayedSpanClaim: a span claim replayed from a spill records its span
// as dispatched, also over a missed entry recorded meanwhile (its checks
// were dispatched), and replaying it again changes nothing.
func TestReplayedSpanClaim(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.New(t))
	ctx := testContext(t)
	t0 := time.Now().UTC().Truncate(time.Minute).Add(-10*time.Minute + 10*time.Second)
	t1, t2 := t0.Add(time.Minute), t0.Add(2*time.Minute)
	if _, err := s.ClaimSpan(ctx, t0, 3, 120); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordMissed(ctx, t1, "no event"); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second time is a replay of the same spill
		for _, c := range []record.SpanClaim{{Start: t0, Shards: 9, Checks: 9}, {Start: t1, Shards: 2, Checks: 80}, {Start: t2, Shards: 1, Checks: 5}} {
			if err := s.RecordSpan(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.RecordSpan(ctx, record.SpanClaim{Start: t1, Shards: 7, Checks: 7}); err != nil {
			t.Fatal(err)
		}
	}
	spans := spansFrom(t, s, t0)
	want := []store.Span{
		{Start: t0, Status: record.SpanDispatched, Shards: 3, Checks: 120},
		{Start: t1, Status: record.SpanDispatched, Shards: 2, Checks: 80},
		{Start: t2, Status: record.SpanDispatched, Shards: 1, Checks: 5},
	}
	if !reflect.DeepEqual(spans, want) {
		t.Errorf("Spans:\n got %+v\nwant %+v", spans, want)
	}

	// A check planned within t1's span (at its very start and just before
	// its end) makes it a stored span; t0 and t2 hold none.
	if _, err := s.WriteChecks(ctx, []record.Check{metric(1, t1), metric(2, t1.Add(plan.SpanLength-time.Millisecond))}); err != nil {
		t.Fatal(err)
	}
	stored, err := s.StoredSpans(ctx, []time.Time{t0, t1, t2})
	if err != nil || !reflect.DeepEqual(stored, []time.Time{t1}) {
		t.Errorf("StoredSpans = %v, %v; want [%v]", stored, err, t1)
	}
}
