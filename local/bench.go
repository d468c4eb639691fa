package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/watcher-dev/watcher/internal/config"
	"github.com/watcher-dev/watcher/internal/cost"
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
	cmd.AddCommand(benchSandboxCmd(), benchSandboxExecCmd(), benchIngestCmd())
	return cmd
}

func benchSandboxCmd() *cobra.Command {
	var (
		opt                 bench.SandboxOptions
		memory, shards      string
		hangTimeouts        string
		baseline, hang, pin bool
		quick               bool
	)
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Measure the probe function in a Lambda-sized sandbox, per memory size and shard size (issue 11)",
		Long: `Measure the real probe function as Lambda would run it: the probe bootstrap (built for this
machine with -tags lambda.norpc) under the Lambda Runtime Interface Emulator, inside a cgroup v1
group whose CPU quota is the function's share of a vCPU (memory MB / 1,769 per CFS period) and
whose memory limit is the function's memory, with RLIMIT_NOFILE 1,024; the target farm runs as a
process of its own and the function writes to a throwaway PostgreSQL.

For each shard size (checks per 60 s span, of targets that answer after exactly 100 ms, every 5 s;
with --workload reference, of the reference workload's endpoints, the farm's default mix every 5 to
30 s) it runs the shard once without limits (the baseline), then once at each memory size: one warm-up
invocation, then the shard invoked through the emulator's invoke API a little before a window of
planned instants. Then the hanging shards: every target hangs until the check's timeout. It prints
one Markdown table (checks done / due, start lateness p99, response-time error p99 against the
farm's delay and against the baseline, peak RSS, peak open descriptors, CPU used of the quota,
throttled periods, billed ms, cost per check) and the verdicts against issue 11's targets.

The defaults take 18 to 20 minutes on a quiet machine. On a shared one, each run first waits up
to --wait-quiet for the function's core to be idle, and a run during which other work kept that
core over 10% busy is measured again (--retry-noisy); the table marks what stayed shared. --quick is one memory size (512 MB), one shard size (2,000),
a 15 s window, the baseline and one hanging run (10 s): 1 to 3 minutes.

Needs root, writable cgroup v1 cpu, cpuacct and memory controllers, taskset (util-linux; not with
--pin=false), PostgreSQL's server binaries and Go (it builds the bootstrap from the repository:
run it there, or give --bootstrap and --rie). Cgroups and processes are removed on every exit,
Ctrl-C included.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			if quick {
				set := func(name, v string) {
					if !f.Changed(name) {
						_ = f.Set(name, v)
					}
				}
				set("memory", "512")
				set("shards", "2000")
				set("window", "15s")
				set("hang-timeouts", "10s")
			}
			var err error
			if opt.MemoryMB, err = intList(memory); err != nil {
				return fmt.Errorf("--memory: %w", err)
			}
			if opt.Shards, err = intList(shards); err != nil {
				return fmt.Errorf("--shards: %w", err)
			}
			for _, v := range splitList(hangTimeouts) {
				d, err := time.ParseDuration(v)
				if err != nil {
					return fmt.Errorf("--hang-timeouts: %w", err)
				}
				opt.HangTimeouts = append(opt.HangTimeouts, d)
			}
			opt.NoBaseline, opt.NoHang, opt.NoPin = !baseline, !hang, !pin
			if opt.RetryNoisy == 0 {
				opt.RetryNoisy = -1 // the option's zero is its default
			}
			return bench.RunSandbox(cmd.Context(), opt)
		},
	}
	f := cmd.Flags()
	f.StringVar(&memory, "memory", "128,192,256,512,1024,1769", "function memory sizes in MB, comma-separated")
	f.StringVar(&shards, "shards", "2000,5000,12000", "shard sizes in checks per 60 s span, comma-separated")
	f.StringVar(&opt.Workload, "workload", bench.WorkloadFixed, "what the shards check: fixed (100 ms, 2 KB, every 5 s) or reference (the farm's default mix, 5..30 s)")
	f.DurationVar(&opt.Window, "window", 45*time.Second, "planned instants measured per run, at the shard's rate (at most 60s)")
	f.DurationVar(&opt.Lead, "lead", config.DefaultDispatchLead, "how long before the window's first instant the shard is invoked (the fanout's dispatch lead)")
	f.DurationVar(&opt.Period, "period", 20*time.Millisecond, "CFS period of the CPU quota (Lambda's throttling has been observed at 20ms)")
	f.IntVar(&opt.NoFile, "nofile", 1024, "RLIMIT_NOFILE inside the sandbox (Lambda's)")
	f.IntVar(&opt.GOMAXPROCS, "gomaxprocs", 0, "GOMAXPROCS of the function; 0: not set, as in Lambda, so the function chooses (one P below a whole vCPU)")
	f.BoolVar(&baseline, "baseline", true, "run each shard size once without limits, for the response-time error it is held to")
	f.BoolVar(&hang, "hang", true, "run the hanging shards")
	f.StringVar(&hangTimeouts, "hang-timeouts", "10s,30s", "one hanging run per timeout (also the endpoints' interval), comma-separated")
	f.IntVar(&opt.HangMemoryMB, "hang-memory", cost.NominalProbeMemoryMB, "memory size of the hanging runs, in MB (default: the probes')")
	f.IntVar(&opt.HangChecks, "hang-checks", 0, "checks per span of the hanging shard (default the largest --shards)")
	f.BoolVar(&pin, "pin", true, "run the function on --sandbox-cpu and everything else on --farm-cpu")
	f.IntVar(&opt.SandboxCPU, "sandbox-cpu", 1, "core of the function")
	f.IntVar(&opt.FarmCPU, "farm-cpu", 0, "core of the farm, PostgreSQL, the emulator and this process")
	f.StringVar(&opt.Bootstrap, "bootstrap", "", "a prebuilt probe bootstrap for this machine (default: build it)")
	f.StringVar(&opt.RIE, "rie", "", "a prebuilt aws-lambda-rie (default: build it)")
	f.StringVar(&opt.Logs, "logs", "", "directory to keep each run's emulator and function output in")
	f.StringVar(&opt.JSON, "json", "", "also write the report to this file as JSON")
	f.IntVar(&opt.RetryNoisy, "retry-noisy", 1, "measure a run again, at most this many times, when other work kept the function's core over 10% busy; the quietest is kept (0: never)")
	f.DurationVar(&opt.WaitQuiet, "wait-quiet", 20*time.Second, "before each run, wait up to this long for the function's core to be idle for 3s (a shared machine); 0: don't")
	f.BoolVar(&quick, "quick", false, "a smoke run: 512 MB, 2,000 checks a span, a 15s window, one hanging run (10s); other flags still apply")
	return cmd
}

// benchSandboxExecCmd is the wrapper the emulator starts as the function's
// bootstrap (see bench.SandboxExec).
func benchSandboxExecCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "sandbox-exec",
		Short:  "Join the sandbox's cgroups, set its limits and exec the function (started by bench sandbox)",
		Hidden: true,
		Args:   cobra.ArbitraryArgs, // the emulator may pass a handler name
		RunE:   func(*cobra.Command, []string) error { return bench.SandboxExec() },
	}
}

func benchIngestCmd() *cobra.Command {
	var (
		opt    bench.IngestOptions
		key    string
		fillMB int64
	)
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Measure sustained ingest into a PostgreSQL limited to 1 GB of memory, per order of the unique key (issue 12)",
		Long: `Measure whether ingest keeps up as the tables grow: 10,000 endpoints every 5 s (2,000 rows/s) written
with store.WriteChecks, one batch per shard per second from --shards concurrent writers, into a throwaway
PostgreSQL whose processes all live in a cgroup v1 memory group of --memory MiB (its page cache counts
against the limit, as on a db.t4g.micro), with shared_buffers 256MB and fsync, synchronous_commit and
full_page_writes on. The run's partition is first bulk-loaded server-side, in planned-instant order, to
--fill MiB of rows and indexes (past the limit), then the load is offered for --for.

It prints, per 10 s interval, rows/s offered and stored, rows behind, write latency p50 / p99 / max, WAL
and full-page images, blocks read and written, checkpoints and the group's memory; then the partition's
sizes, the group's peak, and the store's read queries on the filled table with the scans they chose.
--key both runs the current key (endpoint_id, location, planned_at) and time first (planned_at,
endpoint_id, location), each in a fresh cluster and group. It fails when the stored rate of any interval
fell below the offered rate or rows were left unstored.

Needs root, a writable cgroup v1 memory controller and PostgreSQL's server binaries; about 12 minutes a
key order with the defaults, and some 6 GB of disk.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch key {
			case "both":
				opt.Keys = bench.IngestKeys
			default:
				opt.Keys = []string{key}
			}
			opt.FillBytes = fillMB << 20
			return bench.RunIngest(cmd.Context(), opt)
		},
	}
	f := cmd.Flags()
	f.StringVar(&key, "key", "both", "order of the unique key: endpoint-first, time-first or both")
	f.IntVar(&opt.Endpoints, "endpoints", 10_000, "endpoints offered")
	f.DurationVar(&opt.Interval, "interval", 5*time.Second, "every endpoint's interval")
	f.IntVar(&opt.Shards, "shards", 10, "concurrent writers (probe shards), one batch each per second")
	f.IntVar(&opt.BatchSize, "batch", config.DefaultBatchSize, "rows per WriteChecks at most")
	f.DurationVar(&opt.Duration, "for", 6*time.Minute, "how long the load is offered (a timed checkpoint comes every 5 min)")
	f.DurationVar(&opt.Every, "every", 10*time.Second, "reporting interval")
	f.Int64Var(&fillMB, "fill", 3072, "MiB of rows and indexes bulk-loaded into the live partition first")
	f.IntVar(&opt.MemoryMB, "memory", 1024, "memory limit of PostgreSQL's cgroup, MiB")
	f.StringVar(&opt.SharedBuffers, "shared-buffers", "256MB", "PostgreSQL's shared_buffers")
	return cmd
}

// intList parses "1, 2,3".
func intList(s string) ([]int, error) {
	var out []int
	for _, v := range splitList(s) {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
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
