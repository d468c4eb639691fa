package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/watcher-dev/watcher/internal/record"
)

// RecordInvocation stores one invocation. Like WriteChecks it needs only
// INSERT on its table.
func (s *Store) RecordInvocation(ctx context.Context, inv record.Invocation) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO invocations (function, location, region, arch, memory_mb, shard, span_start,
		                         started_at, duration_ms, billed_ms, checks_planned, checks_done,
		                         checks_written, checks_unwritten, payload_bytes, cost_usd, error)
		VALUES ($1, nullif($2, ''), nullif($3, ''), nullif($4, ''), $5, $6, $7,
		        $8, $9, $10, $11, $12, $13, $14, $15, $16, nullif($17, ''))`,
		inv.Function, inv.Location, inv.Region, inv.Arch, inv.MemoryMB, inv.Shard, inv.SpanStart,
		inv.StartedAt, record.MS(inv.Duration), inv.Billed.Milliseconds(), inv.ChecksPlanned, inv.ChecksDone,
		inv.ChecksWritten, inv.ChecksUnwritten, inv.PayloadBytes, inv.CostUSD, inv.Error)
	if err != nil {
		return fmt.Errorf("record %s invocation: %w", inv.Function, err)
	}
	return nil
}

// Invocations returns the invocations started at or after since, oldest
// first.
func (s *Store) Invocations(ctx context.Context, since time.Time) ([]record.Invocation, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, function, coalesce(location, ''), coalesce(region, ''), coalesce(arch, ''), memory_mb,
		       shard, span_start, started_at, duration_ms, billed_ms, checks_planned, checks_done,
		       checks_written, checks_unwritten, payload_bytes, cost_usd, coalesce(error, '')
		FROM invocations WHERE started_at >= $1 ORDER BY started_at, id`, since)
	if err != nil {
		return nil, fmt.Errorf("query invocations: %w", err)
	}
	invs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (record.Invocation, error) {
		var (
			inv        record.Invocation
			durationMS float64
			billedMS   int64
		)
		err := row.Scan(&inv.ID, &inv.Function, &inv.Location, &inv.Region, &inv.Arch, &inv.MemoryMB,
			&inv.Shard, &inv.SpanStart, &inv.StartedAt, &durationMS, &billedMS, &inv.ChecksPlanned, &inv.ChecksDone,
			&inv.ChecksWritten, &inv.ChecksUnwritten, &inv.PayloadBytes, &inv.CostUSD, &inv.Error)
		if inv.SpanStart != nil {
			*inv.SpanStart = inv.SpanStart.UTC()
		}
		inv.StartedAt = inv.StartedAt.UTC()
		inv.Duration = record.FromMS(durationMS)
		inv.Billed = time.Duration(billedMS) * time.Millisecond
		return inv, err
	})
	if err != nil {
		return nil, fmt.Errorf("read invocations: %w", err)
	}
	return invs, nil
}
