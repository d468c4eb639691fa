package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/watcher-dev/watcher/internal/config"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/probe"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/store"
)

// ChildConfig tells a measured child process what to run. The parent passes
// it as JSON.
type ChildConfig struct {
	Workload string `json:"workload"`
	Side     string `json:"side"`
	Mode     string `json:"mode"`
	Run      int    `json:"run"`
	// DatabaseURL reaches the run's database through pgbouncer; the
	// workload's endpoints are already imported there.
	DatabaseURL string `json:"database_url"`
	// StatsURL reaches pgbouncer's admin console; Database is the name whose
	// query count is the run's round trips.
	StatsURL string        `json:"stats_url"`
	Database string        `json:"database"`
	Warmup   time.Duration `json:"warmup"`
	Window   time.Duration `json:"window"`
	// Profile, when set, is a file for a CPU profile of the window.
	Profile string `json:"profile,omitempty"`
	// ProbeCPU is the core this process is pinned to and FarmCPU the
	// farm's, for the load others put on them; negative when not pinned.
	ProbeCPU int `json:"probe_cpu"`
	FarmCPU  int `json:"farm_cpu"`
}

// lead is how long before a span its shards are planned and dispatched (at
// once for the first spans), as the span offset gives the fleet's probes
// time to start before their span; settle is the time from the child being
// ready to the first instant.
const (
	lead   = 5 * time.Second
	settle = time.Second
)

// timeline is one run: the warm-up from start, then the measured window.
type timeline struct {
	start  time.Time
	window plan.Span
}

// RunChild runs one measured run in this process and writes its Figures as
// one JSON line to out. The process should be pinned to one core with
// GOMAXPROCS=1; the parent arranges that.
func RunChild(ctx context.Context, cfg ChildConfig, out io.Writer) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := store.Open(ctx, cfg.DatabaseURL, store.WithLogger(log))
	if err != nil {
		return err
	}
	defer st.Close()
	eps, err := st.Endpoints(ctx, true)
	if err != nil {
		return err
	}
	want := make([]expectation, len(eps))
	for i := range eps {
		w, ok := expect(eps[i].URL)
		if !ok {
			return fmt.Errorf("endpoint %d: %s is not a fixed reply of the target farm", eps[i].ID, eps[i].URL)
		}
		want[i] = w
	}

	start := time.Now().Add(settle).Truncate(time.Millisecond)
	tl := timeline{start: start, window: plan.Span{Start: start.Add(cfg.Warmup), End: start.Add(cfg.Warmup + cfg.Window)}}
	f := Figures{Workload: cfg.Workload, Side: cfg.Side, Mode: cfg.Mode, Run: cfg.Run, Window: cfg.Window, Due: plan.Count(eps, tl.window)}

	var samples []sample
	switch cfg.Side {
	case SideFloor:
		st.Close() // the floor stores nothing
		m := newMarks(cfg, nil, nil)
		go m.take(ctx, tl.window)
		samples, err = runFloor(ctx, eps, want, tl, cfg.Mode == ModeReuse)
		if err != nil {
			return err
		}
		_, f.PeakRSSBytes = usage()
		if err := m.wait(ctx); err != nil {
			return err
		}
		m.fill(&f)
	case SideWatcher:
		stats, err := pgx.Connect(ctx, cfg.StatsURL)
		if err != nil {
			return fmt.Errorf("connect to pgbouncer's admin console: %w", err)
		}
		defer stats.Close(context.WithoutCancel(ctx))
		sink := &countingSink{st: st}
		m := newMarks(cfg, &sink.rows, func(ctx context.Context) (int64, error) { return bouncerQueries(ctx, stats, cfg.Database) })
		go m.take(ctx, tl.window)
		if err := runWatcher(ctx, cfg, st, sink, eps, tl, log); err != nil {
			return err
		}
		_, f.PeakRSSBytes = usage()
		if err := m.wait(ctx); err != nil {
			return err
		}
		m.fill(&f)
		f.Rows, f.RoundTrips = m.row[1]-m.row[0], m.query[1]-m.query[0]
		samples, err = storedSamples(ctx, st, eps, want, tl.window)
		if err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown side %q", cfg.Side)
	}
	summarize(&f, tl.window, samples)
	return json.NewEncoder(out).Encode(f)
}

// marks samples the process at the window's start and end: CPU time, rows
// written and round trips so far.
type marks struct {
	rows    *atomic.Int64                            // nil for the floor
	queries func(ctx context.Context) (int64, error) // nil for the floor
	profile string                                   // CPU profile of the window, if set

	cores       [2]int // probe and farm cores, negative when unknown
	cpu         [2]time.Duration
	busy        [2][2]time.Duration // [edge][probe, farm]: the cores' busy time
	row         [2]int64
	query       [2]int64
	err         error
	done        chan struct{}
	profileFile *os.File
}

func newMarks(cfg ChildConfig, rows *atomic.Int64, queries func(ctx context.Context) (int64, error)) *marks {
	return &marks{rows: rows, queries: queries, profile: cfg.Profile, cores: [2]int{cfg.ProbeCPU, cfg.FarmCPU}, done: make(chan struct{})}
}

// take sleeps until each edge of the window and samples there.
func (m *marks) take(ctx context.Context, window plan.Span) {
	defer close(m.done)
	for i, at := range []time.Time{window.Start, window.End} {
		if !sleepUntil(ctx, at) {
			m.err = ctx.Err()
			return
		}
		m.cpu[i], _ = usage()
		m.busy[i] = coresBusy(m.cores)
		if m.rows != nil {
			m.row[i] = m.rows.Load()
		}
		if m.queries != nil {
			q, err := m.queries(ctx)
			if err != nil {
				m.err = err
				return
			}
			m.query[i] = q
		}
		if m.profile != "" {
			if err := m.toggleProfile(i == 0); err != nil {
				m.err = err
				return
			}
		}
	}
}

// toggleProfile starts or stops the window's CPU profile.
func (m *marks) toggleProfile(start bool) error {
	if !start {
		pprof.StopCPUProfile()
		return m.profileFile.Close()
	}
	f, err := os.Create(m.profile)
	if err != nil {
		return fmt.Errorf("create CPU profile: %w", err)
	}
	m.profileFile = f
	if err := pprof.StartCPUProfile(f); err != nil {
		return fmt.Errorf("start CPU profile: %w", err)
	}
	return nil
}

// fill sets the CPU figures of f from the samples.
func (m *marks) fill(f *Figures) {
	f.CPU = m.cpu[1] - m.cpu[0]
	if m.cores[0] >= 0 && f.Window > 0 {
		others := m.busy[1][0] - m.busy[0][0] - f.CPU
		f.ProbeCoreOthers = max(0, float64(others)/float64(f.Window))
	}
	if m.cores[1] >= 0 && f.Window > 0 {
		f.FarmCoreBusy = float64(m.busy[1][1]-m.busy[0][1]) / float64(f.Window)
	}
}

// wait returns once both samples are taken.
func (m *marks) wait(ctx context.Context) error {
	select {
	case <-m.done:
		return m.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sleepUntil waits for t or for ctx to end, reporting whether t came.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// countingSink counts the rows the probes insert.
type countingSink struct {
	st   *store.Store
	rows atomic.Int64
}

func (c *countingSink) WriteChecks(ctx context.Context, batch []record.Check) (int, error) {
	n, err := c.st.WriteChecks(ctx, batch)
	c.rows.Add(int64(n))
	return n, err
}

// runWatcher runs the workload through the project's probe path, as the
// fleet does in one process: before each span the planner packs the shards
// and each shard's JSON payload goes to the probe handler's Invoke, in a
// goroutine of its own as an asynchronous invocation. Spans tile the
// warm-up and the window; the span after the window is planned and
// dispatched too (its cost falls in the window, as the next span's does in
// steady state) and cancelled when the window ends.
func runWatcher(ctx context.Context, cfg ChildConfig, st *store.Store, sink probe.Sink, eps []endpoint.Endpoint, tl timeline, log *slog.Logger) error {
	pcfg := config.Probe{
		Common:        config.Common{Region: "local"},
		Location:      endpoint.DefaultLocation,
		AllowLoopback: true,
		AllowPrivate:  true,
		BatchSize:     config.DefaultBatchSize,
		ReuseConns:    cfg.Mode == ModeReuse,
	}
	out := probe.Outputs{Sink: sink, Recorder: st, Claimer: st}
	h := probe.FromConfig(pcfg, out, nil, log)
	// The cancelled span's complaints about unwritten checks are expected.
	tail := probe.FromConfig(pcfg, out, nil, slog.New(slog.DiscardHandler))

	var slowest time.Duration
	for i := range eps {
		slowest = max(slowest, eps[i].Timeout)
	}
	var wg sync.WaitGroup
	dispatch := func(ctx context.Context, h *probe.Handler, span plan.Span) error {
		for _, sh := range plan.Plan(eps, span, plan.DefaultOptions) {
			// The payload the fanout would send: compressed when large.
			payload, err := sh.Encoded()
			if err != nil {
				return err
			}
			wg.Go(func() {
				// The probe function's timeout: the span, its slowest check
				// and the probe's margin.
				ictx, cancel := context.WithDeadline(ctx, span.End.Add(slowest+5*time.Second))
				defer cancel()
				if _, err := h.Invoke(ictx, payload); err != nil && ctx.Err() == nil {
					log.Error("probe invocation", "err", err)
				}
			})
		}
		return nil
	}

	spans := append(tile(tl.start, tl.window.Start), tile(tl.window.Start, tl.window.End)...)
	var err error
	for _, sp := range spans {
		if !sleepUntil(ctx, sp.Start.Add(-lead)) {
			err = ctx.Err()
			break
		}
		if err = dispatch(ctx, h, sp); err != nil {
			break
		}
	}
	if err == nil {
		next := plan.Span{Start: tl.window.End, End: tl.window.End.Add(plan.SpanLength)}
		tailCtx, cancelTail := context.WithCancel(ctx)
		if sleepUntil(ctx, next.Start.Add(-lead)) {
			err = dispatch(tailCtx, tail, next)
		}
		sleepUntil(ctx, tl.window.End)
		cancelTail()
	}
	wg.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// tile splits [from, to) into spans of at most plan.SpanLength.
func tile(from, to time.Time) []plan.Span {
	var out []plan.Span
	for s := from; s.Before(to); s = s.Add(plan.SpanLength) {
		out = append(out, plan.Span{Start: s, End: minTime(s.Add(plan.SpanLength), to)})
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// storedSamples reads back what the probes stored for the window.
func storedSamples(ctx context.Context, st *store.Store, eps []endpoint.Endpoint, want []expectation, window plan.Span) ([]sample, error) {
	byID := make(map[int64]expectation, len(eps))
	for i := range eps {
		byID[eps[i].ID] = want[i]
	}
	ms, err := st.Checks(ctx, window.Start, window.End)
	if err != nil {
		return nil, err
	}
	out := make([]sample, len(ms))
	for i := range ms {
		m := &ms[i]
		s := sample{planned: m.PlannedAt, lateness: m.Lateness, response: m.ResponseTime, match: m.RegexMatch,
			failed: m.Error != "", want: byID[m.EndpointID]}
		if m.StatusCode != nil {
			s.status = *m.StatusCode
		}
		out[i] = s
	}
	return out, nil
}

// bouncerQueries returns pgbouncer's count of queries for database db.
func bouncerQueries(ctx context.Context, conn *pgx.Conn, db string) (int64, error) {
	rows, err := conn.Query(ctx, "SHOW STATS")
	if err != nil {
		return 0, fmt.Errorf("pgbouncer show stats: %w", err)
	}
	defer rows.Close()
	dbCol, countCol := -1, -1
	for i, fd := range rows.FieldDescriptions() {
		switch fd.Name {
		case "database":
			dbCol = i
		case "total_query_count":
			countCol = i
		}
	}
	if dbCol < 0 || countCol < 0 {
		return 0, fmt.Errorf("pgbouncer show stats: no database or total_query_count column")
	}
	var n int64
	for rows.Next() {
		raw := rows.RawValues()
		if string(raw[dbCol]) != db {
			continue
		}
		if n, err = strconv.ParseInt(string(raw[countCol]), 10, 64); err != nil {
			return 0, fmt.Errorf("pgbouncer show stats: total_query_count %q: %w", raw[countCol], err)
		}
	}
	return n, rows.Err()
}
