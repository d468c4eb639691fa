package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/cost"
	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/store"
)

// TestCostCommand runs `watcher cost` over invocations and checks stored
// in a real PostgreSQL and compares its figures, JSON and text, with the
// ones worked out by hand: one span in which the fanout cost $0.0001 and
// the home probe $0.0009 for 7 checks, 6 of endpoint X (every 10 s) and 1
// of Y (every 120 s).
func TestCostCommand(t *testing.T) {
	ctx := context.Background()
	u := pgtest.New(t)
	t.Setenv("DATABASE_URL", u)
	t.Setenv("WATCHER_PRICE_FIXED", "")
	st, err := store.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.ImportEndpoints(ctx, []endpoint.Endpoint{
		{Name: "x", URL: "http://x.test/", Method: "GET", Interval: 10 * time.Second, Timeout: time.Second, Location: "home", Enabled: true},
		{Name: "y", URL: "http://y.test/", Method: "GET", Interval: 2 * time.Minute, Timeout: time.Second, Location: "home", Enabled: true},
	}, false); err != nil {
		t.Fatal(err)
	}
	eps, err := st.Endpoints(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	for _, e := range eps {
		ids[e.Name] = e.ID
	}
	span := time.Date(2020, 1, 2, 3, 4, 10, 0, time.UTC) // long before any --since 1h
	fanoutUSD, probeUSD := 0.0001, 0.0009
	for _, inv := range []record.Invocation{
		{Function: cost.FunctionFanout, MemoryMB: 256, SpanStart: &span, StartedAt: span, Duration: time.Second, Billed: time.Second, CostUSD: &fanoutUSD,
			RequestUSD: 0.0000002, LogBytes: 600, LogsUSD: 0.0000003},
		{Function: cost.FunctionProbe, Location: "home", MemoryMB: 512, SpanStart: &span, StartedAt: span, Duration: time.Minute,
			Billed: time.Minute, ChecksPlanned: 7, ChecksDone: 7, ChecksWritten: 7, PayloadBytes: 900, CostUSD: &probeUSD,
			ColdStart: true, Init: 200 * time.Millisecond, VPC: true, NetBytes: 70_000, SentBytes: 15_400, LogBytes: 1400,
			StorageBytes: 1120, RequestUSD: 0.0000002, NATUSD: 0.00007, DataOutUSD: 0.0000028, LogsUSD: 0.0000007,
			StorageUSD: 0.0000021},
	} {
		if err := st.RecordInvocation(ctx, inv); err != nil {
			t.Fatal(err)
		}
	}
	var batch []record.Check
	for k := range 6 {
		batch = append(batch, record.Check{EndpointID: ids["x"], Location: "home", PlannedAt: span.Add(time.Duration(k) * 10 * time.Second),
			Result: record.Result{StartedAt: span, StatusCode: ptr(200)}})
	}
	batch = append(batch, record.Check{EndpointID: ids["y"], Location: "home", PlannedAt: span.Add(5 * time.Second),
		Result: record.Result{StartedAt: span, StatusCode: ptr(200)}})
	if _, err := st.WriteChecks(ctx, batch); err != nil {
		t.Fatal(err)
	}

	run := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		cmd := costCmd()
		cmd.SetArgs(args)
		cmd.SetOut(&out)
		if err := cmd.ExecuteContext(ctx); err != nil {
			t.Fatalf("watcher cost %v: %v", args, err)
		}
		return out.String()
	}

	t.Run("json", func(t *testing.T) {
		var r cost.Report
		if err := json.Unmarshal([]byte(run("--since", "0", "--json", "--fixed", "nat=30", "--fleet-size", "100")), &r); err != nil {
			t.Fatal(err)
		}
		// $0.001 for 7 checks over one span (60 s; a month is 43,800 of them) and 2 endpoints.
		perCheck := 0.001 / 7
		figures := []struct {
			name      string
			got, want float64
		}{
			{"cost", r.CostUSD, 0.001},
			{"checks", float64(r.Checks), 7},
			{"endpoints", float64(r.Endpoints), 2},
			{"per 1,000 checks", r.CostPer1000Checks, perCheck * 1000},
			{"fleet per URL-month", r.FleetPerURLMonth, 0.001 * 43800 / 2},
			{"5 s per URL-month", r.UnitPrices[0].VariableUSD, perCheck * 525600},
			{"60 s per URL-month", r.UnitPrices[1].VariableUSD, perCheck * 43800},
			{"60 s with $30 over 100 URLs", r.UnitPrices[1].TotalUSD, perCheck*43800 + 0.3},
			{"Synthetics: 7 runs", r.Synthetics.CostUSD, 0.0084},
			{"Synthetics ratio", r.Synthetics.Ratio, 8.4},
			{"X: 6 of the 7 checks", r.Top[0].CostUSD, 0.001 * 6 / 7},
			{"Y", r.Top[1].CostUSD, 0.001 / 7},
			{"bucket 10-29s", r.Buckets[0].CostUSD, 0.001 * 6 / 7},
			{"bucket 120-300s per URL-month", r.Buckets[1].PerURLMonthUSD, 0.001 / 7 * 43800},
			// Line items: of the $0.001, $0.0000004 is requests.
			{"lambda_compute 60 s", r.LineItems.LambdaCompute.PerURLMonth60s, 0.0009996 / 7 * 43800},
			{"lambda_requests 5 s", r.LineItems.LambdaRequests.PerURLMonth5s, 0.0000004 / 7 * 525600},
			{"nat_data 5 s", r.LineItems.NATData.PerURLMonth5s, 5.256},
			{"nat_data 60 s", r.LineItems.NATData.PerURLMonth60s, 0.438},
			// $0.0000028 of data out, $0.0000004 a check.
			{"data_out 5 s", r.LineItems.DataOut.PerURLMonth5s, 0.21024},
			{"data_out 60 s", r.LineItems.DataOut.PerURLMonth60s, 0.01752},
			{"logs 60 s", r.LineItems.Logs.PerURLMonth60s, 0.000001 / 7 * 43800},
			{"storage 60 s", r.LineItems.Storage.PerURLMonth60s, 0.01314},
			{"all line items 60 s", r.LineItemsTotal.PerURLMonth60s, 0.0010759 / 7 * 43800},
		}
		for _, f := range figures {
			if math.Abs(f.got-f.want) > 1e-9*math.Abs(f.want) {
				t.Errorf("%s = %.12g, want %.12g", f.name, f.got, f.want)
			}
		}
		if r.LineItems.QueueRequests.CostUSD != 0 || r.Volumes.ColdStarts != 1 || r.Volumes.NetBytes != 70_000 || r.Volumes.SentBytes != 15_400 {
			t.Errorf("queue line %+v, volumes %+v", r.LineItems.QueueRequests, r.Volumes)
		}
		if r.Top[0].EndpointID != ids["x"] || r.Buckets[0].Bucket != "10-29s" || r.Buckets[1].Planner != "burst" {
			t.Errorf("top %+v, buckets %+v", r.Top, r.Buckets)
		}
		if len(r.ShardModel) != 15 {
			t.Errorf("shard model has %d rows, want 5 sizes x 3 memories", len(r.ShardModel))
		}
	})

	t.Run("text", func(t *testing.T) {
		out := run("--since", "0", "--fixed", "nat=30", "--fleet-size", "100")
		for _, want := range []string{
			"1 spans (1m0s of schedule), 2 endpoints, 7 checks",
			"cost                $0.001000 (fanout $0.0001000, probes $0.0009000)",
			"per 1,000 checks    $0.1429",
			"fixed               $30.00 a month (nat=30) over 100 URLs: $0.3000 per URL-month",
			"$0.008400 for the same 7 checks at $0.001200 a run: 8.40x the variable cost",
			"cold starts         1, 0.20 s of init",
			"bytes per check     10,000 moved (body and protocol), 2,200 sent to the Internet, 160 stored",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		// Table rows, whatever the column widths.
		for _, row := range []string{
			`60s +43,800 +\$6\.257 +\$0\.3000 +\$6\.557 +\$52\.56 +8\.02x`,
			`home +1 +7 +30\.0 +\$0\.0009000 +\$0\.0001000 +\$0\.001000 +\$0\.1429 +2 +\$21\.90`,
			`10-29s +busy +1 +6 +\$0\.0008571`,
			`NAT data \(VPC-attached\) +nat_data +\$0\.00007000 +\$0\.01000 +\$5\.256 +\$0\.4380`,
			`data out to the Internet +data_out +\$0\.000002800 +\$0\.0004000 +\$0\.2102 +\$0\.01752`,
			`storage, for the raw retention +storage +\$0\.000002100 +\$0\.0003000 +\$0\.1577 +\$0\.01314`,
			`all line items +\$0\.001076 `,
		} {
			if !regexp.MustCompile(row).MatchString(out) {
				t.Errorf("output lacks a row like %s:\n%s", row, out)
			}
		}
	})

	t.Run("a window with nothing in it", func(t *testing.T) {
		if out := run("--since", "1h"); !strings.Contains(out, "No invocations recorded") {
			t.Errorf("output:\n%s", out)
		}
	})
}

func ptr[T any](v T) *T { return &v }
