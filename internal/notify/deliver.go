package notify

import (
	"context"
	"fmt"
	"time"
)

// Backoff bounds, and how many messages one Due call claims.
const (
	FirstBackoff = 15 * time.Second
	MaxBackoff   = 2 * time.Minute
	DueLimit     = 100
	// maxReason bounds the failure reason kept in the outbox.
	maxReason = 500
)

// Backoff is how long to wait before the next attempt of a message that
// has failed attempts times: 15 s, doubling, at most 2 minutes. There is no
// last attempt: a message waits until its receiver takes it.
func Backoff(attempts int) time.Duration {
	d := FirstBackoff
	for i := 1; i < attempts && d < MaxBackoff; i++ {
		d *= 2
	}
	return min(d, MaxBackoff)
}

// DeliverSummary counts what one Deliver did.
type DeliverSummary struct {
	Sent    int // delivered
	Failed  int // attempted and failed, or without a sender; each waits for its next attempt
	Pending int // claimed but not attempted because ctx ended; each waits for its claim to lapse
}

// Deliver sends every due message of outbox with the sender of its
// channel, claiming up to DueLimit at a time, until none is due or ctx
// ends. A delivered message is marked Sent; a failed one is marked Failed
// with its next attempt after Backoff, and the reason (which never holds a
// secret). A message whose channel has no sender is kept and retried the
// same way, never dropped.
//
// Messages go in the order Due returns them (oldest first). Once a
// channel fails, its later messages in the run are not tried: they wait
// as long as the one that failed, so that a receiver that comes back gets
// them in order, and a dead receiver costs one timeout per batch, not one
// per message.
//
// ctx bounds the whole run and each send: give it a deadline shorter than
// the outbox's claim lasts, so that no message is still being sent when a
// concurrent Deliver may claim it again. Messages it ends before are left
// claimed (Pending) and come due again when their claim lapses.
//
// now is read for every decision; the error is an outbox error (delivery
// failures are recorded, not returned).
func Deliver(ctx context.Context, outbox Outbox, senders map[string]Sender, now func() time.Time) (DeliverSummary, error) {
	var sum DeliverSummary
	tried := map[int64]bool{} // guards against an outbox that hands a message back in the same run
	type hold struct {
		next   time.Time
		reason string
	}
	// channel -> why its later messages wait, for the whole run: a channel
	// that failed in one batch is not tried again in the next.
	held := map[string]hold{}
	for !ended(ctx) {
		batch, err := outbox.Due(ctx, now(), DueLimit)
		if err != nil {
			return sum, fmt.Errorf("claim due notifications: %w", err)
		}
		var todo []Message
		for _, m := range batch {
			if !tried[m.ID] {
				todo = append(todo, m)
			}
		}
		if len(todo) == 0 {
			return sum, nil
		}
		for i, m := range todo {
			if ended(ctx) {
				sum.Pending += len(todo) - i
				return sum, nil
			}
			tried[m.ID] = true
			if h, ok := held[m.Channel]; ok {
				if err := outbox.Failed(ctx, m.ID, m.Attempts, h.next, h.reason); err != nil {
					return sum, fmt.Errorf("record notification %d as waiting: %w", m.ID, err)
				}
				sum.Failed++
				continue
			}
			s, ok := senders[m.Channel]
			var sendErr error
			if ok {
				sendErr = s.Send(ctx, m)
			} else {
				sendErr = fmt.Errorf("no sender configured for channel %q", m.Channel)
			}
			if sendErr == nil {
				if err := outbox.Sent(ctx, m.ID, now()); err != nil {
					return sum, fmt.Errorf("record notification %d as sent: %w", m.ID, err)
				}
				sum.Sent++
				continue
			}
			if ended(ctx) {
				// Cut short by the caller, not refused by the receiver:
				// not an attempt. It waits for its claim to lapse.
				sum.Pending += len(todo) - i
				return sum, nil
			}
			attempts := m.Attempts + 1
			next := now().Add(Backoff(attempts))
			reason := truncate(sendErr.Error(), maxReason)
			if err := outbox.Failed(ctx, m.ID, attempts, next, reason); err != nil {
				return sum, fmt.Errorf("record notification %d as failed: %w", m.ID, err)
			}
			sum.Failed++
			held[m.Channel] = hold{next: next, reason: truncate("waiting behind notification "+fmt.Sprint(m.ID)+": "+reason, maxReason)}
		}
	}
	return sum, nil
}

// ended reports whether ctx has ended: a normal way for Deliver to stop
// (the invocation's deadline), not an error.
func ended(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
