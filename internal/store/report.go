package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
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
	// Certificate is the TLS certificate this endpoint's checks from this
	// location saw last, if they saw one in the report's period (nil for
	// plain HTTP).
	Certificate *Certificate
}

// Certificate is a TLS leaf certificate as checks saw it (the table
// certificates).
type Certificate struct {
	NotAfter  time.Time
	Issuer    string
	FirstSeen time.Time // the first check that saw it started then
	// LastSeen is when the last check that saw it started, to the hour:
	// the writer moves it at most hourly.
	LastSeen time.Time
}

// Report is a report over rollups.
type Report struct {
	Level     string    // the rollup level read: LevelMinute, LevelHour or LevelDay
	From      time.Time // the first bucket's start: the report's since, rounded down to a bucket
	Through   time.Time // the end of the latest bucket rolled up; zero when none
	Endpoints []EndpointReport
}

// reportLevel is the rollup level a report over window reads: minutes up
// to six hours, hours up to two days, days beyond, so that a report reads
// at most a few hundred rows an endpoint.
func reportLevel(window time.Duration) rollup {
	switch {
	case window <= 6*time.Hour:
		return rollups[0]
	case window <= 2*Day:
		return rollups[1]
	default:
		return rollups[2]
	}
}

// Report sums up the rollups of the buckets from since (rounded down to
// the level reportLevel picks for since..now) per endpoint and location,
// in endpoint order. Enabled endpoints without checks are listed with zero
// checks, so that a silent endpoint shows. It reads what the last upkeep
// rolled up (RollUp, Maintain): Through says how far that reaches. Each
// endpoint and location comes with the certificate seen last, if seen since
// an hour before the period (last_seen lags its checks by up to an hour).
func (s *Store) Report(ctx context.Context, since, now time.Time) (Report, error) {
	l := reportLevel(now.Sub(since))
	rep := Report{Level: l.level, From: since.UTC().Truncate(l.width)}
	var sums, coalesced []string
	for _, c := range countColumns {
		sums = append(sums, "sum("+c+") AS "+c)
		coalesced = append(coalesced, "coalesce(a."+c+", 0)")
	}
	// The latest bucket is taken over every group, in the same scan.
	rows, err := s.pool.Query(ctx, `
		WITH agg AS (
		    SELECT endpoint_id, location, max(bucket) AS latest, `+strings.Join(sums, ", ")+`,
		           max(p50_ms) AS p50, max(p95_ms) AS p95, max(p99_ms) AS p99, max(max_ms) AS max_ms
		    FROM `+l.view()+` WHERE bucket >= $1 AND bucket < $2
		    GROUP BY endpoint_id, location
		)
		SELECT e.id, coalesce(e.name, ''), e.url, coalesce(a.location, e.location), (SELECT max(latest) FROM agg),
		       cert.not_after, coalesce(cert.issuer, ''), cert.first_seen, cert.last_seen,
		       `+strings.Join(coalesced, ", ")+`,
		       coalesce(a.p50, 0), coalesce(a.p95, 0), coalesce(a.p99, 0), coalesce(a.max_ms, 0)
		FROM endpoints e LEFT JOIN agg a ON a.endpoint_id = e.id
		LEFT JOIN LATERAL (
		    SELECT not_after, issuer, first_seen, last_seen FROM certificates c
		    WHERE c.endpoint_id = e.id AND c.location = coalesce(a.location, e.location)
		      AND c.last_seen >= $1::timestamptz - interval '1 hour'
		    ORDER BY c.last_seen DESC, c.not_after DESC LIMIT 1
		) cert ON true
		WHERE e.enabled OR a.checks IS NOT NULL
		ORDER BY e.id, 4`, rep.From, now)
	if err != nil {
		return rep, fmt.Errorf("query report: %w", err)
	}
	var latest *time.Time
	rep.Endpoints, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (EndpointReport, error) {
		var (
			r                     EndpointReport
			notAfter, first, last *time.Time
			issuer                string
		)
		err := scanCounted(row, []any{&r.EndpointID, &r.Name, &r.URL, &r.Location, &latest, &notAfter, &issuer, &first, &last},
			&r.Counts, &r.P50, &r.P95, &r.P99, &r.Max)
		if notAfter != nil && first != nil && last != nil {
			r.Certificate = &Certificate{NotAfter: notAfter.UTC(), Issuer: issuer, FirstSeen: first.UTC(), LastSeen: last.UTC()}
		}
		return r, err
	})
	if err != nil {
		return rep, fmt.Errorf("read report: %w", err)
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
