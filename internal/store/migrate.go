package store

import (
	"context"
	"errors"
	"fmt"
	"path"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/watcher-dev/watcher/migrations"
)

// PartitionDaysAhead is how many days of checks partitions Migrate makes
// sure exist beyond today.
const PartitionDaysAhead = 7

// MigrateResult says what Migrate did.
type MigrateResult struct {
	Applied           []string // migration files applied by this run, in order
	Version           int64    // schema version afterwards
	PartitionsCreated int      // checks partitions created ahead
	Storage           string   // the storage path taken: StorageTimescaleDB or StoragePartitions
}

// Migrate applies every pending migration and creates checks partitions
// PartitionDaysAhead days ahead, logging what it applied. It is idempotent
// and safe to run on every deploy, even concurrently: a PostgreSQL advisory
// lock serialises runs. It holds that lock on one session, so url must reach
// the server directly, not through a transaction-pooling proxy.
func Migrate(ctx context.Context, url string, opts ...Option) error {
	_, err := MigrateReport(ctx, url, opts...)
	return err
}

// MigrateReport is Migrate returning what it did.
func MigrateReport(ctx context.Context, url string, opts ...Option) (MigrateResult, error) {
	o := buildOptions(opts)
	var res MigrateResult
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return res, fmt.Errorf("parse database url: %w", err)
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	var dbOpts []stdlib.OptionOpenDB
	if bc := o.beforeConnect(); bc != nil {
		dbOpts = append(dbOpts, stdlib.OptionBeforeConnect(bc))
	}
	db := stdlib.OpenDB(*cfg, dbOpts...)
	defer db.Close()

	// Another deploy holding the lock is waited for, probing every second
	// for up to five minutes.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return res, fmt.Errorf("create migration lock: %w", err)
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return res, fmt.Errorf("load migrations: %w", err)
	}
	results, err := provider.Up(ctx)
	var partial *goose.PartialError
	if errors.As(err, &partial) {
		results = partial.Applied // applied and committed before the failure
	}
	for _, r := range results {
		res.Applied = append(res.Applied, path.Base(r.Source.Path))
		o.logger.Info("applied migration", "file", path.Base(r.Source.Path), "duration", r.Duration)
	}
	if partial != nil && partial.Failed != nil {
		return res, fmt.Errorf("apply migration %s: %w", path.Base(partial.Failed.Source.Path), partial.Err)
	}
	if err != nil {
		return res, fmt.Errorf("apply migrations: %w", err)
	}
	if res.Version, err = provider.GetDBVersion(ctx); err != nil {
		return res, fmt.Errorf("read schema version: %w", err)
	}
	if err := db.QueryRowContext(ctx, "SELECT watcher_ensure_partitions($1)", PartitionDaysAhead).
		Scan(&res.PartitionsCreated); err != nil {
		return res, fmt.Errorf("ensure checks partitions: %w", err)
	}
	if err := db.QueryRowContext(ctx, "SELECT watcher_storage()").Scan(&res.Storage); err != nil {
		return res, fmt.Errorf("read storage path: %w", err)
	}
	o.logger.Info("database migrated", "version", res.Version, "applied", len(res.Applied),
		"partitions_created", res.PartitionsCreated, "storage", res.Storage)
	return res, nil
}

// EnsurePartitions creates the daily checks partitions from today to
// daysAhead days later, moving any rows that reached the default partition
// early. It is a no-op on a TimescaleDB hypertable. Call it at least weekly
// (Migrate does, on every deploy); rows of days without a partition still
// land in the default partition, never refused.
func (s *Store) EnsurePartitions(ctx context.Context, daysAhead int) error {
	if _, err := s.pool.Exec(ctx, "SELECT watcher_ensure_partitions($1)", daysAhead); err != nil {
		return fmt.Errorf("ensure checks partitions: %w", err)
	}
	return nil
}
