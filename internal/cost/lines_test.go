package cost

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"
)

// TestPriceLinesByHand prices one probe invocation line by line against a
// case worked out by hand (arm64, us-east-1, the table of 2025-06-01).
func TestPriceLinesByHand(t *testing.T) {
	table := DefaultTable()
	u := Usage{
		MemoryMB: 512,
		Duration: 70*time.Second + 400*time.Microsecond, // billed 70.001 s
		Init:     123400 * time.Microsecond,             // billed 0.124 s
		VPC:      true,
		NetBytes: GB / 4,
		// 2,000 checks done, each sending CheckSentBytes to the Internet,
		// and written at 160 bytes a row.
		SentBytes:     2000 * CheckSentBytes,
		StorageBytes:  2000 * 160,
		StorageKept:   14 * 24 * time.Hour, // two weeks of raw checks
		QueueRequests: 5,
		LogBytes:      1 << 20,
	}
	billed, init, l, ok := PriceLines(table.Price("us-east-1", ARM64), table.VolumePriceIn("us-east-1"), u)
	if !ok || billed != 70001*time.Millisecond || init != 124*time.Millisecond {
		t.Fatalf("billed %s, init %s, priced %v", billed, init, ok)
	}
	lines := []struct {
		name      string
		got, want float64
	}{
		// (70.001 + 0.124) s x 0.5 GB = 35.0625 GB-s x $0.0000133334.
		{"compute", l.LambdaCompute, 0.0004675023375},
		{"requests", l.LambdaRequests, 0.0000002},
		// A quarter GB x $0.045.
		{"NAT", l.NATData, 0.01125},
		// 4,400,000 / 1,073,741,824 GB x $0.09.
		{"data out", l.DataOut, 0.0003688037395477295},
		// 5 x $0.40 per million.
		{"queue", l.QueueRequests, 0.000002},
		// 1 MiB is 1/1024 GB, x $0.50.
		{"logs", l.Logs, 0.00048828125},
		// 320,000 / 1,073,741,824 GB x $0.115 a GB-month x 336 / 730
		// months kept.
		{"storage", l.Storage, 0.0000157748183158979},
		{"Lambda", l.Lambda(), 0.0004677023375},
		{"total", l.Total(), 0.0004677023375 + 0.01125 + 0.0003688037395477295 + 0.000002 + 0.00048828125 + 0.0000157748183158979},
	}
	for _, c := range lines {
		if !near(c.got, c.want) {
			t.Errorf("%s = $%.16g, want $%.16g", c.name, c.got, c.want)
		}
	}

	// Outside a VPC nothing goes through NAT, but data out is billed all
	// the same; without a memory size the Lambda lines are not made up,
	// and the rest is priced all the same.
	u.VPC, u.MemoryMB = false, 0
	_, _, l, ok = PriceLines(table.Price("us-east-1", ARM64), table.VolumePriceIn("us-east-1"), u)
	if ok || l.NATData != 0 || l.Lambda() != 0 || !near(l.Logs, 0.00048828125) || !near(l.QueueRequests, 0.000002) ||
		!near(l.DataOut, 0.0003688037395477295) {
		t.Errorf("no VPC, no memory: %+v, priced %v", l, ok)
	}
	// The one-shot form agrees with the lines.
	if _, usd, _ := Invocation(table.Price("us-east-1", ARM64), 512, time.Second); !near(usd, 0.5*0.0000133334+0.0000002) {
		t.Errorf("Invocation = %v", usd)
	}
}

func TestQueueRequestsPerChunk(t *testing.T) {
	for _, tt := range []struct {
		bytes int64
		want  int64
	}{{0, 1}, {1, 1}, {65536, 1}, {65537, 2}, {256 * 1024, 4}} {
		if got := QueueChunks(tt.bytes); got != tt.want {
			t.Errorf("QueueChunks(%d) = %d, want %d", tt.bytes, got, tt.want)
		}
	}
	// The drain's side: one receive of the batch's payload, one delete per
	// ten written messages, none when nothing was written.
	for _, tt := range []struct {
		bytes   int64
		written int
		want    int64
	}{{100, 1, 2}, {10 * 256 << 10, 10, 41}, {70_000, 0, 2}, {1000, 11, 3}} {
		if got := QueueDrainRequests(tt.bytes, tt.written); got != tt.want {
			t.Errorf("QueueDrainRequests(%d, %d) = %d, want %d", tt.bytes, tt.written, got, tt.want)
		}
	}
}

// lineSpans is a window with every line: a fanout and two probe locations.
func lineSpans() []SpanCost {
	s1 := time.Date(2026, 11, 27, 10, 0, 10, 0, time.UTC)
	s2 := s1.Add(time.Minute)
	return []SpanCost{
		{SpanStart: s1, Function: FunctionFanout, Invocations: 1, CostUSD: 0.0001, RequestUSD: 0.0000002,
			LogsUSD: 0.000001, LogBytes: 2000, ColdStarts: 1, InitMS: 150},
		{SpanStart: s1, Function: FunctionProbe, Location: "home", Invocations: 2, ChecksDone: 300, CostUSD: 0.0009,
			RequestUSD: 0.0000004, NATUSD: 0.00003, DataOutUSD: 0.00006, QueueUSD: 0.0000008, LogsUSD: 0.000002, StorageUSD: 0.000005,
			NetBytes: 2_100_000, SentBytes: 660_000, QueueRequests: 2, QueueBytes: 90_000, LogBytes: 4000, StorageBytes: 48_000,
			ColdStarts: 1, InitMS: 210},
		{SpanStart: s2, Function: FunctionProbe, Location: "eu", Invocations: 1, ChecksDone: 100, CostUSD: 0.0003,
			RequestUSD: 0.0000002, DataOutUSD: 0.00002, QueueUSD: 0.0000004, LogsUSD: 0.000001, StorageUSD: 0.000002,
			NetBytes: 700_000, SentBytes: 220_000, QueueRequests: 1, QueueBytes: 30_000, LogBytes: 2000, StorageBytes: 16_000},
	}
}

// TestLineItemsArithmetic checks every line item of the report against a
// case worked out by hand: $0.0013 of Lambda ($0.0000008 of it requests),
// $0.00003 of NAT, $0.00008 of data out, $0.0000012 of queue requests,
// $0.000004 of logs and $0.000007 of storage for 400 checks; a month holds 525,600 checks at 5 s
// and 43,800 at 60 s.
func TestLineItemsArithmetic(t *testing.T) {
	r := Build(lineSpans(), nil, Options{})
	items := []struct {
		name       string
		got        LineItem
		usd        float64
		per1000    float64
		at5s, at60 float64
	}{
		// $0.0012992 / 400 = $0.000003248 a check.
		{"lambda_compute", r.LineItems.LambdaCompute, 0.0012992, 0.003248, 1.7071488, 0.1422624},
		// $0.000000002 a check.
		{"lambda_requests", r.LineItems.LambdaRequests, 0.0000008, 0.000002, 0.0010512, 0.0000876},
		// $0.000000075 a check.
		{"nat_data", r.LineItems.NATData, 0.00003, 0.000075, 0.03942, 0.003285},
		// $0.0000002 a check.
		{"data_out", r.LineItems.DataOut, 0.00008, 0.0002, 0.10512, 0.00876},
		// $0.000000003 a check.
		{"queue_requests", r.LineItems.QueueRequests, 0.0000012, 0.000003, 0.0015768, 0.0001314},
		// $0.00000001 a check.
		{"logs", r.LineItems.Logs, 0.000004, 0.00001, 0.005256, 0.000438},
		// $0.0000000175 a check.
		{"storage", r.LineItems.Storage, 0.000007, 0.0000175, 0.009198, 0.0007665},
		// $0.0014222 / 400 = $0.0000035555 a check.
		{"total", r.LineItemsTotal, 0.0014222, 0.0035555, 1.8687708, 0.1557309},
	}
	for _, it := range items {
		for _, f := range []struct {
			what      string
			got, want float64
		}{
			{"cost", it.got.CostUSD, it.usd}, {"per 1,000", it.got.CostPer1000Checks, it.per1000},
			{"5 s URL-month", it.got.PerURLMonth5s, it.at5s}, {"60 s URL-month", it.got.PerURLMonth60s, it.at60},
		} {
			if !near(f.got, f.want) {
				t.Errorf("%s %s = %.12g, want %.12g", it.name, f.what, f.got, f.want)
			}
		}
	}
	// The two Lambda lines are the unit price the report has always given.
	if got := r.LineItems.LambdaCompute.PerURLMonth5s + r.LineItems.LambdaRequests.PerURLMonth5s; !near(got, r.UnitPrices[0].VariableUSD) {
		t.Errorf("Lambda lines at 5 s %.12g, unit price %.12g", got, r.UnitPrices[0].VariableUSD)
	}
	want := Volumes{ColdStarts: 2, InitS: 0.36, NetBytes: 2_800_000, SentBytes: 880_000, QueueRequests: 3, QueueBytes: 120_000,
		LogBytes: 8000, StorageBytes: 64_000}
	if v := r.Volumes; !near(v.InitS, want.InitS) || v.ColdStarts != want.ColdStarts || v.NetBytes != want.NetBytes || v.SentBytes != want.SentBytes ||
		v.QueueRequests != want.QueueRequests || v.QueueBytes != want.QueueBytes || v.LogBytes != want.LogBytes ||
		v.StorageBytes != want.StorageBytes {
		t.Errorf("volumes %+v, want %+v", v, want)
	}
}

// TestLineItemsJSON holds the --json form: line_items has exactly the seven
// keys, each with the unit prices at 5 s and 60 s.
func TestLineItemsJSON(t *testing.T) {
	r := Build(lineSpans(), nil, Options{})
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		LineItems map[string]map[string]float64 `json:"line_items"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k, item := range got.LineItems {
		keys = append(keys, k)
		if _, ok := item["per_url_month_5s_usd"]; !ok {
			t.Errorf("%s lacks per_url_month_5s_usd: %v", k, item)
		}
		if _, ok := item["per_url_month_60s_usd"]; !ok {
			t.Errorf("%s lacks per_url_month_60s_usd: %v", k, item)
		}
	}
	slices.Sort(keys)
	want := LineNames()
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Errorf("line_items keys %v, want %v", keys, want)
	}
	if got := got.LineItems[LineNATData]["per_url_month_60s_usd"]; !near(got, 0.003285) {
		t.Errorf("nat_data at 60 s = %v", got)
	}
	if got := got.LineItems[LineDataOut]["per_url_month_5s_usd"]; !near(got, 0.10512) {
		t.Errorf("data_out at 5 s = %v", got)
	}
	for i, li := range r.LineItems.List() {
		if li.Name != LineNames()[i] {
			t.Errorf("line %d is %s, want %s", i, li.Name, LineNames()[i])
		}
	}
}

// TestEveryLineIsCounted holds Total, Plus, Get, LineNames and the
// report's List to every field of Lines, so that a new line cannot be
// left out of one of them.
func TestEveryLineIsCounted(t *testing.T) {
	var l Lines
	v := reflect.ValueOf(&l).Elem()
	sum := 0.0
	for i := range v.NumField() {
		v.Field(i).SetFloat(float64(int(1) << i)) // distinct, exactly representable
		sum += float64(int(1) << i)
	}
	names := LineNames()
	if len(names) != v.NumField() {
		t.Fatalf("LineNames %v has %d names for %d lines", names, len(names), v.NumField())
	}
	got := 0.0
	for i, name := range names {
		if g := l.Get(name); g != v.Field(i).Float() {
			t.Errorf("Get(%q) = %v, want field %s (%v)", name, g, v.Type().Field(i).Name, v.Field(i).Float())
		}
		got += l.Get(name)
	}
	if got != sum || l.Total() != sum {
		t.Errorf("lines by name add up to %v, Total %v; want %v", got, l.Total(), sum)
	}
	d := l.Plus(l)
	for _, name := range names {
		if d.Get(name) != 2*l.Get(name) {
			t.Errorf("Plus: %s = %v, want %v", name, d.Get(name), 2*l.Get(name))
		}
	}
	if l.Get("no such line") != 0 {
		t.Error("an unknown line is not zero")
	}
	var items LineItems
	if list := items.List(); len(list) != len(names) || reflect.ValueOf(items).NumField() != len(names) {
		t.Errorf("LineItems has %d fields and lists %d, want %d", reflect.ValueOf(items).NumField(), len(list), len(names))
	}
}
