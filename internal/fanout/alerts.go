package fanout

import (
	"context"
	"log/slog"
	"time"

	"github.com/watcher-dev/watcher/internal/notify"
	"github.com/watcher-dev/watcher/internal/store"
)

// DefaultAlertTimeout bounds one invocation's alert evaluation and
// notification delivery together.
const DefaultAlertTimeout = 30 * time.Second

// AlertStore evaluates alerts from the stored checks and keeps their
// notifications until sent.
type AlertStore interface {
	EvaluateAlerts(ctx context.Context, now time.Time, channels []string) (store.AlertSummary, error)
	notify.Outbox
}

// Alerting turns on alerts in the fanout: every invocation evaluates the
// alert rules over the checks stored since the last one and sends the
// notifications that are due, beside the dispatch (never delaying it) and
// within Timeout.
type Alerting struct {
	Store AlertStore
	// Channels are the channels each transition is queued on, in order
	// (notify.Config.Channels); Senders send them. A channel without a
	// sender keeps its notifications until one is configured.
	Channels []string
	Senders  map[string]notify.Sender
	// Timeout bounds evaluation and delivery together; zero:
	// DefaultAlertTimeout. What is not sent by then waits for the next
	// invocation.
	Timeout time.Duration
}

// AlertRun is what one invocation did about alerts.
type AlertRun struct {
	store.AlertSummary
	Delivered notify.DeliverSummary `json:"delivered"`
	// Errors counts the steps that failed (evaluation, delivery), each
	// logged; what they left is done by a later invocation.
	Errors int `json:"errors,omitempty"`
}

// startAlerts evaluates alerts and delivers notifications on a goroutine
// of its own, and returns where its result comes; nil when alerts are off.
func (h *Handler) startAlerts(ctx context.Context) <-chan AlertRun {
	a := h.cfg.Alerting
	if a == nil {
		return nil
	}
	out := make(chan AlertRun, 1)
	go func() {
		ctx, cancel := context.WithTimeout(ctx, a.Timeout)
		defer cancel()
		out <- h.alerts(ctx, a)
	}()
	return out
}

// alerts evaluates, then delivers: what the evaluation queued goes out in
// the same invocation. A failed evaluation still delivers what waits.
func (h *Handler) alerts(ctx context.Context, a *Alerting) AlertRun {
	var run AlertRun
	sum, err := a.Store.EvaluateAlerts(ctx, h.clock.Now(), a.Channels)
	if err != nil {
		run.Errors++
		h.log.Error("alert evaluation failed; the next invocation evaluates the same checks", "err", err)
	} else {
		run.AlertSummary = sum
	}
	run.Delivered, err = notify.Deliver(ctx, a.Store, a.Senders, h.clock.Now)
	if err != nil {
		run.Errors++
		h.log.Error("notification delivery stopped; what is unsent waits for the next invocation", "err", err)
	}
	if d := run.Delivered; run.Opened+run.Resolved+d.Sent+d.Failed > 0 {
		level := slog.LevelInfo
		if d.Failed > 0 {
			level = slog.LevelWarn // recorded in the outbox and retried with backoff
		}
		h.log.Log(ctx, level, "alerts", "opened", run.Opened, "resolved", run.Resolved,
			"sent", run.Delivered.Sent, "failed", run.Delivered.Failed, "pending", run.Delivered.Pending)
	}
	return run
}

// endAlerts waits for the alerts started by startAlerts (none: nil) and
// puts what they did in sum.
func endAlerts(done <-chan AlertRun, sum *Summary) {
	if done == nil {
		return
	}
	run := <-done
	sum.Alerts = &run
}
