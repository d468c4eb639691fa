package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/store"
)

func reportCmd() *cobra.Command {
	var since time.Duration
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Per endpoint: checks, up %, failures by cause, response times, from rollups; the last hour's spans: planned vs stored",
		Long: `Report per endpoint and location from the rollups: minute rollups for up to six hours,
hourly up to two days, daily beyond. The rollups are brought up to date first.
Response-time percentiles are the worst bucket's (a period's percentile is not a
function of its buckets'); MEAN and MAX are exact.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			return printReport(cmd.Context(), st, time.Now().Add(-since))
		},
	}
	daysVar(cmd.Flags(), &since, "since", time.Hour, "report on checks planned this long ago or later (1h, 30d)")
	return cmd
}

// printReport brings the rollups up to date and prints the endpoint table,
// then the last hour's spans with the checks planned beside the checks
// stored, so a person can see that every planned check was stored.
func printReport(ctx context.Context, st *store.Store, since time.Time) error {
	now := time.Now()
	if _, err := st.RollUp(ctx, now); err != nil {
		return err
	}
	rep, err := st.Report(ctx, since, now)
	if err != nil {
		return err
	}
	through := "nothing rolled up yet"
	if !rep.Through.IsZero() {
		through = "through " + rep.Through.Local().Format(time.DateTime)
	}
	fmt.Printf("\nReport from %s, %s (%s rollups)\n\n", rep.From.Local().Format(time.DateTime), through, rep.Level)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "ID\tLOCATION\tCHECKS\tUP %\tMEAN ms\tP95 ms\tP99 ms\tMAX ms\t FAILURES\t URL")
	var total store.Counts
	for _, r := range rep.Endpoints {
		total.Add(r.Counts)
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%.1f\t%.1f\t%.1f\t%.1f\t %s\t %s\n",
			r.EndpointID, r.Location, r.Checks, upPercent(r.Counts), record.MS(r.Mean()), record.MS(r.P95), record.MS(r.P99),
			record.MS(r.Max), failures(r.Counts), r.URL)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if total.Checks > 0 {
		fmt.Printf("\n%d endpoints, %d checks, %.2f%% up\n", len(rep.Endpoints), total.Checks, total.UpPercent())
	}
	spansSince := now.Add(-time.Hour)
	if since.After(spansSince) {
		spansSince = since
	}
	return printSpans(ctx, st, spansSince)
}

// upPercent is "-" without checks, so a silent endpoint is not 0 % up.
func upPercent(c store.Counts) string {
	if c.Checks == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", c.UpPercent())
}

// failures says why checks were not up, most frequent cause first.
func failures(c store.Counts) string {
	type cause struct {
		name string
		n    int64
	}
	causes := []cause{
		{"timeout", c.ErrTimeout}, {"dns", c.ErrDNS}, {"connect", c.ErrConnect}, {"tls", c.ErrTLS},
		{"refused", c.ErrRefused}, {"no_socket", c.ErrNoSocket}, {"other error", c.ErrOther},
		{"4xx", c.Status4xx}, {"5xx", c.Status5xx}, {"regex", c.RegexFailures},
	}
	slices.SortStableFunc(causes, func(a, b cause) int { return cmp.Compare(b.n, a.n) })
	var parts []string
	for _, cause := range causes {
		if cause.n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", cause.name, cause.n))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// printSpans prints the spans since since whose stored checks differ from
// the planned ones or that were not dispatched, then the totals.
func printSpans(ctx context.Context, st *store.Store, since time.Time) error {
	spans, err := st.SpanCounts(ctx, since, plan.SpanLength)
	if err != nil {
		return err
	}
	fmt.Printf("\nSpans since %s (planned by the fanout, stored in checks); only those that differ are listed\n\n",
		since.Local().Format(time.DateTime))
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "SPAN START\tSTATUS\tSHARDS\tPLANNED\tSTORED\tNOT STORED\t")
	var planned, stored int
	for _, s := range spans {
		planned += s.Planned
		stored += s.Stored
		if s.Stored != s.Planned || s.Status != record.SpanDispatched {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t\n", s.Start.Local().Format(time.DateTime), s.Status, s.Shards, s.Planned,
				s.Stored, s.Planned-s.Stored)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Printf("\n%d spans: %d checks planned, %d stored\n", len(spans), planned, stored)
	return nil
}
