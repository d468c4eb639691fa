// Package probe is the probe function's handler: it runs one shard's checks
// at their planned instants with bounded concurrency (prepare.go,
// schedule.go), writes them in batches (writer.go), spills what the database
// refused (spill.go), tells a retried shard from its first attempt
// (claim.go), closes the invocation's books and returns a summary.
package probe

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/watcher-dev/watcher/internal/check"
	"github.com/watcher-dev/watcher/internal/cost"
	"github.com/watcher-dev/watcher/internal/emf"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/meter"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/record"
)

// Sink takes batches of checks: the database, or a queue for probes that
// cannot reach it. A batch may be retried, so it must be idempotent.
type Sink interface {
	WriteChecks(ctx context.Context, batch []record.Check) (int, error)
}

// Spill keeps checks and invocation records durably for replay.
type Spill interface {
	Sink
	meter.Recorder
}

// Passwords resolves basic-auth references at run time.
type Passwords interface {
	Password(ctx context.Context, ba *endpoint.BasicAuth) (string, error)
}

// Outputs is where a probe's records go.
type Outputs struct {
	Sink     Sink           // checks
	Recorder meter.Recorder // invocation records; nil: not recorded
	// Claimer tells a retried shard from its first attempt; nil: every
	// attempt counts as the first (the record queue cannot tell).
	Claimer Claimer
	// Spill is the durable spill: checks the sink still refuses when the
	// invocation must end go there, to be replayed into the database later
	// (the record queue in AWS, a spool directory locally), and so does the
	// invocation record the Recorder refuses. nil: none.
	Spill Spill
}

// Config tunes a probe. Zero values take the defaults.
type Config struct {
	Location   string
	BatchSize  int           // rows per write
	FlushEvery time.Duration // longest a check waits for a batch to fill
	// Margin is kept free before the invocation deadline for the final
	// write and the invocation record.
	Margin      time.Duration
	MaxBackoff  time.Duration // between failed write attempts
	MaxInFlight int           // cap on concurrent checks; 0 derives it from the shard
	// Meter prices and reports each invocation; its Function is "probe".
	Meter meter.Config
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
	c.Meter.Function = cost.FunctionProbe
}

// Handler runs shards. One Handler serves every invocation of a warm function.
type Handler struct {
	cfg       Config
	checker   *check.Checker
	out       Outputs
	meter     *meter.Meter
	passwords Passwords
	log       *slog.Logger
	sockets   *sockets // the checks' share of the descriptors
}

// New returns a probe handler.
func New(cfg Config, checker *check.Checker, out Outputs, passwords Passwords, log *slog.Logger) *Handler {
	cfg.defaults()
	if out.Spill != nil {
		cfg.Meter.Spill = out.Spill
	}
	return &Handler{cfg: cfg, checker: checker, out: out, meter: meter.New(cfg.Meter, out.Recorder, log),
		passwords: passwords, log: log, sockets: newSockets()}
}

// Summary is what an invocation returns and logs.
type Summary struct {
	Location   string    `json:"location"`
	Shard      int       `json:"shard"`
	SpanStart  time.Time `json:"span_start"`
	Planned    int       `json:"planned"`
	Done       int       `json:"done"`
	Written    int       `json:"written"`
	Duplicates int       `json:"duplicates"` // already stored by an earlier attempt
	Unwritten  int       `json:"unwritten"`  // neither written nor spilled: lost, and logged as such
	Spilled    int       `json:"spilled"`    // handed to the durable spill, to be replayed
	// RecordsLost is 1 when the invocation record could be neither
	// recorded nor spilled: lost, logged and counted in EMF RecordsLost.
	RecordsLost int `json:"records_lost,omitempty"`
	// Missed checks never ran: not started before the invocation's
	// deadline (MissedDeadline), or instants that had passed when Lambda
	// retried the shard (MissedRetry).
	MissedDeadline int     `json:"missed_deadline"`
	MissedRetry    int     `json:"missed_retry"`
	Failed         int     `json:"failed"`    // checks with an error class
	NoSocket       int     `json:"no_socket"` // of those, checks that found no socket in time
	LatenessP50    float64 `json:"lateness_p50_ms"`
	LatenessP99    float64 `json:"lateness_p99_ms"`
	MaxInFlight    int     `json:"max_in_flight"`
	DurationMS     float64 `json:"duration_ms"`
	// BodyBytes is what the checks read of their response bodies (the
	// sum of their record.Result.BodyBytes): NAT data, with the overhead
	// the meter adds per check.
	BodyBytes int64 `json:"body_bytes"`
}

// Invoke implements the Lambda handler contract over a shard payload, plain
// or compressed (plan.DecodeShard).
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	sh, err := plan.DecodeShard(payload)
	if err != nil {
		return nil, err
	}
	sum, err := h.Run(ctx, &sh, len(payload))
	if err != nil {
		return nil, err
	}
	return json.Marshal(sum)
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
		// instants that have passed stay visibly missed rather than
		// measured late under their planned time.
		now := time.Now()
		n, _ := slices.BinarySearchFunc(jobs, now, func(j job, t time.Time) int { return j.at.Compare(t) })
		sum.MissedRetry, jobs = n, jobs[n:]
		h.log.Warn("retried shard: passed checks missed", "location", sh.Location, "shard", sh.Index,
			"span_start", sh.Span.Start, "missed", n)
	}

	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = sh.Span.End.Add(endpoint.MaxInterval + h.cfg.Margin*2)
	}
	stopBy := deadline.Add(-h.cfg.Margin)
	limit := inFlightLimit(jobs, h.cfg.MaxInFlight)
	sum.MaxInFlight = limit

	checks := make(chan record.Check, len(jobs))
	w := newWriter(h.out.Sink, h.cfg, h.log)
	writeStop := stopBy
	if h.out.Spill != nil {
		writeStop = stopBy.Add(-spillReserve) // room to spill what the database refused
	}
	writeDone := make(chan struct{})
	go func() {
		w.run(ctx, checks, writeStop)
		close(writeDone)
	}()

	lateness := h.schedule(ctx, jobs, sh.Location, stopBy, limit, checks, &sum)
	close(checks)
	<-writeDone

	sum.Written, sum.Duplicates = w.written, w.duplicates
	sum.Spilled = h.spillPending(ctx, sh, w.pending)
	sum.Unwritten = len(w.pending) - sum.Spilled
	sum.LatenessP50, sum.LatenessP99 = percentileMS(lateness, 0.50), percentileMS(lateness, 0.99)
	if sum.Unwritten > 0 {
		h.log.Error("checks not written", "location", sh.Location, "shard", sh.Index,
			"span_start", sh.Span.Start, "unwritten", sum.Unwritten, "last_error", errString(w.lastErr))
	}
	if sum.MissedDeadline > 0 {
		h.log.Error("checks missed: not started before the deadline", "location", sh.Location, "shard", sh.Index,
			"missed", sum.MissedDeadline)
	}
	h.close(ctx, sh, start, payloadBytes, &sum, w.lastErr)
	h.log.Info("probe done", "summary", sum)
	return sum, nil
}

// close prices, records and reports the invocation.
func (h *Handler) close(ctx context.Context, sh *plan.Shard, start time.Time, payloadBytes int, sum *Summary, writeErr error) {
	inv := record.Invocation{
		Location:        sh.Location,
		Shard:           &sh.Index,
		SpanStart:       &sh.Span.Start,
		StartedAt:       start,
		Duration:        time.Since(start),
		ChecksPlanned:   sum.Planned,
		ChecksDone:      sum.Done,
		ChecksWritten:   sum.Written + sum.Duplicates,
		ChecksUnwritten: sum.Unwritten,
		PayloadBytes:    payloadBytes,
		NetBytes:        sum.BodyBytes,
	}
	// What the outputs sent to the record queue (SQS bills per 64 KiB
	// chunk); the meter adds what the recorder sent.
	inv.QueueRequests, inv.QueueBytes = meter.TakeSent(h.out.Sink, h.out.Spill)
	if writeErr != nil && sum.Unwritten > 0 {
		inv.Error = writeErr.Error()
	}
	sum.DurationMS = record.MS(inv.Duration)
	// The alarms on unwritten and missed checks and lost records read this line.
	sum.RecordsLost = h.meter.Close(ctx, inv, sum.Location, []emf.Metric{
		{Name: "ChecksPlanned", Unit: "Count", Value: float64(sum.Planned)},
		{Name: "ChecksDone", Unit: "Count", Value: float64(sum.Done)},
		{Name: "ChecksFailed", Unit: "Count", Value: float64(sum.Failed)},
		{Name: "ChecksMissed", Unit: "Count", Value: float64(sum.MissedDeadline + sum.MissedRetry)},
		{Name: "ChecksUnwritten", Unit: "Count", Value: float64(sum.Unwritten)},
		{Name: "ChecksNoSocket", Unit: "Count", Value: float64(sum.NoSocket)},
		{Name: "LatenessP99", Unit: "Milliseconds", Value: sum.LatenessP99},
	}, h.cfg.Margin)
}

func percentileMS(ds []time.Duration, p float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return record.MS(s[int(p*float64(len(s)-1))])
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
