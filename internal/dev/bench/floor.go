package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/plan"
)

// floorBodyCap is how much of a body the floor reads, as the project does.
const floorBodyCap = 1 << 20

// floorIdlePerHost is the floor's idle connection pool per host in reuse
// mode: the project's (check.New), so both keep the same connections warm.
const floorIdlePerHost = 64

// runFloor runs the workload through the smallest honest checker: net/http
// with a fresh connection per check (or connections kept alive when reuse),
// a timeout, the body read up to 1 MiB, Go's regexp compiled once per
// endpoint, one goroutine per endpoint sleeping until each instant of the
// same plan the project follows. It stores nothing: every sample stays in
// memory for the figures.
func runFloor(ctx context.Context, eps []endpoint.Endpoint, want []expectation, tl timeline, reuse bool) ([]sample, error) {
	tr := &http.Transport{DisableKeepAlives: !reuse, MaxIdleConnsPerHost: floorIdlePerHost}
	defer tr.CloseIdleConnections()
	span := plan.Span{Start: tl.start, End: tl.window.End}
	out := make([][]sample, len(eps))
	var wg sync.WaitGroup
	for i := range eps {
		ep := &eps[i]
		re, err := regexp.Compile(ep.Regex)
		if err != nil {
			return nil, fmt.Errorf("floor: endpoint %d: %w", ep.ID, err)
		}
		client := &http.Client{Transport: tr, Timeout: ep.Timeout}
		instants := plan.Instants(ep.ID, ep.Interval, span)
		out[i] = make([]sample, 0, len(instants))
		wg.Go(func() {
			timer := time.NewTimer(0)
			<-timer.C
			for _, at := range instants {
				timer.Reset(time.Until(at))
				select {
				case <-timer.C:
				case <-ctx.Done():
					return
				}
				s := floorCheck(ctx, client, ep.URL, re, at)
				s.want = want[i]
				out[i] = append(out[i], s)
			}
		})
	}
	wg.Wait()
	var all []sample
	for _, s := range out {
		all = append(all, s...)
	}
	return all, nil
}

// floorCheck is one check planned at at.
func floorCheck(ctx context.Context, client *http.Client, url string, re *regexp.Regexp, at time.Time) sample {
	start := time.Now()
	s := sample{planned: at, lateness: max(0, start.Sub(at))}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		s.failed = true
		return s
	}
	resp, err := client.Do(req)
	if err != nil {
		s.response, s.failed = time.Since(start), true
		return s
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, floorBodyCap))
	resp.Body.Close()
	s.response, s.status = time.Since(start), resp.StatusCode
	if err != nil {
		s.failed = true
		return s
	}
	m := re.Match(body)
	s.match = &m
	return s
}
