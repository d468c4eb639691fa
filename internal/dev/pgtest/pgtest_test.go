package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/watcher-dev/watcher/internal/dev/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// tables counts Watcher's tables in the database at url, connecting in exec
// mode so the same check works through pgbouncer.
func tables(t *testing.T, url string) int {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	ctx := context.Background()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables
		WHERE schemaname = 'public' AND tablename IN ('endpoints', 'checks', 'invocations', 'spans')`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"shared cluster, migrated", func(t *testing.T) string { return pgtest.New(t) }},
		{"through pgbouncer", func(t *testing.T) string { return pgtest.Bouncer(t, pgtest.New(t)) }},
		{"own cluster", func(t *testing.T) string { return pgtest.NewDatabase(t, pgtest.NewCluster(t)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := tables(t, tt.url(t)); n != 4 {
				t.Fatalf("found %d of Watcher's 4 tables", n)
			}
		})
	}
}

func TestNewIsolates(t *testing.T) {
	a, b := pgtest.New(t), pgtest.New(t)
	if a == b {
		t.Fatalf("two calls returned the same database %s", a)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE only_in_a (n int)"); err != nil {
		t.Fatal(err)
	}
	connB, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer connB.Close(ctx)
	var exists bool
	if err := connB.QueryRow(ctx, "SELECT to_regclass('only_in_a') IS NOT NULL").Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatal("a table created in one test database appeared in another")
	}
}
