package probe

import (
	"context"
	"time"

	"github.com/watcher-dev/watcher/internal/plan"
)

// Claimer tells a shard's first attempt from a retry: the store.
type Claimer interface {
	ClaimShard(ctx context.Context, location string, shard int, spanStart time.Time) (bool, error)
}

// retry reports whether an earlier attempt claimed the shard. When the
// claim cannot be made (database down), it assumes a first attempt: the
// unique key on checks keeps a repeat from doubling rows. Without a
// Claimer every attempt is the first.
func (h *Handler) retry(ctx context.Context, sh *plan.Shard) bool {
	c := h.out.Claimer
	if c == nil {
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

// claimTimeout bounds the claim, which runs before any check starts.
const claimTimeout = 2 * time.Second
