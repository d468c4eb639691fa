package main

import (
	"context"
	"fmt"
	"os"
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
		Short: "Per endpoint: checks, up %, p50/p95/p99 response time, regex failures; per span: planned vs stored",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			return printReport(cmd.Context(), st, time.Now().Add(-since))
		},
	}
	cmd.Flags().DurationVar(&since, "since", time.Hour, "report on checks planned this long ago or later")
	return cmd
}

// printReport prints the endpoint table, then the spans with the checks
// planned beside the checks stored, so a person can see that every planned
// check was stored.
func printReport(ctx context.Context, st *store.Store, since time.Time) error {
	reps, err := st.Report(ctx, since)
	if err != nil {
		return err
	}
	spans, err := st.SpanCounts(ctx, since, plan.SpanLength)
	if err != nil {
		return err
	}
	fmt.Printf("\nReport since %s\n\n", since.Format(time.RFC3339))
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "ID\tLOCATION\tCHECKS\tUP %\tP50 ms\tP95 ms\tP99 ms\tERRORS\tREGEX FAIL\t URL")
	var checks, up int64
	for _, r := range reps {
		checks += r.Checks
		up += r.Up
		fmt.Fprintf(tw, "%d\t%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%d\t%d\t %s\n",
			r.EndpointID, r.Location, r.Checks, r.UpPercent(), record.MS(r.P50), record.MS(r.P95), record.MS(r.P99), r.Errors, r.RegexFailures, r.URL)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if checks > 0 {
		fmt.Printf("\n%d endpoints, %d checks, %.2f%% up\n", len(reps), checks, 100*float64(up)/float64(checks))
	}

	fmt.Printf("\nSpans (planned by the fanout, stored in checks)\n\n")
	tw = tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "SPAN START\tSTATUS\tSHARDS\tPLANNED\tSTORED\tNOT STORED\t")
	var planned, stored int
	for _, s := range spans {
		planned += s.Planned
		stored += s.Stored
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t\n", s.Start.Local().Format("2006-01-02 15:04:05"), s.Status, s.Shards, s.Planned, s.Stored, s.Planned-s.Stored)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Printf("\n%d spans: %d checks planned, %d stored\n", len(spans), planned, stored)
	return nil
}
