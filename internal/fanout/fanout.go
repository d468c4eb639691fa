// Package fanout is the fanout function's handler: from one scheduled event
// it plans the span the event names, packs the due checks into shards per
// location and starts one probe invocation per shard.
package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/watcher-dev/watcher/internal/cost"
	"github.com/watcher-dev/watcher/internal/emf"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/meter"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/record"
	"golang.org/x/sync/errgroup"
)

// Source loads the enabled endpoints in one query.
type Source interface {
	Endpoints(ctx context.Context, enabledOnly bool) ([]endpoint.Endpoint, error)
}

// Ledger remembers dispatched spans, so a duplicate delivery plans nothing
// twice, and missed spans, so a span whose checks never ran is visible.
type Ledger interface {
	ClaimSpan(ctx context.Context, spanStart time.Time, shards, checks int) (bool, error)
	// RecordSpan records a claim ClaimSpan could not: the span as
	// dispatched, over a missed entry too; idempotent.
	RecordSpan(ctx context.Context, c record.SpanClaim) error
	RecordMissed(ctx context.Context, spanStart time.Time, detail string) error
	// LedgerSpans returns the span starts recorded in [from, to), oldest
	// first, preceded by the latest one before from if any.
	LedgerSpans(ctx context.Context, from, to time.Time) ([]time.Time, error)
	// StoredSpans returns those of starts whose span holds a stored check.
	StoredSpans(ctx context.Context, starts []time.Time) ([]time.Time, error)
}

// Spill keeps what the fanout could not record about itself when its
// invocation ends (its span claim and invocation record) for replay: the
// record queue in AWS, the spool locally.
type Spill interface {
	meter.Recorder
	RecordSpan(ctx context.Context, c record.SpanClaim) error
}

// Waiting is a spill that can tell which span claims wait in it for replay
// (the spool; the record queue cannot).
type Waiting interface {
	SpansWaiting(ctx context.Context) ([]time.Time, error)
}

// Invoker starts a function asynchronously: the Lambda Invoke API with
// InvocationType Event, or an in-process call locally.
type Invoker interface {
	Invoke(ctx context.Context, function string, payload []byte) error
}

// Store is everything the fanout needs from the database.
type Store interface {
	Source
	Ledger
	History
	meter.Recorder
}

// Clock is the fanout's time: the present, and waiting until a shard's
// dispatch time. Tests control both.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx ends, whichever comes first.
	Sleep(ctx context.Context, d time.Duration) error
}

// RealClock is the wall clock.
type RealClock struct{}

// Now is time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// Sleep waits for d, or returns ctx's error when ctx ends first.
func (RealClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Config tunes the fanout.
type Config struct {
	Probes     map[string]string // location -> probe function
	SpanOffset time.Duration
	MaxDelay   time.Duration
	// Lead is how long before a shard's first planned instant its probe is
	// invoked: enough for the Invoke call and a cold start. The fanout waits
	// until then while waiting is the cheaper (see dispatch), so that no
	// probe is billed for waiting for its span or its first instant.
	Lead time.Duration
	// ProbeMemoryMB is the probes' memory, to weigh the fanout's waiting
	// against theirs; 0: the fanout always waits.
	ProbeMemoryMB int
	Plan          plan.Options
	// Meter prices and reports each invocation; its Function is "fanout".
	Meter meter.Config
	// Parallel bounds concurrent Invoke calls.
	Parallel int
	// Local logs missed spans at INFO rather than ERROR: outside AWS the
	// fleet stops with the laptop, and nothing alarms.
	Local bool
	// Spill keeps the span claim and invocation record the database still
	// refuses when the invocation ends; nil: none (they are lost, counted
	// in RecordsLost).
	Spill Spill
	// RecordTimeout bounds the recording of the span claim and of the
	// invocation record, each: retries, then the spill. Zero: 5 s.
	RecordTimeout time.Duration
	// Alerting evaluates alerts and sends their notifications in every
	// invocation (alerts.go); nil: off.
	Alerting *Alerting
}

// Handler plans spans. One Handler serves every invocation of a warm function.
type Handler struct {
	cfg     Config
	store   Store
	invoker Invoker
	meter   *meter.Meter
	log     *slog.Logger
	clock   Clock

	mu   sync.Mutex
	last []endpoint.Endpoint // the last list read, for when the database is down
	hist historyCache        // endpoints' history, for estimating costs (history.go)
}

// New returns a fanout handler on clock (RealClock in production).
func New(cfg Config, st Store, inv Invoker, log *slog.Logger, clock Clock) *Handler {
	if cfg.Parallel <= 0 {
		cfg.Parallel = 16
	}
	if cfg.Plan.MaxChecks <= 0 {
		cfg.Plan = plan.DefaultOptions
	}
	cfg.Meter.Function = cost.FunctionFanout
	if cfg.Spill != nil {
		cfg.Meter.Spill = cfg.Spill
	}
	if cfg.RecordTimeout <= 0 {
		cfg.RecordTimeout = 5 * time.Second
	}
	if cfg.Alerting != nil && cfg.Alerting.Timeout <= 0 {
		a := *cfg.Alerting
		a.Timeout = DefaultAlertTimeout
		cfg.Alerting = &a
	}
	return &Handler{cfg: cfg, store: st, invoker: inv, meter: meter.New(cfg.Meter, st, log), log: log, clock: clock}
}

// Event is the part of an EventBridge scheduled event the fanout reads.
type Event struct {
	Time time.Time `json:"time"`
}

// Summary is what an invocation returns and logs.
type Summary struct {
	SpanStart  time.Time      `json:"span_start"`
	Status     string         `json:"status"` // record.SpanDispatched, SpanDuplicate or SpanMissed
	Endpoints  int            `json:"endpoints"`
	Checks     int            `json:"checks"`
	Shards     int            `json:"shards"`
	Failed     int            `json:"failed_shards"`
	FailedChks int            `json:"failed_checks"`
	ByLocation map[string]int `json:"checks_by_location,omitempty"`
	Stale      bool           `json:"stale_endpoints,omitempty"` // planned from the last list read
	// Missed counts earlier spans whose event never came, recorded as
	// missed by this invocation.
	Missed int `json:"missed_spans,omitempty"`
	// ClaimSpilled: the span's claim could not be recorded in the ledger
	// and went to the spill, to be replayed.
	ClaimSpilled bool `json:"claim_spilled,omitempty"`
	// RecordsLost counts the span claim and invocation record that could
	// be neither recorded nor spilled: lost, logged and in EMF RecordsLost.
	RecordsLost int `json:"records_lost,omitempty"`
	// Alerts is what the invocation did about alerts; nil when they are off.
	Alerts *AlertRun `json:"alerts,omitempty"`
}

// ErrNoEvent is returned for an event without a scheduled time.
var ErrNoEvent = errors.New(`scheduled event has no "time"`)

// Invoke implements the Lambda handler contract over a scheduled event.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var ev Event
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("decode scheduled event: %w", err)
	}
	if ev.Time.IsZero() {
		return nil, ErrNoEvent
	}
	sum, err := h.Run(ctx, ev.Time)
	if err != nil {
		return nil, err
	}
	return json.Marshal(sum)
}

// Run plans and dispatches the span named by scheduled.
func (h *Handler) Run(ctx context.Context, scheduled time.Time) (sum Summary, err error) {
	start := h.clock.Now()
	span := plan.SpanFor(scheduled, h.cfg.SpanOffset)
	sum = Summary{SpanStart: span.Start}
	inv := record.Invocation{SpanStart: &span.Start, StartedAt: start}
	var unclaimed *record.SpanClaim // dispatched, but not yet in the ledger
	// Alerts run beside the dispatch, whatever becomes of the span.
	alerts := h.startAlerts(ctx)
	defer func() {
		endAlerts(alerts, &sum)
		h.keepClaim(ctx, unclaimed, &sum)
		inv.Duration = h.clock.Now().Sub(start)
		inv.ChecksPlanned = sum.Checks
		h.close(ctx, inv, &sum)
	}()

	sum.Missed = h.recordMissed(ctx, span, start)

	if plan.TooLate(scheduled, start, h.cfg.MaxDelay) {
		sum.Status = record.SpanMissed
		detail := fmt.Sprintf("event for %s delivered %s late (limit %s)", scheduled.UTC().Format(time.RFC3339),
			start.Sub(scheduled).Round(time.Second), h.cfg.MaxDelay)
		h.log.Log(ctx, h.missedLevel(), "span missed: its event came too late", "span_start", span.Start, "reason", detail)
		if err := h.store.RecordMissed(ctx, span.Start, detail); err != nil {
			h.log.Error("record missed span", "err", err)
		}
		return sum, nil
	}

	eps, err := h.endpoints(ctx, &sum)
	if err != nil {
		inv.Error = err.Error()
		return sum, err
	}
	sum.Endpoints = len(eps)
	shards := plan.PlanWithHistory(eps, span, h.cfg.Plan, h.history(ctx, start))
	sum.Shards = len(shards)
	sum.ByLocation = map[string]int{}
	for _, s := range shards {
		sum.Checks += s.Checks
		sum.ByLocation[s.Location] += s.Checks
	}

	claimed, err := h.store.ClaimSpan(ctx, span.Start, len(shards), sum.Checks)
	switch {
	case err != nil:
		// The unique key on checks makes a repeat harmless; the claim is
		// recorded, or spilled, when the invocation ends (keepClaim).
		h.log.Warn("span ledger unavailable; dispatching anyway", "span_start", span.Start, "err", err)
		unclaimed = &record.SpanClaim{Start: span.Start, Shards: len(shards), Checks: sum.Checks}
	case !claimed:
		sum.Status = record.SpanDuplicate
		h.log.Info("span already dispatched; duplicate event ignored", "span_start", span.Start)
		return sum, nil
	}

	sum.Status = record.SpanDispatched
	failed, sent := h.dispatch(ctx, shards)
	inv.PayloadBytes = sent
	for _, s := range failed {
		sum.Failed++
		sum.FailedChks += s.Checks
	}
	if sum.Failed > 0 {
		inv.Error = fmt.Sprintf("%d of %d shards not dispatched (%d checks)", sum.Failed, sum.Shards, sum.FailedChks)
		h.log.Error("shards not dispatched", "span_start", span.Start, "shards", sum.Failed, "checks", sum.FailedChks)
	}
	h.log.Info("fanout done", "summary", sum)
	return sum, nil
}

// keepClaim records the span claim c that ClaimSpan could not (nil: none)
// before the invocation ends: retried while the database is away, then
// spilled for replay, and counted in sum.RecordsLost when neither takes it.
func (h *Handler) keepClaim(ctx context.Context, c *record.SpanClaim, sum *Summary) {
	if c == nil {
		return
	}
	var spill func(context.Context) error
	if h.cfg.Spill != nil {
		spill = func(ctx context.Context) error { return h.cfg.Spill.RecordSpan(ctx, *c) }
	}
	spilled, err := meter.Keep(ctx, h.cfg.RecordTimeout, func(ctx context.Context) error { return h.store.RecordSpan(ctx, *c) }, spill)
	switch {
	case err != nil:
		sum.RecordsLost++
		h.log.Error("span claim lost: neither recorded nor spilled", "span_start", c.Start, "err", err)
	case spilled:
		sum.ClaimSpilled = true
		h.log.Warn("span claim spilled for replay", "span_start", c.Start)
	}
}

// recordMissed records as missed the spans before span whose event never
// came (plan.MissedSpans says which), says so in one line however many they
// are (the count and the first and last span), and returns how many it
// recorded. The ledger is best effort, like ClaimSpan: when it cannot be
// read or written the rest is not recorded, and a later event finds the
// same spans missing. A span absent from the ledger whose event came is
// not missed: one whose checks are stored, or whose claim waits in the
// spill, was dispatched while its claim could not be recorded.
func (h *Handler) recordMissed(ctx context.Context, span plan.Span, now time.Time) int {
	from, to := plan.MissedWindow(span)
	known, err := h.store.LedgerSpans(ctx, from, to)
	if err != nil {
		h.log.Warn("span ledger unreadable; missed spans not looked for", "span_start", span.Start, "err", err)
		return 0
	}
	spans, err := h.dispatched(ctx, plan.MissedSpans(known, span, now, h.cfg.SpanOffset, h.cfg.MaxDelay))
	if err != nil {
		h.log.Warn("dispatched spans unknown; missed spans not recorded", "span_start", span.Start, "err", err)
		return 0
	}
	missed := 0
	for _, s := range spans {
		scheduled := s.Add(-h.cfg.SpanOffset)
		detail := fmt.Sprintf("no scheduled event for %s arrived by %s (limit %s)",
			scheduled.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), h.cfg.MaxDelay)
		if err := h.store.RecordMissed(ctx, s, detail); err != nil {
			h.log.Error("record missed span", "span_start", s, "err", err)
			break
		}
		missed++
	}
	if missed > 0 {
		h.log.Log(ctx, h.missedLevel(), "spans missed: their events never came", "spans", missed,
			"first_span", spans[0], "last_span", spans[missed-1])
	}
	return missed
}

// dispatched returns spans without those that were dispatched though the
// ledger lacks them: their checks are stored, or their claim waits in the
// spill.
func (h *Handler) dispatched(ctx context.Context, spans []time.Time) ([]time.Time, error) {
	if len(spans) == 0 {
		return nil, nil
	}
	stored, err := h.store.StoredSpans(ctx, spans)
	if err != nil {
		return nil, err
	}
	if w, ok := h.cfg.Spill.(Waiting); ok {
		waiting, err := w.SpansWaiting(ctx)
		if err != nil {
			return nil, err
		}
		stored = append(stored, waiting...)
	}
	return slices.DeleteFunc(spans, func(s time.Time) bool {
		return slices.ContainsFunc(stored, func(d time.Time) bool { return d.Equal(s) })
	}), nil
}

// missedLevel is the level of the lines that report missed spans.
func (h *Handler) missedLevel() slog.Level {
	if h.cfg.Local {
		return slog.LevelInfo
	}
	return slog.LevelError
}

func (h *Handler) endpoints(ctx context.Context, sum *Summary) ([]endpoint.Endpoint, error) {
	eps, err := h.store.Endpoints(ctx, true)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		h.last = eps
		return eps, nil
	}
	if h.last == nil {
		return nil, fmt.Errorf("load endpoints: %w", err)
	}
	h.log.Warn("load endpoints failed; planning from the last list read", "endpoints", len(h.last), "err", err)
	sum.Stale = true
	return h.last, nil
}

// dispatch invokes one probe per shard, each Lead before its first planned
// instant (at once when that has passed), a few at a time, and returns the
// shards that could not be dispatched and the payload bytes sent: each
// shard's encoding, compressed when large. Shards are dispatched in order
// of their first instant, and the fanout waits in between instead of the
// probes: waiting a second costs the fanout its own memory and saves each
// shard not yet dispatched the probe's. Once the shards left weigh no more
// than the fanout, they all go at once.
func (h *Handler) dispatch(ctx context.Context, shards []plan.Shard) (failed []plan.Shard, sent int) {
	var (
		mu sync.Mutex
		g  errgroup.Group
	)
	g.SetLimit(h.cfg.Parallel)
	fail := func(s plan.Shard, err error) {
		h.log.Error("dispatch shard", "location", s.Location, "shard", s.Index, "checks", s.Checks, "err", err)
		mu.Lock()
		failed = append(failed, s)
		mu.Unlock()
	}
	var enc plan.Encoder // one compressor for the shards the planner did not encode
	timed := byFirstInstant(shards)
	for k, s := range timed {
		fn, ok := h.cfg.Probes[s.Location]
		if !ok {
			fail(s.Shard, fmt.Errorf("no probe function for location %q", s.Location))
			continue
		}
		// Encoded once: by the planner where it had to, to fit the shard.
		payload, err := enc.Payload(&s.Shard)
		if err != nil {
			fail(s.Shard, err)
			continue
		}
		if h.waitPays(len(timed) - k) {
			if err := h.waitUntil(ctx, s.first.Add(-h.cfg.Lead)); err != nil {
				fail(s.Shard, fmt.Errorf("wait to dispatch: %w", err))
				continue
			}
		}
		g.Go(func() error {
			if err := h.invoker.Invoke(ctx, fn, payload); err != nil {
				fail(s.Shard, fmt.Errorf("invoke %s: %w", fn, err))
				return nil // one shard's failure stops no other
			}
			mu.Lock()
			sent += len(payload)
			mu.Unlock()
			return nil
		})
	}
	_ = g.Wait() // every Go func returns nil
	return failed, sent
}

// waitPays reports whether the fanout waiting costs less than the remaining
// shards' probes waiting.
func (h *Handler) waitPays(remaining int) bool {
	return h.cfg.ProbeMemoryMB == 0 || remaining*h.cfg.ProbeMemoryMB > h.cfg.Meter.MemoryMB
}

// dispatchMargin is kept before the invocation's deadline: a shard whose
// dispatch time falls later goes then, early, rather than not at all.
const dispatchMargin = 5 * time.Second

// waitUntil sleeps until t, or until shortly before ctx's deadline.
func (h *Handler) waitUntil(ctx context.Context, t time.Time) error {
	if dl, ok := ctx.Deadline(); ok && t.After(dl.Add(-dispatchMargin)) {
		t = dl.Add(-dispatchMargin)
	}
	if wait := t.Sub(h.clock.Now()); wait > 0 {
		return h.clock.Sleep(ctx, wait)
	}
	return nil
}

// timedShard is a shard and its first planned instant.
type timedShard struct {
	plan.Shard
	first time.Time
}

// byFirstInstant returns the shards in order of their first planned instant.
func byFirstInstant(shards []plan.Shard) []timedShard {
	out := make([]timedShard, len(shards))
	for i, s := range shards {
		first := s.Span.End
		for _, ep := range s.Endpoints {
			if at := plan.Instants(ep.ID, ep.Interval, s.Span); len(at) > 0 && at[0].Before(first) {
				first = at[0]
			}
		}
		out[i] = timedShard{Shard: s, first: first}
	}
	slices.SortStableFunc(out, func(a, b timedShard) int { return a.first.Compare(b.first) })
	return out
}

// close prices, records and reports the invocation. SpansMissed counts the
// spans this invocation recorded as missed, its own included.
func (h *Handler) close(ctx context.Context, inv record.Invocation, sum *Summary) {
	missed := sum.Missed
	if sum.Status == record.SpanMissed {
		missed++
	}
	// Lateness is the event's delivery delay: how long after its scheduled
	// minute the fanout started.
	late := max(0, inv.StartedAt.Sub(inv.SpanStart.Add(-h.cfg.SpanOffset)))
	failed := 0.0
	if inv.Error != "" {
		failed = 1
	}
	// The shards leave for the Lambda API over the network: through a NAT
	// gateway where the meter is told so. Nothing goes to the Internet
	// (SentBytes stays 0): the Lambda API is in the fanout's region, and
	// data transfer to it is free.
	inv.NetBytes = int64(inv.PayloadBytes)
	var alertErrors, notificationsFailed int
	if a := sum.Alerts; a != nil {
		alertErrors, notificationsFailed = a.Errors, a.Delivered.Failed
	}
	sum.RecordsLost += h.meter.Close(ctx, inv, "all", []emf.Metric{
		{Name: "ChecksPlanned", Unit: "Count", Value: float64(inv.ChecksPlanned)},
		{Name: "Failures", Unit: "Count", Value: failed},
		{Name: "SpansMissed", Unit: "Count", Value: float64(missed)},
		{Name: "Lateness", Unit: "Milliseconds", Value: record.MS(late)},
		{Name: meter.RecordsLost, Unit: "Count", Value: float64(sum.RecordsLost)},
		{Name: "AlertErrors", Unit: "Count", Value: float64(alertErrors)},
		{Name: "NotificationsFailed", Unit: "Count", Value: float64(notificationsFailed)},
	}, h.cfg.RecordTimeout)
}
