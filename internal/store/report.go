package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/watcher-dev/watcher/internal/record"
)

// EndpointReport sums up one endpoint's checks from one location.
type EndpointReport struct {
	EndpointID int64
	Name       string
	URL        string
	Location   string
	Checks     int64
	// Up counts checks with a 2xx or 3xx status, no error, and a regex
	// that matched (or none).
	Up            int64
	Errors        int64 // checks with an error class
	RegexFailures int64 // checks whose body did not match the regex
	// Response-time percentiles over every check, failed ones included
	// (a timeout is what a visitor saw); zero without checks.
	P50, P95, P99 time.Duration
}

// UpPercent is Up as a percentage of Checks; zero without checks.
func (r EndpointReport) UpPercent() float64 {
	if r.Checks == 0 {
		return 0
	}
	return 100 * float64(r.Up) / float64(r.Checks)
}

// Report sums up the checks planned at or after since, per endpoint and
// location, in endpoint order. Enabled endpoints without checks are listed
// with zero checks, so that a silent endpoint shows.
func (s *Store) Report(ctx context.Context, since time.Time) ([]EndpointReport, error) {
	rows, err := s.pool.Query(ctx, `
		WITH agg AS (
		    SELECT endpoint_id, location, count(*) AS checks,
		           count(*) FILTER (WHERE error IS NULL AND status_code BETWEEN 200 AND 399
		                              AND regex_match IS NOT FALSE) AS up,
		           count(*) FILTER (WHERE error IS NOT NULL) AS errors,
		           count(*) FILTER (WHERE regex_match = false) AS regex_failures,
		           percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time_ms) AS pct
		    FROM checks WHERE planned_at >= $1
		    GROUP BY endpoint_id, location
		)
		SELECT e.id, coalesce(e.name, ''), e.url, coalesce(a.location, e.location),
		       coalesce(a.checks, 0), coalesce(a.up, 0), coalesce(a.errors, 0),
		       coalesce(a.regex_failures, 0), a.pct
		FROM endpoints e LEFT JOIN agg a ON a.endpoint_id = e.id
		WHERE e.enabled OR a.checks IS NOT NULL
		ORDER BY e.id, 4`, since)
	if err != nil {
		return nil, fmt.Errorf("query report: %w", err)
	}
	reports, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (EndpointReport, error) {
		var (
			r   EndpointReport
			pct []float64
		)
		err := row.Scan(&r.EndpointID, &r.Name, &r.URL, &r.Location, &r.Checks, &r.Up, &r.Errors,
			&r.RegexFailures, &pct)
		if len(pct) == 3 {
			r.P50, r.P95, r.P99 = record.FromMS(pct[0]), record.FromMS(pct[1]), record.FromMS(pct[2])
		}
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	return reports, nil
}

// SpanCount sets a ledger span beside the checks stored for it.
type SpanCount struct {
	Start   time.Time
	Status  string
	Shards  int
	Planned int // checks the fanout planned (from the ledger)
	Stored  int // checks planned in [Start, Start + the span length)
}

// SpanCounts returns, per ledger span of length spanLength from since on,
// the checks planned and the checks stored, oldest first: for a fully covered span they are equal
// when every due instant has exactly one row.
func (s *Store) SpanCounts(ctx context.Context, since time.Time, spanLength time.Duration) ([]SpanCount, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT s.span_start, s.status, s.shards, s.checks, c.stored
		FROM spans s
		CROSS JOIN LATERAL (
		    SELECT count(*) FROM checks c
		    WHERE c.planned_at >= s.span_start
		      AND c.planned_at < s.span_start + $2 * interval '1 millisecond'
		) AS c(stored)
		WHERE s.span_start >= $1
		ORDER BY s.span_start`, since, spanLength.Milliseconds())
	if err != nil {
		return nil, fmt.Errorf("query span counts: %w", err)
	}
	counts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (SpanCount, error) {
		var c SpanCount
		err := row.Scan(&c.Start, &c.Status, &c.Shards, &c.Planned, &c.Stored)
		c.Start = c.Start.UTC()
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("read span counts: %w", err)
	}
	return counts, nil
}
