package probe

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/watcher-dev/watcher/internal/record"
)

// schedule starts each job at its instant (at once if the instant has
// passed) and waits for all started checks. It returns each check's lateness.
//
// One timer loop paces the shard. Checks run on reused worker goroutines: a
// goroutine started per check grows its stack through net/http every time,
// a copy a reused worker makes about once per GC cycle. A worker is started
// whenever none is idle, so no check waits for one; the pool grows to the
// shard's peak overlap, never past limit.
//
// Each check first takes a unit of the socket budget (sockets.go), in
// instant order, so the process never runs into "too many open files".
// When none is free the check waits, but only while it could still start
// on time: within its timeout of its instant, and early enough to finish by
// stopBy. Then it is recorded as record.ErrNoSocket with its lateness,
// never dropped.
func (h *Handler) schedule(ctx context.Context, jobs []job, location string, stopBy time.Time, limit int,
	checks chan<- record.Check, sum *Summary) []time.Duration {
	var (
		wg       sync.WaitGroup
		work     = make(chan job) // unbuffered: a send succeeds only into an idle worker
		workers  int
		mu       sync.Mutex
		lateness = make([]time.Duration, 0, len(jobs))
		timer    = time.NewTimer(0)
		budget   = socketBudget()
	)
	<-timer.C
	// done records a check; never blocks (checks holds every job).
	done := func(j job, res record.Result) {
		m := record.Check{EndpointID: j.ep.ID, Location: location, PlannedAt: j.at, Result: res}
		m.Lateness = max(0, m.StartedAt.Sub(j.at))
		mu.Lock()
		lateness = append(lateness, m.Lateness)
		sum.Done++
		sum.BodyBytes += m.BodyBytes
		if m.Error != "" {
			sum.Failed++
		}
		mu.Unlock()
		checks <- m
	}
	run := func(j job) {
		res := h.checker.RunCounted(ctx, j.req, j.sock.op)
		j.sock.end()
		done(j, res)
	}
	worker := func(j job) {
		defer wg.Done()
		for ok := true; ok; j, ok = <-work {
			run(j)
		}
	}
jobs:
	for i, j := range jobs {
		if wait := time.Until(j.at); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
				sum.MissedDeadline += len(jobs) - i
				break jobs
			}
		}
		if time.Now().Add(j.timeout()).After(stopBy) {
			// Starting it could not finish in time: leave it visibly missed.
			sum.MissedDeadline += len(jobs) - i
			break
		}
		if j.req == nil {
			// Not prepared: recorded at once, with no socket to wait for.
			done(j, record.Result{StartedAt: time.Now(), Error: record.ErrConfig, ErrorDetail: j.bad})
			continue
		}
		startBy := j.at.Add(j.timeout())
		if last := stopBy.Add(-j.timeout()); last.Before(startBy) {
			startBy = last
		}
		got, err := h.sockets.acquire(ctx, budget, startBy)
		if err != nil {
			sum.MissedDeadline += len(jobs) - i
			break
		}
		if !got {
			sum.NoSocket++
			done(j, record.Result{StartedAt: time.Now(), Error: record.ErrNoSocket,
				ErrorDetail: fmt.Sprintf("no socket came free in time: the probe's checks held all %d of their budget", budget)})
			continue
		}
		j.sock = h.sockets.hold()
		select {
		case work <- j:
		default:
			if workers < limit {
				workers++
				wg.Add(1)
				go worker(j)
			} else {
				work <- j // every worker busy: the limit holds
			}
		}
	}
	close(work)
	wg.Wait()
	if sum.NoSocket > 0 {
		h.log.Warn("checks not started: no socket came free in time", "location", location, "checks", sum.NoSocket,
			"budget", budget)
	}
	return lateness
}
