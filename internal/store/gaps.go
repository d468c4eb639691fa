package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// LedgerSpans returns the starts of the ledger's spans within [from, to),
// oldest first, preceded by the latest start before from if there is one:
// what the fanout needs to find the spans whose event never came, in one
// round trip over the primary key. It reads span_start only, the one column
// of spans the fanout's role may select.
func (s *Store) LedgerSpans(ctx context.Context, from, to time.Time) ([]time.Time, error) {
	rows, err := s.pool.Query(ctx, `
		(SELECT span_start FROM spans WHERE span_start < $1 ORDER BY span_start DESC LIMIT 1)
		UNION ALL
		(SELECT span_start FROM spans WHERE span_start >= $1 AND span_start < $2)
		ORDER BY 1`, from, to)
	if err != nil {
		return nil, fmt.Errorf("query ledger spans: %w", err)
	}
	starts, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (time.Time, error) {
		var t time.Time
		err := row.Scan(&t)
		return t.UTC(), err
	})
	if err != nil {
		return nil, fmt.Errorf("read ledger spans: %w", err)
	}
	return starts, nil
}
