package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Span statuses in the ledger.
const (
	SpanDispatched = "dispatched" // planned and sent to the probes
	SpanGap        = "gap"        // its event came too late; nothing ran
)

// Span is one row of the ledger of spans.
type Span struct {
	Start      time.Time
	Status     string
	Shards     int
	Checks     int
	RecordedAt time.Time
	Detail     string
}

// ClaimSpan records that the span starting at spanStart is being
// dispatched as shards shards carrying checks checks. Like RecordGap it
// needs only INSERT on spans. claimed is false when
// the span was already in the ledger (a duplicate delivery of the event, or
// a gap recorded for it): the caller should not dispatch it again.
func (s *Store) ClaimSpan(ctx context.Context, spanStart time.Time, shards, checks int) (claimed bool, err error) {
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO spans (span_start, status, shards, checks) VALUES ($1, $2, $3, $4)
		ON CONFLICT DO NOTHING`,
		spanStart.Truncate(time.Microsecond), SpanDispatched, shards, checks)
	if err != nil {
		return false, fmt.Errorf("claim span %s: %w", spanStart.UTC().Format(time.RFC3339), err)
	}
	return tag.RowsAffected() == 1, nil
}

// RecordGap records that the span starting at spanStart was not run, and
// why. A span already in the ledger keeps its entry.
func (s *Store) RecordGap(ctx context.Context, spanStart time.Time, detail string) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO spans (span_start, status, detail) VALUES ($1, $2, nullif($3, ''))
		ON CONFLICT DO NOTHING`,
		spanStart.Truncate(time.Microsecond), SpanGap, detail)
	if err != nil {
		return fmt.Errorf("record gap at span %s: %w", spanStart.UTC().Format(time.RFC3339), err)
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
