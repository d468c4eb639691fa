package fanout

import (
	"context"
	"sync"
	"time"

	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/store"
)

// History reads what endpoints' recent checks measured, from which the
// planner estimates what their next checks will cost.
type History interface {
	// EndpointHistory returns, per endpoint with checks planned in
	// [from, to), what they measured.
	EndpointHistory(ctx context.Context, from, to time.Time) ([]store.EndpointHistory, error)
}

// How the fanout keeps endpoints' history: read over HistoryWindow, at most
// every HistoryRefresh (the fanout runs every minute and must stay cheap on
// a small database), each read bounded by historyTimeout so that planning
// is never held up for long.
const (
	HistoryWindow  = 15 * time.Minute
	HistoryRefresh = 5 * time.Minute
	historyTimeout = 3 * time.Second
)

// historyCache is the last history read, shared by a warm function's
// invocations.
type historyCache struct {
	mu     sync.Mutex
	tried  time.Time // the last read, successful or not
	byID   map[int64]plan.History
	readAt time.Time // the last successful read
}

// history returns the endpoints' history for planning at now: read afresh
// when the last read is HistoryRefresh old, otherwise the last one. When a
// read fails the last history read stays in use (none at first: the
// planner's cautious defaults), and the next read waits HistoryRefresh too,
// so an unreachable database costs one timeout per refresh, not per span.
// Planning never fails for want of history.
func (h *Handler) history(ctx context.Context, now time.Time) map[int64]plan.History {
	c := &h.hist
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.tried.IsZero() && now.Sub(c.tried) < HistoryRefresh && !now.Before(c.tried) {
		return c.byID
	}
	c.tried = now
	rctx, cancel := context.WithTimeout(ctx, historyTimeout)
	defer cancel()
	rows, err := h.store.EndpointHistory(rctx, now.Add(-HistoryWindow), now)
	if err != nil {
		h.log.Warn("endpoint history unreadable; planning with the last history read", "endpoints", len(c.byID),
			"read_at", c.readAt, "err", err)
		return c.byID
	}
	byID := make(map[int64]plan.History, len(rows))
	for _, r := range rows {
		byID[r.EndpointID] = plan.History{
			Checks: r.Checks, P95: r.P95, Mean: r.Mean, BodyBytes: r.BodyBytes,
			TLSChecks: r.TLSChecks, RegexTimeouts: r.RegexTimeouts,
		}
	}
	c.byID, c.readAt = byID, now
	h.log.Debug("endpoint history read", "endpoints", len(byID))
	return byID
}
