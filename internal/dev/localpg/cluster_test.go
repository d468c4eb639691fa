package localpg_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/watcher-dev/watcher/internal/dev/localpg"
)

// serverDir returns a temporary directory the postgres user can reach
// (t.TempDir makes 0700 directories, which only root may enter).
func serverDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// queryInt runs a one-value query on a fresh connection in exec mode, the
// mode that works through pgbouncer in transaction pooling.
func queryInt(ctx context.Context, url, sql string) (int, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return 0, err
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, sql).Scan(&n)
	return n, err
}

func mustExec(ctx context.Context, t *testing.T, url string, sqls ...string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, sql := range sqls {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
}

// TestClusterLifecycle runs one cluster through everything the local
// bootstrap and the fault tests do to it: one initdb keeps it fast.
func TestClusterLifecycle(t *testing.T) {
	ctx := testContext(t)
	dir := filepath.Join(serverDir(t), "pg")

	c, err := localpg.Start(ctx, dir, localpg.Options{DieWithProcess: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	port := c.Port()

	t.Run("create database is idempotent", func(t *testing.T) {
		for range 2 {
			if err := c.CreateDatabase(ctx, "watcher"); err != nil {
				t.Fatal(err)
			}
		}
		mustExec(ctx, t, c.URL("watcher"), "CREATE TABLE kept (n int)", "INSERT INTO kept VALUES (42)")
	})

	t.Run("settings of a throwaway cluster", func(t *testing.T) {
		for sql, want := range map[string]int{
			"SELECT (current_setting('fsync') = 'off')::int":              1,
			"SELECT (current_setting('synchronous_commit') = 'off')::int": 1,
			"SELECT (current_setting('full_page_writes') = 'off')::int":   1,
			"SELECT current_setting('max_connections')::int":              200,
			"SELECT (inet_server_addr() = '127.0.0.1')::int":              1,
		} {
			got, err := queryInt(ctx, c.URL("watcher"), sql)
			if err != nil || got != want {
				t.Errorf("%s = %d, %v; want %d", sql, got, err, want)
			}
		}
	})

	t.Run("template copies", func(t *testing.T) {
		if err := c.CreateDatabaseFrom(ctx, "copy", "watcher"); err != nil {
			t.Fatal(err)
		}
		if n, err := queryInt(ctx, c.URL("copy"), "SELECT n FROM kept"); err != nil || n != 42 {
			t.Fatalf("copied row = %d, %v; want 42", n, err)
		}
		if err := c.DropDatabase(ctx, "copy"); err != nil {
			t.Fatal(err)
		}
		if err := c.DropDatabase(ctx, "copy"); err != nil {
			t.Fatalf("drop of a missing database: %v", err)
		}
	})

	t.Run("stop and start keep port and data", func(t *testing.T) {
		if err := c.StopServer(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := queryInt(ctx, c.URL("watcher"), "SELECT 1"); err == nil {
			t.Fatal("query succeeded while the server was stopped")
		}
		if err := c.StopServer(ctx); err != nil {
			t.Fatalf("second stop: %v", err)
		}
		if err := c.StartServer(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		if c.Port() != port {
			t.Errorf("port moved from %d to %d", port, c.Port())
		}
		if n, err := queryInt(ctx, c.URL("watcher"), "SELECT n FROM kept"); err != nil || n != 42 {
			t.Fatalf("row after restart = %d, %v; want 42", n, err)
		}
	})

	t.Run("start on a running cluster reuses it", func(t *testing.T) {
		again, err := localpg.Start(ctx, dir, localpg.Options{DieWithProcess: true})
		if err != nil {
			t.Fatal(err)
		}
		if again.Port() != port {
			t.Fatalf("reused cluster on port %d, want %d", again.Port(), port)
		}
		if n, err := queryInt(ctx, again.URL("watcher"), "SELECT n FROM kept"); err != nil || n != 42 {
			t.Fatalf("row through reused handle = %d, %v", n, err)
		}
	})

	t.Run("detached server outlives its handle and is reused", func(t *testing.T) {
		if err := c.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		d, err := localpg.Start(ctx, dir, localpg.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = d.Stop(context.Background()) }) // nothing else would stop it
		reused, err := localpg.Start(ctx, dir, localpg.Options{DieWithProcess: true})
		if err != nil {
			t.Fatal(err)
		}
		if reused.Port() != d.Port() {
			t.Fatalf("reused port %d, detached server on %d", reused.Port(), d.Port())
		}
		if n, err := queryInt(ctx, reused.URL("watcher"), "SELECT n FROM kept"); err != nil || n != 42 {
			t.Fatalf("row through detached server = %d, %v", n, err)
		}
		if err := reused.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := queryInt(ctx, d.URL("watcher"), "SELECT 1"); err == nil {
			t.Fatal("detached server still answers after Stop")
		}
	})
}

func TestStartRefusesForeignDir(t *testing.T) {
	dir := serverDir(t)
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data", "precious.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := localpg.Start(testContext(t), dir, localpg.Options{DieWithProcess: true})
	if err == nil || !strings.Contains(err.Error(), "not a PostgreSQL data directory") {
		t.Fatalf("Start error = %v, want a refusal of the foreign data directory", err)
	}
}

func TestBouncer(t *testing.T) {
	ctx := testContext(t)
	root := serverDir(t)
	c, err := localpg.Start(ctx, filepath.Join(root, "pg"), localpg.Options{DieWithProcess: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	if err := c.CreateDatabase(ctx, "app"); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		db   string // routed database; "" routes all
		url  func(b *localpg.Bouncer) string
	}{
		{"one database", "app", func(b *localpg.Bouncer) string { return b.URL() }},
		{"every database", "", func(b *localpg.Bouncer) string { return b.URLFor(localpg.Superuser, "app") }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := localpg.StartBouncer(ctx, filepath.Join(root, "bouncer", string(rune('a'+i))), c, tt.db)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = b.Stop(context.Background()) })
			if b.Port() == c.Port() {
				t.Fatal("bouncer shares the server's port")
			}
			if n, err := queryInt(ctx, tt.url(b), "SELECT 7"); err != nil || n != 7 {
				t.Fatalf("query through bouncer = %d, %v", n, err)
			}
			if mode := poolMode(ctx, t, b); mode != "transaction" {
				t.Errorf("pool_mode = %q, want transaction", mode)
			}

			port := b.Port()
			if err := b.Restart(ctx); err != nil {
				t.Fatal(err)
			}
			if b.Port() != port {
				t.Errorf("port moved from %d to %d on restart", port, b.Port())
			}
			if n, err := queryInt(ctx, tt.url(b), "SELECT 8"); err != nil || n != 8 {
				t.Fatalf("query after restart = %d, %v", n, err)
			}
			if err := b.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := queryInt(ctx, tt.url(b), "SELECT 1"); err == nil {
				t.Fatal("query succeeded through a stopped bouncer")
			}
		})
	}
}

// poolMode asks pgbouncer's admin console how it pools connections. The
// console speaks only the simple protocol.
func poolMode(ctx context.Context, t *testing.T, b *localpg.Bouncer) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(b.URLFor(localpg.Superuser, "pgbouncer"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect to the admin console: %v", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SHOW CONFIG")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		// Columns are of types pgx may not know; read them raw.
		if raw := rows.RawValues(); string(raw[0]) == "pool_mode" {
			return string(raw[1])
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ""
}

// TestPortKeptAcrossStarts: a cluster stopped and started again by another
// process (watcher db down, db up) keeps its port, so an exported
// DATABASE_URL still works; when someone took the port meanwhile it moves
// and says so.
func TestPortKeptAcrossStarts(t *testing.T) {
	ctx := testContext(t)
	dir := filepath.Join(serverDir(t), "pg")
	c, err := localpg.Start(ctx, dir, localpg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = localpg.StopRunning(context.Background(), dir) })
	port := c.Port()
	if stopped, err := localpg.StopRunning(ctx, dir); err != nil || !stopped {
		t.Fatalf("StopRunning = %t, %v; want a stopped server", stopped, err)
	}
	if stopped, err := localpg.StopRunning(ctx, dir); err != nil || stopped {
		t.Fatalf("second StopRunning = %t, %v; want nothing to stop", stopped, err)
	}
	again, err := localpg.Start(ctx, dir, localpg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Port() != port || len(again.Notes()) != 0 {
		t.Fatalf("restarted on port %d (notes %q), want %d", again.Port(), again.Notes(), port)
	}
	if err := again.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", fmt.Sprintf("%s:%d", localpg.Host, port))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	moved, err := localpg.Start(ctx, dir, localpg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(moved.Notes(), "\n")
	if moved.Port() == port || !strings.Contains(notes, fmt.Sprintf("port %d", port)) || !strings.Contains(notes, "taken") {
		t.Errorf("with port %d taken: started on %d, notes %q", port, moved.Port(), notes)
	}
}

func TestStartRefusesAnotherMajorVersion(t *testing.T) {
	dir := serverDir(t)
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data", "PG_VERSION"), []byte("9.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := localpg.Start(testContext(t), dir, localpg.Options{DieWithProcess: true})
	if err == nil || !strings.Contains(err.Error(), "made by PostgreSQL 9.1") || !strings.Contains(err.Error(), "pg_upgrade") {
		t.Fatalf("Start error = %v, want the version mismatch and what to do", err)
	}
}
