// Package recordtest makes and compares checks for the tests of the
// packages that carry them (record, queue, spool, store).
package recordtest

import (
	"reflect"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/record"
)

func ptr[T any](v T) *T { return &v }

// Checks makes n checks of the variety a probe produces: a match over
// HTTPS (its certificate recorded), a failing status, a timeout, with
// durations to the nanosecond.
func Checks(n int) []record.Check {
	base := time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC)
	out := make([]record.Check, n)
	for i := range out {
		c := record.Check{
			EndpointID: int64(i + 1),
			Location:   "us-east-1",
			PlannedAt:  base.Add(time.Duration(i) * time.Millisecond),
			Lateness:   time.Duration(i%7) * time.Millisecond,
			Result: record.Result{
				StartedAt:    base.Add(time.Duration(i)*time.Millisecond + 123456789),
				ResponseTime: 12345678 * time.Nanosecond,
				DNS:          1 * time.Millisecond, Connect: 2 * time.Millisecond, TLS: 3 * time.Millisecond, TTFB: 9 * time.Millisecond,
				BodyBytes: 4096,
			},
		}
		switch i % 3 {
		case 0:
			c.StatusCode, c.RegexMatch = ptr(200), ptr(true)
			c.TLSNotAfter, c.TLSIssuer = ptr(base.AddDate(0, 0, 10+i%30)), "Watcher Test CA"
		case 1:
			c.StatusCode = ptr(503)
		case 2:
			c.Error, c.ErrorDetail = record.ErrTimeout, "context deadline exceeded after 10s"
		}
		out[i] = c
	}
	return out
}

// Equal fails t unless got and want hold the same checks in the same
// order, comparing instants by Equal (a decoded time has no monotonic
// reading and may have another location).
func Equal(t *testing.T, got, want []record.Check) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d checks, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if !g.PlannedAt.Equal(w.PlannedAt) || !g.StartedAt.Equal(w.StartedAt) {
			t.Fatalf("check %d: instants %v %v, want %v %v", i, g.PlannedAt, g.StartedAt, w.PlannedAt, w.StartedAt)
		}
		g.PlannedAt, g.StartedAt = w.PlannedAt, w.StartedAt
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("check %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

// DecodeAll decodes message bodies of checks and returns their checks in order.
func DecodeAll(t *testing.T, bodies [][]byte) []record.Check {
	t.Helper()
	var out []record.Check
	for _, b := range bodies {
		msg, err := record.Decode(b)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		out = append(out, msg.Checks...)
	}
	return out
}
