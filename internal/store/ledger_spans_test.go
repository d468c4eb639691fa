package store_test

import (
	"slices"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/dev/pgtest"
)

func TestLedgerSpans(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.New(t))
	ctx := testContext(t)
	m := func(i int) time.Time { return time.Date(2030, 5, 1, 12, i, 10, 0, time.UTC) }
	for _, i := range []int{0, 5, 20, 21, 23} {
		if _, err := s.ClaimSpan(ctx, m(i), 1, 1); err != nil {
			t.Fatal(err)
		}
	}
	// Missed spans: 22 among dispatched ones; -2880 (two days before) and
	// -40 and -10 for stale events replayed before the fleet first ran.
	for _, i := range []int{22, -2880, -40, -10} {
		if err := s.RecordMissed(ctx, m(i), "late"); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		from, to time.Time
		want     []time.Time
	}{
		{"window with the latest before it", m(20), m(23), []time.Time{m(5), m(20), m(21), m(22)}},
		{"missed spans count as recorded", m(22), m(24), []time.Time{m(21), m(22), m(23)}},
		{"a missed span does not anchor", m(23), m(30), []time.Time{m(21), m(23)}},
		{"empty window: only the latest before", m(10), m(20), []time.Time{m(5)}},
		{"nothing before", m(0), m(1), []time.Time{m(0)}},
		{"the first dispatched span anchors; stale missed spans before it are left out", m(-30), m(6), []time.Time{m(0), m(5)}},
		{"a stale missed span two days back anchors nothing", m(-60), m(0), nil},
		{"no dispatched span at all", m(-3000), m(-1), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.LedgerSpans(ctx, tt.from, tt.to)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, tt.want, time.Time.Equal) {
				t.Errorf("LedgerSpans = %v, want %v", got, tt.want)
			}
		})
	}
}
