package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/record"
)

// Span is one row of the ledger of spans.
type Span struct {
	Start      time.Time
	Status     string // record.SpanDispatched or record.SpanMissed
	Shards     int
	Checks     int
	RecordedAt time.Time
	Detail     string
}

// ClaimSpan records that the span starting at spanStart is being
// dispatched as shards shards carrying checks checks. Like RecordMissed it
// needs only INSERT on spans. claimed is false when
// the span was already in the ledger (a duplicate delivery of the event, or
// recorded as missed): the caller should not dispatch it again.
func (s *Store) ClaimSpan(ctx context.Context, spanStart time.Time, shards, checks int) (claimed bool, err error) {
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO spans (span_start, status, shards, checks) VALUES ($1, $2, $3, $4)
		ON CONFLICT DO NOTHING`,
		spanStart.Truncate(time.Microsecond), record.SpanDispatched, shards, checks)
	if err != nil {
		return false, fmt.Errorf("claim span %s: %w", spanStart.UTC().Format(time.RFC3339), err)
	}
	return tag.RowsAffected() == 1, nil
}

// RecordSpan records a span claim that ClaimSpan could not record when it
// was made, replayed from a spill: the span is dispatched, even where it was
// recorded as missed meanwhile (its checks ran), and replaying it again
// changes nothing. It runs watcher_record_span, which the fanout's and the
// drain's roles may execute.
func (s *Store) RecordSpan(ctx context.Context, c record.SpanClaim) error {
	_, err := s.pool.Exec(ctx, `SELECT watcher_record_span($1, $2, $3)`,
		c.Start.Truncate(time.Microsecond), c.Shards, c.Checks)
	if err != nil {
		return fmt.Errorf("record span %s: %w", c.Start.UTC().Format(time.RFC3339), err)
	}
	return nil
}

// StoredSpans returns those of starts whose span, [start, start +
// plan.SpanLength), holds a stored check: spans whose checks were dispatched,
// whatever the ledger says. One round trip, a range probe per span on the
// planned instant's index.
func (s *Store) StoredSpans(ctx context.Context, starts []time.Time) ([]time.Time, error) {
	if len(starts) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `
		SELECT s FROM unnest($1::timestamptz[]) s
		WHERE EXISTS (SELECT FROM checks WHERE planned_at >= s AND planned_at < s + $2 * interval '1 microsecond')
		ORDER BY 1`, starts, plan.SpanLength.Microseconds())
	if err != nil {
		return nil, fmt.Errorf("query stored spans: %w", err)
	}
	stored, err := pgx.CollectRows(rows, scanUTC)
	if err != nil {
		return nil, fmt.Errorf("read stored spans: %w", err)
	}
	return stored, nil
}

// RecordMissed records that the checks of the span starting at spanStart
// never ran, and why. A span already in the ledger keeps its entry.
func (s *Store) RecordMissed(ctx context.Context, spanStart time.Time, detail string) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO spans (span_start, status, detail) VALUES ($1, $2, nullif($3, ''))
		ON CONFLICT DO NOTHING`,
		spanStart.Truncate(time.Microsecond), record.SpanMissed, detail)
	if err != nil {
		return fmt.Errorf("record missed span %s: %w", spanStart.UTC().Format(time.RFC3339), err)
	}
	return nil
}

// Spans returns the ledger from since on, oldest first.
func (s *Store) Spans(ctx context.Context, since time.Time) ([]Span, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT span_start, status, shards, checks, recorded_at, coalesce(detail, '')
		FROM spans WHERE span_start >= $1 ORDER BY span_start`, since)
	if err != nil {
		return nil, fmt.Errorf("query spans: %w", err)
	}
	spans, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Span, error) {
		var sp Span
		err := row.Scan(&sp.Start, &sp.Status, &sp.Shards, &sp.Checks, &sp.RecordedAt, &sp.Detail)
		sp.Start, sp.RecordedAt = sp.Start.UTC(), sp.RecordedAt.UTC()
		return sp, err
	})
	if err != nil {
		return nil, fmt.Errorf("read spans: %w", err)
	}
	return spans, nil
}

// LedgerSpans returns the starts of the ledger's spans within [from, to),
// oldest first, preceded by their anchor: what the fanout needs to find the
// spans whose event never came (plan.MissedWindow), in one round trip over
// the primary key. The anchor is the latest dispatched span before from, or
// else the first dispatched span within [from, to), and nothing before it is
// returned: the look-back starts no earlier than the fleet first ran, and a
// span recorded as missed (for a stale event, say, replayed days later)
// anchors nothing. Without a dispatched span there is nothing. It reads
// span_start and status only, the columns of spans the fanout's role may
// select.
func (s *Store) LedgerSpans(ctx context.Context, from, to time.Time) ([]time.Time, error) {
	rows, err := s.pool.Query(ctx, `
		WITH a AS (
		    SELECT coalesce(
		        (SELECT max(span_start) FROM spans WHERE span_start < $1 AND status = $3),
		        (SELECT min(span_start) FROM spans WHERE span_start >= $1 AND span_start < $2 AND status = $3)) AS start
		)
		SELECT start FROM a WHERE start < $1
		UNION ALL
		SELECT s.span_start FROM spans s, a WHERE s.span_start >= a.start AND s.span_start >= $1 AND s.span_start < $2
		ORDER BY 1`, from, to, record.SpanDispatched)
	if err != nil {
		return nil, fmt.Errorf("query ledger spans: %w", err)
	}
	starts, err := pgx.CollectRows(rows, scanUTC)
	if err != nil {
		return nil, fmt.Errorf("read ledger spans: %w", err)
	}
	return starts, nil
}

// scanUTC reads a row of one timestamp, in UTC.
func scanUTC(row pgx.CollectableRow) (time.Time, error) {
	var t time.Time
	err := row.Scan(&t)
	return t.UTC(), err
}
