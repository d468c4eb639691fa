package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/watcher-dev/watcher/internal/record"
)

// WriteChecks inserts a batch in one round trip and returns how many rows
// were new. It is idempotent: checks already stored (a retried batch, a
// retried invocation) are skipped, so writing the same batch twice inserts
// nothing the second time. The plain insert is the cheaper statement; only
// a batch that meets stored rows takes a second round trip, with ON
// CONFLICT DO NOTHING. Timestamps are stored to the microsecond.
//
// It needs only INSERT on checks, so a probe's role can be limited to
// that: no RETURNING and no conflict target, which would need SELECT. The
// only unique constraint on checks is (planned_at, endpoint_id, location).
func (s *Store) WriteChecks(ctx context.Context, batch []record.Check) (inserted int, err error) {
	if len(batch) == 0 {
		return 0, nil
	}
	n := len(batch)
	var (
		endpointID   = make([]int64, n)
		location     = make([]string, n)
		plannedAt    = make([]time.Time, n)
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
		plannedAt[i] = m.PlannedAt.Truncate(time.Microsecond)
		startedAt[i] = m.StartedAt.Truncate(time.Microsecond)
		lateness[i] = ms32(m.Lateness)
		responseTime[i] = record.MS(m.ResponseTime)
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
	args := []any{pgx.QueryExecModeCacheDescribe, endpointID, location, plannedAt, startedAt, lateness,
		responseTime, statusCode, regexMatch, errClass, dns, connect, tls, ttfb, bodyBytes}
	tag, err := s.pool.Exec(ctx, insertChecks, args...)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == uniqueViolation {
		// Some rows are stored already; the failed statement stored none.
		tag, err = s.pool.Exec(ctx, insertChecks+" ON CONFLICT DO NOTHING", args...)
	}
	if err != nil {
		return 0, fmt.Errorf("insert checks batch of %d: %w", n, err)
	}
	return int(tag.RowsAffected()), nil
}

// uniqueViolation is PostgreSQL's SQLSTATE unique_violation.
const uniqueViolation = "23505"

// insertChecks inserts one row per array element. WriteChecks sends its
// parameters in binary, with the statement's description cached per
// connection: the server parses no text arrays (timestamps above all), and
// the statement stays unnamed, so transaction pooling (pgbouncer, RDS
// Proxy) still works. The casts fix every parameter's type.
const insertChecks = `
	INSERT INTO checks (endpoint_id, location, planned_at, started_at, lateness_ms,
	                     response_time_ms, status_code, regex_match, error,
	                     dns_ms, connect_ms, tls_ms, ttfb_ms, body_bytes)
	SELECT * FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::real[],
	                     $6::float8[], $7::smallint[], $8::boolean[], $9::text[],
	                     $10::real[], $11::real[], $12::real[], $13::real[], $14::bigint[])`

// Checks returns the checks planned in [from, to), in order of planned
// instant, endpoint and location.
func (s *Store) Checks(ctx context.Context, from, to time.Time) ([]record.Check, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT endpoint_id, location, planned_at, started_at, lateness_ms, response_time_ms,
		       status_code, regex_match, coalesce(error, ''), dns_ms, connect_ms, tls_ms, ttfb_ms, body_bytes
		FROM checks WHERE planned_at >= $1 AND planned_at < $2
		ORDER BY planned_at, endpoint_id, location`, from, to)
	if err != nil {
		return nil, fmt.Errorf("query checks: %w", err)
	}
	cs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (record.Check, error) {
		var (
			m                                 record.Check
			lateness, dns, connect, tls, ttfb float32
			responseTime                      float64
			statusCode                        *int16
		)
		err := row.Scan(&m.EndpointID, &m.Location, &m.PlannedAt, &m.StartedAt, &lateness, &responseTime,
			&statusCode, &m.RegexMatch, &m.Error, &dns, &connect, &tls, &ttfb, &m.BodyBytes)
		if statusCode != nil {
			code := int(*statusCode)
			m.StatusCode = &code
		}
		m.PlannedAt, m.StartedAt = m.PlannedAt.UTC(), m.StartedAt.UTC()
		m.Lateness, m.ResponseTime = record.FromMS(float64(lateness)), record.FromMS(responseTime)
		m.DNS, m.Connect, m.TLS, m.TTFB = record.FromMS(float64(dns)), record.FromMS(float64(connect)), record.FromMS(float64(tls)), record.FromMS(float64(ttfb))
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("read checks: %w", err)
	}
	return cs, nil
}

// ms32 is a duration in milliseconds as a real column keeps it: about
// seven digits, microseconds up to 10 s.
func ms32(d time.Duration) float32 { return float32(record.MS(d)) }

// CountChecks returns how many checks planned at or after since are stored.
func (s *Store) CountChecks(ctx context.Context, since time.Time) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM checks WHERE planned_at >= $1`, since).Scan(&n); err != nil {
		return 0, fmt.Errorf("count checks: %w", err)
	}
	return n, nil
}
