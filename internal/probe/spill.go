package probe

import (
	"context"
	"time"

	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/record"
)

// spillReserve is kept free before the deadline to spill what the sink
// refused.
const spillReserve = time.Second

// spillPending hands the checks the sink refused to the spill and returns
// how many it took.
func (h *Handler) spillPending(ctx context.Context, sh *plan.Shard, pending []record.Check) int {
	if len(pending) == 0 || h.out.Spill == nil {
		return 0
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), spillReserve)
	defer cancel()
	n, err := h.out.Spill.WriteChecks(sctx, pending)
	if err != nil {
		h.log.Error("spill checks", "location", sh.Location, "shard", sh.Index, "spilled", n, "of", len(pending), "err", err)
	} else {
		h.log.Warn("checks spilled for replay", "location", sh.Location, "shard", sh.Index, "spilled", n)
	}
	return n
}
