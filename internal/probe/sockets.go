package probe

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/watcher-dev/watcher/internal/plan"
)

// socketBudget is how many sockets a probe's checks may hold at once: the
// process's descriptor limit (RLIMIT_NOFILE, 1,024 in Lambda) less
// plan.SocketReserve for the runtime, the SDK, the database pool and the
// regex worker's pipes. It is read at each invocation, so a limit raised or
// lowered takes effect on the next shard; no limit (or none known) leaves
// it unbounded.
func socketBudget() int {
	limit := descriptorLimit()
	if limit <= 0 {
		return math.MaxInt
	}
	return max(1, limit-plan.SocketReserve)
}

// sockets counts checks' sockets against a budget. Each check takes one
// unit before it starts (acquire) and gives it back through its hold. A
// handler keeps one for all its invocations: a dial that a check left
// behind still holds a descriptor in the next invocation of a warm
// function. (Locally, probes of several locations in one process each
// count their own.)
type sockets struct {
	mu    sync.Mutex
	inUse int
	freed chan struct{} // closed, and replaced, whenever a unit is given back
}

func newSockets() *sockets { return &sockets{freed: make(chan struct{})} }

// acquire takes a unit as soon as fewer than budget are in use, waiting no
// later than by. It reports whether it took one; ctx ending first is
// ctx's error.
func (s *sockets) acquire(ctx context.Context, budget int, by time.Time) (bool, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		s.mu.Lock()
		if s.inUse < budget {
			s.inUse++
			s.mu.Unlock()
			return true, nil
		}
		freed := s.freed
		s.mu.Unlock()
		wait := time.Until(by)
		if wait <= 0 {
			return false, nil
		}
		if timer == nil {
			timer = time.NewTimer(wait)
		}
		select {
		case <-freed:
		case <-timer.C:
			return false, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// take takes a unit without waiting: for a dial that began after its check
// had given its unit back, which cannot be held up. The reserve absorbs it.
func (s *sockets) take() {
	s.mu.Lock()
	s.inUse++
	s.mu.Unlock()
}

func (s *sockets) release() {
	s.mu.Lock()
	s.inUse--
	close(s.freed)
	s.freed = make(chan struct{})
	s.mu.Unlock()
}

// socketHold is one check's unit. It is given back once the check has
// returned and none of its DNS lookups, connects or TLS handshakes is still
// running: net/http's transport lets a dial go on after its request gave up
// (for a later request to use), until the check's deadline (check bounds
// it there), so a check that returns early can leave a socket behind. The check's trace hooks see those dials through:
// they keep the unit, or take one again, until the last ends (op).
//
// What it does not count: the second query socket of a lookup (A and AAAA
// go out at once), a second connect while IPv4 and IPv6 race (Happy
// Eyeballs), and connections kept idle between checks when
// WATCHER_REUSE_CONNECTIONS is on. The reserve absorbs the first two while
// they last; the last is bounded by the transport's idle pool.
type socketHold struct {
	s     *sockets
	mu    sync.Mutex
	ops   int  // lookups, connects and handshakes running
	ended bool // the check has returned
	held  bool // the hold has a unit
}

// hold returns the hold of a check that has just acquired its unit.
func (s *sockets) hold() *socketHold { return &socketHold{s: s, held: true} }

// op counts the check's lookups, connects and handshakes as they start
// (+1) and end (-1): check.Checker.RunCounted's ops.
func (h *socketHold) op(delta int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops += delta
	switch {
	case h.ops > 0 && !h.held:
		h.held = true
		h.s.take()
	case h.ops <= 0 && h.ended && h.held:
		h.held = false
		h.s.release()
	}
}

// end marks the check returned: its own connection is closed by then.
func (h *socketHold) end() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ended = true
	if h.ops <= 0 && h.held {
		h.held = false
		h.s.release()
	}
}
