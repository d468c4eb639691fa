package regex

import (
	"context"
	"errors"
)

// ErrBusy is returned by Gate.Match when no backtracking slot came free
// before the context ended: the match was not run.
var ErrBusy = errors.New("regex match not run: the backtracking engine stayed busy until the deadline")

// Gate bounds how many matches run on the backtracking engine at once. A
// hostile pattern keeps a core busy for its whole match timeout; without a
// bound, a shard holding many of them takes every core from the checks
// beside it, which then start late and time out. RE2 matches run in linear
// time and pass without a slot. A Gate is safe for concurrent use.
type Gate struct {
	slots chan struct{}
}

// NewGate returns a gate with n slots (at least one).
func NewGate(n int) *Gate {
	return &Gate{slots: make(chan struct{}, max(n, 1))}
}

// Match is r.Match(body), first waiting for a slot when this body needs the
// backtracking engine; it gives up with ErrBusy when ctx ends before one is
// free. A nil Gate bounds nothing.
func (g *Gate) Match(ctx context.Context, r *Regex, body []byte) (bool, error) {
	if g == nil || !r.backtracks(body) {
		return r.Match(body)
	}
	select {
	case g.slots <- struct{}{}:
	default:
		select {
		case g.slots <- struct{}{}:
		case <-ctx.Done():
			return false, ErrBusy
		}
	}
	defer func() { <-g.slots }()
	return r.Match(body)
}
