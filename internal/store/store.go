// Package store owns Watcher's PostgreSQL database: migrations, endpoints,
// checks, invocations and the ledger of spans. Every query runs
// in pgx's exec mode with no session state, so the store works through a
// transaction-pooling proxy (RDS Proxy, pgbouncer). Only this package begins
// and commits transactions.
package store

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Store is a pool of connections to Watcher's database. It is safe for
// concurrent use.
type Store struct {
	pool *pgxpool.Pool
	log  *slog.Logger
}

// PasswordFunc returns the password for a new connection. It runs before
// every connect, so short-lived credentials (RDS IAM tokens) stay fresh.
type PasswordFunc func(ctx context.Context) (string, error)

// Option configures Open and Migrate.
type Option func(*options)

type options struct {
	password PasswordFunc
	logger   *slog.Logger
	maxConns int32
}

// WithPassword sets the password of each new connection from f, overriding
// any password in the URL.
func WithPassword(f PasswordFunc) Option { return func(o *options) { o.password = f } }

// WithLogger sets where the store logs (migrations applied, for example);
// the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithMaxConns caps the pool; the default is pgxpool's (max of 4 and the
// number of CPUs). A probe needs few: one per batch in flight.
func WithMaxConns(n int32) Option { return func(o *options) { o.maxConns = n } }

func buildOptions(opts []Option) options {
	o := options{logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// beforeConnect returns the pgx hook that sets the password, or nil.
func (o options) beforeConnect() func(context.Context, *pgx.ConnConfig) error {
	if o.password == nil {
		return nil
	}
	return func(ctx context.Context, cc *pgx.ConnConfig) error {
		pw, err := o.password(ctx)
		if err != nil {
			return fmt.Errorf("get database password: %w", err)
		}
		cc.Password = pw
		return nil
	}
}

// DefaultConnectTimeout bounds each new connection (TCP, TLS and the
// startup exchange) when neither the URL's connect_timeout nor
// PGCONNECT_TIMEOUT sets a bound: a server that accepts the connection and
// never answers costs a failed query, not a hung process.
const DefaultConnectTimeout = 5 * time.Second

// Open returns a store on the database at url. It does not connect: the
// first query does, so a cold start succeeds while the database is down and
// the caller decides what an unreachable database means (Ping tells at
// once). Each connection attempt is bounded by DefaultConnectTimeout unless
// the URL says otherwise.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	o := buildOptions(opts)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	// A transaction-pooling proxy hands each transaction to any server
	// session: no named prepared statements, no caches keyed on a session.
	// Descriptions of unnamed statements hold for every session (they
	// depend only on the schema), so WriteChecks may cache its own.
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	cfg.ConnConfig.StatementCacheCapacity = 0
	cfg.ConnConfig.DescriptionCacheCapacity = 16
	cfg.BeforeConnect = o.beforeConnect()
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	if o.maxConns > 0 {
		cfg.MaxConns = o.maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create connection pool: %w", err)
	}
	return &Store{pool: pool, log: o.logger}, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// Close closes every connection, waiting for those in use to be released.
func (s *Store) Close() { s.pool.Close() }
