package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/watcher-dev/watcher/internal/record"
)

// RecordInvocation stores one invocation, once: an invocation recorded again
// (a redelivered queue message, a retried write) is identified by its
// function, location, region, shard and start (the unique index
// invocations_key) and inserts nothing. Like WriteChecks it needs only INSERT
// on its table: ON CONFLICT DO NOTHING names no conflict target.
func (s *Store) RecordInvocation(ctx context.Context, inv record.Invocation) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO invocations (function, location, region, arch, memory_mb, shard, span_start,
		                         started_at, duration_ms, billed_ms, checks_planned, checks_done,
		                         checks_written, checks_unwritten, payload_bytes, cost_usd, error,
		                         cold_start, init_ms, vpc, net_bytes, queue_requests, queue_bytes, log_bytes,
		                         storage_bytes, request_usd, nat_usd, queue_usd, logs_usd, storage_usd,
		                         sent_bytes, data_out_usd)
		VALUES ($1, nullif($2, ''), nullif($3, ''), nullif($4, ''), $5, $6, $7,
		        $8, $9, $10, $11, $12, $13, $14, $15, $16, nullif($17, ''),
		        $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30,
		        $31, $32)
		ON CONFLICT DO NOTHING`,
		inv.Function, inv.Location, inv.Region, inv.Arch, inv.MemoryMB, inv.Shard, inv.SpanStart,
		inv.StartedAt, record.MS(inv.Duration), inv.Billed.Milliseconds(), inv.ChecksPlanned, inv.ChecksDone,
		inv.ChecksWritten, inv.ChecksUnwritten, inv.PayloadBytes, inv.CostUSD, inv.Error,
		inv.ColdStart, record.MS(inv.Init), inv.VPC, inv.NetBytes, inv.QueueRequests, inv.QueueBytes, inv.LogBytes,
		inv.StorageBytes, inv.RequestUSD, inv.NATUSD, inv.QueueUSD, inv.LogsUSD, inv.StorageUSD,
		inv.SentBytes, inv.DataOutUSD)
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
		       checks_written, checks_unwritten, payload_bytes, cost_usd, coalesce(error, ''),
		       cold_start, init_ms, vpc, net_bytes, queue_requests, queue_bytes, log_bytes,
		       storage_bytes, request_usd, nat_usd, queue_usd, logs_usd, storage_usd, sent_bytes, data_out_usd
		FROM invocations WHERE started_at >= $1 ORDER BY started_at, id`, since)
	if err != nil {
		return nil, fmt.Errorf("query invocations: %w", err)
	}
	invs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (record.Invocation, error) {
		var (
			inv                record.Invocation
			durationMS, initMS float64
			billedMS           int64
		)
		err := row.Scan(&inv.ID, &inv.Function, &inv.Location, &inv.Region, &inv.Arch, &inv.MemoryMB,
			&inv.Shard, &inv.SpanStart, &inv.StartedAt, &durationMS, &billedMS, &inv.ChecksPlanned, &inv.ChecksDone,
			&inv.ChecksWritten, &inv.ChecksUnwritten, &inv.PayloadBytes, &inv.CostUSD, &inv.Error,
			&inv.ColdStart, &initMS, &inv.VPC, &inv.NetBytes, &inv.QueueRequests, &inv.QueueBytes, &inv.LogBytes,
			&inv.StorageBytes, &inv.RequestUSD, &inv.NATUSD, &inv.QueueUSD, &inv.LogsUSD, &inv.StorageUSD,
			&inv.SentBytes, &inv.DataOutUSD)
		if inv.SpanStart != nil {
			*inv.SpanStart = inv.SpanStart.UTC()
		}
		inv.StartedAt = inv.StartedAt.UTC()
		inv.Duration = record.FromMS(durationMS)
		inv.Init = record.FromMS(initMS)
		inv.Billed = time.Duration(billedMS) * time.Millisecond
		return inv, err
	})
	if err != nil {
		return nil, fmt.Errorf("read invocations: %w", err)
	}
	return invs, nil
}
