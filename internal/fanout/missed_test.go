package fanout_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/fanout"
	"github.com/watcher-dev/watcher/internal/meter"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/record"
)

const (
	testOffset   = 10 * time.Second
	testMaxDelay = 2 * time.Minute
)

// logLine is one JSON log line of the fanout, as far as these tests read it.
type logLine struct {
	Level     string
	Msg       string
	Spans     int
	FirstSpan time.Time `json:"first_span"`
	LastSpan  time.Time `json:"last_span"`
}

// missedLines returns the log lines that report missed spans.
func missedLines(t *testing.T, logs *bytes.Buffer) []logLine {
	t.Helper()
	var out []logLine
	sc := bufio.NewScanner(logs)
	for sc.Scan() {
		var l logLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if strings.Contains(l.Msg, "missed") {
			out = append(out, l)
		}
	}
	return out
}

// TestFanoutMissedSpansStartWithTheFleet: replaying stale events (one two
// days old, one twenty minutes old) records their spans as missed, and the
// fleet's first events after that find nothing else missed: neither the
// minutes before the first dispatched span nor those after a stale gap.
func TestFanoutMissedSpansStartWithTheFleet(t *testing.T) {
	ctx := context.Background()
	st, _ := setup(t, demo(5, "home"))
	m0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	var (
		now  time.Time
		logs bytes.Buffer
	)
	h := fanout.New(fanout.Config{Probes: map[string]string{"home": "probe-home"}, SpanOffset: testOffset, MaxDelay: testMaxDelay},
		st, &shardCollector{shards: map[string][]plan.Shard{}}, slog.New(slog.NewJSONHandler(&logs, nil)),
		newClock(func() time.Time { return now }))

	for _, stale := range []time.Duration{-48 * time.Hour, -20 * time.Minute} {
		now = m0.Add(time.Second)
		if sum, err := h.Run(ctx, m0.Add(stale)); err != nil || sum.Status != record.SpanMissed || sum.Missed != 0 {
			t.Fatalf("stale event %s: %+v, %v; want its own span missed, nothing else", stale, sum, err)
		}
	}
	for i := range 4 {
		now = m0.Add(time.Duration(i)*time.Minute + time.Second)
		sum, err := h.Run(ctx, m0.Add(time.Duration(i)*time.Minute))
		if err != nil || sum.Status != record.SpanDispatched || sum.Missed != 0 {
			t.Errorf("minute %d: %+v, %v; want dispatched, nothing missed", i, sum, err)
		}
	}
	spans, err := st.Spans(ctx, m0.Add(-72*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != 6 {
		t.Errorf("ledger has %d spans, want the 2 stale ones and 4 dispatched: %+v", len(spans), spans)
	}
	if lines := missedLines(t, &logs); len(lines) != 2 {
		t.Errorf("%d lines about missed spans, want one for each stale event: %+v", len(lines), lines)
	}
}

// TestFanoutRestartReportsOneGap: a fleet down for 30 minutes comes back;
// its first two events still leave room for the last two silent minutes'
// events, and the third records the 30 minutes as one gap: one log line
// with the count and the range (INFO locally, ERROR in AWS) and the EMF
// SpansMissed the alarm reads.
func TestFanoutRestartReportsOneGap(t *testing.T) {
	for _, tt := range []struct {
		local bool
		level string
	}{{true, "INFO"}, {false, "ERROR"}} {
		t.Run(tt.level, func(t *testing.T) {
			ctx := context.Background()
			st, _ := setup(t, demo(5, "home"))
			m0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
			minute := func(i int) time.Time { return m0.Add(time.Duration(i) * time.Minute) }
			var (
				now       time.Time
				logs, emf bytes.Buffer
			)
			h := fanout.New(fanout.Config{
				Probes: map[string]string{"home": "probe-home"}, SpanOffset: testOffset, MaxDelay: testMaxDelay,
				Meter: meter.Config{EMF: &emf}, Local: tt.local,
			}, st, &shardCollector{shards: map[string][]plan.Shard{}}, slog.New(slog.NewJSONHandler(&logs, nil)),
				newClock(func() time.Time { return now }))
			run := func(i int) fanout.Summary {
				t.Helper()
				now = minute(i).Add(time.Second)
				emf.Reset()
				sum, err := h.Run(ctx, minute(i))
				if err != nil || sum.Status != record.SpanDispatched {
					t.Fatalf("minute %d: %+v, %v", i, sum, err)
				}
				return sum
			}
			for i := -33; i <= -31; i++ { // the fleet ran, then stopped for minutes -30 to -1
				run(i)
			}
			for i, want := range []int{0, 0, 30} {
				if sum := run(i); sum.Missed != want {
					t.Errorf("minute %d after the restart: %d missed, want %d", i, sum.Missed, want)
				}
			}
			var line struct{ SpansMissed *float64 }
			if err := json.Unmarshal(emf.Bytes(), &line); err != nil || line.SpansMissed == nil || *line.SpansMissed != 30 {
				t.Errorf("EMF line %q (%v): want SpansMissed 30", emf.String(), err)
			}
			lines := missedLines(t, &logs)
			first, last := plan.SpanFor(minute(-30), testOffset).Start, plan.SpanFor(minute(-1), testOffset).Start
			if len(lines) != 1 || lines[0].Level != tt.level || lines[0].Spans != 30 ||
				!lines[0].FirstSpan.Equal(first) || !lines[0].LastSpan.Equal(last) {
				t.Errorf("lines about missed spans: %+v; want one %s line: 30 spans, %s to %s", lines, tt.level, first, last)
			}
			spans, err := st.Spans(ctx, minute(-40))
			if err != nil {
				t.Fatal(err)
			}
			missed := 0
			for _, sp := range spans {
				if sp.Status == record.SpanMissed {
					missed++
				}
			}
			if len(spans) != 36 || missed != 30 {
				t.Errorf("ledger: %d spans, %d missed; want 36, 30 missed", len(spans), missed)
			}
		})
	}
}
