package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/watcher-dev/watcher/internal/config"
	"github.com/watcher-dev/watcher/internal/dev/targets"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/endpointfile"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/spool"
	"github.com/watcher-dev/watcher/internal/store"
)

func runCmd() *cobra.Command {
	var (
		dur      time.Duration
		demo     int
		report   bool
		farm     string
		dataDir  string
		spoolDir string
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the fleet locally: a ticker stands in for EventBridge, fanout and probes run in process",
		Long: `Run the fleet locally. Every minute, on the minute, a scheduled event reaches the fanout
handler, which plans the span and invokes the probe handlers in process.

--for D fires the events of D minutes (rounded up; at least one, at the next whole minute),
then waits for their probes: each ends soon after its span (the span's end, its slowest
check's timeout and 10 s to write), so a run lasts about D, the wait for the first minute,
and 1.5 minutes more. What a probe cannot write by then (the database down) goes to the
spool, replayed every minute, at the end, and by the next run or "watcher replay"; so do
the invocation records and span claims the fanout and the probes could not record.

Without DATABASE_URL, a throwaway PostgreSQL cluster is started (or reused) under --data,
and left running: the run ends by saying how to stop it.
--demo N starts the built-in target farm and imports N demo endpoints against it,
replacing the configured set; they are disabled again when the run ends.

Each fanout also evaluates the endpoints' alert rules over the checks stored and sends the
notifications due, to the channels the WATCHER_ALERT_* variables configure (none: alerts are
only recorded); "watcher alerts" lists them.

The functions' WATCHER_* variables (internal/config) and LOG_LEVEL (default WARN) apply;
unknown WATCHER_* variables are refused. Logs go to stderr, progress to stdout. The exit
code is 1 when checks were neither written nor spilled.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, err := loadLocalConfig(config.OS())
			if err != nil {
				return err
			}
			log := logger(cfg.logLevel)
			slog.SetDefault(log) // the store's logs too, in the one format
			raw, local, err := ensureDatabase(ctx, dataDir)
			if err != nil {
				return err
			}
			if local {
				defer stillRunning(dataDir, raw)
			}
			u, err := withConnectTimeout(raw)
			if err != nil {
				return err
			}
			st, err := connect(ctx, u)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := store.Migrate(ctx, u, store.WithLogger(log)); err != nil {
				return err
			}

			if demo > 0 {
				srv, err := targets.Start(ctx, farm, targets.Options{})
				if err != nil {
					return fmt.Errorf("start target farm: %w", err)
				}
				defer srv.Close()
				fmt.Printf("target farm on %s\n", srv.URL())
				eps, err := endpointfile.Parse(targets.DemoEndpoints(srv.URL(), demo, 1), locations())
				if err != nil {
					return fmt.Errorf("demo endpoints: %w", err)
				}
				res, err := st.ImportEndpoints(ctx, eps, true)
				if err != nil {
					return err
				}
				defer disableDemo(st, eps)
				fmt.Printf("imported %d demo endpoints (%d new, %d updated, %d disabled)\n", len(eps), res.Inserted, res.Updated, res.Disabled)
			}

			dir, err := spool.Open(spoolDir)
			if err != nil {
				return err
			}
			started := time.Now()
			f := newFleetWith(cfg, st, dir, log, true)
			lost := runFleet(ctx, f, cfg, st, dir, dur)
			if report {
				if err := printReport(context.WithoutCancel(ctx), st, started); err != nil {
					return errors.Join(lost, err)
				}
			}
			return lost
		},
	}
	f := cmd.Flags()
	f.DurationVar(&dur, "for", 0, "fire a scheduled event every minute for this long, rounded up to whole minutes (at least one event; 0: until interrupted), then wait for the probes")
	f.IntVar(&demo, "demo", 0, "start the target farm and import this many demo endpoints against it")
	f.BoolVar(&report, "report", true, "print the report of the run at the end")
	f.StringVar(&farm, "farm-addr", "127.0.0.1:0", "address of the demo target farm")
	f.StringVar(&dataDir, "data", defaultDataDir, "directory of the local PostgreSQL cluster, when DATABASE_URL is unset")
	f.StringVar(&spoolDir, "spool", ".watcher/spool", "durable spill: checks and records the database refused when an invocation had to end, replayed every minute")
	nonNegative(f, "for", &dur)
	nonNegative(f, "demo", &demo)
	return cmd
}

// events is how many scheduled events a run of dur fires, one a minute from
// the next whole minute: dur in minutes, rounded up, at least one; 0 (dur
// 0): until interrupted.
func events(dur time.Duration) int {
	if dur <= 0 {
		return 0
	}
	return int((dur + time.Minute - 1) / time.Minute)
}

// runFleet fires one scheduled event per minute, on the minute, events(dur)
// times or until ctx ends, then waits for the probes it started: each ends
// by its shardDeadline, soon after its span. Spooled checks are replayed at
// the start, every minute and at the end. It returns the fleet's losses
// (fleet.lost).
func runFleet(ctx context.Context, f *fleet, cfg localConfig, st *store.Store, dir *spool.Dir, dur time.Duration) error {
	log := f.log
	replay(ctx, dir, st)
	start := time.Now()
	next, n := nextMinute(start), events(dur)
	switch n {
	case 0:
		fmt.Printf("fleet running: a scheduled event every minute from %s until interrupted\n", next.Format("15:04:05"))
	case 1:
		fmt.Printf("fleet running: one scheduled event, at %s; then waiting for its probes\n", next.Format("15:04:05"))
	default:
		fmt.Printf("fleet running: %d scheduled events, one a minute from %s to %s; then waiting for their probes\n",
			n, next.Format("15:04:05"), next.Add(time.Duration(n-1)*time.Minute).Format("15:04:05"))
	}

	progress := time.NewTicker(15 * time.Second)
	defer progress.Stop()
	// The upkeep, as the schedule runs it in AWS: now and every 15 minutes.
	var upkeep sync.Mutex
	maintain := func() {
		if !upkeep.TryLock() {
			return // the last one is still running
		}
		defer upkeep.Unlock()
		if _, err := st.Maintain(ctx, cfg.retention.WithDefaults(), time.Now()); err != nil && ctx.Err() == nil {
			log.Error("upkeep failed; it runs again in 15 minutes", "err", err)
		}
	}
	var upkeeps sync.WaitGroup // waited for before the store closes
	upkeeps.Go(maintain)
	upkeepTicker := time.NewTicker(15 * time.Minute)
	defer upkeepTicker.Stop()
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	var fanouts sync.WaitGroup
loop:
	for fired := 0; ; {
		select {
		case <-ctx.Done():
			fmt.Println("interrupted; waiting for running probes (what they cannot write is spilled)")
			break loop
		case <-progress.C:
			f.progress(ctx, st, start)
		case <-upkeepTicker.C:
			upkeeps.Go(maintain)
		case <-timer.C:
			replay(ctx, dir, st)
			// As EventBridge does, each minute's event starts a fanout of its
			// own: a fanout lasts until its last shard's dispatch time, into
			// the next minute.
			fanouts.Add(1)
			go func(scheduled time.Time) {
				defer fanouts.Done()
				sum, err := f.fanout.Run(ctx, scheduled)
				f.addFanout(sum)
				if err != nil {
					log.Error("fanout failed", "scheduled", scheduled.Format("15:04:05"), "err", err)
					return
				}
				fmt.Printf("%s  fanout: span %s %s, %d endpoints, %d checks in %d shards\n",
					time.Now().Format("15:04:05"), sum.SpanStart.Format("15:04:05"), sum.Status, sum.Endpoints, sum.Checks, sum.Shards)
				if a := sum.Alerts; a != nil && a.Opened+a.Resolved+a.Delivered.Sent+a.Delivered.Failed > 0 {
					fmt.Printf("%s  alerts: %d opened, %d resolved; notifications: %d sent, %d failed (retried)\n",
						time.Now().Format("15:04:05"), a.Opened, a.Resolved, a.Delivered.Sent, a.Delivered.Failed)
				}
			}(next)
			if fired++; fired == n {
				spanEnd := next.Add(cfg.fanout.SpanOffset + plan.SpanLength)
				fmt.Printf("%s  last scheduled event fired; waiting for the probes of its span, which ends at %s\n",
					time.Now().Format("15:04:05"), spanEnd.Format("15:04:05"))
				break loop
			}
			next = next.Add(time.Minute)
			timer.Reset(time.Until(next))
		}
	}
	done := make(chan struct{})
	go func() { fanouts.Wait(); f.wait(); upkeeps.Wait(); close(done) }()
	wctx := context.WithoutCancel(ctx) // interrupted or not, the probes end and what they spilled is written
	for {
		select {
		case <-done:
			replay(wctx, dir, st)
			_, t := f.status()
			fmt.Printf("fleet stopped: %d checks planned, %d done, %d written, %d spilled, %d unwritten, %d missed\n",
				t.Planned, t.Done, t.Written, t.Spilled, t.Unwritten, t.MissedDeadline+t.MissedRetry)
			if spooled(dir) {
				fmt.Printf("spilled checks wait in %s: the next run or `%s replay --spool %s` writes them\n",
					dir.Path(), os.Args[0], dir.Path())
			}
			return f.lost()
		case <-progress.C:
			f.progress(wctx, st, start)
		}
	}
}

// disableDemo disables the demo endpoints a run imported: their target farm
// stops with the run, and endpoints left enabled against it would fail
// every check of the next fleet. (The next `run --demo` replaces them in
// any case.)
func disableDemo(st *store.Store, eps []endpoint.Endpoint) {
	for i := range eps {
		eps[i].Enabled = false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*store.DefaultConnectTimeout)
	defer cancel()
	if _, err := st.ImportEndpoints(ctx, eps, false); err != nil {
		slog.Error("demo endpoints left enabled; the next `watcher run --demo` replaces them", "err", err)
		return
	}
	fmt.Printf("disabled the %d demo endpoints: their target farm stopped with this run\n", len(eps))
}

// stillRunning says, at the end of a run, that the local PostgreSQL it
// started (or reused) keeps running, and how to stop it.
func stillRunning(dataDir, url string) {
	stop := os.Args[0] + " db down"
	if dataDir != defaultDataDir {
		stop += " --data " + dataDir
	}
	fmt.Printf("\nStill running: the local PostgreSQL in %s (DATABASE_URL=%s), so that the next run starts at once.\nStop it with: %s\n",
		dataDir, url, stop)
}
