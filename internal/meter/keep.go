package meter

import (
	"context"
	"fmt"
	"time"
)

// SpillReserve is kept of a record's time to hand it to the spill.
const SpillReserve = time.Second

// RecordsLost is the EMF metric of the records a function made about itself
// (invocation records, span claims) that could be neither recorded nor
// spilled: lost, logged and alarmed.
const RecordsLost = "RecordsLost"

// Keep records something durably: it calls write, again with backoff while
// it fails, until timeout has passed (less SpillReserve when there is a
// spill), then hands the record to spill (nil: none). It goes on when ctx
// has ended: the invocation is closing. It returns whether the record was
// spilled, and an error when neither write nor spill took it.
func Keep(ctx context.Context, timeout time.Duration, write, spill func(context.Context) error) (spilled bool, err error) {
	ctx = context.WithoutCancel(ctx)
	stop := time.Now().Add(timeout)
	if spill != nil {
		stop = stop.Add(-SpillReserve)
	}
	for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, time.Second) {
		wctx, cancel := context.WithDeadline(ctx, stop)
		err = write(wctx)
		cancel()
		if err == nil {
			return false, nil
		}
		if time.Now().Add(backoff).After(stop) {
			break
		}
		time.Sleep(backoff)
	}
	if spill == nil {
		return false, err
	}
	sctx, cancel := context.WithTimeout(ctx, SpillReserve)
	defer cancel()
	if serr := spill(sctx); serr != nil {
		return false, fmt.Errorf("%w; spill: %w", err, serr)
	}
	return true, nil
}
