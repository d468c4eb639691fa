package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/watcher-dev/watcher/internal/plan"
)

func invokeCmd() *cobra.Command {
	var (
		eventFile string
		retime    bool
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
span to the minute that ends now.`,
		ValidArgs: []string{"fanout", "probe"},
		Args:      cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			payload, err := os.ReadFile(eventFile)
			if err != nil {
				return err
			}
			st, err := openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			f := newFleet(st, nil, quietLogger(), false)
			var out []byte
			switch args[0] {
			case "fanout":
				if retime {
					if payload, err = retimeEvent(payload, time.Now()); err != nil {
						return err
					}
				}
				out, err = f.fanout.Invoke(cmd.Context(), payload)
				f.wait()
			case "probe":
				var sh plan.Shard
				if err := json.Unmarshal(payload, &sh); err != nil {
					return fmt.Errorf("%s: decode shard: %w", eventFile, err)
				}
				if retime {
					now := time.Now().UTC().Truncate(time.Millisecond)
					sh.Span = plan.Span{Start: now.Add(-plan.SpanLength), End: now}
					if payload, err = json.Marshal(sh); err != nil {
						return err
					}
				}
				p, ok := f.probes[probeFunction(sh.Location)]
				if !ok {
					return fmt.Errorf("%s: location %q is not one of %v (set WATCHER_LOCATIONS)", eventFile, sh.Location, locations())
				}
				ctx, cancel := context.WithTimeout(cmd.Context(), probeTimeout)
				defer cancel()
				out, err = p.Invoke(ctx, payload)
			}
			if err != nil {
				return err
			}
			fmt.Println(string(out))
			return nil
		},
	}
	cmd.Flags().StringVar(&eventFile, "event", "", "event fixture (JSON), e.g. events/scheduled.json")
	cmd.Flags().BoolVar(&retime, "retime", false, "move the fixture's time to now")
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
