package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/watcher-dev/watcher/internal/cost"
)

// CostSpans returns the recorded invocations of spans starting at or after
// since, summed per span, function and location (the cost_spans view),
// oldest first.
func (s *Store) CostSpans(ctx context.Context, since time.Time) ([]cost.SpanCost, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT span_start, function, location, invocations, unpriced, checks_done, payload_bytes,
		       billed_ms, gb_seconds, cost_usd, cold_starts, init_ms, net_bytes, sent_bytes, queue_requests,
		       queue_bytes, log_bytes, storage_bytes, request_usd, nat_usd, data_out_usd, queue_usd, logs_usd,
		       storage_usd
		FROM cost_spans WHERE span_start >= $1
		ORDER BY span_start, function, location`, since)
	if err != nil {
		return nil, fmt.Errorf("query cost spans: %w", err)
	}
	spans, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (cost.SpanCost, error) {
		var c cost.SpanCost
		err := row.Scan(&c.SpanStart, &c.Function, &c.Location, &c.Invocations, &c.Unpriced, &c.ChecksDone,
			&c.PayloadBytes, &c.BilledMS, &c.GBSeconds, &c.CostUSD, &c.ColdStarts, &c.InitMS, &c.NetBytes,
			&c.SentBytes, &c.QueueRequests, &c.QueueBytes, &c.LogBytes, &c.StorageBytes, &c.RequestUSD, &c.NATUSD,
			&c.DataOutUSD, &c.QueueUSD, &c.LogsUSD, &c.StorageUSD)
		c.SpanStart = c.SpanStart.UTC()
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("read cost spans: %w", err)
	}
	return spans, nil
}

// CostEndpoints returns each endpoint's checks stored in the spans from
// since on and its share of their cost (watcher_cost_endpoints), in
// endpoint order.
func (s *Store) CostEndpoints(ctx context.Context, since time.Time) ([]cost.EndpointCost, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT endpoint_id, coalesce(name, ''), url, location, interval_ms, checks, cost_usd
		FROM watcher_cost_endpoints($1) ORDER BY endpoint_id, location`, since)
	if err != nil {
		return nil, fmt.Errorf("query endpoint costs: %w", err)
	}
	eps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (cost.EndpointCost, error) {
		var (
			e          cost.EndpointCost
			intervalMS int64
		)
		err := row.Scan(&e.EndpointID, &e.Name, &e.URL, &e.Location, &intervalMS, &e.Checks, &e.CostUSD)
		e.Interval = time.Duration(intervalMS) * time.Millisecond
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("read endpoint costs: %w", err)
	}
	return eps, nil
}

// CostReport reads the window from since on and builds the cost report.
func (s *Store) CostReport(ctx context.Context, since time.Time, opt cost.Options) (cost.Report, error) {
	spans, err := s.CostSpans(ctx, since)
	if err != nil {
		return cost.Report{}, err
	}
	eps, err := s.CostEndpoints(ctx, since)
	if err != nil {
		return cost.Report{}, err
	}
	opt.Since = since
	return cost.Build(spans, eps, opt), nil
}
