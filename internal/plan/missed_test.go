package plan

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestTooLate(t *testing.T) {
	scheduled := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	const maxDelay = 2 * time.Minute
	tests := []struct {
		name     string
		now      time.Time
		maxDelay time.Duration
		want     bool
	}{
		{"on time", scheduled, maxDelay, false},
		{"early (clock behind)", scheduled.Add(-time.Minute), maxDelay, false},
		{"late within the limit", scheduled.Add(maxDelay - time.Second), maxDelay, false},
		{"exactly the limit", scheduled.Add(maxDelay), maxDelay, false},
		{"a nanosecond past the limit", scheduled.Add(maxDelay + 1), maxDelay, true},
		{"well past the limit", scheduled.Add(time.Hour), maxDelay, true},
		{"zero limit, on time", scheduled, 0, false},
		{"zero limit, a nanosecond late", scheduled.Add(1), 0, true},
		{"other zone", scheduled.In(time.FixedZone("CET", 3600)).Add(maxDelay), maxDelay, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TooLate(scheduled, tt.now, tt.maxDelay); got != tt.want {
				t.Errorf("TooLate(%s, %s, %s) = %t, want %t", scheduled, tt.now, tt.maxDelay, got, tt.want)
			}
		})
	}
}

func TestMissedWindow(t *testing.T) {
	span := SpanFor(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC), 10*time.Second)
	from, to := MissedWindow(span)
	if !to.Equal(span.Start) || span.Start.Sub(from) != MissedLookBack {
		t.Errorf("MissedWindow(%v) = [%s, %s), want the %s before %s", span, from, to, MissedLookBack, span.Start)
	}
}

// minutes lists k minutes for each k in ks, for the table below.
func minutes(ks ...int) []time.Duration {
	out := make([]time.Duration, len(ks))
	for i, k := range ks {
		out[i] = time.Duration(k) * time.Minute
	}
	return out
}

// between lists hi, hi-1, ..., lo: minutes before a span, oldest first.
func between(hi, lo int) []int {
	var out []int
	for k := hi; k >= lo; k-- {
		out = append(out, k)
	}
	return out
}

func TestMissedSpans(t *testing.T) {
	scheduled := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	// With the defaults (offset 10 s, MaxDelay 2 min, the current event 5 s
	// late) the span k minutes before the current one had its event
	// scheduled k minutes before, so it is past MaxDelay+grace (150 s) from
	// k = 3 on: k = 1 and 2 may still come.
	const (
		offset   = 10 * time.Second
		maxDelay = 2 * time.Minute
		late     = 5 * time.Second
	)
	tests := []struct {
		name     string
		offset   time.Duration
		maxDelay time.Duration
		late     time.Duration   // now - the current event's scheduled time
		known    []time.Duration // ledger starts, as durations before the current span, oldest first
		truncate bool            // ledger starts at microsecond precision, as stored
		want     []int           // missed spans, in minutes before the current span
	}{
		{name: "fresh ledger", known: nil, want: nil},
		{name: "nothing missed", known: minutes(between(61, 1)...), want: nil},
		{name: "one missed", known: minutes(append(between(61, 5), 3, 2, 1)...), want: []int{4}},
		{name: "several missed", known: minutes(7, 2), want: []int{6, 5, 4, 3}},
		{name: "a span recorded", known: minutes(7, 5, 2), want: []int{6, 4, 3}},
		{name: "events that may still come", known: minutes(3), want: nil},
		// A gap is reported whole once its last event is past saving.
		{name: "a gap ending in a span that may still come waits", known: minutes(7), want: nil},
		{name: "a closed gap goes, a waiting one stays", known: minutes(7, 5), want: []int{6}},
		{name: "event exactly MaxDelay+grace late may still come", maxDelay: 3*time.Minute + late - MissedGrace, known: minutes(4, 2), want: nil},
		{name: "event a nanosecond past MaxDelay+grace is missed", maxDelay: 3*time.Minute + late - MissedGrace - 1, known: minutes(4, 2), want: []int{3}},
		{name: "spans older than the look-back", known: minutes(90, 2), want: between(60, 3)},
		{name: "spans older than the look-back, gap still open", known: minutes(90), want: nil},
		{name: "known[0] just before the window", known: minutes(61, 30, 2), want: append(between(60, 31), between(29, 3)...)},
		{name: "known[0] at the window start", known: minutes(60, 30, 2), want: append(between(59, 31), between(29, 3)...)},
		{name: "events out of order: the gap waits for minute 2", known: minutes(6, 1), want: nil},
		{name: "current event late: more predecessors due", late: 100 * time.Second, known: minutes(6, 1), want: []int{5, 4, 3, 2}},
		{name: "clock behind: later spans not due yet", late: -10 * time.Minute, known: minutes(15, 12), want: []int{14, 13}},
		{name: "offset zero", offset: -1, known: minutes(5, 2), want: []int{4, 3}},
		// With a 45 s offset, a span's event was scheduled 45 s before it
		// starts: k = 3 is 185 s past it, though only 140 s past its start.
		{name: "offset nonzero: lateness counts from the scheduled time", offset: 45 * time.Second, known: minutes(5, 2), want: []int{4, 3}},
		{name: "ledger start off the grid (offset changed)", known: []time.Duration{6 * time.Minute, 4*time.Minute + 40*time.Second, 2 * time.Minute}, want: []int{5, 4, 3}},
		{name: "ledger start off the grid as known[0]", known: []time.Duration{4*time.Minute + 40*time.Second, 2 * time.Minute}, want: []int{4, 3}},
		{name: "ledger at microsecond precision", offset: 10*time.Second + 500, truncate: true, known: minutes(6, 4, 2), want: []int{5, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			off, md, lt := tt.offset, tt.maxDelay, tt.late
			switch off {
			case 0:
				off = offset
			case -1:
				off = 0
			}
			if md == 0 {
				md = maxDelay
			}
			if lt == 0 {
				lt = late
			}
			span := SpanFor(scheduled, off)
			var known []time.Time
			for _, d := range tt.known {
				k := span.Start.Add(-d)
				if tt.truncate {
					k = k.Truncate(time.Microsecond)
				}
				known = append(known, k)
			}
			var want []time.Time
			for _, k := range tt.want {
				want = append(want, span.Start.Add(-time.Duration(k)*time.Minute))
			}
			got := MissedSpans(known, span, scheduled.Add(lt), off, md)
			if !slices.EqualFunc(got, want, time.Time.Equal) {
				t.Errorf("MissedSpans = %s\nwant %s", minutesBefore(span, got), minutesBefore(span, want))
			}
		})
	}
}

// minutesBefore formats starts as minutes before span, for messages.
func minutesBefore(span Span, starts []time.Time) string {
	out := make([]string, len(starts))
	for i, s := range starts {
		out[i] = fmt.Sprint(span.Start.Sub(s))
	}
	return fmt.Sprint(out)
}

// missedBruteForce states the missed-span rule independently: it walks the
// scheduled minutes, takes the span each names through SpanFor, and keeps
// those within the look-back before span whose event is more than
// maxDelay+grace old at now, that come after the ledger's first start and
// that the ledger lacks (compared as stored, to the microsecond), and
// whose gap is past saving: every later span the ledger lacks, up to the
// next one it holds or span, has an event as old.
func missedBruteForce(known []time.Time, scheduled time.Time, now time.Time, offset, maxDelay time.Duration) []time.Time {
	span := SpanFor(scheduled, offset)
	if len(known) == 0 {
		return nil
	}
	var out []time.Time
	first := scheduled.UTC().Truncate(time.Minute).Add(-3 * time.Hour)
	for m := first; m.Before(span.End); m = m.Add(time.Minute) {
		s := SpanFor(m, offset).Start
		before := span.Start.UnixNano() - s.UnixNano()
		if before <= 0 || before > int64(MissedLookBack) {
			continue
		}
		if now.UnixNano()-m.UnixNano() <= int64(maxDelay+MissedGrace) {
			continue
		}
		if s.UnixNano() <= known[0].UnixNano() {
			continue
		}
		if recorded(known, s) {
			continue
		}
		closed := true
		for n := m.Add(time.Minute); ; n = n.Add(time.Minute) {
			next := SpanFor(n, offset).Start
			if !next.Before(span.Start) || recorded(known, next) {
				break
			}
			if now.UnixNano()-n.UnixNano() <= int64(maxDelay+MissedGrace) {
				closed = false
				break
			}
		}
		if closed {
			out = append(out, s)
		}
	}
	return out
}

// recorded reports whether known holds s, compared as stored.
func recorded(known []time.Time, s time.Time) bool {
	for _, k := range known {
		if k.UnixMicro() == s.UnixMicro() {
			return true
		}
	}
	return false
}

// ledgerSpans answers as the ledger does for [from, to): the starts within,
// oldest first, preceded by the latest before from if any.
func ledgerSpans(ledger []time.Time, from, to time.Time) []time.Time {
	sorted := slices.SortedFunc(slices.Values(ledger), time.Time.Compare)
	var out []time.Time
	for i, s := range sorted {
		if !s.Before(from) && s.Before(to) {
			if len(out) == 0 && i > 0 {
				out = append(out, sorted[i-1])
			}
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		// Nothing within: only the latest before from, if any.
		for i := len(sorted) - 1; i >= 0; i-- {
			if sorted[i].Before(from) {
				out = append(out, sorted[i])
				break
			}
		}
	}
	return out
}

// TestMissedSpansAgainstBruteForce draws random ledgers (sparse or dense,
// with starts off the grid from an earlier offset, starts after the current
// span from events handled out of order, stored to the microsecond), random
// offsets, limits and clocks, some on the very boundary of MaxDelay+grace,
// and checks MissedSpans against missedBruteForce, and that nothing it
// returns could still be planned.
func TestMissedSpansAgainstBruteForce(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, seed*13))
			for range 500 {
				base := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(100000)) * time.Minute)
				scheduled := base.Add(time.Duration(r.IntN(60_000)) * time.Millisecond)
				var offset time.Duration
				switch r.IntN(4) {
				case 0:
				case 1:
					offset = time.Duration(r.IntN(60)) * time.Second
				case 2:
					offset = time.Duration(r.IntN(90_000)-10_000) * time.Millisecond
				default:
					offset = time.Duration(r.Int64N(int64(time.Minute))) // down to the nanosecond
				}
				maxDelay := time.Duration(r.IntN(10*60)) * time.Second
				span := SpanFor(scheduled, offset)

				// The full ledger around the span; the fanout sees only
				// what LedgerSpans returns for the window.
				var ledger []time.Time
				density := r.Float64()
				for k := -5; k <= 100; k++ {
					if r.Float64() < density {
						ledger = append(ledger, span.Start.Add(-time.Duration(k)*time.Minute))
					}
				}
				for range r.IntN(3) { // from an earlier offset
					ledger = append(ledger, span.Start.Add(-time.Duration(r.Int64N(int64(90*time.Minute)))))
				}
				for i := range ledger {
					ledger[i] = ledger[i].Truncate(time.Microsecond)
				}
				from, to := MissedWindow(span)
				known := ledgerSpans(ledger, from, to)

				var now time.Time
				if r.IntN(3) == 0 {
					// On the boundary of some span's MaxDelay+grace.
					m := span.Start.Add(-offset - time.Duration(r.IntN(62))*time.Minute)
					now = m.Add(maxDelay + MissedGrace + time.Duration(r.IntN(3)-1))
				} else {
					now = scheduled.Add(time.Duration(r.Int64N(int64(80*time.Minute))) - 10*time.Minute)
				}

				got := MissedSpans(known, span, now, offset, maxDelay)
				want := missedBruteForce(known, scheduled, now, offset, maxDelay)
				if !slices.EqualFunc(got, want, time.Time.Equal) {
					t.Fatalf("span %v offset %s maxDelay %s now %s known %v:\nMissedSpans %v\nbrute force %v",
						span, offset, maxDelay, now, known, got, want)
				}
				for _, s := range got {
					if !TooLate(s.Add(-offset), now, maxDelay) {
						t.Fatalf("span %s returned as missed though its event may still be planned at %s", s, now)
					}
				}
			}
		})
	}
}
