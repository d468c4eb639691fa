package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/watcher-dev/watcher/internal/dev/bench"
)

func benchCmd() *cobra.Command {
	var (
		opt       bench.Options
		workloads string
		modes     string
		child     string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the probe path on one core against a floor checker (issue 4's benchmark)",
		Long: `Measure the probe path: the planner, the probe handler, the check engine and the batch
writer to a throwaway PostgreSQL through pgbouncer, against the target farm running in a
process of its own. Each run is a child process pinned to one core (taskset, GOMAXPROCS=1);
the farm, PostgreSQL and pgbouncer share the other core.

Workloads: fixed (1,000 URLs every 5 s, each answering after exactly 100 ms with a 2 KB body,
regex "welcome") and reference (10,000 URLs, intervals uniform in 5..30 s, the farm's default
mix, regex ".*welcome"). Each runs through the project and through a floor (net/http, a
fresh connection per check, the body read up to 1 MiB, regexp), in each connection mode.
After a warm-up, a measured window; then one Markdown table with the targets' verdicts.

--micro FILE folds the planner and writer micro-benchmarks (go test -bench output, as
make bench writes it) into the table. Needs taskset (util-linux), PostgreSQL and pgbouncer.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if child != "" {
				var cfg bench.ChildConfig
				if err := json.Unmarshal([]byte(child), &cfg); err != nil {
					return fmt.Errorf("bench child configuration: %w", err)
				}
				return bench.RunChild(cmd.Context(), cfg, os.Stdout)
			}
			opt.Workloads, opt.Modes = splitList(workloads), splitList(modes)
			return bench.Run(cmd.Context(), opt)
		},
	}
	f := cmd.Flags()
	f.StringVar(&workloads, "workloads", "fixed,reference", "workloads to run, comma-separated")
	f.StringVar(&modes, "modes", "fresh,reuse", "connection modes to run, comma-separated: fresh, reuse")
	f.IntVar(&opt.Runs, "runs", 1, "runs of each workload, mode and side")
	f.DurationVar(&opt.Warmup, "warmup", 5*time.Second, "warm-up before each measured window")
	f.DurationVar(&opt.Window, "window", time.Minute, "measured window (the issue asks for at least 60s; shorter for smoke runs)")
	f.IntVar(&opt.ProbeCPU, "probe-cpu", 1, "core of the measured process")
	f.IntVar(&opt.FarmCPU, "farm-cpu", 0, "core of the target farm, PostgreSQL and pgbouncer")
	f.StringVar(&opt.Profiles, "profiles", "", "directory for a CPU profile of each run's window (go tool pprof)")
	f.StringVar(&opt.Micro, "micro", "", "go test -bench output to fold into the table")
	f.StringVar(&child, "child", "", "run one measured child (JSON); used by bench itself")
	_ = f.MarkHidden("child")
	return cmd
}

// splitList turns "a, b" into [a b].
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
