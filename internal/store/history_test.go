package store_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/store"
)

// TestEndpointHistory works one window out by hand: endpoint 1 answered in
// 1, 2, ..., 20 ms with bodies of 100 to 290 bytes; endpoint 2 shook hands
// in three checks of four and its regex ran out of time once; checks just
// outside the window, before it and at its end, count for neither.
func TestEndpointHistory(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.New(t))
	ctx := testContext(t)
	from := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	to := from.Add(15 * time.Minute)

	var checks []record.Check
	for i := range 20 {
		m := metric(1, from.Add(time.Duration(i)*time.Second))
		m.ResponseTime = time.Duration(i+1) * time.Millisecond
		m.BodyBytes = int64(100 + 10*i)
		checks = append(checks, m)
	}
	for i, tls := range []time.Duration{5 * time.Millisecond, 0, 4 * time.Millisecond, 6 * time.Millisecond} {
		m := metric(2, from.Add(time.Duration(i)*time.Minute))
		m.TLS, m.ResponseTime, m.BodyBytes = tls, 400*time.Millisecond, 4096
		if i == 3 {
			m.Error, m.ResponseTime = record.ErrRegexTimeout, 1400*time.Millisecond
		}
		checks = append(checks, m)
	}
	checks = append(checks, metric(1, from.Add(-time.Millisecond)), metric(2, to), metric(3, to))
	if _, err := s.WriteChecks(ctx, checks); err != nil {
		t.Fatal(err)
	}

	got, err := s.EndpointHistory(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.EndpointHistory{
		// p95 of 1..20 ms, interpolated: 19 + 0.05 ms.
		{EndpointID: 1, Checks: 20, P95: 19050 * time.Microsecond, Mean: 10500 * time.Microsecond, BodyBytes: 195},
		// p95 of 400, 400, 400, 1400 ms: 1400 - 0.15 x 1000 ms.
		{EndpointID: 2, Checks: 4, P95: 1250 * time.Millisecond, Mean: 650 * time.Millisecond, BodyBytes: 4096,
			TLSChecks: 3, RegexTimeouts: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("EndpointHistory =\n%+v\nwant\n%+v", got, want)
	}

	empty, err := s.EndpointHistory(ctx, to.Add(time.Hour), to.Add(2*time.Hour))
	if err != nil || len(empty) != 0 {
		t.Errorf("an empty window: %v, %v", empty, err)
	}
}

// BenchmarkEndpointHistory reads the fanout's window (HistoryWindow, 15
// minutes) over the predecessor's reference load: 10,000 endpoints checked
// every 5 to 30 s, about 660,000 checks in the window, in today's partition
// among the rows of the hour around it.
func BenchmarkEndpointHistory(b *testing.B) {
	s := open(b, pgtest.New(b))
	ctx := testContext(b)
	to := time.Now().UTC().Truncate(time.Minute)
	from := to.Add(-15 * time.Minute)
	var rows []record.Check
	flush := func() {
		if _, err := s.WriteChecks(ctx, rows); err != nil {
			b.Fatal(err)
		}
		rows = rows[:0]
	}
	for id := int64(1); id <= 10_000; id++ {
		interval := time.Duration(5+id%26) * time.Second
		for at := from.Add(-20 * time.Minute).Add(time.Duration(id) * time.Millisecond); at.Before(to.Add(20 * time.Minute)); at = at.Add(interval) {
			m := metric(id, at)
			m.ResponseTime = time.Duration(id%1000) * time.Millisecond
			rows = append(rows, m)
			if len(rows) == 5000 {
				flush()
			}
		}
	}
	flush()
	b.ResetTimer()
	for b.Loop() {
		hist, err := s.EndpointHistory(ctx, from, to)
		if err != nil || len(hist) != 10_000 {
			b.Fatalf("%d endpoints, %v", len(hist), err)
		}
	}
}
