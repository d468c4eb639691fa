package plan

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/endpoint"
)

func randomEndpoints(r *rand.Rand, n int, locations []string) []endpoint.Endpoint {
	eps := make([]endpoint.Endpoint, n)
	for i := range eps {
		eps[i] = endpoint.Endpoint{
			ID:       r.Int64N(1 << 40),
			URL:      fmt.Sprintf("https://example.test/%d?q=<&>", i),
			Method:   "GET",
			Interval: time.Duration(5+r.IntN(296)) * time.Second,
			Timeout:  5 * time.Second,
			Location: locations[r.IntN(len(locations))],
			Enabled:  r.IntN(20) != 0,
		}
	}
	return eps
}

// dueBruteForce lists the instants of [start, end) at which an endpoint is
// due, by walking the multiples of its interval: an independent statement of
// the scheduling rule.
func dueBruteForce(ep endpoint.Endpoint, start, end int64) map[int64]bool {
	step, phase := ep.Interval.Milliseconds(), Phase(ep.ID, ep.Interval).Milliseconds()
	out := map[int64]bool{}
	for k := (start-phase)/step - 1; phase+k*step < end; k++ {
		if t := phase + k*step; t >= start {
			out[t] = true
		}
	}
	return out
}

// TestPlanEveryInstantExactlyOnce replays random sequences of scheduled
// events (late, duplicated, out of order) through SpanFor, a ledger of
// dispatched spans and PlanWithHistory (random budgets, some unbounded, and
// random history), and checks that every enabled endpoint is planned
// exactly once at each of its due instants over the covered window.
func TestPlanEveryInstantExactlyOnce(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, seed*7))
			eps, hist := randomCostly(r, 50+r.IntN(300), []string{"home", "eu", "intranet"})
			offset := time.Duration(r.IntN(30)) * time.Second
			minutes := 5 + r.IntN(10)
			base := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(100000)) * time.Minute)

			// Events: one per minute, each delivered up to a minute late, some
			// twice, in shuffled order.
			var events []time.Time
			for m := range minutes {
				at := base.Add(time.Duration(m) * time.Minute)
				late := time.Duration(r.IntN(60_000)) * time.Millisecond
				events = append(events, at.Add(late))
				if r.IntN(4) == 0 {
					events = append(events, at.Add(time.Duration(r.IntN(60_000))*time.Millisecond))
				}
			}
			r.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })

			opt := Options{MaxChecks: 1 + r.IntN(400), MaxPayloadBytes: 20_000,
				CPUBudget: time.Duration(r.IntN(2000)) * time.Millisecond, MaxSockets: r.IntN(100)}
			ledger := map[time.Time]bool{}
			planned := map[int64]map[int64]int{} // endpoint -> instant -> times planned
			for _, ev := range events {
				// The scheduled time is the minute; delivery lateness does not
				// move the span. A delivered event names its minute exactly.
				span := SpanFor(ev.Truncate(time.Minute), offset)
				if ledger[span.Start] {
					continue
				}
				ledger[span.Start] = true
				for _, sh := range PlanWithHistory(eps, span, opt, hist) {
					for _, ep := range sh.Endpoints {
						if planned[ep.ID] == nil {
							planned[ep.ID] = map[int64]int{}
						}
						for _, at := range Instants(ep.ID, ep.Interval, sh.Span) {
							planned[ep.ID][at.UnixMilli()]++
						}
					}
				}
			}

			start := base.Add(offset).UnixMilli()
			end := base.Add(offset + time.Duration(minutes)*time.Minute).UnixMilli()
			for _, ep := range eps {
				want := dueBruteForce(ep, start, end)
				got := planned[ep.ID]
				if !ep.Enabled {
					if len(got) != 0 {
						t.Fatalf("disabled endpoint %d planned %d times", ep.ID, len(got))
					}
					continue
				}
				if len(got) != len(want) {
					t.Fatalf("endpoint %d (interval %s): planned %d instants, want %d", ep.ID, ep.Interval, len(got), len(want))
				}
				for at, n := range got {
					if n != 1 || !want[at] {
						t.Fatalf("endpoint %d: instant %d planned %d times (due: %t)", ep.ID, at, n, want[at])
					}
				}
			}
		})
	}
}

func TestPlanShardBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	eps := randomEndpoints(r, 3000, []string{"home", "eu"})
	for i := range eps[:200] {
		eps[i].Interval = 5 * time.Second // busy
		eps[i].Body = string(make([]byte, r.IntN(3000)))
	}
	span := SpanFor(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 10*time.Second)
	opt := Options{MaxChecks: 300, MaxPayloadBytes: 64 << 10}
	shards := Plan(eps, span, opt)
	if len(shards) == 0 {
		t.Fatal("no shards")
	}
	total, seen := 0, map[int64]bool{}
	next := map[string]int{}
	for _, sh := range shards {
		if sh.Index != next[sh.Location] {
			t.Errorf("%s shard index %d, want %d", sh.Location, sh.Index, next[sh.Location])
		}
		next[sh.Location]++
		b, err := json.Marshal(sh)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > opt.MaxPayloadBytes {
			t.Errorf("%s shard %d payload %d bytes > %d", sh.Location, sh.Index, len(b), opt.MaxPayloadBytes)
		}
		if sh.Checks > opt.MaxChecks {
			t.Errorf("%s shard %d has %d checks > %d", sh.Location, sh.Index, sh.Checks, opt.MaxChecks)
		}
		n := 0
		for _, ep := range sh.Endpoints {
			if ep.Location != sh.Location {
				t.Errorf("endpoint %d of %s in a %s shard", ep.ID, ep.Location, sh.Location)
			}
			if seen[ep.ID] {
				t.Errorf("endpoint %d in two shards", ep.ID)
			}
			seen[ep.ID] = true
			n += len(Instants(ep.ID, ep.Interval, span))
		}
		if n != sh.Checks {
			t.Errorf("shard checks %d, instants %d", sh.Checks, n)
		}
		total += n
	}
	if want := Count(eps, span); total != want {
		t.Errorf("planned %d checks, Count says %d", total, want)
	}
}

func TestSpanFor(t *testing.T) {
	tests := []struct {
		name      string
		scheduled string
		offset    time.Duration
		want      string
	}{
		{"on the minute", "2026-11-27T12:00:00Z", 0, "2026-11-27T12:00:00Z"},
		{"seconds ignored", "2026-11-27T12:00:59.999Z", 0, "2026-11-27T12:00:00Z"},
		{"offset", "2026-11-27T12:00:00Z", 10 * time.Second, "2026-11-27T12:00:10Z"},
		{"other zone", "2026-11-27T13:05:30+01:00", 0, "2026-11-27T12:05:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at, _ := time.Parse(time.RFC3339Nano, tt.scheduled)
			got := SpanFor(at, tt.offset)
			want, _ := time.Parse(time.RFC3339, tt.want)
			if !got.Start.Equal(want) || got.End.Sub(got.Start) != SpanLength {
				t.Errorf("SpanFor(%s) = %v, want start %s", tt.scheduled, got, tt.want)
			}
		})
	}
}

func TestPhaseSpreadsEvenly(t *testing.T) {
	// 6,000 endpoints at 60 s: each of 6 ten-second slices should get about
	// 1,000 phases; a hash that clusters would leave some near empty.
	var slots [6]int
	for id := int64(1); id <= 6000; id++ {
		slots[Phase(id, time.Minute)/(10*time.Second)]++
	}
	for i, n := range slots {
		if n < 800 || n > 1200 {
			t.Errorf("slot %d has %d phases, want about 1000 (%v)", i, n, slots)
		}
	}
}

// BenchmarkPlan100k plans one span of 100,000 endpoints over four locations
// and reports the largest shard payload the fanout sends (Shard.Encoded),
// under the 1 MB asynchronous Invoke limit.
// Plain endpoints (a short URL, nothing else) and rich ones (a longer URL, a
// regex, two headers and a 200-byte POST body) fill shards by checks or CPU.
func BenchmarkPlan100k(b *testing.B) {
	for _, bb := range []struct {
		name string
		rich bool
	}{{"plain", false}, {"rich", true}} {
		b.Run(bb.name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			eps := randomEndpoints(r, 100_000, []string{"home", "eu", "us", "intranet"})
			if bb.rich {
				for i := range eps {
					e := &eps[i]
					e.URL = fmt.Sprintf("https://service-%d.example.test/api/v2/health/check?region=eu-west-1&probe=watcher&id=%d", i%997, i)
					e.Method, e.Regex = "POST", `(?i)"status":\s*"(ok|healthy)"`
					e.Body = `{"probe":"watcher","check":"deep","components":["db","cache","queue"],"timeout_ms":5000,"padding":"` +
						strings.Repeat("x", 99) + `"}`
					e.Headers = map[string]string{"Content-Type": "application/json", "X-Request-Source": "watcher-benchmark"}
				}
			}
			span := SpanFor(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 10*time.Second)
			b.ReportAllocs()
			var shards []Shard
			for b.Loop() {
				shards = Plan(eps, span, DefaultOptions)
			}
			var largest int
			for _, sh := range shards {
				payload, err := sh.Encoded()
				if err != nil {
					b.Fatal(err)
				}
				largest = max(largest, len(payload))
			}
			b.ReportMetric(float64(largest), "max-payload-bytes")
			b.ReportMetric(float64(len(shards)), "shards")
		})
	}
}
