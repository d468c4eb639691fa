package plan

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/cost"
	"github.com/watcher-dev/watcher/internal/endpoint"
)

// randomCostly is randomEndpoints with what moves the cost model: https or
// not, regexes for either engine, timeouts from 1 s to the interval, some
// bodies; and a history for about half of them, some hanging to their
// timeout, some heavy.
func randomCostly(r *rand.Rand, n int, locations []string) ([]endpoint.Endpoint, map[int64]History) {
	eps := randomEndpoints(r, n, locations)
	patterns := []string{"", "", "welcome", `.*welcome`, `(?<!always )welcome`, `(\w+) \1`}
	hist := map[int64]History{}
	for i := range eps {
		e := &eps[i]
		if r.IntN(2) == 0 {
			e.URL = fmt.Sprintf("http://example.test/%d", i)
		}
		e.Regex = patterns[r.IntN(len(patterns))]
		e.Timeout = time.Duration(1+r.Int64N(int64(e.Interval/time.Second))) * time.Second
		if r.IntN(3) == 0 {
			continue
		}
		checks := r.IntN(40)
		p95 := time.Duration(r.Int64N(int64(e.Timeout)))
		if r.IntN(4) == 0 {
			p95 = e.Timeout + time.Duration(r.IntN(100))*time.Millisecond // hung to the timeout, and a little past
		}
		hist[e.ID] = History{
			Checks: checks, P95: p95, Mean: time.Duration(r.Int64N(int64(p95) + 1)),
			BodyBytes: r.Int64N(1 << 20), TLSChecks: r.IntN(checks + 1), RegexTimeouts: r.IntN(checks/10 + 1),
		}
	}
	return eps, hist
}

// interval is one check in flight, in ms since the epoch.
type interval struct{ start, end int64 }

// shardIntervals lists the shard's checks in flight, each over [instant,
// instant + its estimated duration), with the estimates computed afresh.
func shardIntervals(sh Shard, hist map[int64]History) []interval {
	var out []interval
	for _, ep := range sh.Endpoints {
		c := estimateFor(&ep, hist)
		for _, at := range Instants(ep.ID, ep.Interval, sh.Span) {
			out = append(out, interval{at.UnixMilli(), at.UnixMilli() + c.Duration.Milliseconds()})
		}
	}
	return out
}

func estimateFor(ep *endpoint.Endpoint, hist map[int64]History) Cost {
	var h *History
	if m, ok := hist[ep.ID]; ok {
		h = &m
	}
	return Estimate(ep, h, ep.Regex != "" && Backtracks(ep.Regex))
}

// peakBySweep is the most intervals that hold one instant: ends sorted
// before starts at the same instant, as the intervals are half-open.
func peakBySweep(ivs []interval) int {
	type event struct {
		at int64
		d  int
	}
	var evs []event
	for _, iv := range ivs {
		evs = append(evs, event{iv.start, 1}, event{max(iv.end, iv.start+1), -1})
	}
	slices.SortFunc(evs, func(a, b event) int {
		if a.at != b.at {
			return int(a.at - b.at)
		}
		return a.d - b.d
	})
	peak, cur := 0, 0
	for _, e := range evs {
		cur += e.d
		peak = max(peak, cur)
	}
	return peak
}

// peakByBuckets is the planner's rule written out: each interval counts in
// every overlapResolution bucket it touches, and the peak is the fullest
// bucket.
func peakByBuckets(ivs []interval) int {
	count := map[int64]int{}
	peak := 0
	for _, iv := range ivs {
		for b := iv.start / overlapResolution; b <= (max(iv.end, iv.start+1)-1)/overlapResolution; b++ {
			count[b]++
			peak = max(peak, count[b])
		}
	}
	return peak
}

func shardCPU(sh Shard, hist map[int64]History) time.Duration {
	var total time.Duration
	for _, ep := range sh.Endpoints {
		total += time.Duration(len(Instants(ep.ID, ep.Interval, sh.Span))) * estimateFor(&ep, hist).CPU
	}
	return total
}

func shardBytes(sh Shard) int {
	n := shardOverhead
	for _, ep := range sh.Endpoints {
		n += JSONSize(&ep)
	}
	return n
}

// TestPlanBudgetBounds packs random endpoint sets, with and without
// history, under random budgets, and holds every shard to them: no shard
// exceeds the checks, payload, CPU or socket bound unless it holds a single
// endpoint (an endpoint's checks are never split, so one that alone exceeds
// a bound gets a shard of its own). The socket bound holds for the exact
// peak of checks in flight, by a sweep. Every due check is planned exactly
// once. And packing is tight: each shard was closed only because the next
// endpoint of its location would have broken a bound, so budgets do not
// cost shards for nothing. Every bound must close some shard over the seeds,
// or the test would prove nothing about it.
func TestPlanBudgetBounds(t *testing.T) {
	closedBy := map[string]int{}
	for seed := uint64(1); seed <= 40; seed++ {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, seed*13))
			eps, hist := randomCostly(r, 100+r.IntN(900), []string{"home", "eu"})
			if seed%4 == 0 {
				hist = nil // every endpoint at the cautious default
			}
			// Each bound tight or loose, so that each gets to close shards.
			tight := func() bool { return r.IntN(2) == 0 }
			opt := Options{MaxChecks: 1 << 30, MaxPayloadBytes: 1 << 30, CPUBudget: time.Hour, MaxSockets: 1 << 30}
			if tight() {
				opt.MaxChecks = 1 + r.IntN(500)
			}
			if tight() {
				opt.MaxPayloadBytes = 1000 + r.IntN(50_000)
			}
			if tight() {
				opt.CPUBudget = time.Duration(1+r.IntN(3000)) * time.Millisecond
			}
			if tight() {
				opt.MaxSockets = 1 + r.IntN(120)
			}
			span := SpanFor(time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(100_000))*time.Minute), 10*time.Second)
			shards := PlanWithHistory(eps, span, opt, hist)

			planned := map[int64]int{}
			total := 0
			for k, sh := range shards {
				single := len(sh.Endpoints) == 1
				ivs := shardIntervals(sh, hist)
				cpu := shardCPU(sh, hist)
				peak := peakBySweep(ivs)
				if !single {
					if sh.Checks > opt.MaxChecks {
						t.Errorf("%s shard %d: %d checks > %d", sh.Location, sh.Index, sh.Checks, opt.MaxChecks)
					}
					if b := shardBytes(sh); b > opt.MaxPayloadBytes {
						t.Errorf("%s shard %d: %d bytes > %d", sh.Location, sh.Index, b, opt.MaxPayloadBytes)
					}
					if cpu > opt.CPUBudget {
						t.Errorf("%s shard %d: CPU %s > %s", sh.Location, sh.Index, cpu, opt.CPUBudget)
					}
					if peak > opt.MaxSockets {
						t.Errorf("%s shard %d: %d checks in flight > %d", sh.Location, sh.Index, peak, opt.MaxSockets)
					}
				}
				if sh.ExpectedSockets < peak || sh.ExpectedSockets != peakByBuckets(ivs) {
					t.Errorf("%s shard %d: expected sockets %d, want the bucketed peak %d (exact %d)",
						sh.Location, sh.Index, sh.ExpectedSockets, peakByBuckets(ivs), peak)
				}
				if got, want := sh.ExpectedCPUMS, float64(cpu.Microseconds())/1e3; got < want-0.002 || got > want+0.002 {
					t.Errorf("%s shard %d: expected CPU %.3f ms, want %.3f", sh.Location, sh.Index, got, want)
				}
				n := 0
				for _, ep := range sh.Endpoints {
					planned[ep.ID]++
					n += len(Instants(ep.ID, ep.Interval, span))
				}
				if n != sh.Checks {
					t.Errorf("%s shard %d: %d checks, its endpoints have %d instants", sh.Location, sh.Index, sh.Checks, n)
				}
				total += n

				// Tightness: the next endpoint of the location broke a bound.
				if k+1 == len(shards) || shards[k+1].Location != sh.Location {
					continue
				}
				next := shards[k+1].Endpoints[0]
				with := sh
				with.Endpoints = append(slices.Clip(sh.Endpoints), next)
				nextChecks := len(Instants(next.ID, next.Interval, span))
				switch {
				case sh.Checks+nextChecks > opt.MaxChecks:
					closedBy["checks"]++
				case shardBytes(with) > opt.MaxPayloadBytes:
					closedBy["payload"]++
				case shardCPU(with, hist) > opt.CPUBudget:
					closedBy["cpu"]++
				case peakByBuckets(shardIntervals(with, hist)) > opt.MaxSockets:
					closedBy["sockets"]++
				default:
					t.Errorf("%s shard %d closed with room for endpoint %d", sh.Location, sh.Index, next.ID)
				}
			}
			for _, ep := range eps {
				due := ep.Enabled && len(Instants(ep.ID, ep.Interval, span)) > 0
				if want := map[bool]int{true: 1}[due]; planned[ep.ID] != want {
					t.Errorf("endpoint %d (due: %t) in %d shards", ep.ID, due, planned[ep.ID])
				}
			}
			if want := Count(eps, span); total != want {
				t.Errorf("planned %d checks, Count says %d", total, want)
			}
		})
	}
	for _, bound := range []string{"checks", "payload", "cpu", "sockets"} {
		if closedBy[bound] == 0 {
			t.Errorf("no shard was closed by its %s bound over every seed (%v): the case tests nothing", bound, closedBy)
		}
	}
}

// TestPlanGivesAnOversizedEndpointItsOwnShard: an endpoint whose checks
// alone exceed the CPU budget (a backtracking regex at 5 s) is planned, in
// a shard of its own, and the endpoints around it are packed as usual.
func TestPlanGivesAnOversizedEndpointItsOwnShard(t *testing.T) {
	var eps []endpoint.Endpoint
	for id := int64(1); id <= 30; id++ {
		eps = append(eps, endpoint.Endpoint{ID: id, URL: "http://example.test/", Method: "GET", Interval: 5 * time.Second,
			Timeout: time.Second, Location: "home", Enabled: true})
	}
	eps[10].Regex = `(\w+) \1`
	hist := map[int64]History{eps[10].ID: {Checks: 20, P95: time.Second, Mean: time.Second, RegexTimeouts: 20}}
	span := SpanFor(time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC), 10*time.Second)
	opt := Options{MaxChecks: 2000, MaxPayloadBytes: 900 << 10, CPUBudget: 10 * time.Second, MaxSockets: 960}
	shards := PlanWithHistory(eps, span, opt, hist)
	found := false
	total := 0
	for _, sh := range shards {
		total += sh.Checks
		for _, ep := range sh.Endpoints {
			if ep.ID == eps[10].ID {
				found = true
				if len(sh.Endpoints) != 1 || sh.ExpectedCPUMS < 12_000 {
					t.Errorf("the oversized endpoint shares shard %d with %d others, expected CPU %.0f ms",
						sh.Index, len(sh.Endpoints)-1, sh.ExpectedCPUMS)
				}
			}
		}
	}
	if !found || total != Count(eps, span) || len(shards) != 3 {
		t.Errorf("%d shards, %d of %d checks, oversized endpoint planned: %t; want it alone between two others",
			len(shards), total, Count(eps, span), found)
	}
}

// TestPlanHangingTargetsFillBySockets: without history every check is
// expected to hold its socket for its whole timeout, so endpoints due once
// a span are packed by the socket budget long before their count; with a
// history of quick answers the same endpoints fill shards up to MaxChecks
// (their compressed payload is far from its bound), not sockets.
func TestPlanHangingTargetsFillBySockets(t *testing.T) {
	var eps []endpoint.Endpoint
	for id := int64(1); id <= 10_000; id++ {
		eps = append(eps, endpoint.Endpoint{ID: id, URL: "http://example.test/", Method: "GET", Interval: time.Minute,
			Timeout: 10 * time.Second, Location: "home", Enabled: true})
	}
	span := SpanFor(time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC), 10*time.Second)
	quick := map[int64]History{}
	for _, ep := range eps {
		quick[ep.ID] = History{Checks: 15, P95: 40 * time.Millisecond, Mean: 12 * time.Millisecond, BodyBytes: 2048}
	}
	tests := []struct {
		name       string
		hist       map[int64]History
		wantShards int
	}{
		// 10,000 checks a minute, 167 a second, each 10 s: 960 sockets hold
		// under 6 s of instants, about 950 checks.
		{"no history: whole timeouts", nil, 11},
		{"quick history: by checks", quick, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shards := PlanWithHistory(eps, span, DefaultOptions, tt.hist)
			if len(shards) != tt.wantShards {
				t.Errorf("%d shards, want %d", len(shards), tt.wantShards)
			}
			for _, sh := range shards {
				if p := peakBySweep(shardIntervals(sh, tt.hist)); p > DefaultOptions.MaxSockets {
					t.Errorf("shard %d: %d checks in flight > %d", sh.Index, p, DefaultOptions.MaxSockets)
				}
			}
		})
	}
}

func TestOverlapBoundsTheSweep(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for round := range 200 {
		origin := int64(1_800_000_000_000 + overlapResolution*r.IntN(100))
		o := newOverlap(origin, 70_000)
		var ivs []interval
		for range r.IntN(300) {
			start := origin + r.Int64N(60_000)
			iv := interval{start, start + r.Int64N(10_000)}
			ivs = append(ivs, iv)
			o.addInterval(iv.start, iv.end-iv.start, 1)
		}
		// Taking some away again leaves the peak of the rest.
		for len(ivs) > 0 && r.IntN(3) == 0 {
			iv := ivs[len(ivs)-1]
			ivs = ivs[:len(ivs)-1]
			o.addInterval(iv.start, iv.end-iv.start, -1)
		}
		if got, want := o.top(), peakByBuckets(ivs); got != want || got < peakBySweep(ivs) {
			t.Fatalf("round %d: overlap %d, buckets %d, sweep %d", round, got, want, peakBySweep(ivs))
		}
	}
}

func TestEstimate(t *testing.T) {
	plain := endpoint.Endpoint{URL: "http://example.test/", Timeout: 5 * time.Second}
	secure := endpoint.Endpoint{URL: "HTTPS://example.test/", Timeout: 5 * time.Second}
	re2 := endpoint.Endpoint{URL: "http://example.test/", Regex: "welcome", Timeout: 5 * time.Second}
	noTimeout := endpoint.Endpoint{URL: "http://example.test/"}
	body64 := 64 * CPUPerBodyKiB
	tests := []struct {
		name       string
		ep         endpoint.Endpoint
		h          *History
		backtracks bool
		want       Cost
	}{
		{"no history: whole timeout, default body", plain, nil, false, Cost{CPUPerCheck + body64, 5 * time.Second}},
		{"no timeout: the default", noTimeout, nil, false, Cost{CPUPerCheck + body64, endpoint.DefaultTimeout}},
		{"https: a handshake", secure, nil, false, Cost{CPUPerCheck + CPUPerTLS + body64, 5 * time.Second}},
		{"RE2 over the default body", re2, nil, false, Cost{CPUPerCheck + body64 + 64*CPURE2PerKiB, 5 * time.Second}},
		{"backtracking over the default body", re2, nil, true, Cost{CPUPerCheck + body64 + 64*CPUBacktrackPerKiB, 5 * time.Second}},
		{"too little history: defaults", plain, &History{Checks: MinHistoryChecks - 1, P95: time.Millisecond}, false,
			Cost{CPUPerCheck + body64, 5 * time.Second}},
		{"history: p95, measured body", plain, &History{Checks: 10, P95: 80 * time.Millisecond, Mean: 20 * time.Millisecond, BodyBytes: 4096}, false,
			Cost{CPUPerCheck + 4*CPUPerBodyKiB, 80 * time.Millisecond}},
		{"heavy tail: the mean", plain, &History{Checks: 10, P95: 20 * time.Millisecond, Mean: 900 * time.Millisecond}, false,
			Cost{CPUPerCheck, 900 * time.Millisecond}},
		{"past the timeout: the timeout", plain, &History{Checks: 10, P95: 5100 * time.Millisecond, Mean: 5050 * time.Millisecond}, false,
			Cost{CPUPerCheck, 5 * time.Second}},
		{"instant answers: a millisecond", plain, &History{Checks: 10}, false, Cost{CPUPerCheck, time.Millisecond}},
		{"half the checks shook hands (redirects to https)", plain, &History{Checks: 10, TLSChecks: 5, P95: time.Second}, false,
			Cost{CPUPerCheck + CPUPerTLS/2, time.Second}},
		{"regex timeouts at the match timeout", re2, &History{Checks: 10, RegexTimeouts: 2, P95: time.Second}, true,
			Cost{CPUPerCheck + endpoint.RegexMatchTimeout/5, time.Second}},
		{"a body counts up to what a check reads", re2, &History{Checks: 10, BodyBytes: 1 << 30, P95: time.Second}, true,
			Cost{CPUPerCheck + 1024*(CPUPerBodyKiB+CPUBacktrackPerKiB), time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Estimate(&tt.ep, tt.h, tt.backtracks); got != tt.want {
				t.Errorf("Estimate = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDefaultBudgets(t *testing.T) {
	// 192 MB is 0.109 of a vCPU; 85 % of it for a minute is 5.54 s.
	if got := CPUBudget(cost.NominalProbeMemoryMB, CPUShare); got < 5_530*time.Millisecond || got > 5_540*time.Millisecond {
		t.Errorf("CPUBudget(192 MB) = %s, want 5.54 s", got)
	}
	if got := CPUBudget(MBPerVCPU, 1); got != SpanLength {
		t.Errorf("CPUBudget of a whole vCPU = %s, want the span", got)
	}
	if DefaultOptions.MaxSockets != 960 || DefaultOptions.CPUBudget != DefaultCPUBudget {
		t.Errorf("DefaultOptions = %+v", DefaultOptions)
	}
}

// TestJSONSizeBoundsTheEncoding holds JSONSize to the encoding of random
// endpoints, hostile strings included: never below it, and, for strings
// that need no escaping and without basic auth (whose allowance is rough),
// within a few bytes of it.
func TestJSONSizeBoundsTheEncoding(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	plain := []string{"a", "Z", "0", "/", "?", "=", "-", " "}
	alphabet := append([]string{"&", "<", ">", `"`, `\`, "\n", "\x00", "é", "\u2028", "\xff"}, plain...)
	var chars []string
	str := func(max int) string {
		var b strings.Builder
		for range r.IntN(max + 1) {
			b.WriteString(chars[r.IntN(len(chars))])
		}
		return b.String()
	}
	for i := range 4000 {
		hostile := i%2 == 0
		chars = alphabet
		if !hostile {
			chars = plain
		}
		ep := endpoint.Endpoint{
			ID: r.Int64() - r.Int64(), Name: str(20), URL: "http://example.com/" + str(40), Method: str(7),
			Body: str(30), Regex: str(15), Location: str(10), Enabled: r.IntN(2) == 0,
			Interval: time.Duration(5+r.IntN(296)) * time.Second,
		}
		ep.Timeout = time.Duration(1+r.Int64N(int64(ep.Interval/time.Millisecond))) * time.Millisecond
		if r.IntN(2) == 0 {
			ep.Headers = map[string]string{}
			for range r.IntN(4) {
				ep.Headers[str(10)] = str(20)
			}
		}
		withAuth := r.IntN(4) == 0
		if withAuth {
			ep.BasicAuth = &endpoint.BasicAuth{Username: str(10), PasswordEnv: str(10), PasswordSecret: str(30)}
		}
		b, err := json.Marshal(ep)
		if err != nil {
			t.Fatal(err)
		}
		got := JSONSize(&ep)
		if got < len(b) {
			t.Fatalf("endpoint %d: JSONSize %d < %d bytes encoded: %s", i, got, len(b), b)
		}
		if !hostile && !withAuth && got > len(b)+16 {
			t.Errorf("endpoint %d: JSONSize %d, %d bytes encoded: the bound is loose", i, got, len(b))
		}
	}
}
