package probe

import (
	"context"
	"log/slog"
	"time"

	"github.com/watcher-dev/watcher/internal/record"
)

// writer batches checks and writes them through the sink, retrying with
// backoff while the sink fails, and keeps what it could not write so the
// caller can report (or spill) them: a measured check is never dropped silently.
type writer struct {
	sink    Sink
	cfg     Config
	log     *slog.Logger
	pending []record.Check

	written, duplicates int
	lastErr             error
	backoff             time.Duration
	retryAt             time.Time
	stopBy              time.Time
}

// writeTimeout bounds one batch write, so a hung connection costs a retry,
// not the invocation.
const writeTimeout = 10 * time.Second

func newWriter(sink Sink, cfg Config, log *slog.Logger) *writer {
	return &writer{sink: sink, cfg: cfg, log: log}
}

// run consumes checks until the channel closes, then keeps trying to write
// what is pending until stopBy.
func (w *writer) run(ctx context.Context, checks <-chan record.Check, stopBy time.Time) {
	w.stopBy = stopBy
	tick := time.NewTicker(w.cfg.FlushEvery)
	defer tick.Stop()
	for checks != nil {
		select {
		case m, ok := <-checks:
			if !ok {
				checks = nil
				break
			}
			w.pending = append(w.pending, m)
			if len(w.pending) >= w.cfg.BatchSize {
				w.flush(ctx, false)
			}
		case <-tick.C:
			w.flush(ctx, false)
		}
	}
	for len(w.pending) > 0 && time.Now().Before(stopBy) && ctx.Err() == nil {
		if wait := time.Until(w.retryAt); wait > 0 {
			if time.Now().Add(wait).After(stopBy) {
				return
			}
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return
			}
		}
		w.flush(ctx, true)
	}
}

// flush writes pending checks in batches. Unless final, it does nothing
// while a backoff is running, so that checks keep being collected.
func (w *writer) flush(ctx context.Context, final bool) {
	if len(w.pending) == 0 || (!final && time.Now().Before(w.retryAt)) {
		return
	}
	for len(w.pending) > 0 {
		n := min(len(w.pending), w.cfg.BatchSize)
		dl := time.Now().Add(writeTimeout)
		if w.stopBy.Before(dl) {
			dl = w.stopBy
		}
		wctx, cancel := context.WithDeadline(ctx, dl)
		inserted, err := w.sink.WriteChecks(wctx, w.pending[:n])
		cancel()
		if err != nil {
			w.lastErr = err
			w.backoff = min(max(2*w.backoff, 100*time.Millisecond), w.cfg.MaxBackoff)
			w.retryAt = time.Now().Add(w.backoff)
			w.log.Warn("write checks batch", "rows", n, "pending", len(w.pending), "retry_in", w.backoff, "err", err)
			return
		}
		w.backoff = 0
		w.written += inserted
		w.duplicates += n - inserted
		w.pending = w.pending[n:]
	}
	w.pending = nil
}
