package cost

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// SpanLength is the schedule time one span covers (plan.SpanLength; kept
// here so that this package depends on nothing).
const SpanLength = time.Minute

// Functions whose invocations are recorded.
const (
	FunctionFanout = "fanout"
	FunctionProbe  = "probe"
	// FunctionDrain's invocations count in the totals, the unit prices and
	// the line items, and in no location: it writes the checks of all.
	FunctionDrain = "drain"
)

// SpanCost sums the recorded invocations of one function at one location
// for one span: the unit the report allocates from.
type SpanCost struct {
	SpanStart    time.Time
	Function     string
	Location     string // "" for the fanout
	Invocations  int
	Unpriced     int // invocations without a recorded cost (memory unknown)
	ChecksDone   int64
	PayloadBytes int64
	BilledMS     int64
	GBSeconds    float64
	CostUSD      float64 // Lambda: compute (init included) and requests

	// What else grows with checks (migration 00008): zero in invocations
	// recorded before it.
	ColdStarts    int
	InitMS        float64
	NetBytes      int64
	SentBytes     int64 // sent to the Internet
	QueueRequests int64
	QueueBytes    int64
	LogBytes      int64
	StorageBytes  int64
	RequestUSD    float64 // the request part of CostUSD; the rest is compute
	NATUSD        float64
	DataOutUSD    float64
	QueueUSD      float64
	LogsUSD       float64
	StorageUSD    float64
}

// Lines is the span's cost by line item.
func (s *SpanCost) Lines() Lines {
	return Lines{
		LambdaCompute:  s.CostUSD - s.RequestUSD,
		LambdaRequests: s.RequestUSD,
		NATData:        s.NATUSD,
		DataOut:        s.DataOutUSD,
		QueueRequests:  s.QueueUSD,
		Logs:           s.LogsUSD,
		Storage:        s.StorageUSD,
	}
}

// EndpointCost is one endpoint's share of the cost over the window: each
// check it stored carries its span's cost per check at its location (the
// probes' cost plus the location's share of the fanout's).
type EndpointCost struct {
	EndpointID     int64         `json:"endpoint_id"`
	Name           string        `json:"name,omitempty"`
	URL            string        `json:"url"`
	Location       string        `json:"location"`
	Interval       time.Duration `json:"-"`
	IntervalS      float64       `json:"interval_s"`
	Checks         int64         `json:"checks"`
	CostUSD        float64       `json:"cost_usd"`
	PerURLMonthUSD float64       `json:"per_url_month_usd"`
}

// Options shape a report.
type Options struct {
	Since     time.Time
	FleetSize int   // URLs the fixed costs are spread over; 0: the endpoints measured
	Fixed     Fixed // monthly
	Top       int   // most expensive endpoints listed; 0: 10
	// Intervals get a unit price per URL-month each; nil: 5 s and 60 s.
	Intervals []time.Duration
	Shards    ShardModelOptions
}

// Report is what `watcher cost` prints, and what the SQL functions and
// views of migrations 00005 and 00008 return.
type Report struct {
	Since          time.Time          `json:"since"`
	Spans          int                `json:"spans"` // spans with probe invocations
	CoveredSeconds float64            `json:"covered_s"`
	Endpoints      int                `json:"endpoints"` // with checks stored in those spans
	Invocations    map[string]int     `json:"invocations"`
	Unpriced       int                `json:"unpriced_invocations"`
	Checks         int64              `json:"checks"` // done by the probes
	GBSeconds      float64            `json:"gb_seconds"`
	CostUSD        float64            `json:"cost_usd"` // variable: every invocation's recorded cost
	CostByFunction map[string]float64 `json:"cost_by_function_usd"`
	// UnallocatedUSD is fanout cost of spans in which no check ran (missed,
	// nothing due): in the total, in no location.
	UnallocatedUSD    float64        `json:"unallocated_usd"`
	CostPer1000Checks float64        `json:"cost_per_1000_checks_usd"`
	FleetPerURLMonth  float64        `json:"fleet_per_url_month_usd"` // variable cost per endpoint, scaled to a month
	UnitPrices        []UnitPrice    `json:"unit_prices"`
	Fixed             FixedShare     `json:"fixed"`
	Synthetics        Synthetics     `json:"synthetics"`
	Locations         []LocationCost `json:"locations"`
	Buckets           []BucketCost   `json:"buckets"`
	Top               []EndpointCost `json:"top_endpoints"`
	ShardModel        []ShardRow     `json:"shard_model,omitempty"`
	// LineItems are the lines that grow with checks, each per URL-month
	// at 5 s and 60 s like UnitPrices; LineItemsTotal adds them up.
	LineItems      LineItems `json:"line_items"`
	LineItemsTotal LineItem  `json:"line_items_total"`
	Volumes        Volumes   `json:"volumes"`
}

// LineItem is one line's cost over the window and per check, and what a
// URL checked every 5 s and every 60 s pays for it in a month.
type LineItem struct {
	CostUSD           float64 `json:"cost_usd"`
	CostPer1000Checks float64 `json:"cost_per_1000_checks_usd"`
	PerURLMonth5s     float64 `json:"per_url_month_5s_usd"`
	PerURLMonth60s    float64 `json:"per_url_month_60s_usd"`
}

// LineItems is every line that grows with checks. Storage is one month of
// keeping the checks of a URL-month: keeping them n months costs n times.
type LineItems struct {
	LambdaCompute  LineItem `json:"lambda_compute"` // GB-seconds, cold starts' init included
	LambdaRequests LineItem `json:"lambda_requests"`
	NATData        LineItem `json:"nat_data"`       // functions whose traffic passes a NAT gateway only
	DataOut        LineItem `json:"data_out"`       // what the probes' checks send to the Internet
	QueueRequests  LineItem `json:"queue_requests"` // sent to the record queue
	Logs           LineItem `json:"logs"`
	Storage        LineItem `json:"storage"`
}

// NamedLineItem is a line item and its name.
type NamedLineItem struct {
	Name string
	LineItem
}

// List returns the line items in report order, named as in JSON.
func (li *LineItems) List() []NamedLineItem {
	return []NamedLineItem{
		{LineLambdaCompute, li.LambdaCompute}, {LineLambdaRequests, li.LambdaRequests}, {LineNATData, li.NATData},
		{LineDataOut, li.DataOut}, {LineQueueRequests, li.QueueRequests}, {LineLogs, li.Logs}, {LineStorage, li.Storage},
	}
}

// Volumes are the window's recorded facts the line items price.
type Volumes struct {
	ColdStarts    int     `json:"cold_starts"`
	InitS         float64 `json:"init_s"`
	NetBytes      int64   `json:"net_bytes"`
	SentBytes     int64   `json:"sent_bytes"` // to the Internet
	QueueRequests int64   `json:"queue_requests"`
	QueueBytes    int64   `json:"queue_bytes"`
	LogBytes      int64   `json:"log_bytes"`
	StorageBytes  int64   `json:"storage_bytes"`
}

// UnitPrice is what one URL checked at one interval costs per month: the
// report's cost per check times the checks of a month, plus its share of
// the fixed costs, beside what CloudWatch Synthetics would charge.
type UnitPrice struct {
	IntervalS       float64 `json:"interval_s"`
	ChecksPerMonth  float64 `json:"checks_per_month"`
	VariableUSD     float64 `json:"variable_usd"`
	FixedUSD        float64 `json:"fixed_usd"`
	TotalUSD        float64 `json:"total_usd"`
	SyntheticsUSD   float64 `json:"synthetics_usd"`
	SyntheticsRatio float64 `json:"synthetics_ratio"` // Synthetics / total
}

// FixedShare spreads the fixed monthly costs over a fleet size.
type FixedShare struct {
	MonthlyUSD     float64 `json:"monthly_usd"`
	Items          Fixed   `json:"items"`
	FleetSize      int     `json:"fleet_size"`
	PerURLMonthUSD float64 `json:"per_url_month_usd"`
	// WindowUSD is the measured endpoints' share over the covered time.
	WindowUSD float64 `json:"window_usd"`
}

// Synthetics is what CloudWatch Synthetics would charge for the same
// checks, one canary run each.
type Synthetics struct {
	RunUSD         float64 `json:"run_usd"`
	CostUSD        float64 `json:"cost_usd"`
	Ratio          float64 `json:"ratio"`            // to the variable cost
	RatioWithFixed float64 `json:"ratio_with_fixed"` // to the variable cost plus the window's fixed share
}

// LocationCost is one location's probes plus its share of the fanout.
type LocationCost struct {
	Location          string  `json:"location"`
	Invocations       int     `json:"invocations"`
	Checks            int64   `json:"checks"`
	GBSeconds         float64 `json:"gb_seconds"`
	ProbeUSD          float64 `json:"probe_usd"`
	FanoutShareUSD    float64 `json:"fanout_share_usd"`
	CostUSD           float64 `json:"cost_usd"`
	CostPer1000Checks float64 `json:"cost_per_1000_checks_usd"`
	Endpoints         int     `json:"endpoints"`
	PerURLMonthUSD    float64 `json:"per_url_month_usd"`
}

// BucketCost sums the endpoints of one interval bucket.
type BucketCost struct {
	Bucket            string  `json:"bucket"`
	Planner           string  `json:"planner_bucket"` // busy or burst, as the planner packs them
	Endpoints         int     `json:"endpoints"`
	Checks            int64   `json:"checks"`
	CostUSD           float64 `json:"cost_usd"`
	CostPer1000Checks float64 `json:"cost_per_1000_checks_usd"`
	PerURLMonthUSD    float64 `json:"per_url_month_usd"`
}

// Bucket is one range of intervals, [Min, Max).
type Bucket struct {
	Name     string
	Min, Max time.Duration
}

// Buckets are the report's interval buckets; the planner keeps probes busy
// all span for intervals under a minute and packs the rest as bursts. The
// SQL of migration 00005 repeats these bounds.
func Buckets() []Bucket {
	return []Bucket{
		{"5-9s", 0, 10 * time.Second},
		{"10-29s", 10 * time.Second, 30 * time.Second},
		{"30-59s", 30 * time.Second, time.Minute},
		{"60-119s", time.Minute, 2 * time.Minute},
		{"120-300s", 2 * time.Minute, math.MaxInt64},
	}
}

// BucketOf names the bucket of an interval.
func BucketOf(interval time.Duration) string {
	for _, b := range Buckets() {
		if interval >= b.Min && interval < b.Max {
			return b.Name
		}
	}
	return ""
}

// plannerBucket is plan.BucketBusy or plan.BucketBurst for an interval.
func plannerBucket(b Bucket) string {
	if b.Max <= SpanLength {
		return "busy"
	}
	return "burst"
}

// PerMonth scales usd spent over covered to a month; zero without coverage.
func PerMonth(usd float64, covered time.Duration) float64 {
	if covered <= 0 {
		return 0
	}
	return usd * Month.Seconds() / covered.Seconds()
}

func per1000(usd float64, checks int64) float64 {
	if checks <= 0 {
		return 0
	}
	return usd / float64(checks) * 1000
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// Build computes the report from the window's span costs and the endpoints'
// shares (the store reads both).
func Build(spans []SpanCost, endpoints []EndpointCost, opt Options) Report {
	r := Report{
		Since:          opt.Since,
		Invocations:    map[string]int{},
		CostByFunction: map[string]float64{},
		// Empty, not null, in JSON.
		Locations: []LocationCost{},
		Buckets:   []BucketCost{},
		Top:       []EndpointCost{},
	}
	type spanTotals struct {
		fanout float64
		checks int64
	}
	bySpan := map[time.Time]*spanTotals{}
	probeSpans := map[time.Time]bool{}
	var lines Lines
	for _, s := range spans {
		t := bySpan[s.SpanStart]
		if t == nil {
			t = &spanTotals{}
			bySpan[s.SpanStart] = t
		}
		lines = lines.Plus(s.Lines())
		r.Volumes.add(&s)
		r.Invocations[s.Function] += s.Invocations
		r.Unpriced += s.Unpriced
		r.GBSeconds += s.GBSeconds
		r.CostUSD += s.CostUSD
		r.CostByFunction[s.Function] += s.CostUSD
		switch s.Function {
		case FunctionFanout:
			t.fanout += s.CostUSD
		case FunctionProbe:
			t.checks += s.ChecksDone
			r.Checks += s.ChecksDone
			probeSpans[s.SpanStart] = true
		}
	}
	for _, t := range bySpan {
		if t.checks == 0 {
			r.UnallocatedUSD += t.fanout
		}
	}
	r.Spans = len(probeSpans)
	covered := time.Duration(r.Spans) * SpanLength
	r.CoveredSeconds = covered.Seconds()
	r.CostPer1000Checks = per1000(r.CostUSD, r.Checks)

	// Locations: probes plus the fanout's cost shared by checks.
	locs := map[string]*LocationCost{}
	for _, s := range spans {
		if s.Function != FunctionProbe {
			continue
		}
		l := locs[s.Location]
		if l == nil {
			l = &LocationCost{Location: s.Location}
			locs[s.Location] = l
		}
		l.Invocations += s.Invocations
		l.Checks += s.ChecksDone
		l.GBSeconds += s.GBSeconds
		l.ProbeUSD += s.CostUSD
		if t := bySpan[s.SpanStart]; t.checks > 0 {
			l.FanoutShareUSD += t.fanout * float64(s.ChecksDone) / float64(t.checks)
		}
	}

	// Endpoints, buckets and the per-location endpoint counts.
	seen := map[int64]bool{}
	buckets := map[string]*BucketCost{}
	eps := slices.Clone(endpoints)
	for i := range eps {
		e := &eps[i]
		e.IntervalS = e.Interval.Seconds()
		e.PerURLMonthUSD = PerMonth(e.CostUSD, covered)
		seen[e.EndpointID] = true
		if l := locs[e.Location]; l != nil {
			l.Endpoints++
		}
		name := BucketOf(e.Interval)
		b := buckets[name]
		if b == nil {
			b = &BucketCost{Bucket: name}
			buckets[name] = b
		}
		b.Endpoints++
		b.Checks += e.Checks
		b.CostUSD += e.CostUSD
	}
	r.Endpoints = len(seen)
	for _, bk := range Buckets() {
		b := buckets[bk.Name]
		if b == nil {
			continue
		}
		b.Planner = plannerBucket(bk)
		b.CostPer1000Checks = per1000(b.CostUSD, b.Checks)
		b.PerURLMonthUSD = ratio(PerMonth(b.CostUSD, covered), float64(b.Endpoints))
		r.Buckets = append(r.Buckets, *b)
	}
	for _, l := range locs {
		l.CostUSD = l.ProbeUSD + l.FanoutShareUSD
		l.CostPer1000Checks = per1000(l.CostUSD, l.Checks)
		l.PerURLMonthUSD = ratio(PerMonth(l.CostUSD, covered), float64(l.Endpoints))
		r.Locations = append(r.Locations, *l)
	}
	slices.SortFunc(r.Locations, func(a, b LocationCost) int { return cmp.Compare(a.Location, b.Location) })

	top := opt.Top
	if top <= 0 {
		top = 10
	}
	slices.SortStableFunc(eps, func(a, b EndpointCost) int {
		if c := cmp.Compare(b.CostUSD, a.CostUSD); c != 0 {
			return c
		}
		return cmp.Compare(a.EndpointID, b.EndpointID)
	})
	r.Top = append(r.Top, eps[:min(top, len(eps))]...)

	// Fixed costs, unit prices and the Synthetics comparison.
	r.FleetPerURLMonth = ratio(PerMonth(r.CostUSD, covered), float64(r.Endpoints))
	fleet := opt.FleetSize
	if fleet <= 0 {
		fleet = r.Endpoints
	}
	r.Fixed = FixedShare{MonthlyUSD: opt.Fixed.Total(), Items: opt.Fixed, FleetSize: fleet}
	if r.Fixed.Items == nil {
		r.Fixed.Items = Fixed{}
	}
	if fleet > 0 {
		r.Fixed.PerURLMonthUSD = r.Fixed.MonthlyUSD / float64(fleet)
		r.Fixed.WindowUSD = r.Fixed.PerURLMonthUSD * float64(r.Endpoints) * covered.Seconds() / Month.Seconds()
	}
	r.Synthetics = Synthetics{RunUSD: SyntheticsRunUSD, CostUSD: float64(r.Checks) * SyntheticsRunUSD}
	r.Synthetics.Ratio = ratio(r.Synthetics.CostUSD, r.CostUSD)
	r.Synthetics.RatioWithFixed = ratio(r.Synthetics.CostUSD, r.CostUSD+r.Fixed.WindowUSD)

	intervals := opt.Intervals
	if intervals == nil {
		intervals = []time.Duration{5 * time.Second, time.Minute}
	}
	perCheck := 0.0
	if r.Checks > 0 {
		perCheck = r.CostUSD / float64(r.Checks)
	}
	for _, iv := range intervals {
		u := UnitPrice{IntervalS: iv.Seconds(), ChecksPerMonth: Month.Seconds() / iv.Seconds()}
		u.VariableUSD = perCheck * u.ChecksPerMonth
		u.FixedUSD = r.Fixed.PerURLMonthUSD
		u.TotalUSD = u.VariableUSD + u.FixedUSD
		u.SyntheticsUSD = u.ChecksPerMonth * SyntheticsRunUSD
		u.SyntheticsRatio = ratio(u.SyntheticsUSD, u.TotalUSD)
		r.UnitPrices = append(r.UnitPrices, u)
	}
	r.ShardModel = ShardModel(spans, opt.Shards)
	r.LineItems = LineItems{
		LambdaCompute:  lineItem(lines.LambdaCompute, r.Checks),
		LambdaRequests: lineItem(lines.LambdaRequests, r.Checks),
		NATData:        lineItem(lines.NATData, r.Checks),
		DataOut:        lineItem(lines.DataOut, r.Checks),
		QueueRequests:  lineItem(lines.QueueRequests, r.Checks),
		Logs:           lineItem(lines.Logs, r.Checks),
		Storage:        lineItem(lines.Storage, r.Checks),
	}
	r.LineItemsTotal = lineItem(lines.Total(), r.Checks)
	return r
}

// lineItem spreads usd over checks and scales it to a URL-month at 5 s and
// 60 s, as the unit prices are.
func lineItem(usd float64, checks int64) LineItem {
	li := LineItem{CostUSD: usd, CostPer1000Checks: per1000(usd, checks)}
	if checks > 0 {
		perCheck := usd / float64(checks)
		li.PerURLMonth5s = perURLMonth(perCheck, 5*time.Second)
		li.PerURLMonth60s = perURLMonth(perCheck, time.Minute)
	}
	return li
}

func (v *Volumes) add(s *SpanCost) {
	v.ColdStarts += s.ColdStarts
	v.InitS += s.InitMS / 1000
	v.NetBytes += s.NetBytes
	v.SentBytes += s.SentBytes
	v.QueueRequests += s.QueueRequests
	v.QueueBytes += s.QueueBytes
	v.LogBytes += s.LogBytes
	v.StorageBytes += s.StorageBytes
}
