package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/watcher-dev/watcher/internal/record"
)

// EndpointHistory is what one endpoint's checks measured over a window:
// what the planner estimates the cost of its next checks from.
type EndpointHistory struct {
	EndpointID    int64
	Checks        int
	P95           time.Duration // 95th percentile response time
	Mean          time.Duration // mean response time
	BodyBytes     int64         // mean body size
	TLSChecks     int           // checks that made a TLS handshake
	RegexTimeouts int           // checks recorded as record.ErrRegexTimeout
}

// EndpointHistory returns, per endpoint with checks planned in [from, to),
// in endpoint order, what those checks measured. One aggregate over the
// window: the planned_at range keeps it to the partitions (or chunks) and,
// through the BRIN index, the blocks of the window. It reads only the
// columns the fanout's role may select on checks.
func (s *Store) EndpointHistory(ctx context.Context, from, to time.Time) ([]EndpointHistory, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT endpoint_id, count(*)::int,
		       percentile_cont(0.95) WITHIN GROUP (ORDER BY response_time_ms),
		       avg(response_time_ms), avg(body_bytes)::float8,
		       (count(*) FILTER (WHERE tls_ms > 0))::int,
		       (count(*) FILTER (WHERE error = $3))::int
		FROM checks
		WHERE planned_at >= $1 AND planned_at < $2
		GROUP BY endpoint_id
		ORDER BY endpoint_id`, from, to, record.ErrRegexTimeout)
	if err != nil {
		return nil, fmt.Errorf("query endpoint history: %w", err)
	}
	hist, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (EndpointHistory, error) {
		var (
			h              EndpointHistory
			p95, mean, avg float64
		)
		err := row.Scan(&h.EndpointID, &h.Checks, &p95, &mean, &avg, &h.TLSChecks, &h.RegexTimeouts)
		h.P95, h.Mean, h.BodyBytes = record.FromMS(p95), record.FromMS(mean), int64(avg+0.5)
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("read endpoint history: %w", err)
	}
	return hist, nil
}
