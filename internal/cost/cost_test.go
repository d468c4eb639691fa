package cost

import (
	"math"
	"strings"
	"testing"
	"time"
)

// near reports whether got is want to within a relative 1e-9 (absolute
// 1e-15 near zero): the figures below are worked out by hand, in decimal.
func near(got, want float64) bool {
	return math.Abs(got-want) <= 1e-9*math.Max(math.Abs(want), 1e-6)
}

func TestBilled(t *testing.T) {
	tests := []struct {
		name string
		d    time.Duration
		want time.Duration
	}{
		{"zero is billed one millisecond", 0, time.Millisecond},
		{"a whole millisecond stays", time.Millisecond, time.Millisecond},
		{"a nanosecond more is the next millisecond", time.Millisecond + 1, 2 * time.Millisecond},
		{"a busy probe", 70*time.Second + 400*time.Microsecond, 70001 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Billed(tt.d); got != tt.want {
				t.Errorf("Billed(%s) = %s, want %s", tt.d, got, tt.want)
			}
		})
	}
}

func TestInvocationCost(t *testing.T) {
	table := DefaultTable()
	tests := []struct {
		name       string
		region     string
		arch       string
		memoryMB   int
		d          time.Duration
		wantBilled time.Duration
		wantUSD    float64
		wantOK     bool
	}{
		// 70.001 s x 0.5 GB = 35.0005 GB-s x $0.0000133334 = $0.0004666756667, + $0.0000002.
		{"arm64 probe, 512 MB, 70.0004 s", "us-east-1", ARM64, 512, 70*time.Second + 400*time.Microsecond,
			70001 * time.Millisecond, 0.0004668756667, true},
		// Same in a region priced as us-east-1 by default.
		{"arm64 probe in eu-west-1", "eu-west-1", ARM64, 512, 70*time.Second + 400*time.Microsecond,
			70001 * time.Millisecond, 0.0004668756667, true},
		// 0.002 s x 0.25 GB = 0.0005 GB-s x $0.0000195172 = $0.0000000097586, + $0.00000023.
		{"x86 fanout in Milan, 1.5 ms billed 2 ms", "eu-south-1", X86, 256, 1500 * time.Microsecond,
			2 * time.Millisecond, 0.0000002397586, true},
		// 1 s x 1 GB x $0.0000166667 + $0.0000002: an unknown arch is priced as x86.
		{"unknown arch priced as x86", "local", "sparc", 1024, time.Second, time.Second, 0.0000168667, true},
		{"unknown memory records no cost", "us-east-1", ARM64, 0, time.Second, time.Second, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			billed, usd, ok := Invocation(table.Price(tt.region, tt.arch), tt.memoryMB, tt.d)
			if billed != tt.wantBilled || ok != tt.wantOK || !near(usd, tt.wantUSD) {
				t.Errorf("got %s, $%.13f, %v; want %s, $%.13f, %v", billed, usd, ok, tt.wantBilled, tt.wantUSD, tt.wantOK)
			}
		})
	}
}

func TestPriceOverrideAndDefault(t *testing.T) {
	def := DefaultTable().Price("us-east-1", ARM64)
	if got := (Price{}).Or("us-east-1", ARM64); got != def {
		t.Errorf("zero price: %+v, want the table's %+v", got, def)
	}
	got := def.Override(Price{GBSecond: 0.00001})
	if got.GBSecond != 0.00001 || got.Request != def.Request {
		t.Errorf("override of GB-second only: %+v", got)
	}
	if ArchOf("amd64") != X86 || ArchOf("arm64") != ARM64 || ArchOf("riscv64") != "" {
		t.Error("ArchOf maps GOARCH wrongly")
	}
}

func TestParseFixed(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    float64
		wantErr string
	}{
		{"default string round-trips", DefaultFixed().String(), 60.08, ""},
		{"none", "none", 0, ""},
		{"empty", "", 0, ""},
		{"spaces", " database = 10 , nat=2.5", 12.5, ""},
		{"missing amount", "database", 0, "want name=usd_per_month"},
		{"negative", "nat=-1", 0, "not an amount"},
		{"twice", "nat=1,nat=2", 0, "given twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFixed(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !near(f.Total(), tt.want) {
				t.Errorf("total %v, err %v; want %v", f.Total(), err, tt.want)
			}
		})
	}
}

// handSpans is a window of three spans: two with checks at two locations
// and one gap (a fanout invocation, no probes).
func handSpans() []SpanCost {
	s1 := time.Date(2026, 11, 27, 10, 0, 10, 0, time.UTC)
	s2, s3 := s1.Add(time.Minute), s1.Add(2*time.Minute)
	return []SpanCost{
		{SpanStart: s1, Function: FunctionFanout, Invocations: 1, CostUSD: 0.0001, BilledMS: 50},
		{SpanStart: s1, Function: FunctionProbe, Location: "home", Invocations: 2, ChecksDone: 300, CostUSD: 0.0009, BilledMS: 140_000, PayloadBytes: 2500},
		{SpanStart: s1, Function: FunctionProbe, Location: "eu", Invocations: 1, ChecksDone: 100, CostUSD: 0.0003, BilledMS: 70_000, PayloadBytes: 1500},
		{SpanStart: s2, Function: FunctionFanout, Invocations: 1, CostUSD: 0.0001, BilledMS: 50},
		{SpanStart: s2, Function: FunctionProbe, Location: "home", Invocations: 1, ChecksDone: 200, CostUSD: 0.0006, BilledMS: 70_000, PayloadBytes: 900},
		{SpanStart: s3, Function: FunctionFanout, Invocations: 1, CostUSD: 0.00005, BilledMS: 20},
	}
}

func handEndpoints() []EndpointCost {
	return []EndpointCost{
		{EndpointID: 3, URL: "https://c.example/", Location: "eu", Interval: 30 * time.Second, Checks: 100, CostUSD: 0.000325},
		{EndpointID: 1, URL: "https://a.example/", Location: "home", Interval: 5 * time.Second, Checks: 400, CostUSD: 0.001},
		{EndpointID: 2, URL: "https://b.example/", Location: "home", Interval: time.Minute, Checks: 100, CostUSD: 0.000675},
	}
}

// TestReportArithmetic checks every figure of the report against a case
// worked out by hand.
func TestReportArithmetic(t *testing.T) {
	r := Build(handSpans(), handEndpoints(), Options{
		FleetSize: 1000,
		Fixed:     Fixed{"database": 10, "proxy": 20},
	})
	// Covered: 2 spans with probes = 120 s; a month is 2,628,000 s, 21,900 times that.
	// Total: 0.0001 + 0.0009 + 0.0003 + 0.0001 + 0.0006 + 0.00005 = $0.00205 for 600 checks.
	// Fixed: $30 a month over 1,000 URLs = $0.03 per URL-month; the window's
	// share for 3 URLs over 120 s is 0.03 x 3 x 120 / 2,628,000.
	fixedWindow := 0.03 * 3 * 120 / 2628000.0
	checks := []struct {
		name      string
		got, want float64
	}{
		{"spans", float64(r.Spans), 2},
		{"covered seconds", r.CoveredSeconds, 120},
		{"endpoints", float64(r.Endpoints), 3},
		{"checks", float64(r.Checks), 600},
		{"fanout invocations", float64(r.Invocations[FunctionFanout]), 3},
		{"probe invocations", float64(r.Invocations[FunctionProbe]), 4},
		{"total", r.CostUSD, 0.00205},
		{"fanout", r.CostByFunction[FunctionFanout], 0.00025},
		{"probes", r.CostByFunction[FunctionProbe], 0.0018},
		{"unallocated (the gap's fanout)", r.UnallocatedUSD, 0.00005},
		{"per 1,000 checks", r.CostPer1000Checks, 0.00205 / 600 * 1000},
		// $0.00205 x 21,900 / 3 endpoints.
		{"fleet per URL-month", r.FleetPerURLMonth, 14.965},
		// $0.00205 / 600 checks x 525,600 checks a month.
		{"5 s variable per URL-month", r.UnitPrices[0].VariableUSD, 1.7958},
		{"5 s with fixed", r.UnitPrices[0].TotalUSD, 1.8258},
		{"5 s Synthetics: 525,600 runs x $0.0012", r.UnitPrices[0].SyntheticsUSD, 630.72},
		{"5 s Synthetics ratio", r.UnitPrices[0].SyntheticsRatio, 630.72 / 1.8258},
		// x 43,800 checks a month.
		{"60 s variable per URL-month", r.UnitPrices[1].VariableUSD, 0.14965},
		{"60 s with fixed", r.UnitPrices[1].TotalUSD, 0.17965},
		{"60 s Synthetics", r.UnitPrices[1].SyntheticsUSD, 52.56},
		{"60 s Synthetics ratio", r.UnitPrices[1].SyntheticsRatio, 52.56 / 0.17965},
		{"fixed monthly", r.Fixed.MonthlyUSD, 30},
		{"fixed per URL-month", r.Fixed.PerURLMonthUSD, 0.03},
		{"fixed window share", r.Fixed.WindowUSD, fixedWindow},
		{"Synthetics for 600 runs", r.Synthetics.CostUSD, 0.72},
		{"Synthetics ratio", r.Synthetics.Ratio, 0.72 / 0.00205},
		{"Synthetics ratio with fixed", r.Synthetics.RatioWithFixed, 0.72 / (0.00205 + fixedWindow)},
		// home: probes $0.0015; fanout share 0.0001 x 300/400 + 0.0001 x 200/200.
		{"home probes", r.Locations[1].ProbeUSD, 0.0015},
		{"home fanout share", r.Locations[1].FanoutShareUSD, 0.000175},
		{"home cost", r.Locations[1].CostUSD, 0.001675},
		{"home per 1,000 checks", r.Locations[1].CostPer1000Checks, 0.00335},
		{"home per URL-month", r.Locations[1].PerURLMonthUSD, 0.001675 * 21900 / 2},
		{"eu fanout share", r.Locations[0].FanoutShareUSD, 0.000025},
		{"eu per URL-month", r.Locations[0].PerURLMonthUSD, 0.000325 * 21900},
		{"bucket 5-9s per URL-month", r.Buckets[0].PerURLMonthUSD, 0.001 * 21900},
		{"bucket 5-9s per 1,000 checks", r.Buckets[0].CostPer1000Checks, 0.0025},
		{"bucket 30-59s per URL-month", r.Buckets[1].PerURLMonthUSD, 0.000325 * 21900},
		{"bucket 60-119s per URL-month", r.Buckets[2].PerURLMonthUSD, 0.000675 * 21900},
		{"top endpoint per URL-month", r.Top[0].PerURLMonthUSD, 0.001 * 21900},
	}
	for _, c := range checks {
		if !near(c.got, c.want) {
			t.Errorf("%s = %.12g, want %.12g", c.name, c.got, c.want)
		}
	}
	if r.Locations[0].Location != "eu" || r.Locations[1].Location != "home" || r.Locations[1].Endpoints != 2 {
		t.Errorf("locations %+v", r.Locations)
	}
	wantBuckets := []string{"5-9s/busy", "30-59s/busy", "60-119s/burst"}
	for i, b := range r.Buckets {
		if i >= len(wantBuckets) || b.Bucket+"/"+b.Planner != wantBuckets[i] {
			t.Errorf("bucket %d = %s/%s, want %v", i, b.Bucket, b.Planner, wantBuckets)
		}
	}
	if len(r.Top) != 3 || r.Top[0].EndpointID != 1 || r.Top[1].EndpointID != 2 || r.Top[2].EndpointID != 3 {
		t.Errorf("top endpoints %+v, want 1, 2, 3 by cost", r.Top)
	}
}

func TestReportFleetSizeDefaultsToEndpointsMeasured(t *testing.T) {
	r := Build(handSpans(), handEndpoints(), Options{Fixed: Fixed{"nat": 30}})
	if r.Fixed.FleetSize != 3 || !near(r.Fixed.PerURLMonthUSD, 10) {
		t.Errorf("fixed %+v, want $30 over the 3 endpoints measured", r.Fixed)
	}
	if empty := Build(nil, nil, Options{}); empty.CostUSD != 0 || empty.CostPer1000Checks != 0 || empty.FleetPerURLMonth != 0 {
		t.Errorf("empty window: %+v", empty)
	}
}

func TestShardModel(t *testing.T) {
	rows := ShardModel(handSpans(), ShardModelOptions{
		Sizes: []int{100}, MemoriesMB: []int{1024},
		Price:           Price{GBSecond: 0.00001, Request: 0.000001},
		MaxPayloadBytes: 1000, CPUMsPerCheck: 1,
	})
	if len(rows) != 1 {
		t.Fatalf("rows %+v", rows)
	}
	r := rows[0]
	// Mean probe invocation: 280,000 ms / 4 = 70 s; at 1 GB, 70 x 0.00001 + 0.000001 = $0.000701.
	// Shards: span 1 home ceil(300/100) = 3, eu ceil(100/100) = 1 but its 1,500 payload bytes
	// need 2; span 2 home 2. 7 invocations + the fanout's $0.00025 = $0.005157 for 600 checks.
	perCheck := (7*0.000701 + 0.00025) / 600
	checks := []struct {
		name      string
		got, want float64
	}{
		{"shards per span", r.ShardsPerSpan, 3.5},
		{"per 1,000 checks", r.CostPer1000Checks, perCheck * 1000},
		{"5 s per URL-month", r.PerURLMonth5s, perCheck * 525600},
		{"60 s per URL-month", r.PerURLMonth60s, perCheck * 43800},
		{"vCPU", r.VCPU, 1024.0 / 1769},
		// Busiest shard: 100 checks in 60 s at 1 ms each, of 0.5789 vCPU.
		{"CPU load", r.CPULoad, 100.0 / 60 / 1000 / (1024.0 / 1769)},
	}
	for _, c := range checks {
		if !near(c.got, c.want) {
			t.Errorf("%s = %.12g, want %.12g", c.name, c.got, c.want)
		}
	}
	if ShardModel(nil, ShardModelOptions{Sizes: []int{1}, MemoriesMB: []int{1}}) != nil {
		t.Error("a model without probe invocations")
	}
}
