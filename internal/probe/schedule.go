package probe

import (
	"context"
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
func (h *Handler) schedule(ctx context.Context, jobs []job, location string, stopBy time.Time, limit int,
	checks chan<- record.Check, sum *Summary) []time.Duration {
	var (
		wg       sync.WaitGroup
		work     = make(chan job) // unbuffered: a send succeeds only into an idle worker
		workers  int
		mu       sync.Mutex
		lateness = make([]time.Duration, 0, len(jobs))
		timer    = time.NewTimer(0)
	)
	<-timer.C
	run := func(j job) {
		m := record.Check{EndpointID: j.ep.ID, Location: location, PlannedAt: j.at}
		if j.req == nil {
			m.Result = record.Result{StartedAt: time.Now(), Error: record.ErrConfig, ErrorDetail: j.bad}
		} else {
			m.Result = h.checker.Run(ctx, j.req)
		}
		m.Lateness = max(0, m.StartedAt.Sub(j.at))
		mu.Lock()
		lateness = append(lateness, m.Lateness)
		sum.Done++
		if m.Error != "" {
			sum.Failed++
		}
		mu.Unlock()
		checks <- m
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
	return lateness
}
