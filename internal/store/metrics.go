package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/watcher-dev/watcher/internal/check"
)

// Metric is one check as stored: which endpoint, from which location, the
// instant it was planned for, how late it started, and what it measured.
// (EndpointID, Location, ScheduledAt) identifies it. Result.ErrorDetail is
// for logs and is not stored.
type Metric struct {
	EndpointID  int64
	Location    string
	ScheduledAt time.Time
	Lateness    time.Duration
	check.Result
}

// WriteMetrics inserts a batch in one round trip and returns how many rows
// were new. It is idempotent: metrics already stored (a retried batch, a
// retried invocation) are skipped, so writing the same batch twice inserts
// nothing the second time. The plain insert is the cheaper statement; only
// a batch that meets stored rows takes a second round trip, with ON
// CONFLICT DO NOTHING. Timestamps are stored to the microsecond.
//
// It needs only INSERT on metrics, so a probe's role can be limited to
// that: no RETURNING and no conflict target, which would need SELECT. The
// only unique constraint on metrics is (endpoint_id, location, scheduled_at).
func (s *Store) WriteMetrics(ctx context.Context, batch []Metric) (inserted int, err error) {
	if len(batch) == 0 {
		return 0, nil
	}
	n := len(batch)
	var (
		endpointID   = make([]int64, n)
		location     = make([]string, n)
		scheduledAt  = make([]time.Time, n)
		startedAt    = make([]time.Time, n)
		lateness     = make([]float32, n)
		responseTime = make([]float64, n)
		statusCode   = make([]*int16, n)
		regexMatch   = make([]*bool, n)
		errClass     = make([]*string, n)
		dns          = make([]float32, n)
		connect      = make([]float32, n)
		tls          = make([]float32, n)
		ttfb         = make([]float32, n)
		bodyBytes    = make([]int64, n)
	)
	for i := range batch {
		m := &batch[i]
		endpointID[i] = m.EndpointID
		location[i] = m.Location
		scheduledAt[i] = m.ScheduledAt.Truncate(time.Microsecond)
		startedAt[i] = m.StartedAt.Truncate(time.Microsecond)
		lateness[i] = ms32(m.Lateness)
		responseTime[i] = ms64(m.ResponseTime)
		if m.StatusCode != nil {
			code := int16(*m.StatusCode)
			statusCode[i] = &code
		}
		regexMatch[i] = m.RegexMatch
		if m.Error != "" {
			errClass[i] = &m.Error
		}
		dns[i] = ms32(m.DNS)
		connect[i] = ms32(m.Connect)
		tls[i] = ms32(m.TLS)
		ttfb[i] = ms32(m.TTFB)
		bodyBytes[i] = m.BodyBytes
	}
	args := []any{pgx.QueryExecModeCacheDescribe, endpointID, location, scheduledAt, startedAt, lateness,
		responseTime, statusCode, regexMatch, errClass, dns, connect, tls, ttfb, bodyBytes}
	tag, err := s.pool.Exec(ctx, insertMetrics, args...)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == uniqueViolation {
		// Some rows are stored already; the failed statement stored none.
		tag, err = s.pool.Exec(ctx, insertMetrics+" ON CONFLICT DO NOTHING", args...)
	}
	if err != nil {
		return 0, fmt.Errorf("insert metrics batch of %d: %w", n, err)
	}
	return int(tag.RowsAffected()), nil
}

// uniqueViolation is PostgreSQL's SQLSTATE unique_violation.
const uniqueViolation = "23505"

// insertMetrics inserts one row per array element. WriteMetrics sends its
// parameters in binary, with the statement's description cached per
// connection: the server parses no text arrays (timestamps above all), and
// the statement stays unnamed, so transaction pooling (pgbouncer, RDS
// Proxy) still works. The casts fix every parameter's type.
const insertMetrics = `
	INSERT INTO metrics (endpoint_id, location, scheduled_at, started_at, lateness_ms,
	                     response_time_ms, status_code, regex_match, error,
	                     dns_ms, connect_ms, tls_ms, ttfb_ms, body_bytes)
	SELECT * FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::real[],
	                     $6::float8[], $7::smallint[], $8::boolean[], $9::text[],
	                     $10::real[], $11::real[], $12::real[], $13::real[], $14::bigint[])`

// Metrics returns the metrics scheduled in [from, to), in order of
// scheduled_at, endpoint and location.
func (s *Store) Metrics(ctx context.Context, from, to time.Time) ([]Metric, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT endpoint_id, location, scheduled_at, started_at, lateness_ms, response_time_ms,
		       status_code, regex_match, coalesce(error, ''), dns_ms, connect_ms, tls_ms, ttfb_ms, body_bytes
		FROM metrics WHERE scheduled_at >= $1 AND scheduled_at < $2
		ORDER BY scheduled_at, endpoint_id, location`, from, to)
	if err != nil {
		return nil, fmt.Errorf("query metrics: %w", err)
	}
	ms, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Metric, error) {
		var (
			m                                 Metric
			lateness, dns, connect, tls, ttfb float32
			responseTime                      float64
			statusCode                        *int16
		)
		err := row.Scan(&m.EndpointID, &m.Location, &m.ScheduledAt, &m.StartedAt, &lateness, &responseTime,
			&statusCode, &m.RegexMatch, &m.Error, &dns, &connect, &tls, &ttfb, &m.BodyBytes)
		if statusCode != nil {
			code := int(*statusCode)
			m.StatusCode = &code
		}
		m.ScheduledAt, m.StartedAt = m.ScheduledAt.UTC(), m.StartedAt.UTC()
		m.Lateness, m.ResponseTime = fromMS(float64(lateness)), fromMS(responseTime)
		m.DNS, m.Connect, m.TLS, m.TTFB = fromMS(float64(dns)), fromMS(float64(connect)), fromMS(float64(tls)), fromMS(float64(ttfb))
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	return ms, nil
}

// ms32 and ms64 give a duration in milliseconds, the unit of every *_ms
// column. real keeps about seven digits: microseconds up to 10 s.
func ms32(d time.Duration) float32 { return float32(ms64(d)) }
func ms64(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fromMS turns stored milliseconds back into a duration, to the microsecond.
func fromMS(ms float64) time.Duration {
	return time.Duration(math.Round(ms*1e3)) * time.Microsecond
}

// CountMetrics returns how many checks scheduled at or after since are stored.
func (s *Store) CountMetrics(ctx context.Context, since time.Time) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM metrics WHERE scheduled_at >= $1`, since).Scan(&n); err != nil {
		return 0, fmt.Errorf("count metrics: %w", err)
	}
	return n, nil
}
