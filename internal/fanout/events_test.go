package fanout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/fanout"
	"github.com/watcher-dev/watcher/internal/meter"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/record"
)

// TestFanoutUnderEventFaults delivers scheduled events as EventBridge may:
// twice, out of order, up to a minute late, far too late, and not at all for
// five minutes. On a controlled clock against the real database it checks
// that every span is dispatched at most once, that events still in time run
// whatever their order, and that every minute whose event never came ends
// up in the ledger as missed, none of them twice, the silent minutes as one
// gap once all of it is past saving.
func TestFanoutUnderEventFaults(t *testing.T) {
	ctx := context.Background()
	st, _ := setup(t, demo(60, "home"))
	eps, err := st.Endpoints(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	const offset, maxDelay = 10 * time.Second, 2 * time.Minute
	m0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	minute := func(i int) time.Time { return m0.Add(time.Duration(i) * time.Minute) }
	var now time.Time
	col := &shardCollector{shards: map[string][]plan.Shard{}}
	h := fanout.New(fanout.Config{
		Probes: map[string]string{"home": "probe-home"}, SpanOffset: offset, MaxDelay: maxDelay,
	}, st, col, slog.New(slog.NewTextHandler(io.Discard, nil)), newClock(func() time.Time { return now }))

	steps := []struct {
		name       string
		event      int           // minute the event names
		at         time.Duration // delivery time after that minute
		wantStatus string
		wantMissed int
	}{
		{"first event on time", 0, time.Second, record.SpanDispatched, 0},
		{"the same event again", 0, 20 * time.Second, record.SpanDuplicate, 0},
		{"minute 2 before minute 1", 2, 2 * time.Second, record.SpanDispatched, 0},
		{"minute 1 a minute late, after minute 2", 1, 64 * time.Second, record.SpanDispatched, 0},
		{"minute 3 on time", 3, time.Second, record.SpanDispatched, 0},
		{"minute 3 again, a minute late", 3, 59 * time.Second, record.SpanDuplicate, 0},
		// Minutes 4 to 8: no event at all.
		{"minute 9 after five silent minutes: 8 may still come, the gap waits", 9, time.Second, record.SpanDispatched, 0},
		{"minute 10: 8 still may", 10, time.Second, record.SpanDispatched, 0},
		{"minute 8 arrives far too late: the gap 4 to 7 goes at once", 8, 150 * time.Second, record.SpanMissed, 4},
		{"minute 7 arrives after its gap", 7, 200 * time.Second, record.SpanMissed, 0},
		{"minute 11 on time: nothing left to find", 11, time.Second, record.SpanDispatched, 0},
		{"minute 10 again, late", 10, 90 * time.Second, record.SpanDuplicate, 0},
	}
	dispatches := map[time.Time]int{}
	for _, s := range steps {
		now = minute(s.event).Add(s.at)
		sum, err := h.Run(ctx, minute(s.event))
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if sum.Status != s.wantStatus || sum.Missed != s.wantMissed {
			t.Errorf("%s: status %q, %d missed spans; want %q, %d", s.name, sum.Status, sum.Missed, s.wantStatus, s.wantMissed)
		}
		if sum.Status == record.SpanDispatched {
			dispatches[sum.SpanStart]++
		}
	}

	// Each minute with a timely event was dispatched once, with all its checks.
	byStart := map[time.Time]int{}
	for _, sh := range col.shards["probe-home"] {
		byStart[sh.Span.Start] += sh.Checks
	}
	for _, i := range []int{0, 1, 2, 3, 9, 10, 11} {
		span := plan.SpanFor(minute(i), offset)
		if dispatches[span.Start] != 1 || byStart[span.Start] != plan.Count(eps, span) {
			t.Errorf("minute %d: dispatched %d times with %d checks; want once with %d", i, dispatches[span.Start], byStart[span.Start], plan.Count(eps, span))
		}
	}
	if len(byStart) != 7 {
		t.Errorf("shards for %d spans, want 7", len(byStart))
	}

	// The ledger holds every minute once: dispatched or missed.
	spans, err := st.Spans(ctx, m0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[time.Time]string{}
	for _, sp := range spans {
		got[sp.Start] = sp.Status
	}
	for i := 0; i <= 11; i++ {
		want := record.SpanDispatched
		if i >= 4 && i <= 8 {
			want = record.SpanMissed
		}
		if start := plan.SpanFor(minute(i), offset).Start; got[start] != want {
			t.Errorf("ledger at minute %d: %q, want %q", i, got[start], want)
		}
	}
	if len(spans) != 12 {
		t.Errorf("ledger has %d spans, want 12: %+v", len(spans), spans)
	}
}

// TestFanoutMissedSpansBounded: a fresh ledger has missed nothing, and after
// a long silence only the look-back window is recorded as missed, once the
// silence is past saving. The EMF line's SpansMissed, which the alarm reads,
// counts those missed spans and a span refused for a late event.
func TestFanoutMissedSpansBounded(t *testing.T) {
	ctx := context.Background()
	m0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		before     []time.Duration // events handled first, each on time
		late       time.Duration   // delivery delay of the last event
		wantMissed int
		wantEMF    float64
	}{
		{"fresh ledger", nil, 0, 0, 0},
		// Minutes 3 to 60 before; the fleet ran again at minutes 2 and 1 before.
		{"three hours of silence", []time.Duration{-3 * time.Hour, -2 * time.Minute, -time.Minute}, 0, 58, 58},
		{"three hours of silence, the last minutes may still come", []time.Duration{-3 * time.Hour}, 0, 0, 0},
		{"no silence", []time.Duration{-time.Minute}, 0, 0, 0},
		{"event three minutes late", []time.Duration{-time.Minute}, 3 * time.Minute, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _ := setup(t, demo(5, "home"))
			var (
				now   time.Time
				lines bytes.Buffer
			)
			h := fanout.New(fanout.Config{
				Probes: map[string]string{"home": "probe-home"}, SpanOffset: 10 * time.Second, MaxDelay: 2 * time.Minute, Meter: meter.Config{EMF: &lines},
			}, st, &shardCollector{shards: map[string][]plan.Shard{}}, slog.New(slog.DiscardHandler), newClock(func() time.Time { return now }))
			for _, b := range tt.before {
				now = m0.Add(b).Add(time.Second)
				if _, err := h.Run(ctx, m0.Add(b)); err != nil {
					t.Fatal(err)
				}
			}
			lines.Reset()
			now = m0.Add(tt.late).Add(time.Second)
			sum, err := h.Run(ctx, m0)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Missed != tt.wantMissed {
				t.Errorf("missed %d, want %d", sum.Missed, tt.wantMissed)
			}
			var line struct{ SpansMissed *float64 }
			if err := json.Unmarshal(lines.Bytes(), &line); err != nil || line.SpansMissed == nil || *line.SpansMissed != tt.wantEMF {
				t.Errorf("EMF line %q (%v): want SpansMissed %v", lines.String(), err, tt.wantEMF)
			}
		})
	}
}
