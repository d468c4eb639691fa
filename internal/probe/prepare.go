package probe

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/watcher-dev/watcher/internal/check"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/regex"
)

// job is one planned check.
type job struct {
	at   time.Time
	req  *check.Request
	ep   *endpoint.Endpoint
	bad  string      // preparation failure; the check is recorded with record.ErrConfig
	sock *socketHold // its unit of the socket budget, once it has one (schedule)
}

// prepare turns the shard into jobs sorted by instant: requests are built
// once per endpoint and each distinct regex compiled once per shard (most
// endpoints share a few patterns), never per check.
func (h *Handler) prepare(ctx context.Context, sh *plan.Shard) []job {
	jobs := make([]job, 0, plan.Count(sh.Endpoints, sh.Span))
	compiled := map[string]compiledRegex{}
	for i := range sh.Endpoints {
		ep := &sh.Endpoints[i]
		req, bad := h.request(ctx, ep)
		if req != nil && ep.Regex != "" {
			c, ok := compiled[ep.Regex]
			if !ok {
				c.re, c.err = regex.Compile(ep.Regex, endpoint.RegexMatchTimeout)
				compiled[ep.Regex] = c
			}
			if c.err != nil {
				req, bad = nil, fmt.Sprintf("endpoint %d: %v", ep.ID, c.err)
			} else {
				req.Regex = c.re
			}
		}
		for _, at := range plan.Instants(ep.ID, ep.Interval, sh.Span) {
			jobs = append(jobs, job{at: at, req: req, ep: ep, bad: bad})
		}
	}
	slices.SortStableFunc(jobs, func(a, b job) int { return a.at.Compare(b.at) })
	return jobs
}

// timeout is how long the job's check may take; a job that could not be
// prepared takes no time, but is counted at the default.
func (j job) timeout() time.Duration {
	if j.req == nil {
		return endpoint.DefaultTimeout
	}
	return j.req.Timeout
}

// compiledRegex is one pattern's compilation, shared by a shard's endpoints.
type compiledRegex struct {
	re  *regex.Regex
	err error
}

// request builds an endpoint's request with its password resolved; prepare
// sets the regex from the shard's compilations.
func (h *Handler) request(ctx context.Context, ep *endpoint.Endpoint) (*check.Request, string) {
	req := &check.Request{
		URL: ep.URL, Method: ep.Method, Headers: ep.Headers, Body: ep.Body, Timeout: ep.Timeout,
	}
	if ep.BasicAuth != nil {
		pw, err := h.passwords.Password(ctx, ep.BasicAuth)
		if err != nil {
			return nil, fmt.Sprintf("endpoint %d: %v", ep.ID, err)
		}
		req.Username, req.Password = ep.BasicAuth.Username, pw
	}
	return req, ""
}

// inFlightLimit is the peak number of checks that can overlap if each runs
// for its whole timeout, so the limit never delays a start that is on time,
// within ceiling and the socket budget (sockets.go; a worker beyond it
// would only wait for a socket). Only the budget, which the planner packs
// shards to respect, can delay a start. jobs are sorted by instant (prepare
// sorts them).
func inFlightLimit(jobs []job, ceiling int) int {
	ends := make([]int64, len(jobs))
	for i, j := range jobs {
		ends[i] = j.at.Add(j.timeout()).UnixNano()
	}
	slices.Sort(ends)
	peak, cur, e := 1, 0, 0
	for _, j := range jobs {
		at := j.at.UnixNano()
		for ; e < len(ends) && ends[e] <= at; e++ { // ends before starts at the same instant
			cur--
		}
		cur++
		peak = max(peak, cur)
	}
	return min(peak, ceiling, socketBudget())
}
