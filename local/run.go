package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/watcher-dev/watcher/internal/dev/targets"
	"github.com/watcher-dev/watcher/internal/endpointfile"
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
		Long: `Run the fleet locally. Every minute a scheduled event reaches the fanout handler,
which plans the span and invokes the probe handlers in process.

Without DATABASE_URL, a throwaway PostgreSQL cluster is started (or reused) under --data.
--demo N starts the built-in target farm and imports N demo endpoints against it,
replacing the configured set.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			u, err := ensureDatabase(ctx, dataDir)
			if err != nil {
				return err
			}
			if err := store.Migrate(ctx, u); err != nil {
				return err
			}
			st, err := store.Open(ctx, u)
			if err != nil {
				return fmt.Errorf("open database: %w", err)
			}
			defer st.Close()

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
				fmt.Printf("imported %d demo endpoints (%d new, %d updated, %d disabled)\n", len(eps), res.Inserted, res.Updated, res.Disabled)
			}

			dir, err := spool.Open(spoolDir)
			if err != nil {
				return err
			}
			started := time.Now()
			if err := runFleet(ctx, st, dir, dur); err != nil {
				return err
			}
			if report {
				return printReport(ctx, st, started)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.DurationVar(&dur, "for", 0, "stop dispatching after this long (0: until interrupted), then wait for the probes")
	f.IntVar(&demo, "demo", 0, "start the target farm and import this many demo endpoints against it")
	f.BoolVar(&report, "report", true, "print the report of the run at the end")
	f.StringVar(&farm, "farm-addr", "127.0.0.1:0", "address of the demo target farm")
	f.StringVar(&dataDir, "data", ".watcher/pg", "directory of the local PostgreSQL cluster, when DATABASE_URL is unset")
	f.StringVar(&spoolDir, "spool", ".watcher/spool", "durable spill: checks the database refused when a probe had to end, replayed every minute")
	return cmd
}

// runFleet fires one scheduled event per minute, on the minute, until dur
// has passed or ctx ends, then waits for the probes it started. Spooled
// checks are replayed at the start, every minute and at the end.
func runFleet(ctx context.Context, st *store.Store, dir *spool.Dir, dur time.Duration) error {
	f := newFleet(st, dir, quietLogger(), true)
	replay(ctx, dir, st)
	start := time.Now()
	stopAt := time.Time{}
	if dur > 0 {
		stopAt = start.Add(dur)
	}
	next := nextMinute(start)
	fmt.Printf("fleet running; first scheduled event at %s", next.Format("15:04:05"))
	if dur > 0 {
		fmt.Printf(", last before %s", stopAt.Format("15:04:05"))
	}
	fmt.Println()

	progress := time.NewTicker(15 * time.Second)
	defer progress.Stop()
	// The upkeep, as the schedule runs it in AWS: now and every 15 minutes.
	var upkeep sync.Mutex
	maintain := func() {
		if !upkeep.TryLock() {
			return // the last one is still running
		}
		defer upkeep.Unlock()
		if _, err := st.Maintain(ctx, store.DefaultRetention, time.Now()); err != nil && ctx.Err() == nil {
			fmt.Fprintf(os.Stderr, "%s  upkeep: %v\n", time.Now().Format("15:04:05"), err)
		}
	}
	go maintain()
	upkeepTicker := time.NewTicker(15 * time.Minute)
	defer upkeepTicker.Stop()
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	var fanouts sync.WaitGroup
loop:
	for {
		select {
		case <-ctx.Done():
			fmt.Println("interrupted; waiting for running probes (their checks are written)")
			break loop
		case <-progress.C:
			f.progress(ctx, st, start)
		case <-upkeepTicker.C:
			go maintain()
		case <-timer.C:
			replay(ctx, dir, st)
			// As EventBridge does, each minute's event starts a fanout of its
			// own: a fanout lasts until its last shard's dispatch time, into
			// the next minute.
			fanouts.Add(1)
			go func(scheduled time.Time) {
				defer fanouts.Done()
				sum, err := f.fanout.Run(ctx, scheduled)
				if err != nil {
					fmt.Fprintf(os.Stderr, "fanout for %s: %v\n", scheduled.Format("15:04:05"), err)
					return
				}
				fmt.Printf("%s  fanout: span %s %s, %d endpoints, %d checks in %d shards\n",
					time.Now().Format("15:04:05"), sum.SpanStart.Format("15:04:05"), sum.Status, sum.Endpoints, sum.Checks, sum.Shards)
			}(next)
			next = next.Add(time.Minute)
			if !stopAt.IsZero() && next.After(stopAt) {
				break loop
			}
			timer.Reset(time.Until(next))
		}
	}
	done := make(chan struct{})
	go func() { fanouts.Wait(); f.wait(); close(done) }()
	for {
		select {
		case <-done:
			replay(ctx, dir, st)
			_, t := f.status()
			fmt.Printf("fleet stopped: %d checks planned, %d done, %d written, %d spilled, %d unwritten, %d missed\n",
				t.Planned, t.Done, t.Written, t.Spilled, t.Unwritten, t.MissedDeadline+t.MissedRetry)
			if t.Unwritten > 0 {
				return fmt.Errorf("%d checks could not be written", t.Unwritten)
			}
			return nil
		case <-progress.C:
			f.progress(ctx, st, start)
		}
	}
}
