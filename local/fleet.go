package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/watcher-dev/watcher/internal/config"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/fanout"
	"github.com/watcher-dev/watcher/internal/invoke"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/probe"
	"github.com/watcher-dev/watcher/internal/spool"
	"github.com/watcher-dev/watcher/internal/store"
)

// probeTimeout is a local probe's deadline, as the probe function's timeout
// is in AWS: the span, its offset and the slowest possible check.
const probeTimeout = plan.SpanLength + config.DefaultSpanOffset + endpoint.MaxInterval

// fleet is the whole fleet in one process: the fanout, one probe per
// location, and the in-process invoker between them.
type fleet struct {
	fanout  *fanout.Handler
	probes  map[string]*probe.Handler // by function name
	invoker *invoke.InProcess

	mu      sync.Mutex
	running int
	totals  probe.Summary
}

// probeFunction is the local function name of a location's probe.
func probeFunction(location string) string { return "watcher-probe-" + location }

// The spool is the local durable spill, the store what it replays into.
var (
	_ probe.Sink = (*spool.Dir)(nil)
	_ spool.Sink = (*store.Store)(nil)
)

// newFleet wires the handlers over one store, with dir (nil: none) as every
// probe's durable spill. Local probes may reach loopback (the target farm)
// and private addresses.
func newFleet(st *store.Store, dir *spool.Dir, log *slog.Logger, progress bool) *fleet {
	f := &fleet{probes: map[string]*probe.Handler{}}
	functions := map[string]invoke.Handler{}
	fcfg := config.Fanout{
		Common:       config.Common{Region: "local"},
		Probes:       map[string]string{},
		SpanOffset:   config.DefaultSpanOffset,
		MaxDelay:     config.DefaultMaxDelay,
		DispatchLead: config.DefaultDispatchLead,
		Plan:         plan.DefaultOptions,
	}
	out := probe.Outputs{Sink: st, Recorder: st, Claimer: st}
	if dir != nil {
		out.Spill = dir // never a typed nil in the interface
	}
	for _, loc := range locations() {
		fn := probeFunction(loc)
		p := probe.FromConfig(config.Probe{
			Common:        config.Common{Region: "local"},
			Location:      loc,
			AllowLoopback: true,
			AllowPrivate:  true,
			BatchSize:     config.DefaultBatchSize,
		}, out, nil, log)
		f.probes[fn] = p
		functions[fn] = p
		fcfg.Probes[loc] = fn
	}
	f.invoker = &invoke.InProcess{Functions: functions, Timeout: probeTimeout, Log: log}
	f.invoker.Done = func(function string, out []byte, err error) {
		var s probe.Summary
		if err == nil {
			_ = json.Unmarshal(out, &s)
		}
		f.mu.Lock()
		f.running--
		f.totals.Planned += s.Planned
		f.totals.Done += s.Done
		f.totals.Written += s.Written
		f.totals.Unwritten += s.Unwritten
		f.totals.MissedDeadline += s.MissedDeadline
		f.totals.Spilled += s.Spilled
		f.totals.MissedRetry += s.MissedRetry
		f.mu.Unlock()
		if progress {
			if err != nil {
				fmt.Fprintf(os.Stderr, "  %s failed: %v\n", function, err)
				return
			}
			fmt.Printf("  probe %s shard %d span %s: %d planned, %d done, %d written, %d unwritten, lateness p99 %.1f ms\n",
				s.Location, s.Shard, s.SpanStart.Format("15:04:05"), s.Planned, s.Done, s.Written, s.Unwritten, s.LatenessP99)
		}
	}
	f.fanout = fanout.FromConfig(fcfg, st, countingInvoker{f}, log)
	return f
}

// countingInvoker counts probe invocations in flight for progress display.
type countingInvoker struct{ f *fleet }

func (c countingInvoker) Invoke(ctx context.Context, function string, payload []byte) error {
	c.f.mu.Lock()
	c.f.running++
	c.f.mu.Unlock()
	if err := c.f.invoker.Invoke(ctx, function, payload); err != nil {
		c.f.mu.Lock()
		c.f.running--
		c.f.mu.Unlock()
		return err
	}
	return nil
}

// status returns probes in flight and totals of the finished ones.
func (f *fleet) status() (int, probe.Summary) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running, f.totals
}

// progress prints one line: probes in flight and checks stored so far.
func (f *fleet) progress(ctx context.Context, st *store.Store, since time.Time) {
	running, t := f.status()
	stored, err := st.CountChecks(ctx, since)
	if err != nil {
		fmt.Printf("%s  probes running %d; database unreachable (%v)\n", time.Now().Format("15:04:05"), running, err)
		return
	}
	fmt.Printf("%s  probes running %d; %d checks stored; finished probes: %d planned, %d done, %d unwritten\n",
		time.Now().Format("15:04:05"), running, stored, t.Planned, t.Done, t.Unwritten)
}

// replay writes spooled checks to the database, quietly when there are none.
func replay(ctx context.Context, dir *spool.Dir, st *store.Store) {
	r, err := dir.Replay(ctx, st)
	if r.Files > 0 {
		fmt.Printf("%s  replayed %d spooled checks from %d files (%d new rows)\n", time.Now().Format("15:04:05"), r.Checks, r.Files, r.Inserted)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s  spool replay stopped: %v\n", time.Now().Format("15:04:05"), err)
	}
}

// wait blocks until every probe invocation has returned.
func (f *fleet) wait() { f.invoker.Wait() }

// quietLogger keeps handler logs out of a person's terminal unless they matter.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// nextMinute is the first whole minute after t.
func nextMinute(t time.Time) time.Time { return t.Truncate(time.Minute).Add(time.Minute) }
