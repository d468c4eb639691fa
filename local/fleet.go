package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
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

// probeTimeout is the probe function's timeout in AWS: the span, its offset
// and the slowest possible check. A local probe ends sooner (shardDeadline).
const probeTimeout = plan.SpanLength + config.DefaultSpanOffset + endpoint.MaxInterval

// localWriteGrace is how long a local probe may go on after its last check
// could have ended: to write, and while the database does not answer, to
// retry, then spill to the spool (the last 3 s are kept for the spill and
// the invocation record).
const localWriteGrace = 10 * time.Second

// shardDeadline is a local probe invocation's deadline: its span's end (now,
// when that has passed), plus its slowest check's timeout and
// localWriteGrace. So a local run ends soon after its last span, whatever
// the database does, and nothing measured is lost: what could not be
// written by then is spilled.
func shardDeadline(sh *plan.Shard, now time.Time) time.Time {
	longest := time.Duration(0)
	for _, e := range sh.Endpoints {
		longest = max(longest, cmp.Or(e.Timeout, endpoint.DefaultTimeout))
	}
	return later(now, sh.Span.End).Add(longest + localWriteGrace)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// localProbe runs a probe handler under its shardDeadline.
type localProbe struct{ h *probe.Handler }

// Invoke decodes the shard once and runs it, as the Lambda handler does.
func (p localProbe) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	sh, err := plan.DecodeShard(payload)
	if err != nil {
		return nil, err
	}
	sum, err := p.run(ctx, &sh, len(payload))
	if err != nil {
		return nil, err
	}
	return json.Marshal(sum)
}

// run runs the decoded shard under its shardDeadline.
func (p localProbe) run(ctx context.Context, sh *plan.Shard, payloadBytes int) (probe.Summary, error) {
	ctx, cancel := context.WithDeadline(ctx, shardDeadline(sh, time.Now()))
	defer cancel()
	return p.h.Run(ctx, sh, payloadBytes)
}

// localConfig is the local fleet's configuration: the functions' WATCHER_*
// variables, read and checked as the functions read them, and LOG_LEVEL.
type localConfig struct {
	fanout   config.Fanout
	probe    config.Probe
	logLevel slog.Level
	alerts   alertConfig // alerts.go
	// retention is the upkeep's (WATCHER_RETENTION_*), which the storage
	// line of the invocations' cost prices too.
	retention store.Retention
}

// loadLocalConfig reads the environment as the functions do (internal/config):
// every problem named by its variable, unknown WATCHER_* variables refused.
// What has no meaning in one process is set for it: the probes
// (WATCHER_PROBES, WATCHER_LOCATION: one per WATCHER_LOCATIONS, in process),
// the database (DATABASE_URL, read by the command), the region ("local");
// local probes may reach loopback (the target farm) and private addresses.
// LOG_LEVEL is WARN by default: progress goes to stdout, logs to stderr.
func loadLocalConfig(env config.Env, environ []string) (localConfig, error) {
	var problems []string
	for _, name := range config.UnknownVariables(environ) {
		problems = append(problems, name+": unknown variable")
	}
	probes := map[string]string{}
	for _, loc := range locations() {
		probes[loc] = probeFunction(loc)
	}
	fixed := map[string]string{"WATCHER_LOCATION": "local", "DATABASE_URL": "local", "AWS_REGION": "local"}
	if b, err := json.Marshal(probes); err == nil {
		fixed["WATCHER_PROBES"] = string(b)
	}
	// The fanout reads the variables every function shares; the probe,
	// only its own, so that a problem is named once.
	fanoutEnv := func(name string) (string, bool) {
		if v, ok := fixed[name]; ok {
			return v, true
		}
		return env(name)
	}
	probeEnv := func(name string) (string, bool) {
		switch name {
		case "WATCHER_BATCH_SIZE", "WATCHER_REUSE_CONNECTIONS":
			return env(name)
		}
		v, ok := fixed[name]
		return v, ok
	}
	c := localConfig{logLevel: slog.LevelWarn}
	var err error
	if c.fanout, err = config.LoadFanout(fanoutEnv, nil); err != nil {
		problems = append(problems, err.Error())
	}
	if c.probe, err = config.LoadProbe(probeEnv, nil); err != nil {
		problems = append(problems, err.Error())
	}
	c.probe.Common = c.fanout.Common
	c.probe.AllowLoopback, c.probe.AllowPrivate = true, true
	if v, ok := env("LOG_LEVEL"); ok && v != "" {
		if err := c.logLevel.UnmarshalText([]byte(v)); err != nil {
			problems = append(problems, fmt.Sprintf("LOG_LEVEL: %q is not DEBUG, INFO, WARN or ERROR", v))
		}
	}
	if c.alerts, err = loadAlertConfig(env); err != nil {
		problems = append(problems, err.Error())
	}
	if c.retention, err = config.LoadRetention(env); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return c, usage(fmt.Errorf("environment: %s", strings.Join(problems, "; ")))
	}
	return c, nil
}

// logger is where the watcher command logs: slog text on stderr.
func logger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// fleet is the whole fleet in one process: the fanout, one probe per
// location, and the in-process invoker between them.
type fleet struct {
	fanout  *fanout.Handler
	probes  map[string]*probe.Handler // by function name
	invoker *invoke.InProcess
	log     *slog.Logger

	mu      sync.Mutex
	running int
	failed  int // probe invocations that returned an error
	totals  probe.Summary
}

// probeFunction is the local function name of a location's probe.
func probeFunction(location string) string { return "watcher-probe-" + location }

// The spool is the local durable spill, the store what it replays into.
var (
	_ probe.Sink = (*spool.Dir)(nil)
	_ spool.Sink = (*store.Store)(nil)
)

// newFleetWith wires the handlers over one store, with dir (nil: none) as
// every probe's durable spill, each probe under its shardDeadline.
func newFleetWith(c localConfig, st *store.Store, dir *spool.Dir, log *slog.Logger, progress bool) *fleet {
	f := &fleet{probes: map[string]*probe.Handler{}, log: log}
	functions := map[string]invoke.Handler{}
	fcfg := c.fanout
	fcfg.Probes = map[string]string{}
	out := probe.Outputs{Sink: st, Recorder: st, Claimer: st}
	if dir != nil {
		out.Spill = dir // never a typed nil in the interface
	}
	for _, loc := range locations() {
		fn := probeFunction(loc)
		pcfg := c.probe
		pcfg.Location = loc
		p := probe.FromConfig(pcfg, out, nil, log)
		f.probes[fn] = p
		functions[fn] = localProbe{p}
		fcfg.Probes[loc] = fn
	}
	f.invoker = &invoke.InProcess{Functions: functions, Timeout: probeTimeout, Log: log}
	f.invoker.Done = func(function string, out []byte, err error) {
		var s probe.Summary
		if err == nil {
			_ = json.Unmarshal(out, &s)
		}
		f.add(s, err, true)
		if progress && err == nil {
			fmt.Printf("  probe %s shard %d span %s: %d planned, %d done, %d written, %d spilled, %d unwritten, lateness p99 %.1f ms\n",
				s.Location, s.Shard, s.SpanStart.Format("15:04:05"), s.Planned, s.Done, s.Written, s.Spilled, s.Unwritten, s.LatenessP99)
		}
	}
	var spill fanout.Spill // never a typed nil in the interface
	if dir != nil {
		spill = dir
	}
	f.fanout = fanout.FromConfig(fcfg, st, countingInvoker{f}, spill, c.alerting(st), log)
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

// add counts a probe invocation's summary, or its failure (which the
// invoker logs), in the totals; finished, when it was counted as running.
func (f *fleet) add(s probe.Summary, err error, finished bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if finished {
		f.running--
	}
	if err != nil {
		f.failed++
	}
	f.totals.Planned += s.Planned
	f.totals.Done += s.Done
	f.totals.Written += s.Written
	f.totals.Unwritten += s.Unwritten
	f.totals.MissedDeadline += s.MissedDeadline
	f.totals.Spilled += s.Spilled
	f.totals.MissedRetry += s.MissedRetry
	f.totals.RecordsLost += s.RecordsLost
}

// status returns probes in flight and totals of the finished ones.
func (f *fleet) status() (int, probe.Summary) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running, f.totals
}

// lost says what the finished probes and fanouts did not store, written or
// spilled: checks and records neither, and invocations that failed; nil
// when nothing.
func (f *fleet) lost() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var parts []string
	if n := f.totals.Unwritten; n > 0 {
		parts = append(parts, fmt.Sprintf("%d checks neither written nor spilled", n))
	}
	if n := f.failed; n > 0 {
		parts = append(parts, fmt.Sprintf("%d probe invocations failed", n))
	}
	if n := f.totals.RecordsLost; n > 0 {
		parts = append(parts, fmt.Sprintf("%d invocation records or span claims neither recorded nor spilled", n))
	}
	if len(parts) == 0 {
		return nil
	}
	return failed(errors.New(strings.Join(parts, "; ")))
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

// replay writes spooled checks and records to the database, quietly when
// there are none, and logs (slog.Default) why it stopped if it did.
func replay(ctx context.Context, dir *spool.Dir, st *store.Store) {
	r, err := dir.Replay(ctx, st)
	if r.Files > 0 {
		fmt.Printf("%s  replayed %d spooled checks (%d new rows), %d invocation records and %d span claims from %d files\n",
			time.Now().Format("15:04:05"), r.Checks, r.Inserted, r.Invocations, r.Spans, r.Files)
	}
	if err != nil {
		slog.Error("spool replay stopped; the next replay goes on", "spool", dir.Path(), "err", err)
	}
}

// addFanout counts what a fanout could not record in the totals.
func (f *fleet) addFanout(s fanout.Summary) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.totals.RecordsLost += s.RecordsLost
}

// spooled reports whether checks or records wait in the spool.
func spooled(dir *spool.Dir) bool {
	entries, _ := os.ReadDir(dir.Path())
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") {
			return true
		}
	}
	return false
}

// wait blocks until every probe invocation has returned.
func (f *fleet) wait() { f.invoker.Wait() }

// nextMinute is the first whole minute after t.
func nextMinute(t time.Time) time.Time { return t.Truncate(time.Minute).Add(time.Minute) }
