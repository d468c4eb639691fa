package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/watcher-dev/watcher/internal/store"
	"github.com/watcher-dev/watcher/migrations"
)

// days is a flag of a length of time in days ("14d") or a Go duration.
type days struct{ d *time.Duration }

func (v days) String() string {
	if v.d == nil || *v.d == 0 {
		return ""
	}
	return migrations.FormatDays(*v.d)
}

func (v days) Set(s string) error {
	d, err := migrations.ParseDays(s)
	if err != nil {
		return err
	}
	*v.d = d
	return nil
}

func (days) Type() string { return "days" }

// daysVar defines a days flag.
func daysVar(f *pflag.FlagSet, d *time.Duration, name string, def time.Duration, usage string) {
	*d = def
	f.Var(days{d}, name, usage)
}

func maintainCmd() *cobra.Command {
	var (
		r      store.Retention
		asJSON bool
	)
	def := store.DefaultRetention
	cmd := &cobra.Command{
		Use:   "maintain",
		Short: "Do the database upkeep once: partitions ahead, rollups up to date, retention applied",
		Long: `Do the database upkeep once, as the schedule does in AWS: create checks partitions
ahead, bring the minute, hour and day rollups up to date (late and replayed checks
included), then drop what retention no longer keeps, by whole partitions or chunks.
Safe to interrupt and to run again. Needs the database owner's rights.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := r.Validate(); err != nil {
				return usage(err)
			}
			st, err := openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			res, err := st.Maintain(cmd.Context(), r, time.Now())
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(os.Stdout).Encode(res)
			}
			fmt.Printf("storage: %s\npartitions created: %d\nrollup buckets recomputed: %d\nchunks compressed: %d\n"+
				"partitions or chunks dropped: %d\nledger rows and resolved alerts pruned: %d\ntook %d ms\n", res.Storage,
				res.PartitionsCreated, res.BucketsRolledUp, res.ChunksCompressed, res.PartitionsDropped, res.LedgerRowsPruned, res.DurationMS)
			return nil
		},
	}
	f := cmd.Flags()
	daysVar(f, &r.Raw, "raw-retention", def.Raw, "keep raw checks this long (days, e.g. 14d)")
	daysVar(f, &r.Minute, "minute-retention", def.Minute, "keep minute rollups this long")
	daysVar(f, &r.Hour, "hour-retention", def.Hour, "keep hourly rollups this long (and invocation records, the span ledger and resolved alerts)")
	daysVar(f, &r.Day, "day-retention", def.Day, "keep daily rollups this long")
	f.BoolVar(&asJSON, "json", false, "print what was done as JSON")
	return cmd
}
