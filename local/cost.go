package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/watcher-dev/watcher/internal/app"
	"github.com/watcher-dev/watcher/internal/config"
	"github.com/watcher-dev/watcher/internal/cost"
	"github.com/watcher-dev/watcher/internal/plan"
)

func costCmd() *cobra.Command {
	var (
		since      time.Duration
		asJSON     bool
		fleetSize  int
		fixed      string
		top        int
		shardSizes []int
		memories   []int
		cpuMS      float64
	)
	cmd := &cobra.Command{
		Use:   "cost",
		Short: "What the fleet cost: per 1,000 checks, per URL-month, by location, interval and endpoint, against CloudWatch Synthetics",
		Long: `Report what the invocations of the window cost, as each recorded it (Lambda's price for its
region, architecture and memory times its billed duration, plus the request charge; local runs
are priced at the nominal memory of infra/cdk.json on arm64).

The cost per check gives the unit price of a URL per month (730 hours) at 5 s and 60 s
intervals; the fixed monthly costs (--fixed, WATCHER_PRICE_FIXED) are spread over --fleet-size
URLs separately. CloudWatch Synthetics is priced at $0.0012 per canary run for the same checks.
The last table reprices the window for other shard and memory sizes.

The line items add what else grows with checks, each per URL-month at 5 s and 60 s: Lambda
compute (with cold starts' init) and requests, NAT data of VPC-attached locations, data out
to the Internet (what the checks send, an estimate per check, priced without the free 100 GB
a month), record-queue requests (per 64 KiB chunk), CloudWatch Logs ingestion and database
storage (one month of keeping the checks), each priced by the invocation that incurred it
(--json: line_items).

The same figures are in SQL: watcher_cost_summary(since, fleet_size, fixed_monthly_usd),
watcher_cost_locations(since), watcher_cost_buckets(since), watcher_cost_endpoints(since),
watcher_cost_line_items(since), and the views cost_summary, cost_by_location, cost_by_bucket,
cost_by_endpoint, cost_line_items over all history.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fx, err := cost.ParseFixed(fixed)
			if err != nil {
				return fmt.Errorf("--fixed: %w", err)
			}
			pricing, err := config.LoadPricing(os.LookupEnv)
			if err != nil {
				return err
			}
			price := app.Meter(config.Common{Region: os.Getenv("AWS_REGION"), Pricing: pricing}, 0).Price
			st, err := openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			from := time.Time{}
			if since > 0 {
				from = time.Now().Add(-since)
			}
			r, err := st.CostReport(cmd.Context(), from, cost.Options{
				FleetSize: fleetSize, Fixed: fx, Top: top,
				Shards: cost.ShardModelOptions{
					Sizes: shardSizes, MemoriesMB: memories, Price: price,
					MaxPayloadBytes: plan.DefaultOptions.MaxPayloadBytes, CPUMsPerCheck: cpuMS,
				},
			})
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			return printCost(cmd.OutOrStdout(), &r, cpuMS)
		},
	}
	defFixed := os.Getenv("WATCHER_PRICE_FIXED")
	if defFixed == "" {
		defFixed = cost.DefaultFixed().String()
	}
	f := cmd.Flags()
	f.DurationVar(&since, "since", time.Hour, "report on spans that started this long ago or later (0: all history)")
	f.BoolVar(&asJSON, "json", false, "print the report as one JSON object")
	f.IntVar(&fleetSize, "fleet-size", 0, "URLs the fixed costs are spread over (0: the endpoints measured)")
	f.StringVar(&fixed, "fixed", defFixed, `fixed monthly costs in USD, name=usd,... ("none" for none); default from WATCHER_PRICE_FIXED, else infra/DEPLOY.md's home-only deployment`)
	f.IntVar(&top, "top", 10, "most expensive endpoints to list")
	f.IntSliceVar(&shardSizes, "shard-sizes", []int{500, 1000, 2000, 5000, 10000}, "checks per shard to model")
	f.IntSliceVar(&memories, "memory", []int{256, 512, 1024}, "probe memory sizes (MB) to model")
	f.Float64Var(&cpuMS, "cpu-ms-per-check", float64(plan.CPUPerCheck)/float64(time.Millisecond), "CPU per check for the model's load column (default: the planner's)")
	nonNegative(f, "since", &since)
	nonNegative(f, "fleet-size", &fleetSize)
	positive(f, "top", &top)
	positiveEach(f, "shard-sizes", &shardSizes)
	positiveEach(f, "memory", &memories)
	positive(f, "cpu-ms-per-check", &cpuMS)
	return cmd
}

// printCost prints the report for people.
func printCost(w io.Writer, r *cost.Report, cpuMS float64) error {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	from := "all history"
	if !r.Since.IsZero() {
		from = r.Since.Local().Format(time.RFC3339)
	}
	p("\nCost since %s: %d spans (%s of schedule), %s endpoints, %s checks\n\n",
		from, r.Spans, time.Duration(r.CoveredSeconds*float64(time.Second)), count(int64(r.Endpoints)), count(r.Checks))
	if r.Checks == 0 && r.CostUSD == 0 {
		p("No invocations recorded in the window.\n")
		return nil
	}
	unpriced := ""
	if r.Unpriced > 0 {
		unpriced = fmt.Sprintf(" (%d without a recorded cost: memory unknown)", r.Unpriced)
	}
	drains, drainUSD := "", ""
	if n := r.Invocations[cost.FunctionDrain]; n > 0 {
		drains, drainUSD = fmt.Sprintf(", drain %d", n), ", drain "+usd(r.CostByFunction[cost.FunctionDrain])
	}
	p("  invocations         fanout %d, probe %d%s%s\n", r.Invocations[cost.FunctionFanout], r.Invocations[cost.FunctionProbe], drains, unpriced)
	p("  GB-seconds          %.1f\n", r.GBSeconds)
	p("  cost                %s (fanout %s, probes %s%s)\n", usd(r.CostUSD), usd(r.CostByFunction[cost.FunctionFanout]),
		usd(r.CostByFunction[cost.FunctionProbe]), drainUSD)
	p("  per 1,000 checks    %s\n", usd(r.CostPer1000Checks))
	p("  per URL-month       %s for this fleet's mix of intervals (variable part)\n", usd(r.FleetPerURLMonth))
	p("  fixed               %s a month (%s) over %s URLs: %s per URL-month\n",
		usd(r.Fixed.MonthlyUSD), fixedItems(r.Fixed.Items), count(int64(r.Fixed.FleetSize)), usd(r.Fixed.PerURLMonthUSD))
	p("  CloudWatch Synth.   %s for the same %s checks at %s a run: %s the variable cost, %s with the fixed share\n",
		usd(r.Synthetics.CostUSD), count(r.Checks), usd(r.Synthetics.RunUSD), times(r.Synthetics.Ratio), times(r.Synthetics.RatioWithFixed))

	p("\nUnit price per URL-month (the window's cost per check)\n\n")
	tw := table(w)
	fmt.Fprintln(tw, "INTERVAL\tCHECKS/MONTH\tVARIABLE\tFIXED\tTOTAL\tSYNTHETICS\tSYNTHETICS/TOTAL\t")
	for _, u := range r.UnitPrices {
		fmt.Fprintf(tw, "%gs\t%s\t%s\t%s\t%s\t%s\t%s\t\n", u.IntervalS, count(int64(u.ChecksPerMonth)), usd(u.VariableUSD),
			usd(u.FixedUSD), usd(u.TotalUSD), usd(u.SyntheticsUSD), times(u.SyntheticsRatio))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	if err := printLineItems(w, r); err != nil {
		return err
	}

	p("\nBy location (probes plus their share of the fanout by checks")
	if r.UnallocatedUSD > 0 {
		p("; %s of fanout in spans without checks is in no location", usd(r.UnallocatedUSD))
	}
	if u := r.CostByFunction[cost.FunctionDrain]; u > 0 {
		p("; the drain's %s, writing the checks of every location, is in none", usd(u))
	}
	p(")\n\n")
	tw = table(w)
	fmt.Fprintln(tw, "LOCATION\tINVOCATIONS\tCHECKS\tGB-S\tPROBES\tFANOUT SHARE\tCOST\tPER 1,000\tENDPOINTS\tPER URL-MONTH\t")
	for _, l := range r.Locations {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.1f\t%s\t%s\t%s\t%s\t%d\t%s\t\n", l.Location, l.Invocations, count(l.Checks), l.GBSeconds,
			usd(l.ProbeUSD), usd(l.FanoutShareUSD), usd(l.CostUSD), usd(l.CostPer1000Checks), l.Endpoints, usd(l.PerURLMonthUSD))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	p("\nBy interval bucket (busy: the probe is kept all span; burst: checked once a span)\n\n")
	tw = table(w)
	fmt.Fprintln(tw, "BUCKET\tPLANNER\tENDPOINTS\tCHECKS\tCOST\tPER 1,000\tPER URL-MONTH\t")
	for _, b := range r.Buckets {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", b.Bucket, b.Planner, count(int64(b.Endpoints)), count(b.Checks),
			usd(b.CostUSD), usd(b.CostPer1000Checks), usd(b.PerURLMonthUSD))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	p("\nMost expensive endpoints\n\n")
	tw = table(w)
	fmt.Fprintln(tw, "ID\tLOCATION\tINTERVAL\tCHECKS\tCOST\tPER URL-MONTH\t URL")
	for _, e := range r.Top {
		fmt.Fprintf(tw, "%d\t%s\t%gs\t%d\t%s\t%s\t %s\n", e.EndpointID, e.Location, e.IntervalS, e.Checks, usd(e.CostUSD), usd(e.PerURLMonthUSD), e.URL)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	if len(r.ShardModel) > 0 {
		p("\nShard size and memory, repriced from this window's probe durations (CPU load at %g ms per check)\n\n", cpuMS)
		tw = table(w)
		fmt.Fprintln(tw, "CHECKS/SHARD\tMEMORY MB\tSHARDS/SPAN\tVCPU\tCPU LOAD\tPER 1,000\t5s URL-MONTH\t60s URL-MONTH\t")
		for _, m := range r.ShardModel {
			fmt.Fprintf(tw, "%d\t%d\t%.1f\t%.2f\t%.0f%%\t%s\t%s\t%s\t\n", m.MaxChecks, m.MemoryMB, m.ShardsPerSpan, m.VCPU, 100*m.CPULoad,
				usd(m.CostPer1000Checks), usd(m.PerURLMonth5s), usd(m.PerURLMonth60s))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// lineLabels name the line items for people.
var lineLabels = map[string]string{
	cost.LineLambdaCompute:  "Lambda compute (init included)",
	cost.LineLambdaRequests: "Lambda requests",
	cost.LineNATData:        "NAT data (VPC-attached)",
	cost.LineDataOut:        "data out to the Internet",
	cost.LineQueueRequests:  "record-queue requests",
	cost.LineLogs:           "CloudWatch Logs ingestion",
	cost.LineStorage:        "storage, for the raw retention",
}

// printLineItems prints every line that grows with checks and the volumes
// they price.
func printLineItems(w io.Writer, r *cost.Report) error {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("\nLine items per URL-month (each line that grows with checks, by the window's cost per check)\n\n")
	tw := table(w)
	fmt.Fprintln(tw, "LINE ITEM\tJSON KEY\tWINDOW\tPER 1,000\t5s URL-MONTH\t60s URL-MONTH\t")
	row := func(label, key string, li cost.LineItem) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", label, key, usd(li.CostUSD), usd(li.CostPer1000Checks),
			usd(li.PerURLMonth5s), usd(li.PerURLMonth60s))
	}
	for _, li := range r.LineItems.List() {
		row(lineLabels[li.Name], li.Name, li.LineItem)
	}
	row("all line items", "", r.LineItemsTotal)
	if err := tw.Flush(); err != nil {
		return err
	}
	v, checks := r.Volumes, max(r.Checks, 1)
	invocations := 0
	for _, n := range r.Invocations {
		invocations += n
	}
	p("\n  cold starts         %d, %.2f s of init\n", v.ColdStarts, v.InitS)
	p("  bytes per check     %s moved (body and protocol), %s sent to the Internet, %s stored\n",
		count(v.NetBytes/checks), count(v.SentBytes/checks), count(v.StorageBytes/checks))
	p("  record queue        %s requests, %s bytes\n", count(v.QueueRequests), count(v.QueueBytes))
	p("  logs                %s bytes, %s per invocation\n", count(v.LogBytes), count(v.LogBytes/int64(max(invocations, 1))))
	return nil
}

func table(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
}

// usd prints an amount with four significant digits, never in exponent
// form: $0.0002431, $0.1278, $630.72.
func usd(v float64) string {
	if v == 0 {
		return "$0"
	}
	d := int(math.Floor(math.Log10(math.Abs(v))))
	return fmt.Sprintf("$%.*f", max(2, 3-d), v)
}

// times prints a ratio: 4,662x.
func times(v float64) string {
	if v >= 10 {
		return count(int64(math.Round(v))) + "x"
	}
	return fmt.Sprintf("%.2fx", v)
}

// count prints n with thousands separators.
func count(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + count(-n)
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func fixedItems(f cost.Fixed) string {
	if len(f) == 0 {
		return "none"
	}
	return strings.ReplaceAll(f.String(), ",", ", ")
}
