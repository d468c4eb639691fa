package store_test

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/watcher-dev/watcher/internal/cost"
	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/store"
)

// costSpan1 is the first span of the cost fixture; the window starts there.
var costSpan1 = time.Date(2030, 6, 3, 10, 0, 10, 0, time.UTC)

// costFixture stores three endpoints and the invocations and checks of
// three spans, plus one earlier span the window leaves out:
//
//	span 1: fanout $0.0001; home probes (2 shards) $0.0009, 13 checks
//	        (A every 5 s: 12, B: 1); eu probe $0.0003, 2 checks (C)
//	span 2: fanout $0.0001; home probe $0.0006, 13 checks (A 12, B 1)
//	span 3: missed: fanout $0.00005, no probe; a stray home check
//	span 0: before the window: fanout and a home probe, $0.001, 1 check
//
// It returns the ids of A (home, 5 s), B (home, 60 s) and C (eu, 30 s).
func costFixture(t *testing.T, s *store.Store) (a, b, c int64) {
	t.Helper()
	ctx := testContext(t)
	eps := []endpoint.Endpoint{
		{Name: "a", URL: "https://a.example/", Method: "GET", Interval: 5 * time.Second, Timeout: time.Second, Location: "home", Enabled: true},
		{Name: "b", URL: "https://b.example/", Method: "GET", Interval: time.Minute, Timeout: time.Second, Location: "home", Enabled: true},
		{Name: "c", URL: "https://c.example/", Method: "GET", Interval: 30 * time.Second, Timeout: time.Second, Location: "eu", Enabled: true},
	}
	if _, err := s.ImportEndpoints(ctx, eps, false); err != nil {
		t.Fatal(err)
	}
	stored, err := s.Endpoints(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	for _, e := range stored {
		ids[e.Name] = e.ID
	}
	a, b, c = ids["a"], ids["b"], ids["c"]

	s0, s2, s3 := costSpan1.Add(-time.Minute), costSpan1.Add(time.Minute), costSpan1.Add(2*time.Minute)
	inv := func(fn, loc string, span time.Time, checks int, usd float64) record.Invocation {
		mem := 512
		if fn == cost.FunctionFanout {
			mem = 256
		}
		i := record.Invocation{
			Function: fn, Location: loc, Region: "local", Arch: cost.ARM64, MemoryMB: mem, SpanStart: &span,
			StartedAt: span.Add(-10 * time.Second), Duration: 70 * time.Second, Billed: 70 * time.Second,
			ChecksPlanned: checks, ChecksDone: checks, ChecksWritten: checks, PayloadBytes: 1000, CostUSD: &usd,
			// Every line: $0.0000002 a request, $0.000001 of logs; home is
			// VPC-attached ($0.0000001 of NAT a check); every check sends
			// to the Internet ($0.0000002 of data out a check; a fanout
			// does none); eu sends its records through the queue;
			// $0.000000002 of storage a check.
			NetBytes: int64(checks) * 9000, SentBytes: int64(checks) * cost.CheckSentBytes, LogBytes: 2000,
			StorageBytes: int64(checks) * cost.CheckRowBytes, RequestUSD: 0.0000002,
			DataOutUSD: float64(checks) * 0.0000002, LogsUSD: 0.000001, StorageUSD: float64(checks) * 0.000000002,
		}
		switch loc {
		case "home":
			i.VPC, i.NATUSD = true, float64(checks)*0.0000001
		case "eu":
			i.QueueRequests, i.QueueBytes, i.QueueUSD = 1, 3000, 0.0000004
		}
		if fn == cost.FunctionFanout {
			i.ColdStart, i.Init = true, 150*time.Millisecond
		}
		return i
	}
	for _, i := range []record.Invocation{
		inv(cost.FunctionFanout, "", s0, 0, 0.0005), inv(cost.FunctionProbe, "home", s0, 1, 0.0005),
		inv(cost.FunctionFanout, "", costSpan1, 0, 0.0001),
		inv(cost.FunctionProbe, "home", costSpan1, 7, 0.0005), func() record.Invocation {
			i := inv(cost.FunctionProbe, "home", costSpan1, 6, 0.0004)
			i.Shard = ptr(1) // a second shard of the span: another invocation
			return i
		}(),
		inv(cost.FunctionProbe, "eu", costSpan1, 2, 0.0003),
		func() record.Invocation { // the drain: in the total, in no location
			i := inv(cost.FunctionDrain, "", costSpan1, 0, 0.00002)
			i.QueueRequests, i.QueueBytes, i.QueueUSD = 3, 3000, 0.0000012
			return i
		}(),
		inv(cost.FunctionFanout, "", s2, 0, 0.0001), inv(cost.FunctionProbe, "home", s2, 13, 0.0006),
		inv(cost.FunctionFanout, "", s3, 0, 0.00005),
		// Without a recorded cost: counted as unpriced, costs nothing.
		{Function: cost.FunctionProbe, Location: "home", SpanStart: &s2, StartedAt: s2},
	} {
		if err := s.RecordInvocation(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	m := func(id int64, loc string, at time.Time) record.Check {
		return record.Check{EndpointID: id, Location: loc, PlannedAt: at,
			Result: record.Result{StartedAt: at, ResponseTime: 10 * time.Millisecond, StatusCode: ptr(200)}}
	}
	var batch []record.Check
	for _, span := range []time.Time{costSpan1, s2} {
		for k := range 12 {
			batch = append(batch, m(a, "home", span.Add(time.Duration(k)*5*time.Second)))
		}
		batch = append(batch, m(b, "home", span.Add(30*time.Second)))
	}
	batch = append(batch, m(c, "eu", costSpan1.Add(10*time.Second)), m(c, "eu", costSpan1.Add(40*time.Second)),
		m(a, "home", s3.Add(time.Second)), m(a, "home", s0.Add(time.Second)))
	if _, err := s.WriteChecks(ctx, batch); err != nil {
		t.Fatal(err)
	}
	return a, b, c
}

func nearly(got, want float64) bool {
	return math.Abs(got-want) <= 1e-9*math.Max(math.Abs(want), 1e-6)
}

// TestCostReportAllocatesByHand checks the store's report against the
// fixture worked out by hand.
func TestCostReportAllocatesByHand(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.New(t))
	a, b, c := costFixture(t, s)
	r, err := s.CostReport(testContext(t), costSpan1, cost.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Span 1's fanout is shared 13:2 between home and eu; span 2's goes to
	// home; span 3's (no checks) is unallocated. A home check of span 1
	// costs (0.0009 + 0.0001 x 13/15) / 13, of span 2 (0.0006 + 0.0001) / 13.
	// The drain's $0.00002 is in the total and the line items only.
	home1, home2 := (0.0009+0.0001*13/15)/13, 0.0007/13
	want := map[int64]float64{
		a: 12*home1 + 12*home2,
		b: home1 + home2,
		c: 0.0003 + 0.0001*2/15,
	}
	figures := []struct {
		name      string
		got, want float64
	}{
		{"total", r.CostUSD, 0.00207},
		{"drain", r.CostByFunction[cost.FunctionDrain], 0.00002},
		{"drain invocations", float64(r.Invocations[cost.FunctionDrain]), 1},
		{"checks", float64(r.Checks), 28},
		{"spans", float64(r.Spans), 2},
		{"endpoints", float64(r.Endpoints), 3},
		{"unpriced", float64(r.Unpriced), 1},
		{"unallocated", r.UnallocatedUSD, 0.00005},
		{"per 1,000 checks", r.CostPer1000Checks, 0.00207 / 28 * 1000},
		{"60 s per URL-month", r.UnitPrices[1].VariableUSD, 0.00207 / 28 * 43800},
		{"home", r.Locations[1].CostUSD, 0.0015 + 0.0001*13/15 + 0.0001},
		{"eu", r.Locations[0].CostUSD, want[c]},
	}
	for _, f := range figures {
		if !nearly(f.got, f.want) {
			t.Errorf("%s = %.12g, want %.12g", f.name, f.got, f.want)
		}
	}
	if len(r.Top) != 3 {
		t.Fatalf("endpoints %+v", r.Top)
	}
	for _, e := range r.Top {
		if !nearly(e.CostUSD, want[e.EndpointID]) {
			t.Errorf("endpoint %d (%s) cost %.12g, want %.12g", e.EndpointID, e.Name, e.CostUSD, want[e.EndpointID])
		}
	}
	if got := r.Top[0].Checks; r.Top[0].EndpointID != a || got != 24 {
		t.Errorf("most expensive: endpoint %d with %d checks, want %d with 24", r.Top[0].EndpointID, got, a)
	}

	// Line items: 8 priced invocations in the window (3 fanouts, 4
	// probes, the drain), 28 checks, 26 of them at home.
	lines := []struct {
		name string
		got  cost.LineItem
		usd  float64
	}{
		{"lambda_compute", r.LineItems.LambdaCompute, 0.00207 - 8*0.0000002},
		{"lambda_requests", r.LineItems.LambdaRequests, 8 * 0.0000002},
		{"nat_data", r.LineItems.NATData, 26 * 0.0000001},
		{"data_out", r.LineItems.DataOut, 28 * 0.0000002},
		{"queue_requests", r.LineItems.QueueRequests, 0.0000004 + 0.0000012},
		{"logs", r.LineItems.Logs, 8 * 0.000001},
		{"storage", r.LineItems.Storage, 28 * 0.000000002},
	}
	for _, l := range lines {
		if !nearly(l.got.CostUSD, l.usd) || !nearly(l.got.PerURLMonth60s, l.usd/28*43800) || !nearly(l.got.PerURLMonth5s, l.usd/28*525600) {
			t.Errorf("%s = %+v, want $%.12g, at 60 s $%.12g", l.name, l.got, l.usd, l.usd/28*43800)
		}
	}
	if v := r.Volumes; v.ColdStarts != 3 || !nearly(v.InitS, 0.45) || v.NetBytes != 28*9000 || v.SentBytes != 28*cost.CheckSentBytes || v.QueueRequests != 4 ||
		v.LogBytes != 8*2000 || v.StorageBytes != 28*cost.CheckRowBytes {
		t.Errorf("volumes %+v", v)
	}
}

// TestCostSQLMatchesReport holds the SQL functions and views of migrations
// 00005 and 00008 to the Go report: the same window gives the same figures,
// line items included.
func TestCostSQLMatchesReport(t *testing.T) {
	t.Parallel()
	u := pgtest.New(t)
	s := open(t, u)
	costFixture(t, s)
	ctx := testContext(t)
	conn := connect(t, u)

	opt := cost.Options{FleetSize: 1000, Fixed: cost.Fixed{"database": 10, "proxy": 20}}
	tests := []struct {
		name    string
		since   time.Time
		summary string // the SQL that returns the summary row
	}{
		{"functions over the window", costSpan1, `SELECT * FROM watcher_cost_summary($1, 1000, 30)`},
		// The views cover all history (span 0 too) with no fixed costs.
		{"views over all history", time.Time{}, `SELECT * FROM cost_summary WHERE $1::timestamptz IS NOT NULL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := opt
			if tt.since.IsZero() {
				o = cost.Options{}
			}
			r, err := s.CostReport(ctx, tt.since, o)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := conn.Query(ctx, tt.summary, tt.since)
			if err != nil {
				t.Fatal(err)
			}
			sum, err := pgx.CollectExactlyOneRow(rows, pgx.RowToMap)
			if err != nil {
				t.Fatal(err)
			}
			f := func(k string) float64 {
				switch v := sum[k].(type) {
				case float64:
					return v
				case int64:
					return float64(v)
				}
				t.Fatalf("column %s: %T", k, sum[k])
				return 0
			}
			figures := []struct {
				column string
				goes   float64
			}{
				{"spans", float64(r.Spans)},
				{"covered_s", r.CoveredSeconds},
				{"endpoints", float64(r.Endpoints)},
				{"fanout_invocations", float64(r.Invocations[cost.FunctionFanout])},
				{"probe_invocations", float64(r.Invocations[cost.FunctionProbe])},
				{"unpriced_invocations", float64(r.Unpriced)},
				{"checks", float64(r.Checks)},
				{"gb_seconds", r.GBSeconds},
				{"cost_usd", r.CostUSD},
				{"fanout_usd", r.CostByFunction[cost.FunctionFanout]},
				{"probe_usd", r.CostByFunction[cost.FunctionProbe]},
				{"unallocated_usd", r.UnallocatedUSD},
				{"cost_per_1000_checks_usd", r.CostPer1000Checks},
				{"fleet_per_url_month_usd", r.FleetPerURLMonth},
				{"per_url_month_5s_usd", r.UnitPrices[0].VariableUSD},
				{"per_url_month_60s_usd", r.UnitPrices[1].VariableUSD},
				{"fixed_per_url_month_usd", r.Fixed.PerURLMonthUSD},
				{"synthetics_usd", r.Synthetics.CostUSD},
				{"synthetics_ratio", r.Synthetics.Ratio},
				{"synthetics_ratio_with_fixed", r.Synthetics.RatioWithFixed},
				{"synthetics_ratio_5s", r.UnitPrices[0].SyntheticsRatio},
				{"synthetics_ratio_60s", r.UnitPrices[1].SyntheticsRatio},
			}
			for _, fig := range figures {
				if got := f(fig.column); !nearly(got, fig.goes) {
					t.Errorf("%s: SQL %.12g, Go %.12g", fig.column, got, fig.goes)
				}
			}

			src := func(fn, view string) string {
				if tt.since.IsZero() {
					return `SELECT * FROM ` + view + ` WHERE $1::timestamptz IS NOT NULL`
				}
				return `SELECT * FROM ` + fn + `($1)`
			}
			rows, err = conn.Query(ctx, src("watcher_cost_locations", "cost_by_location"), tt.since)
			if err != nil {
				t.Fatal(err)
			}
			locs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (cost.LocationCost, error) {
				var l cost.LocationCost
				var inv int64
				err := row.Scan(&l.Location, &inv, &l.Checks, &l.GBSeconds, &l.ProbeUSD, &l.FanoutShareUSD, &l.CostUSD,
					&l.CostPer1000Checks, &l.Endpoints, &l.PerURLMonthUSD)
				l.Invocations = int(inv)
				return l, err
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(locs) != len(r.Locations) {
				t.Fatalf("SQL locations %+v, Go %+v", locs, r.Locations)
			}
			for i, l := range locs {
				g := r.Locations[i]
				if l.Location != g.Location || l.Invocations != g.Invocations || l.Checks != g.Checks || l.Endpoints != g.Endpoints ||
					!nearly(l.GBSeconds, g.GBSeconds) || !nearly(l.ProbeUSD, g.ProbeUSD) || !nearly(l.FanoutShareUSD, g.FanoutShareUSD) ||
					!nearly(l.CostUSD, g.CostUSD) || !nearly(l.CostPer1000Checks, g.CostPer1000Checks) || !nearly(l.PerURLMonthUSD, g.PerURLMonthUSD) {
					t.Errorf("location %d: SQL %+v, Go %+v", i, l, g)
				}
			}
			rows, err = conn.Query(ctx, src("watcher_cost_buckets", "cost_by_bucket"), tt.since)
			if err != nil {
				t.Fatal(err)
			}
			buckets, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (cost.BucketCost, error) {
				var b cost.BucketCost
				err := row.Scan(&b.Bucket, &b.Planner, &b.Endpoints, &b.Checks, &b.CostUSD, &b.CostPer1000Checks, &b.PerURLMonthUSD)
				return b, err
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(buckets) != len(r.Buckets) {
				t.Fatalf("SQL buckets %+v, Go %+v", buckets, r.Buckets)
			}
			for i, b := range buckets {
				g := r.Buckets[i]
				if b.Bucket != g.Bucket || b.Planner != g.Planner || b.Endpoints != g.Endpoints || b.Checks != g.Checks ||
					!nearly(b.CostUSD, g.CostUSD) || !nearly(b.CostPer1000Checks, g.CostPer1000Checks) || !nearly(b.PerURLMonthUSD, g.PerURLMonthUSD) {
					t.Errorf("bucket %d: SQL %+v, Go %+v", i, b, g)
				}
			}
			rows, err = conn.Query(ctx, src("watcher_cost_line_items", "cost_line_items"), tt.since)
			if err != nil {
				t.Fatal(err)
			}
			items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (cost.NamedLineItem, error) {
				var li cost.NamedLineItem
				err := row.Scan(&li.Name, &li.CostUSD, &li.CostPer1000Checks, &li.PerURLMonth5s, &li.PerURLMonth60s)
				return li, err
			})
			if err != nil {
				t.Fatal(err)
			}
			goItems := r.LineItems.List()
			if len(items) != len(goItems) {
				t.Fatalf("SQL line items %+v, Go %+v", items, goItems)
			}
			for i, li := range items {
				g := goItems[i]
				if li.Name != g.Name || !nearly(li.CostUSD, g.CostUSD) || !nearly(li.CostPer1000Checks, g.CostPer1000Checks) ||
					!nearly(li.PerURLMonth5s, g.PerURLMonth5s) || !nearly(li.PerURLMonth60s, g.PerURLMonth60s) {
					t.Errorf("line item %d: SQL %+v, Go %+v", i, li, g)
				}
				if li.CostUSD == 0 {
					t.Errorf("line item %s is zero: the fixture should exercise every line", li.Name)
				}
			}
			var n int
			if err := conn.QueryRow(ctx, `SELECT count(*) FROM (`+src("watcher_cost_endpoints", "cost_by_endpoint")+`) e`, tt.since).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != r.Endpoints {
				t.Errorf("SQL lists %d endpoints, Go %d", n, r.Endpoints)
			}
		})
	}
}

// TestInvocationLinesRoundTrip: the facts and lines of migration 00008 are
// stored and read back as recorded.
func TestInvocationLinesRoundTrip(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.New(t))
	ctx := testContext(t)
	start := time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)
	inv := record.Invocation{
		Function: "probe", Location: "home", Region: "us-east-1", Arch: "arm64", MemoryMB: 512, Shard: ptr(0),
		SpanStart: ptr(start.Add(10 * time.Second)), StartedAt: start, Duration: 61 * time.Second, Billed: 61 * time.Second,
		ChecksPlanned: 100, ChecksDone: 100, ChecksWritten: 100, CostUSD: ptr(0.0004),
		ColdStart: true, Init: 183250 * time.Microsecond, VPC: true, NetBytes: 950_000, SentBytes: 220_000, QueueRequests: 3,
		QueueBytes: 140_000, LogBytes: 1800, StorageBytes: 16_000, RequestUSD: 0.0000002, NATUSD: 0.0000398, DataOutUSD: 0.0000184,
		QueueUSD: 0.0000012, LogsUSD: 0.00000084, StorageUSD: 0.0000017,
	}
	if err := s.RecordInvocation(ctx, inv); err != nil {
		t.Fatal(err)
	}
	got, err := s.Invocations(ctx, start)
	if err != nil || len(got) != 1 {
		t.Fatalf("read %+v, %v", got, err)
	}
	got[0].ID = 0
	if !reflect.DeepEqual(got[0], inv) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got[0], inv)
	}
}

// TestCheckRowBytesMatchesTheDatabase keeps cost.CheckRowBytes, the
// storage a check takes, honest: 20,000 HTTPS checks (each with its
// certificate's expiry) of 200 endpoints every 5 s, one in ten failed, take
// within a fifth of it in the partition that holds them (table, TOAST and
// indexes).
func TestCheckRowBytesMatchesTheDatabase(t *testing.T) {
	t.Parallel()
	u := pgtest.New(t)
	s := open(t, u)
	ctx := testContext(t)
	conn := connect(t, u)
	var partitioned bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = 'checks'::regclass)`).Scan(&partitioned); err != nil {
		t.Fatal(err)
	}
	if !partitioned {
		t.Skip("checks is a TimescaleDB hypertable: its chunks are compressed and sized otherwise")
	}
	base := time.Date(2031, 1, 2, 3, 0, 0, 0, time.UTC) // beyond the daily partitions: all in checks_default
	const endpoints, instants = 200, 100
	batch := make([]record.Check, 0, endpoints)
	for k := range instants {
		batch = batch[:0]
		for e := range endpoints {
			at := base.Add(time.Duration(k)*5*time.Second + time.Duration(e)*10*time.Millisecond)
			c := record.Check{EndpointID: int64(e + 1), Location: "home", PlannedAt: at, Lateness: 700 * time.Microsecond,
				Result: record.Result{StartedAt: at, ResponseTime: 103 * time.Millisecond, StatusCode: ptr(200), RegexMatch: ptr(true),
					DNS: time.Millisecond, Connect: 2 * time.Millisecond, TLS: 5 * time.Millisecond, TTFB: 101 * time.Millisecond, BodyBytes: 2048,
					TLSNotAfter: ptr(base.AddDate(0, 2, e)), TLSIssuer: "R11"}}
			if (k*endpoints+e)%10 == 0 {
				c.StatusCode, c.RegexMatch, c.Error = nil, nil, record.ErrTimeout
			}
			batch = append(batch, c)
		}
		if _, err := s.WriteChecks(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	var perRow float64
	if err := conn.QueryRow(ctx, `SELECT pg_total_relation_size('checks_default')::float8 / count(*) FROM checks_default`).Scan(&perRow); err != nil {
		t.Fatal(err)
	}
	t.Logf("%.1f bytes a stored check (cost.CheckRowBytes %d)", perRow, cost.CheckRowBytes)
	if perRow < 0.8*cost.CheckRowBytes || perRow > 1.2*cost.CheckRowBytes {
		t.Errorf("a stored check takes %.1f bytes; cost.CheckRowBytes is %d", perRow, cost.CheckRowBytes)
	}
}
