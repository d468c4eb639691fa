package regex

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

// ErrBusy is returned by MatchContext when no backtracking slot came free
// before the context ended: the match was not run.
var ErrBusy = errors.New("regex match not run: the backtracking engine stayed busy until the deadline")

// MatchContext is Match, except that a body needing the backtracking engine
// is searched in the process's regex worker (see gate), bounded by ctx as
// well as by the pattern's match timeout. RE2 searches run at once in the
// caller.
func (r *Regex) MatchContext(ctx context.Context, body []byte) (bool, error) {
	if !r.backtracks(body) {
		return r.Match(body)
	}
	return processGate().match(ctx, r, body)
}

// processGate runs at most GOMAXPROCS-1 matches at once (at least one):
// even idle-class work shares caches and, in Lambda, the function's CPU
// allowance with the checks, so it never gets every core.
var processGate = sync.OnceValue(func() *gate { return newGate(runtime.GOMAXPROCS(0) - 1) })

// gate runs backtracking matches away from the checks. A hostile pattern
// keeps a core busy for its whole match timeout, and a shard may hold
// thousands. Run in this process they would share Go's scheduler, which
// knows no priorities, with the checks beside them: those would start late
// and measure slow. So they run in a worker process, this executable started
// again at the lowest CPU priority (worker.go), which gets only the CPU time
// nothing else wants, at most n at once. Should the worker not start, or not
// prove it is one, they run here, still at most n at once.
type gate struct {
	slots chan struct{} // one per match in flight

	// The worker's executable ("": this one) and how long it has to say
	// hello; tests set others.
	exe   string
	hello time.Duration

	mu      sync.Mutex
	w       *worker // nil until the first match; replaced once it has exited
	noSpawn error   // why no worker could start: match in process
}

func newGate(n int) *gate {
	return &gate{slots: make(chan struct{}, max(n, 1)), hello: helloTimeout}
}

// match waits for a slot (ErrBusy when ctx ends first) and searches body
// with the backtracking engine, in the worker when there is one. A match
// still running in the worker when ctx ends is abandoned as ErrTimeout; its
// slot comes free when the worker answers.
func (g *gate) match(ctx context.Context, r *Regex, body []byte) (bool, error) {
	select {
	case g.slots <- struct{}{}:
	case <-ctx.Done():
		return false, ErrBusy
	}
	w := g.worker()
	if w == nil {
		defer func() { <-g.slots }()
		return r.matchBacktrack(body)
	}
	replies, err := w.send(r, body)
	if err != nil {
		// The worker died under us (send marked it exited, so the next
		// match starts another); this one runs here rather than being lost.
		defer func() { <-g.slots }()
		return r.matchBacktrack(body)
	}
	select {
	case rep := <-replies:
		return rep.ok, rep.err
	case <-ctx.Done():
		return false, ErrTimeout
	}
}

// worker returns the running worker, starting one when there is none; nil
// when none can start.
func (g *gate) worker() *worker {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.w != nil && !g.w.exited() {
		return g.w
	}
	if g.noSpawn != nil {
		return nil
	}
	w, err := startWorker(g.exe, g.hello, g.slots)
	if err != nil {
		// Said once, on stderr (the function's log in Lambda): the
		// package has no logger, and matches still run.
		fmt.Fprintf(os.Stderr, "regex: backtracking matches run in this process: %v\n", err)
		g.noSpawn = err
		return nil
	}
	g.w = w
	return w
}
