package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
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
//
// A batch with HTTPS checks (record.Result.TLSNotAfter set) also records
// their certificates, in the same statement: each check keeps its
// certificate's expiry (checks.tls_not_after), and the table certificates
// the issuer, once per endpoint, location and expiry, with when checks
// first and last saw it (last_seen moved at most hourly). Only such a batch
// needs more than INSERT on checks: INSERT, and the SELECT and UPDATE of
// an upsert, on certificates.
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
		tlsNotAfter  = make([]*time.Time, n)
		certs        = newCertificateSet()
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
		if m.TLSNotAfter != nil {
			notAfter := m.TLSNotAfter.Truncate(time.Microsecond)
			tlsNotAfter[i] = &notAfter
			certs.add(m.EndpointID, m.Location, notAfter, m.TLSIssuer, startedAt[i])
		}
	}
	sql := insertChecks
	args := []any{pgx.QueryExecModeCacheDescribe, endpointID, location, plannedAt, startedAt, lateness,
		responseTime, statusCode, regexMatch, errClass, dns, connect, tls, ttfb, bodyBytes, tlsNotAfter}
	if len(certs.seen) > 0 {
		sql = upsertCertificates + insertChecks
		args = append(args, certs.columns()...)
	}
	tag, err := s.pool.Exec(ctx, sql, args...)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == uniqueViolation {
		// Some rows are stored already; the failed statement stored none.
		tag, err = s.pool.Exec(ctx, sql+" ON CONFLICT DO NOTHING", args...)
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
	                     dns_ms, connect_ms, tls_ms, ttfb_ms, body_bytes, tls_not_after)
	SELECT * FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::real[],
	                     $6::float8[], $7::smallint[], $8::boolean[], $9::text[],
	                     $10::real[], $11::real[], $12::real[], $13::real[], $14::bigint[],
	                     $15::timestamptz[])`

// upsertCertificates precedes insertChecks, as a data-modifying WITH, for a
// batch with certificates: one statement, so one round trip, and the
// certificates commit with their checks or not at all. Its parameters are
// certificateSet.columns, one row per certificate. A row is written only
// when it is new or moves first_seen or last_seen by more than an hour, so
// a certificate seen in every batch costs no new row version each time;
// the rows that would change nothing are left out before the upsert, which
// would otherwise lock each one it meets (and log that lock) even when its
// WHERE keeps it as it is.
const upsertCertificates = `
	WITH seen AS (
	    INSERT INTO certificates AS c (endpoint_id, location, not_after, issuer, first_seen, last_seen)
	    SELECT u.* FROM unnest($16::bigint[], $17::text[], $18::timestamptz[], $19::text[], $20::timestamptz[],
	                           $21::timestamptz[]) AS u (endpoint_id, location, not_after, issuer, first_seen, last_seen)
	    WHERE NOT EXISTS (
	        SELECT FROM certificates o
	        WHERE (o.endpoint_id, o.location, o.not_after) = (u.endpoint_id, u.location, u.not_after)
	          AND u.last_seen <= o.last_seen + interval '1 hour' AND u.first_seen >= o.first_seen - interval '1 hour')
	    ON CONFLICT (endpoint_id, location, not_after) DO UPDATE
	    SET first_seen = least(c.first_seen, excluded.first_seen), last_seen = greatest(c.last_seen, excluded.last_seen)
	    WHERE excluded.last_seen > c.last_seen + interval '1 hour'
	       OR excluded.first_seen < c.first_seen - interval '1 hour'
	)`

// certificateKey identifies a certificate as the certificates table does.
type certificateKey struct {
	endpointID int64
	location   string
	notAfter   time.Time
}

// certificateSeen is what a batch saw of one certificate.
type certificateSeen struct {
	issuer              string
	firstSeen, lastSeen time.Time
}

// certificateSet collects the distinct certificates of a batch: an upsert
// may not meet one row twice.
type certificateSet struct {
	seen map[certificateKey]*certificateSeen
}

func newCertificateSet() certificateSet {
	return certificateSet{seen: map[certificateKey]*certificateSeen{}}
}

// add records that a check started at at saw the certificate.
func (cs certificateSet) add(endpointID int64, location string, notAfter time.Time, issuer string, at time.Time) {
	k := certificateKey{endpointID, location, notAfter.UTC()}
	c, ok := cs.seen[k]
	if !ok {
		// A NUL byte is the one thing text refuses; the checker never
		// records one, and the queue is not to make a batch unwritable.
		cs.seen[k] = &certificateSeen{issuer: strings.ReplaceAll(issuer, "\x00", ""), firstSeen: at, lastSeen: at}
		return
	}
	if at.Before(c.firstSeen) {
		c.firstSeen = at
	}
	if at.After(c.lastSeen) {
		c.lastSeen = at
	}
}

// columns are upsertCertificates' parameters, in key order, so that
// concurrent batches lock rows in one order and cannot deadlock.
func (cs certificateSet) columns() []any {
	keys := slices.SortedFunc(maps.Keys(cs.seen), func(a, b certificateKey) int {
		return cmp.Or(cmp.Compare(a.endpointID, b.endpointID), strings.Compare(a.location, b.location),
			a.notAfter.Compare(b.notAfter))
	})
	var (
		endpointID = make([]int64, len(keys))
		location   = make([]string, len(keys))
		notAfter   = make([]time.Time, len(keys))
		issuer     = make([]string, len(keys))
		firstSeen  = make([]time.Time, len(keys))
		lastSeen   = make([]time.Time, len(keys))
	)
	for i, k := range keys {
		c := cs.seen[k]
		endpointID[i], location[i], notAfter[i] = k.endpointID, k.location, k.notAfter
		issuer[i], firstSeen[i], lastSeen[i] = c.issuer, c.firstSeen, c.lastSeen
	}
	return []any{endpointID, location, notAfter, issuer, firstSeen, lastSeen}
}

// Checks returns the checks planned in [from, to), in order of planned
// instant, endpoint and location, each HTTPS check with its certificate's
// issuer from the certificates table.
func (s *Store) Checks(ctx context.Context, from, to time.Time) ([]record.Check, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT m.endpoint_id, m.location, m.planned_at, m.started_at, m.lateness_ms, m.response_time_ms,
		       m.status_code, m.regex_match, coalesce(m.error, ''), m.dns_ms, m.connect_ms, m.tls_ms, m.ttfb_ms,
		       m.body_bytes, m.tls_not_after, coalesce(c.issuer, '')
		FROM checks m
		LEFT JOIN certificates c
		       ON c.endpoint_id = m.endpoint_id AND c.location = m.location AND c.not_after = m.tls_not_after
		WHERE m.planned_at >= $1 AND m.planned_at < $2
		ORDER BY m.planned_at, m.endpoint_id, m.location`, from, to)
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
			&statusCode, &m.RegexMatch, &m.Error, &dns, &connect, &tls, &ttfb, &m.BodyBytes, &m.TLSNotAfter, &m.TLSIssuer)
		if statusCode != nil {
			code := int(*statusCode)
			m.StatusCode = &code
		}
		m.PlannedAt, m.StartedAt = m.PlannedAt.UTC(), m.StartedAt.UTC()
		if m.TLSNotAfter != nil {
			notAfter := m.TLSNotAfter.UTC()
			m.TLSNotAfter = &notAfter
		}
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
