package plan

import "time"

// Bounds of the search for spans whose event never came.
const (
	// MissedLookBack is how far before the current span the ledger is read:
	// one bounded query each minute, and an outage longer than this is
	// reported only for its last stretch.
	MissedLookBack = 60 * time.Minute
	// MissedGrace is added to the maximum delay before an absent span counts
	// as missed, so that an event being handled at that very moment, on
	// another instance, keeps its span free.
	MissedGrace = 30 * time.Second
)

// TooLate reports whether an event scheduled at scheduled and handled at now
// must not be planned: its checks would run more than maxDelay after they
// were due, and are better recorded as missed than run at the wrong time.
// An event exactly maxDelay late is still planned.
func TooLate(scheduled, now time.Time, maxDelay time.Duration) bool {
	return now.Sub(scheduled) > maxDelay
}

// MissedWindow is the stretch [from, to) of span starts that MissedSpans
// needs from the ledger for span: the look-back before it. The ledger must
// return the starts within it, oldest first, preceded by its anchor: the
// latest dispatched span before from, or else the first one within, with
// nothing before the anchor (see store.LedgerSpans). Spans recorded as missed
// do not anchor: one recorded for a stale event, long before the fleet first
// ran, would turn every minute since into a missed span.
func MissedWindow(span Span) (from, to time.Time) {
	return span.Start.Add(-MissedLookBack), span.Start
}

// MissedSpans returns, oldest first, the starts of the spans before span
// whose event never came and now never will be planned. known is what the
// ledger holds for MissedWindow(span) (see there); offset and maxDelay are
// the fanout's span offset and maximum delay.
//
// A span counts as missed when it is absent from the ledger, later than
// known[0] (so a fresh ledger, or one resuming after a long pause, has missed
// nothing before its first entry), within MissedLookBack, and its event
// would by now be refused as too late, with MissedGrace to spare: an event
// that may still come, late or out of order, must find its span free rather
// than already recorded as missed. A gap (a run of absent spans up to the
// next span in the ledger, or up to span) is returned whole once all of it
// is past saving, and not before: so an outage is reported once, as one gap,
// rather than a minute at a time as its last events expire. Starts are
// compared at the microsecond precision the ledger stores.
func MissedSpans(known []time.Time, span Span, now time.Time, offset, maxDelay time.Duration) []time.Time {
	if len(known) == 0 {
		return nil
	}
	seen := make(map[int64]bool, len(known))
	for _, t := range known {
		seen[t.UnixMicro()] = true
	}
	var missed, gap []time.Time
	from, to := MissedWindow(span)
	for s := from; s.Before(to); s = s.Add(SpanLength) {
		switch {
		case !s.After(known[0]):
		case seen[s.UnixMicro()]:
			missed, gap = append(missed, gap...), nil
		case !TooLate(s.Add(-offset), now, maxDelay+MissedGrace):
			// This event may still come, and so may every later one: the
			// gap it ends waits.
			return missed
		default:
			gap = append(gap, s)
		}
	}
	return append(missed, gap...) // span itself ends the last gap
}
