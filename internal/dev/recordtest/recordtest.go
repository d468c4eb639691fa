// Package recordtest makes and compares checks for the tests of the
// packages that carry them (record, queue, spool, store).
package recordtest

import (
	"math/rand/v2"
	"reflect"
	"slices"
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

// Realistic makes n checks as a probe records them on the reference
// workload (README, Cost) against the target farm: endpoints numbered in
// the thousands at location "home", each due every 5 to 30 s at a phase of
// whole milliseconds; one endpoint in five answers after about 1 s, the
// rest after about 10 ms, measured to the nanosecond; eight in ten answer
// 200 with the 23-byte welcome body the regex matches, the rest 404 or 500
// with no body; connect times from TCP_INFO, in whole microseconds. The
// checks come in the order they end, as a probe's writer batches them.
// seed makes the same checks every time.
func Realistic(n int, seed uint64) []record.Check {
	rng := rand.New(rand.NewPCG(seed, 0x7265616c))
	type endpoint struct {
		id              int64
		interval, phase time.Duration
		status          int
		delay           time.Duration
	}
	// About twenty checks an endpoint, as a shard's endpoints make over a
	// few minutes.
	eps := make([]endpoint, min(max(1, n/20), 10_000))
	for i, id := range rng.Perm(10_000)[:len(eps)] {
		e := endpoint{id: int64(1_000 + id), interval: time.Duration(5+rng.IntN(26)) * time.Second, status: 200, delay: 10 * time.Millisecond}
		e.phase = time.Duration(rng.Int64N(int64(e.interval/time.Millisecond))) * time.Millisecond
		switch rng.IntN(10) {
		case 0:
			e.status = 404
		case 1:
			e.status = 500
		}
		if rng.IntN(5) == 0 {
			e.delay = time.Second
		}
		eps[i] = e
	}
	base := time.Date(2026, 11, 27, 10, 0, 10, 0, time.UTC)
	var out []record.Check
	for span := time.Duration(0); len(out) < n; span += time.Minute {
		for _, e := range eps {
			for at := span + (e.phase-span%e.interval+e.interval)%e.interval; at < span+time.Minute; at += e.interval {
				planned := base.Add(at)
				lateness := 200*time.Microsecond + time.Duration(rng.Int64N(int64(2*time.Millisecond)))
				rt := e.delay + 50*time.Microsecond + time.Duration(rng.Int64N(int64(1450*time.Microsecond)))
				c := record.Check{EndpointID: e.id, Location: "home", PlannedAt: planned, Lateness: lateness,
					Result: record.Result{StartedAt: planned.Add(lateness), ResponseTime: rt, StatusCode: ptr(e.status),
						RegexMatch: ptr(e.status == 200), Connect: time.Duration(5+rng.IntN(60)) * time.Microsecond, TTFB: rt}}
				if e.status == 200 {
					c.BodyBytes = 23
				}
				out = append(out, c)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b record.Check) int {
		return a.StartedAt.Add(a.ResponseTime).Compare(b.StartedAt.Add(b.ResponseTime))
	})
	return out[:n]
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
