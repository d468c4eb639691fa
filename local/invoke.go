package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/watcher-dev/watcher/internal/config"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/probe"
	"github.com/watcher-dev/watcher/internal/spool"
	"github.com/watcher-dev/watcher/internal/store"
)

func invokeCmd() *cobra.Command {
	var (
		eventFile string
		retime    bool
		spoolDir  string
	)
	cmd := &cobra.Command{
		Use:   "invoke fanout|probe --event FILE",
		Short: "Run one function's handler with a SAM-style event fixture, as `sam local invoke -e` would",
		Long: `Run one function's handler with an event fixture and print its response.

fanout: the probes it invokes run in process and are awaited.
probe: the shard's location must be one of WATCHER_LOCATIONS (default "home").

Fixtures carry fixed times, so a replayed fanout event is normally recorded as a missed span
(delivered too late) and a replayed shard runs every check at once, late.
--retime moves the fixture to now: the fanout event to the current minute, the shard's
span to the minute that ends now.

A probe ends soon after its span (the span's end, its slowest check's timeout and 10 s to
write). What it cannot write by then (the database down) goes to the spool (--spool), which
"watcher replay" writes to the database. The exit code is 1 when checks were neither
written nor spilled.`,
		ValidArgs: []string{"fanout", "probe"},
		Args:      cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			payload, err := os.ReadFile(eventFile)
			if err != nil {
				return err
			}
			cfg, err := loadLocalConfig(config.OS())
			if err != nil {
				return err
			}
			log := logger(cfg.logLevel)
			slog.SetDefault(log)
			u, err := envDatabaseURL()
			if err != nil {
				return err
			}
			dir, err := spool.Open(spoolDir)
			if err != nil {
				return err
			}
			var st *store.Store
			if args[0] == "fanout" {
				st, err = connect(ctx, u) // it plans from the database's endpoints
			} else {
				// A probe needs the database only to write, and spills what
				// it cannot write: it runs whether the database answers or not.
				st, err = store.Open(ctx, u)
			}
			if err != nil {
				return err
			}
			defer st.Close()
			f := newFleetWith(cfg, st, dir, log, false)
			var out []byte
			switch args[0] {
			case "fanout":
				if retime {
					if payload, err = retimeEvent(payload, time.Now()); err != nil {
						return err
					}
				}
				out, err = f.fanout.Invoke(ctx, payload)
				f.wait()
			case "probe":
				var sh plan.Shard
				if sh, err = plan.DecodeShard(payload); err != nil {
					return fmt.Errorf("%s: %w", eventFile, err)
				}
				if retime {
					now := time.Now().UTC().Truncate(time.Millisecond)
					sh.Span = plan.Span{Start: now.Add(-plan.SpanLength), End: now}
				}
				p, ok := f.probes[probeFunction(sh.Location)]
				if !ok {
					return usage(fmt.Errorf("%s: location %q is not one of %v (set WATCHER_LOCATIONS)", eventFile, sh.Location, locations()))
				}
				ctx, cancel := context.WithTimeout(ctx, probeTimeout)
				defer cancel()
				var sum probe.Summary
				sum, err = localProbe{p}.run(ctx, &sh, len(payload))
				if err == nil {
					out, err = json.Marshal(sum)
				}
				f.add(sum, err, false)
			}
			if err != nil {
				return err
			}
			fmt.Println(string(out))
			if _, t := f.status(); t.Spilled > 0 {
				log.Warn("checks spilled to the spool: `watcher replay` writes them once the database answers",
					"spilled", t.Spilled, "spool", dir.Path())
			}
			return f.lost()
		},
	}
	cmd.Flags().StringVar(&eventFile, "event", "", "event fixture (JSON), e.g. events/scheduled.json")
	cmd.Flags().BoolVar(&retime, "retime", false, "move the fixture's time to now")
	cmd.Flags().StringVar(&spoolDir, "spool", ".watcher/spool", "durable spill: checks and records the fleet could not write before an invocation ended, for watcher replay")
	_ = cmd.MarkFlagRequired("event")
	return cmd
}

// retimeEvent sets the scheduled event's time to now's minute, keeping its other fields.
func retimeEvent(payload []byte, now time.Time) ([]byte, error) {
	var ev map[string]any
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("decode scheduled event: %w", err)
	}
	ev["time"] = now.UTC().Truncate(time.Minute).Format(time.RFC3339)
	return json.Marshal(ev)
}
