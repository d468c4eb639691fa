package store

import (
	"context"
	"fmt"
	"time"
)

// Storage paths (watcher_storage()).
const (
	StorageTimescaleDB = "timescaledb" // hypertable, compression, continuous aggregates
	StoragePartitions  = "partitions"  // native range partitions, rollup tables
)

// MaintainResult says what one upkeep did.
type MaintainResult struct {
	Storage           string `json:"storage"` // StorageTimescaleDB or StoragePartitions
	PartitionsCreated int    `json:"partitions_created"`
	BucketsRolledUp   int    `json:"buckets_rolled_up"`  // rollup buckets recomputed (native partitions)
	PartitionsDropped int    `json:"partitions_dropped"` // whole partitions or chunks dropped by retention
	ChunksCompressed  int    `json:"chunks_compressed"`  // TimescaleDB only
	// LedgerRowsPruned counts the invocation records, span ledger entries,
	// shard attempts and resolved alerts deleted past the hourly rollups'
	// retention.
	LedgerRowsPruned int64 `json:"ledger_rows_pruned"`
	DurationMS       int64 `json:"duration_ms"`
}

// kept is one relation retention applies to.
type kept struct {
	name, col string // relation and its time column
	keep      time.Duration
}

// relations lists what r keeps, raw checks first.
func relations(r Retention) []kept {
	return []kept{{"checks", "planned_at", r.Raw}, {"checks_minute", "bucket", r.Minute},
		{"checks_hour", "bucket", r.Hour}, {"checks_day", "bucket", r.Day}}
}

// compressAfter is when TimescaleDB chunks of raw checks are compressed
// (the migration's compression policy says the same).
const compressAfter = 2 * Day

// Storage names the path this database took: StorageTimescaleDB or
// StoragePartitions.
func (s *Store) Storage(ctx context.Context) (string, error) {
	var path string
	if err := s.pool.QueryRow(ctx, "SELECT watcher_storage()").Scan(&path); err != nil {
		return "", fmt.Errorf("read storage path: %w", err)
	}
	return path, nil
}

// Maintain does the upkeep once, as of now: partitions created ahead,
// rollups brought up to date, retention applied, in that order, so that no
// raw check is dropped before the rollups that need it are computed; then
// the fleet's own records and resolved alerts older than the hourly
// rollups are pruned (pruneLedgers). Every
// step commits on its own and is idempotent: an interrupted upkeep leaves
// nothing half-done and simply runs again. It needs the owner's rights.
func (s *Store) Maintain(ctx context.Context, r Retention, now time.Time) (MaintainResult, error) {
	start := time.Now()
	var res MaintainResult
	if err := r.Validate(); err != nil {
		return res, err
	}
	var err error
	if res.Storage, err = s.Storage(ctx); err != nil {
		return res, err
	}
	if err := s.pool.QueryRow(ctx, "SELECT watcher_ensure_partitions($1)", PartitionDaysAhead).Scan(&res.PartitionsCreated); err != nil {
		return res, fmt.Errorf("ensure checks partitions: %w", err)
	}
	// Buckets still filling are left for the next upkeep: each insert
	// queues its bucket again anyway, so this only saves recomputing.
	if res.BucketsRolledUp, err = s.rollUp(ctx, res.Storage, now.Add(-maintainLag)); err != nil {
		return res, err
	}
	if res.Storage == StorageTimescaleDB {
		err = s.retainTimescale(ctx, r, now, &res)
	} else {
		err = s.retainPartitions(ctx, r, now, &res)
	}
	if err == nil {
		res.LedgerRowsPruned, err = s.pruneLedgers(ctx, r, now)
	}
	res.DurationMS = time.Since(start).Milliseconds()
	if err == nil {
		s.log.Info("maintained", "storage", res.Storage, "partitions_created", res.PartitionsCreated,
			"buckets_rolled_up", res.BucketsRolledUp, "chunks_compressed", res.ChunksCompressed,
			"partitions_dropped", res.PartitionsDropped, "ledger_rows_pruned", res.LedgerRowsPruned, "duration_ms", res.DurationMS)
	}
	return res, err
}

// RollUp brings the rollups of the buckets ending at or before through up
// to date: on native partitions it recomputes the buckets that received
// checks and returns how many; on TimescaleDB it refreshes the continuous
// aggregates (which count nothing). A bucket that receives checks later is
// recomputed by a later call.
func (s *Store) RollUp(ctx context.Context, through time.Time) (int, error) {
	storage, err := s.Storage(ctx)
	if err != nil {
		return 0, err
	}
	return s.rollUp(ctx, storage, through)
}

// rollUp is RollUp on the storage path the caller has read.
func (s *Store) rollUp(ctx context.Context, storage string, through time.Time) (int, error) {
	if storage == StorageTimescaleDB {
		return 0, s.refreshAggregates(ctx, through)
	}
	total := 0
	for _, l := range rollups {
		for {
			var n int
			if err := s.pool.QueryRow(ctx, "SELECT watcher_rollup($1, $2, $3)", l.level, through, l.batch).Scan(&n); err != nil {
				return total, fmt.Errorf("roll up %s: %w", l.view(), err)
			}
			if n == 0 {
				break
			}
			total += n
		}
	}
	return total, nil
}

// refreshAggregates refreshes the continuous aggregates over everything
// raw chunks still cover since the retention horizon (the refresh
// recomputes only buckets whose rows changed); a window reaching past them
// would empty the aggregate there, and one reaching a chunk that a stale
// replay created would recompute a day from a few stray rows.
func (s *Store) refreshAggregates(ctx context.Context, through time.Time) error {
	var oldest *time.Time
	if err := s.pool.QueryRow(ctx, `
		SELECT greatest(min(range_start), (SELECT dropped_before FROM raw_horizon))
		FROM timescaledb_information.chunks WHERE hypertable_name = 'checks'`).Scan(&oldest); err != nil {
		return fmt.Errorf("read oldest checks chunk: %w", err)
	}
	if oldest == nil {
		return nil // no checks yet
	}
	for _, l := range rollups {
		// The refresh covers whole buckets inside the window and refuses
		// a window without one.
		from, to := oldest.Truncate(l.width), through.Truncate(l.width)
		if from.Before(*oldest) {
			from = from.Add(l.width)
		}
		if to.Sub(from) < l.width {
			continue
		}
		if _, err := s.pool.Exec(ctx, "CALL refresh_continuous_aggregate($1::regclass, $2::timestamptz, $3::timestamptz)",
			l.view(), from, to); err != nil {
			return fmt.Errorf("refresh %s: %w", l.view(), err)
		}
	}
	return nil
}

// retainPartitions drops whole partitions past retention.
func (s *Store) retainPartitions(ctx context.Context, r Retention, now time.Time, res *MaintainResult) error {
	for _, t := range relations(r) {
		var n int
		if err := s.pool.QueryRow(ctx, "SELECT watcher_drop_partitions($1, $2, $3)", t.name, t.col, now.Add(-t.keep)).Scan(&n); err != nil {
			return fmt.Errorf("apply retention to %s: %w", t.name, err)
		}
		res.PartitionsDropped += n
	}
	return nil
}

// retainTimescale compresses old chunks and drops chunks past retention,
// and sets the server's policies to the same retention.
func (s *Store) retainTimescale(ctx context.Context, r Retention, now time.Time, res *MaintainResult) error {
	if err := s.pool.QueryRow(ctx, `
		SELECT count(compress_chunk(format('%I.%I', chunk_schema, chunk_name)::regclass))
		FROM timescaledb_information.chunks
		WHERE hypertable_name = 'checks' AND NOT is_compressed AND range_end <= $1`,
		now.Add(-compressAfter)).Scan(&res.ChunksCompressed); err != nil {
		return fmt.Errorf("compress checks chunks: %w", err)
	}
	for _, rel := range relations(r) {
		// The server's retention policy says the same from now on.
		if _, err := s.pool.Exec(ctx, `
			SELECT alter_job(j.job_id, config => jsonb_set(j.config, '{drop_after}', to_jsonb($2::interval::text)))
			FROM timescaledb_information.jobs j
			WHERE j.proc_name = 'policy_retention'
			  AND j.hypertable_name = coalesce(
			      (SELECT materialization_hypertable_name FROM timescaledb_information.continuous_aggregates
			       WHERE view_name = $1), $1)
			  AND (j.config->>'drop_after')::interval <> $2::interval`, rel.name, rel.keep); err != nil {
			return fmt.Errorf("set retention policy of %s: %w", rel.name, err)
		}
		if rel.name == "checks" { // first: a horizon ahead of the data only holds refreshes back
			if _, err := s.pool.Exec(ctx, "UPDATE raw_horizon SET dropped_before = greatest(dropped_before, $1)", now.Add(-rel.keep)); err != nil {
				return fmt.Errorf("move the raw horizon: %w", err)
			}
		}
		var n int
		if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM drop_chunks($1::regclass, older_than => $2::timestamptz)",
			rel.name, now.Add(-rel.keep)).Scan(&n); err != nil {
			return fmt.Errorf("apply retention to %s: %w", rel.name, err)
		}
		res.PartitionsDropped += n
	}
	return nil
}
