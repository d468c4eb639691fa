// Package probe is the probe function's handler: it runs one shard's checks
// at their planned instants with bounded concurrency, writes the results in
// batches, records its invocation and returns a summary.
package probe

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/watcher-dev/watcher/internal/check"
	"github.com/watcher-dev/watcher/internal/cost"
	"github.com/watcher-dev/watcher/internal/emf"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/regex"
	"github.com/watcher-dev/watcher/internal/store"
)

// Sink takes batches of results: the database, or a queue for probes that
// cannot reach it. A batch may be retried, so it must be idempotent.
type Sink interface {
	WriteMetrics(ctx context.Context, batch []store.Metric) (int, error)
}

// Recorder keeps one row per invocation.
type Recorder interface {
	RecordInvocation(ctx context.Context, inv store.Invocation) error
}

// Passwords resolves basic-auth references at run time.
type Passwords interface {
	Password(ctx context.Context, ba *endpoint.BasicAuth) (string, error)
}

// ErrConfig is the error class of a check that could not be prepared
// (unresolvable password, uncompilable regex): recorded, not dropped.
const ErrConfig = "config"

// Config tunes a probe. Zero values take the defaults.
type Config struct {
	Location   string
	Region     string
	MemoryMB   int
	Arch       string        // arm64 or x86_64, as priced
	Price      cost.Price    // zero: the price table's for Region and Arch
	BatchSize  int           // rows per write
	FlushEvery time.Duration // longest a result waits for a batch to fill
	// Margin is kept free before the invocation deadline for the final
	// write and the invocation record.
	Margin      time.Duration
	MaxBackoff  time.Duration // between failed write attempts
	MaxInFlight int           // cap on concurrent checks; 0 derives it from the shard
	// EMF receives one CloudWatch Embedded Metric Format line per
	// invocation (stdout in Lambda); nil writes none.
	EMF io.Writer
}

func (c *Config) defaults() {
	if c.BatchSize <= 0 {
		c.BatchSize = 500
	}
	if c.FlushEvery <= 0 {
		c.FlushEvery = time.Second
	}
	if c.Margin <= 0 {
		c.Margin = 2 * time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Second
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 10_000
	}
}

// Handler runs shards. One Handler serves every invocation of a warm function.
type Handler struct {
	cfg       Config
	checker   *check.Checker
	sink      Sink
	rec       Recorder
	passwords Passwords
	log       *slog.Logger
	spill     Sink // nil: no durable spill
}

// New returns a probe handler. rec may be nil where invocations are not recorded.
func New(cfg Config, checker *check.Checker, sink Sink, rec Recorder, passwords Passwords, log *slog.Logger) *Handler {
	cfg.defaults()
	return &Handler{cfg: cfg, checker: checker, sink: sink, rec: rec, passwords: passwords, log: log}
}

// Summary is what an invocation returns and logs.
type Summary struct {
	Location    string    `json:"location"`
	Shard       int       `json:"shard"`
	SpanStart   time.Time `json:"span_start"`
	Planned     int       `json:"planned"`
	Done        int       `json:"done"`
	Skipped     int       `json:"skipped"` // not started: the invocation ran out of time
	Written     int       `json:"written"`
	Duplicates  int       `json:"duplicates"` // already stored by an earlier attempt
	Unwritten   int       `json:"unwritten"`  // neither written nor spilled: lost, and logged as such
	Spilled     int       `json:"spilled"`    // handed to the durable spill, to be replayed
	Missing     int       `json:"missing"`    // passed instants a retried shard leaves unmeasured
	Failed      int       `json:"failed"`     // checks with an error class
	LatenessP50 float64   `json:"lateness_p50_ms"`
	LatenessP99 float64   `json:"lateness_p99_ms"`
	MaxInFlight int       `json:"max_in_flight"`
	DurationMS  float64   `json:"duration_ms"`
}

// Invoke implements the Lambda handler contract over a shard payload.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var sh plan.Shard
	if err := json.Unmarshal(payload, &sh); err != nil {
		return nil, fmt.Errorf("decode shard: %w", err)
	}
	sum, err := h.Run(ctx, &sh, len(payload))
	if err != nil {
		return nil, err
	}
	return json.Marshal(sum)
}

// job is one planned check.
type job struct {
	at  time.Time
	req *check.Request
	ep  *endpoint.Endpoint
	bad string // preparation failure; the check is recorded with ErrConfig
}

// Run executes the shard's checks and returns when every started check is
// written or the invocation deadline (less the margin) has come.
func (h *Handler) Run(ctx context.Context, sh *plan.Shard, payloadBytes int) (Summary, error) {
	start := time.Now()
	if sh.Location != h.cfg.Location {
		return Summary{}, fmt.Errorf("shard for location %q reached the probe of %q", sh.Location, h.cfg.Location)
	}
	jobs := h.prepare(ctx, sh)
	sum := Summary{Location: sh.Location, Shard: sh.Index, SpanStart: sh.Span.Start, Planned: len(jobs)}
	if h.retry(ctx, sh) {
		// An earlier attempt was cut short (timeout or crash) and Lambda
		// retried the event. What it measured and wrote is stored; the
		// instants that have passed stay visibly missing rather than
		// measured late under their planned time.
		now := time.Now()
		n, _ := slices.BinarySearchFunc(jobs, now, func(j job, t time.Time) int { return j.at.Compare(t) })
		sum.Missing, jobs = n, jobs[n:]
		h.log.Warn("retried shard: passed checks left missing", "location", sh.Location, "shard", sh.Index,
			"span_start", sh.Span.Start, "missing", n)
	}

	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = sh.Span.End.Add(endpoint.MaxInterval + h.cfg.Margin*2)
	}
	stopBy := deadline.Add(-h.cfg.Margin)
	limit := inFlightLimit(jobs, h.cfg.MaxInFlight)
	sum.MaxInFlight = limit

	results := make(chan store.Metric, len(jobs))
	w := newWriter(h.sink, h.cfg, h.log)
	writeStop := stopBy
	if h.spill != nil {
		writeStop = stopBy.Add(-spillReserve) // room to spill what the database refused
	}
	var writeDone = make(chan struct{})
	go func() {
		w.run(ctx, results, writeStop)
		close(writeDone)
	}()

	lateness := h.schedule(ctx, jobs, sh.Location, stopBy, limit, results, &sum)
	close(results)
	<-writeDone

	sum.Written, sum.Duplicates = w.written, w.duplicates
	sum.Spilled = h.spillPending(ctx, sh, w.pending)
	sum.Unwritten = len(w.pending) - sum.Spilled
	sum.LatenessP50, sum.LatenessP99 = percentileMS(lateness, 0.50), percentileMS(lateness, 0.99)
	sum.DurationMS = float64(time.Since(start).Microseconds()) / 1000
	if sum.Unwritten > 0 {
		h.log.Error("results not written", "location", sh.Location, "shard", sh.Index,
			"span_start", sh.Span.Start, "unwritten", sum.Unwritten, "last_error", errString(w.lastErr))
	}
	if sum.Skipped > 0 {
		h.log.Error("checks not started before the deadline", "location", sh.Location, "shard", sh.Index, "skipped", sum.Skipped)
	}
	h.record(ctx, sh, start, payloadBytes, &sum, w.lastErr)
	h.metrics(&sum)
	h.log.Info("probe done", "summary", sum)
	return sum, nil
}

// Claimer tells a shard's first attempt from a retry. The store implements
// it; a probe whose Recorder does not (the results queue) treats every
// attempt as the first.
type Claimer interface {
	ClaimShard(ctx context.Context, location string, shard int, spanStart time.Time) (bool, error)
}

// retry reports whether an earlier attempt claimed the shard. When the
// claim cannot be made (database down), it assumes a first attempt: the
// unique key on metrics keeps a repeat from doubling rows.
func (h *Handler) retry(ctx context.Context, sh *plan.Shard) bool {
	c, ok := h.rec.(Claimer)
	if !ok {
		return false
	}
	cctx, cancel := context.WithTimeout(ctx, claimTimeout)
	defer cancel()
	first, err := c.ClaimShard(cctx, sh.Location, sh.Index, sh.Span.Start)
	if err != nil {
		h.log.Warn("claim shard", "err", err)
		return false
	}
	return !first
}

// Timeouts of the bookkeeping around the checks.
const (
	claimTimeout = 2 * time.Second
	spillReserve = time.Second
)

// SpillTo sets the durable spill: results the sink still refuses when the
// invocation must end go there, to be replayed into the database later
// (the results queue in AWS, a spool directory locally).
func (h *Handler) SpillTo(s Sink) *Handler {
	h.spill = s
	return h
}

// spillPending hands the results the sink refused to the spill and returns
// how many it took.
func (h *Handler) spillPending(ctx context.Context, sh *plan.Shard, pending []store.Metric) int {
	if len(pending) == 0 || h.spill == nil {
		return 0
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), spillReserve)
	defer cancel()
	n, err := h.spill.WriteMetrics(sctx, pending)
	if err != nil {
		h.log.Error("spill results", "location", sh.Location, "shard", sh.Index, "spilled", n, "of", len(pending), "err", err)
	} else {
		h.log.Warn("results spilled for replay", "location", sh.Location, "shard", sh.Index, "spilled", n)
	}
	return n
}

// prepare turns the shard into jobs sorted by instant: requests are built
// once per endpoint and each distinct regex compiled once per shard (most
// endpoints share a few patterns), never per check.
func (h *Handler) prepare(ctx context.Context, sh *plan.Shard) []job {
	jobs := make([]job, 0, plan.Count(sh.Endpoints, sh.Span))
	compiled := map[string]compiledRegex{}
	for i := range sh.Endpoints {
		ep := &sh.Endpoints[i]
		// request compiles ep.Regex itself; hand it a copy without, and
		// take the pattern from this shard's compilations instead.
		plain := *ep
		plain.Regex = ""
		req, bad := h.request(ctx, &plain)
		if req != nil && ep.Regex != "" {
			c, ok := compiled[ep.Regex]
			if !ok {
				c.re, c.err = regex.Compile(ep.Regex, endpoint.RegexMatchTimeout)
				compiled[ep.Regex] = c
			}
			if c.err != nil {
				req, bad = nil, fmt.Sprintf("endpoint %d: %v", ep.ID, c.err)
			} else {
				req.Regex = c.re
			}
		}
		for _, at := range plan.Instants(ep.ID, ep.Interval, sh.Span) {
			jobs = append(jobs, job{at: at, req: req, ep: ep, bad: bad})
		}
	}
	slices.SortStableFunc(jobs, func(a, b job) int { return a.at.Compare(b.at) })
	return jobs
}

// compiledRegex is one pattern's compilation, shared by a shard's endpoints.
type compiledRegex struct {
	re  *regex.Regex
	err error
}

func (h *Handler) request(ctx context.Context, ep *endpoint.Endpoint) (*check.Request, string) {
	req := &check.Request{
		URL: ep.URL, Method: ep.Method, Headers: ep.Headers, Body: ep.Body, Timeout: ep.Timeout,
	}
	if ep.Regex != "" {
		re, err := regex.Compile(ep.Regex, endpoint.RegexMatchTimeout)
		if err != nil {
			return nil, fmt.Sprintf("endpoint %d: %v", ep.ID, err)
		}
		req.Regex = re
	}
	if ep.BasicAuth != nil {
		pw, err := h.passwords.Password(ctx, ep.BasicAuth)
		if err != nil {
			return nil, fmt.Sprintf("endpoint %d: %v", ep.ID, err)
		}
		req.Username, req.Password = ep.BasicAuth.Username, pw
	}
	return req, ""
}

// inFlightLimit is the peak number of checks that can overlap if each runs
// for its whole timeout, so the limit never delays a start that is on time.
// jobs are sorted by instant (prepare sorts them).
func inFlightLimit(jobs []job, ceiling int) int {
	ends := make([]int64, len(jobs))
	for i, j := range jobs {
		timeout := endpoint.DefaultTimeout
		if j.req != nil {
			timeout = j.req.Timeout
		}
		ends[i] = j.at.Add(timeout).UnixNano()
	}
	slices.Sort(ends)
	peak, cur, e := 1, 0, 0
	for _, j := range jobs {
		at := j.at.UnixNano()
		for ; e < len(ends) && ends[e] <= at; e++ { // ends before starts at the same instant
			cur--
		}
		cur++
		peak = max(peak, cur)
	}
	return min(peak, ceiling)
}

// schedule starts each job at its instant (at once if the instant has
// passed) and waits for all started checks. It returns each check's lateness.
//
// One timer loop paces the shard. Checks run on reused worker goroutines: a
// goroutine started per check grows its stack through net/http every time,
// a copy a reused worker makes about once per GC cycle. A worker is started
// whenever none is idle, so no check waits for one; the pool grows to the
// shard's peak overlap, never past limit.
func (h *Handler) schedule(ctx context.Context, jobs []job, location string, stopBy time.Time, limit int,
	results chan<- store.Metric, sum *Summary) []time.Duration {
	var (
		wg       sync.WaitGroup
		work     = make(chan job) // unbuffered: a send succeeds only into an idle worker
		workers  int
		mu       sync.Mutex
		lateness = make([]time.Duration, 0, len(jobs))
		timer    = time.NewTimer(0)
	)
	<-timer.C
	run := func(j job) {
		m := store.Metric{EndpointID: j.ep.ID, Location: location, ScheduledAt: j.at}
		if j.req == nil {
			m.Result = check.Result{StartedAt: time.Now(), Error: ErrConfig, ErrorDetail: j.bad}
		} else {
			m.Result = h.checker.Run(ctx, j.req)
		}
		m.Lateness = max(0, m.StartedAt.Sub(j.at))
		mu.Lock()
		lateness = append(lateness, m.Lateness)
		sum.Done++
		if m.Error != "" {
			sum.Failed++
		}
		mu.Unlock()
		results <- m
	}
	worker := func(j job) {
		defer wg.Done()
		for ok := true; ok; j, ok = <-work {
			run(j)
		}
	}
jobs:
	for i, j := range jobs {
		if wait := time.Until(j.at); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
				sum.Skipped += len(jobs) - i
				break jobs
			}
		}
		timeout := endpoint.DefaultTimeout
		if j.req != nil {
			timeout = j.req.Timeout
		}
		if time.Now().Add(timeout).After(stopBy) {
			// Starting it could not finish in time: leave it visibly missing.
			sum.Skipped += len(jobs) - i
			break
		}
		select {
		case work <- j:
		default:
			if workers < limit {
				workers++
				wg.Add(1)
				go worker(j)
			} else {
				work <- j // every worker busy: the limit holds
			}
		}
	}
	close(work)
	wg.Wait()
	return lateness
}

func (h *Handler) record(ctx context.Context, sh *plan.Shard, start time.Time, payloadBytes int, sum *Summary, writeErr error) {
	if h.rec == nil {
		return
	}
	inv := store.Invocation{
		Function:        "probe",
		Location:        sh.Location,
		Region:          h.cfg.Region,
		MemoryMB:        h.cfg.MemoryMB,
		Shard:           &sh.Index,
		SpanStart:       &sh.Span.Start,
		StartedAt:       start,
		Duration:        time.Since(start),
		ChecksPlanned:   sum.Planned,
		ChecksDone:      sum.Done,
		ChecksWritten:   sum.Written + sum.Duplicates,
		ChecksUnwritten: sum.Unwritten,
		PayloadBytes:    payloadBytes,
		Arch:            h.cfg.Arch,
	}
	billed, usd, priced := cost.Invocation(h.cfg.Price.Or(h.cfg.Region, h.cfg.Arch), inv.MemoryMB, inv.Duration)
	inv.Billed = billed
	if priced {
		inv.CostUSD = &usd
	}
	if writeErr != nil && sum.Unwritten > 0 {
		inv.Error = writeErr.Error()
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.Margin)
	defer cancel()
	if err := h.rec.RecordInvocation(rctx, inv); err != nil {
		h.log.Warn("record invocation", "err", err)
	}
}

// metrics writes the invocation's EMF line; the alarms on unwritten checks read it.
func (h *Handler) metrics(sum *Summary) {
	if h.cfg.EMF == nil {
		return
	}
	duration := time.Duration(sum.DurationMS * float64(time.Millisecond))
	_, usd, _ := cost.Invocation(h.cfg.Price.Or(h.cfg.Region, h.cfg.Arch), h.cfg.MemoryMB, duration)
	err := emf.Write(h.cfg.EMF, time.Now(), map[string]string{"function": "probe", "location": sum.Location}, []emf.Metric{
		{Name: "ChecksPlanned", Unit: "Count", Value: float64(sum.Planned)},
		{Name: "ChecksDone", Unit: "Count", Value: float64(sum.Done)},
		{Name: "ChecksFailed", Unit: "Count", Value: float64(sum.Failed)},
		{Name: "ChecksSkipped", Unit: "Count", Value: float64(sum.Skipped)},
		{Name: "ChecksUnwritten", Unit: "Count", Value: float64(sum.Unwritten)},
		{Name: "LatenessP99", Unit: "Milliseconds", Value: sum.LatenessP99},
		{Name: "Duration", Unit: "Milliseconds", Value: sum.DurationMS},
		{Name: "CostUSD", Unit: "None", Value: usd},
	})
	if err != nil {
		h.log.Warn("write metrics line", "err", err)
	}
}

func percentileMS(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p * float64(len(s)-1))
	return float64(s[i].Microseconds()) / 1000
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
