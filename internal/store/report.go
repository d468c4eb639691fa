package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/watcher-dev/watcher/internal/record"
)

// EndpointReport sums up one endpoint's checks from one location over a
// report's buckets.
type EndpointReport struct {
	EndpointID int64
	Name       string
	URL        string
	Location   string
	Counts
	// The worst bucket's response-time percentiles: a period's percentile
	// is not a function of its buckets', and the worst bucket is what can
	// be stated exactly. Max is the period's maximum. Zero without checks.
	P50, P95, P99, Max time.Duration
}

// Report is a report over rollups.
type Report struct {
	Level     string    // the rollup level read: LevelMinute, LevelHour or LevelDay
	From      time.Time // the first bucket's start: the report's since, rounded down to a bucket
	Through   time.Time // the end of the latest bucket rolled up; zero when none
	Endpoints []EndpointReport
}

// ReportLevel is the rollup level a report over window reads: minutes up
// to six hours, hours up to two days, days beyond, so that a report reads
// at most a few hundred rows an endpoint.
func ReportLevel(window time.Duration) string {
	switch {
	case window <= 6*time.Hour:
		return LevelMinute
	case window <= 2*Day:
		return LevelHour
	default:
		return LevelDay
	}
}

// countColumns are the rollup columns that add up, in Counts order.
var countColumns = []string{"checks", "up", "errors", "err_dns", "err_connect", "err_tls", "err_timeout", "err_refused",
	"err_no_socket", "err_other", "status_2xx", "status_3xx", "status_4xx", "status_5xx", "regex_failures", "sum_ms"}

// countTargets are the fields of c in countColumns order.
func countTargets(c *Counts) []any {
	return []any{&c.Checks, &c.Up, &c.Errors, &c.ErrDNS, &c.ErrConnect, &c.ErrTLS, &c.ErrTimeout, &c.ErrRefused,
		&c.ErrNoSocket, &c.ErrOther, &c.Status2xx, &c.Status3xx, &c.Status4xx, &c.Status5xx, &c.RegexFailures, &c.SumMS}
}

// Report sums up the rollups of the buckets from since (rounded down to
// the level ReportLevel picks for since..now) per endpoint and location,
// in endpoint order. Enabled endpoints without checks are listed with zero
// checks, so that a silent endpoint shows. It reads what the last upkeep
// rolled up (RollUp, Maintain): Through says how far that reaches.
func (s *Store) Report(ctx context.Context, since, now time.Time) (Report, error) {
	l, err := rollupLevel(ReportLevel(now.Sub(since)))
	if err != nil {
		return Report{}, err
	}
	rep := Report{Level: l.level, From: since.UTC().Truncate(l.width)}
	var sums, coalesced []string
	for _, c := range countColumns {
		sums = append(sums, "sum("+c+") AS "+c)
		coalesced = append(coalesced, "coalesce(a."+c+", 0)")
	}
	rows, err := s.pool.Query(ctx, `
		WITH agg AS (
		    SELECT endpoint_id, location, `+strings.Join(sums, ", ")+`,
		           max(p50_ms) AS p50, max(p95_ms) AS p95, max(p99_ms) AS p99, max(max_ms) AS max_ms
		    FROM `+l.view()+` WHERE bucket >= $1 AND bucket < $2
		    GROUP BY endpoint_id, location
		)
		SELECT e.id, coalesce(e.name, ''), e.url, coalesce(a.location, e.location), `+strings.Join(coalesced, ", ")+`,
		       coalesce(a.p50, 0), coalesce(a.p95, 0), coalesce(a.p99, 0), coalesce(a.max_ms, 0)
		FROM endpoints e LEFT JOIN agg a ON a.endpoint_id = e.id
		WHERE e.enabled OR a.checks IS NOT NULL
		ORDER BY e.id, 4`, rep.From, now)
	if err != nil {
		return rep, fmt.Errorf("query report: %w", err)
	}
	rep.Endpoints, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (EndpointReport, error) {
		var (
			r                  EndpointReport
			p50, p95, p99, max float64
		)
		dest := append([]any{&r.EndpointID, &r.Name, &r.URL, &r.Location}, countTargets(&r.Counts)...)
		err := row.Scan(append(dest, &p50, &p95, &p99, &max)...)
		r.P50, r.P95, r.P99, r.Max = record.FromMS(p50), record.FromMS(p95), record.FromMS(p99), record.FromMS(max)
		return r, err
	})
	if err != nil {
		return rep, fmt.Errorf("read report: %w", err)
	}
	var latest *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT max(bucket) FROM `+l.view()+` WHERE bucket >= $1 AND bucket < $2`, rep.From, now).
		Scan(&latest); err != nil {
		return rep, fmt.Errorf("read report's latest bucket: %w", err)
	}
	if latest != nil {
		rep.Through = latest.UTC().Add(l.width)
		if rep.Through.After(now) { // a bucket still filling
			rep.Through = now.UTC()
		}
	}
	return rep, nil
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
