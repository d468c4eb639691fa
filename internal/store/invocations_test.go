package store_test

import (
	"database/sql"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/migrations"
)

// TestRecordInvocationOnce: an invocation recorded again (a redelivered
// queue message, a retried write) is stored once, on both storage paths and
// as the probe role, which may only INSERT; a retry of the same shard (a
// later start) and the fanout (no location, region or shard) are told apart.
func TestRecordInvocationOnce(t *testing.T) {
	for _, f := range pgtest.Flavours {
		t.Run(f.String(), func(t *testing.T) {
			ctx := testContext(t)
			dbURL := pgtest.NewOn(t, f)
			probeURL := insertOnlyRole(t, dbURL)
			st := open(t, probeURL)
			shard := 3
			span := time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC)
			probe := record.Invocation{Function: "probe", Location: "us-east-1", Region: "us-east-1", MemoryMB: 512,
				Shard: &shard, SpanStart: &span, StartedAt: span.Add(-9*time.Second + 123456789), Duration: time.Minute}
			retry := probe
			retry.StartedAt = probe.StartedAt.Add(2 * time.Second)
			fanout := record.Invocation{Function: "fanout", SpanStart: &span, StartedAt: span.Add(-10 * time.Second), Duration: time.Second}
			for _, inv := range []record.Invocation{probe, fanout, probe, retry, fanout, retry} {
				if err := st.RecordInvocation(ctx, inv); err != nil {
					t.Fatal(err)
				}
			}
			if n := query[int64](t, dbURL, "SELECT count(*) FROM invocations"); n != 3 {
				t.Errorf("%d invocations stored, want 3 (probe, its retry, fanout)", n)
			}
		})
	}
}

// insertOnlyRole makes a role with INSERT on invocations and nothing else
// (as the migrator grants the probe role) and returns dbURL logging in as it.
func insertOnlyRole(t *testing.T, dbURL string) string {
	t.Helper()
	ctx := testContext(t)
	conn := connect(t, dbURL)
	role := fmt.Sprintf("inv_inserter_%d", time.Now().UnixNano())
	for _, s := range []string{
		"CREATE ROLE " + role + " LOGIN PASSWORD 'pw'",
		"GRANT INSERT ON invocations TO " + role,
		"GRANT USAGE ON SEQUENCE invocations_id_seq TO " + role,
	} {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	t.Cleanup(func() {
		ctx := testContext(t)
		c, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP OWNED BY "+role)
		_, _ = c.Exec(ctx, "DROP ROLE "+role)
	})
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(role, "pw")
	return u.String()
}

// migrationsAt opens the database at dbURL and the embedded migrations over
// it, for a test to step through them; both close with the test.
func migrationsAt(t *testing.T, dbURL string) (*sql.DB, *goose.Provider) {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { _ = db.Close() })
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	return db, p
}

// TestInvocationKeyMigration: 00011 removes the copies stored before it
// (the first recorded stays) and keeps distinct invocations, fanout rows
// with NULL location, region and shard included.
func TestInvocationKeyMigration(t *testing.T) {
	ctx := testContext(t)
	dbURL := pgtest.Empty(t)
	db, p := migrationsAt(t, dbURL)
	if _, err := p.UpTo(ctx, 10); err != nil {
		t.Fatal(err)
	}
	exec := func(db *sql.DB, q string) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(db, `INSERT INTO invocations (function, location, region, shard, started_at, duration_ms, checks_done) VALUES
		('probe', 'us-east-1', 'us-east-1', 1, '2026-03-01 12:00:01.5+00', 60000, 10),
		('probe', 'us-east-1', 'us-east-1', 1, '2026-03-01 12:00:01.5+00', 60000, 99),
		('probe', 'us-east-1', 'us-east-1', 1, '2026-03-01 12:00:01.5+00', 60000, 99),
		('probe', 'us-east-1', 'us-east-1', 2, '2026-03-01 12:00:01.5+00', 60000, 20),
		('probe', 'home',      'eu-west-1', 1, '2026-03-01 12:00:01.5+00', 60000, 30),
		('fanout', NULL, NULL, NULL, '2026-03-01 12:00:00+00', 900, 0),
		('fanout', NULL, NULL, NULL, '2026-03-01 12:00:00+00', 900, 0),
		('fanout', NULL, NULL, NULL, '2026-03-01 12:01:00+00', 900, 0)`)
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if n := query[int64](t, dbURL, "SELECT count(*) FROM invocations"); n != 5 {
		t.Errorf("%d invocations after the migration, want 5", n)
	}
	if s := query[int64](t, dbURL, "SELECT sum(checks_done) FROM invocations"); s != 60 {
		t.Errorf("checks_done sum %d, want 60: the first recorded copy is kept", s)
	}
	if _, err := p.DownTo(ctx, 10); err != nil {
		t.Fatalf("down: %v", err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
}
