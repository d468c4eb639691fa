// Package plan is the scheduler's pure core: when each endpoint is due, which
// span a scheduled event names, and how the checks of a span are packed into
// shards for the probes. It does no I/O and reads no clock.
package plan

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"math"
	"slices"
	"time"

	"github.com/watcher-dev/watcher/internal/endpoint"
)

// SpanLength is the stretch of time one scheduled event plans.
const SpanLength = time.Minute

// Span is the half-open stretch [Start, End) of planned instants.
type Span struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// SpanFor returns the span named by an event's scheduled time: the minute it
// falls in, shifted by a constant offset that absorbs the usual delivery
// delay. Spans of consecutive minutes tile time whatever the delay.
func SpanFor(scheduled time.Time, offset time.Duration) Span {
	start := scheduled.UTC().Truncate(SpanLength).Add(offset)
	return Span{Start: start, End: start.Add(SpanLength)}
}

// Phase is the endpoint's fixed offset in [0, interval), derived from a hash
// of its id so that checks of different endpoints spread evenly.
func Phase(id int64, interval time.Duration) time.Duration {
	ms := interval.Milliseconds()
	if ms <= 0 {
		return 0
	}
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(id))
	_, _ = h.Write(b[:])
	return time.Duration(h.Sum64()%uint64(ms)) * time.Millisecond
}

// Instants returns the instants in span at which the endpoint is due: every t
// with (t - phase) divisible by the interval, in milliseconds since the epoch.
func Instants(id int64, interval time.Duration, span Span) []time.Time {
	first, step, n := instants(id, interval, span)
	out := make([]time.Time, n)
	for i := range out {
		out[i] = time.UnixMilli(first + int64(i)*step).UTC()
	}
	return out
}

// instants returns the first due instant (ms since the epoch), the step and
// how many fall in span.
func instants(id int64, interval time.Duration, span Span) (first, step int64, n int) {
	step = interval.Milliseconds()
	if step <= 0 {
		return 0, 0, 0
	}
	phase := Phase(id, interval).Milliseconds()
	start, end := span.Start.UnixMilli(), span.End.UnixMilli()
	// Smallest t >= start with (t - phase) mod step == 0.
	r := (start - phase) % step
	if r < 0 {
		r += step
	}
	first = start
	if r != 0 {
		first = start + step - r
	}
	if first >= end {
		return first, step, 0
	}
	return first, step, int((end-1-first)/step) + 1
}

// Buckets tell the probe how its shard spends the span.
const (
	// BucketBusy shards hold endpoints due several times a span: the probe is
	// busy for the whole span.
	BucketBusy = "busy"
	// BucketBurst shards hold endpoints due at most once a span, packed in
	// order of their instant so that a shard finishes early.
	BucketBurst = "burst"
)

// Shard is the unit of work of one probe invocation and the payload of the
// asynchronous Invoke that starts it.
type Shard struct {
	Location  string              `json:"location"`
	Index     int                 `json:"shard"`
	Bucket    string              `json:"bucket"`
	Span      Span                `json:"span"`
	Checks    int                 `json:"checks"`
	Endpoints []endpoint.Endpoint `json:"endpoints"`
	// What the planner expects the shard to take: CPU time over the span,
	// and the peak of checks in flight when the socket budget is bounded
	// (0 when it is not).
	ExpectedCPUMS   float64 `json:"expected_cpu_ms"`
	ExpectedSockets int     `json:"expected_sockets,omitempty"`
	// Payload is the shard's encoding (EncodeShard) where the planner
	// made it: where the shard's JSON could exceed MaxPayloadBytes, so
	// that only its encoding tells whether it fits. Elsewhere nil: the
	// JSON fits, and so does any encoding of it. Encoded gives either.
	// It is not part of the shard's JSON.
	Payload []byte `json:"-"`
}

// Encoded returns the shard's payload: Payload, or EncodeShard's where the
// planner did not need to make it (Encoder.Payload with a new encoder).
func (sh *Shard) Encoded() ([]byte, error) {
	var e Encoder
	return e.Payload(sh)
}

// Options bound the size of a shard. A shard is closed when the next
// endpoint would take it past any bound; a bound of 0 is no bound (except
// MaxChecks and MaxPayloadBytes, which every caller sets).
type Options struct {
	MaxChecks int // planned checks per shard
	// MaxPayloadBytes bounds a shard's payload, its encoding (EncodeShard),
	// under the asynchronous Invoke limit.
	MaxPayloadBytes int
	// MaxJSONBytes bounds a shard's JSON before compression (by
	// JSONSize); 0: MaxPayloadBytes, counting on no compression. Where a
	// shard's encoding would still exceed MaxPayloadBytes, its location is
	// packed again to a smaller bound (see PlanWithHistory).
	MaxJSONBytes int
	// CPUBudget bounds the CPU time a shard's checks are expected to spend
	// in the span: a share of the probe function's vCPU (see CPUBudget).
	CPUBudget time.Duration
	// MaxSockets bounds the checks a shard is expected to have in flight
	// at once, each holding a socket for its expected duration: the probe's
	// descriptors less what it holds for other things.
	MaxSockets int
}

// DefaultOptions fit a 1 MB asynchronous Invoke payload with room to spare,
// plan CPUShare of a 192 MB probe's vCPU, and leave the descriptors Lambda
// allows a probe less SocketReserve to the checks' sockets.
//
// MaxChecks, 16,000, is the largest shard measured in the sandbox at 192 MB
// (lateness p99 16.7 ms at 89 % of the quota): checks cheaper than the
// constants assume stop there.
//
// MaxJSONBytes, 4 MiB, lets compression carry shards of endpoints checked
// once a span to their CPU budget or MaxChecks: 10,000 endpoints of up to
// 419 bytes of JSON each (the reference's take 185; compressed, 13). Where
// endpoints compress less than 4.6 times, the fit packs their shards to
// the payload bound. It stays small beside a 256 MB probe: decoding a
// 4 MiB shard of 10,000 endpoints allocated 28 MB and left 12 MB in use.
var DefaultOptions = Options{
	MaxChecks:       16000,
	MaxPayloadBytes: 900 << 10,
	MaxJSONBytes:    4 << 20,
	CPUBudget:       DefaultCPUBudget,
	MaxSockets:      DescriptorLimit - SocketReserve,
}

// shardOverhead is the JSON size of a shard without its endpoints, rounded up.
const shardOverhead = 320

// fitMargin is how far below the proportional bound a location is packed
// again when a shard's encoding exceeded MaxPayloadBytes: shards compress
// unevenly.
const fitMargin = 0.9

// Plan is PlanWithHistory without history: every endpoint at the cautious
// default cost (see Estimate).
func Plan(eps []endpoint.Endpoint, span Span, opt Options) []Shard {
	return PlanWithHistory(eps, span, opt, nil)
}

// due is an endpoint due in the span: its checks' first instant (ms since
// the epoch), step and number, and the expected cost of one.
type due struct {
	ep    *endpoint.Endpoint
	n     int
	first int64
	step  int64
	busy  bool
	cost  Cost
}

// PlanWithHistory packs the checks due in span into shards, by location (in
// name order), busy endpoints first, then the once-a-span endpoints in order
// of their instant. Endpoints not due in span, or disabled, are left out.
//
// A shard takes endpoints until the next would take it past a bound of opt:
// its checks, its JSON, its expected CPU (the sum over its checks of
// Estimate's CPU, each endpoint's from hist[ep.ID] when there is one) or
// its expected sockets (the peak overlap of its checks' [instant, instant +
// Estimate's duration)). An endpoint's checks in a span always go to one
// shard, so an endpoint that alone exceeds a bound gets a shard of its own;
// the probe's run-time limits (its socket budget, the regex worker's
// slots) still hold it there.
//
// Compression depends on the whole shard, so the payload bound is a fit:
// each shard whose JSON could exceed MaxPayloadBytes is encoded (into its
// Payload), and when an encoding exceeds MaxPayloadBytes, its location is
// packed again with a JSON bound smaller in proportion to the overshoot,
// less fitMargin, down to MaxPayloadBytes itself, where plain JSON fits.
// The result depends only on the arguments.
func PlanWithHistory(eps []endpoint.Endpoint, span Span, opt Options, hist map[int64]History) []Shard {
	var (
		all        []due
		backtracks = map[string]bool{} // per distinct pattern: most endpoints share a few
		longest    time.Duration
	)
	for i := range eps {
		ep := &eps[i]
		if !ep.Enabled {
			continue
		}
		first, step, n := instants(ep.ID, ep.Interval, span)
		if n == 0 {
			continue
		}
		bt := false
		if ep.Regex != "" {
			var ok bool
			if bt, ok = backtracks[ep.Regex]; !ok {
				bt = Backtracks(ep.Regex)
				backtracks[ep.Regex] = bt
			}
		}
		var h *History
		if m, ok := hist[ep.ID]; ok {
			h = &m
		}
		c := Estimate(ep, h, bt)
		longest = max(longest, c.Duration)
		all = append(all, due{ep: ep, n: n, first: first, step: step, busy: ep.Interval < SpanLength, cost: c})
	}
	slices.SortFunc(all, func(a, b due) int {
		if c := cmp.Compare(a.ep.Location, b.ep.Location); c != 0 {
			return c
		}
		if a.busy != b.busy {
			if a.busy {
				return -1
			}
			return 1
		}
		if !a.busy {
			if c := cmp.Compare(a.first, b.first); c != 0 {
				return c
			}
		}
		return cmp.Compare(a.ep.ID, b.ep.ID)
	})

	var flight *overlap
	if opt.MaxSockets > 0 {
		flight = newOverlap(span.Start.UnixMilli(), (span.End.Sub(span.Start) + longest).Milliseconds())
	}
	var shards []Shard
	for len(all) > 0 {
		n := 1
		for n < len(all) && all[n].ep.Location == all[0].ep.Location {
			n++
		}
		shards = append(shards, fit(all[:n], span, opt, flight)...)
		all = all[n:]
	}
	return shards
}

// fit packs one location's due endpoints and encodes the shards whose JSON
// may exceed MaxPayloadBytes, packing again to a smaller JSON bound while
// one of more than one endpoint encodes past it (one endpoint alone is
// where it must be). At MaxPayloadBytes plain JSON fits, so the loop ends.
func fit(loc []due, span Span, opt Options, flight *overlap) []Shard {
	bound := opt.MaxJSONBytes
	if bound <= 0 {
		bound = opt.MaxPayloadBytes
	}
	floor := min(bound, opt.MaxPayloadBytes)
	var enc Encoder
	for {
		shards, sizes := pack(loc, span, opt, bound, flight)
		over, next := false, bound
		for i := range shards {
			if sizes[i] <= opt.MaxPayloadBytes {
				continue
			}
			sh := &shards[i]
			payload, plain, err := enc.encode(sh)
			if err != nil {
				continue // the fanout encodes it again and reports the shard
			}
			sh.Payload = payload
			if len(payload) > opt.MaxPayloadBytes && len(sh.Endpoints) > 1 {
				over = true
				next = min(next, int(float64(plain)*fitMargin*float64(opt.MaxPayloadBytes)/float64(len(payload))))
			}
		}
		if !over || bound <= floor {
			return shards
		}
		bound = max(next, floor)
	}
}

// pack packs one location's due endpoints into shards, each's JSON bounded
// by maxJSON, and returns them with the bound on each's JSON (JSONSize).
func pack(loc []due, span Span, opt Options, maxJSON int, flight *overlap) (shards []Shard, sizes []int) {
	var (
		cur   *Shard
		bytes int
		cpu   time.Duration
	)
	// sockets adds (v = 1) or takes away (v = -1) d's checks in flight.
	sockets := func(d due, v int32) {
		for k := range d.n {
			flight.addInterval(d.first+int64(k)*d.step, d.cost.Duration.Milliseconds(), v)
		}
	}
	closeShard := func() {
		if cur != nil {
			sizes = append(sizes, bytes)
			cur.ExpectedCPUMS = math.Round(float64(cpu)/float64(time.Microsecond)) / 1e3
			if flight != nil {
				cur.ExpectedSockets = flight.top()
			}
		}
	}
	for _, d := range loc {
		size := JSONSize(d.ep)
		need := time.Duration(d.n) * d.cost.CPU
		fresh := cur == nil
		full := !fresh && len(cur.Endpoints) > 0 &&
			(cur.Checks+d.n > opt.MaxChecks || bytes+size > maxJSON ||
				(opt.CPUBudget > 0 && cpu+need > opt.CPUBudget))
		counted := false
		if !fresh && !full && len(cur.Endpoints) > 0 && flight != nil {
			sockets(d, 1)
			if counted = flight.top() <= opt.MaxSockets; !counted {
				sockets(d, -1)
				full = true
			}
		}
		if fresh || full {
			closeShard()
			index := 0
			if !fresh {
				index = cur.Index + 1
			}
			shards = append(shards, Shard{Location: d.ep.Location, Index: index, Bucket: BucketBurst, Span: span})
			cur = &shards[len(shards)-1]
			bytes, cpu = shardOverhead, 0
			if flight != nil {
				flight.reset()
			}
		}
		if flight != nil && !counted {
			sockets(d, 1)
		}
		if d.busy {
			cur.Bucket = BucketBusy
		}
		cur.Checks += d.n
		cur.Endpoints = append(cur.Endpoints, *d.ep)
		bytes += size
		cpu += need
	}
	closeShard()
	return shards, sizes
}

// Count returns how many checks of eps are due in span.
func Count(eps []endpoint.Endpoint, span Span) int {
	total := 0
	for i := range eps {
		if eps[i].Enabled {
			_, _, n := instants(eps[i].ID, eps[i].Interval, span)
			total += n
		}
	}
	return total
}

// JSONSize bounds the size of the endpoint's JSON form from above without
// encoding it: what every endpoint's form has (field names, punctuation,
// the longest numbers; endpointJSONFixed), the names of the optional fields
// it has, and every string byte counted as its escaped length. Tight, so that
// the JSON bound packs as many endpoints as the JSON really holds;
// TestJSONSizeBoundsTheEncoding holds it to the encoding.
func JSONSize(ep *endpoint.Endpoint) int {
	n := endpointJSONFixed + jsonLen(ep.URL) + jsonLen(ep.Method) + jsonLen(ep.Location)
	optional := func(key, v string) {
		if v != "" {
			n += len(key) + 4 + jsonLen(v) // ,"key":"v"
		}
	}
	optional("name", ep.Name)
	optional("body", ep.Body)
	optional("regex", ep.Regex)
	if len(ep.Headers) > 0 {
		n += len(`,"headers":{}`)
		for k, v := range ep.Headers {
			n += jsonLen(k) + jsonLen(v) + 2 // "k":"v",
		}
	}
	if ba := ep.BasicAuth; ba != nil {
		n += 80 + jsonLen(ba.Username) + jsonLen(ba.PasswordEnv) + jsonLen(ba.PasswordSecret)
	}
	return n
}

// endpointJSONFixed is what every endpoint's JSON form has: its form with
// the required strings empty (their quotes counted by jsonLen) and the
// longest numbers, plus a little room.
var endpointJSONFixed = func() int {
	b, err := json.Marshal(endpoint.Endpoint{ID: math.MinInt64, Interval: endpoint.MaxInterval, Timeout: endpoint.MaxInterval})
	if err != nil {
		panic(err)
	}
	return len(b) - 3*len(`""`) + 8
}()

// jsonLen is the escaped length of s in encoding/json's output, at most.
func jsonLen(s string) int {
	n := 2
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			n += 6
		case c == '"' || c == '\\':
			n += 2
		case c >= 0x80:
			n += 6 // invalid UTF-8 or U+2028/9 may expand to \ufffd or \u2028
		default:
			n++
		}
	}
	return n
}
