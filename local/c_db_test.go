package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestCLIDBKeepsItsPort: db up, down and up again give the same
// DATABASE_URL; with the port taken meanwhile, up moves and says so.
func TestCLIDBKeepsItsPort(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} { // reachable by the postgres user when root
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "pg")
	portRe := regexp.MustCompile(`(?m)^export DATABASE_URL='postgres://postgres@127\.0\.0\.1:(\d+)/watcher\?sslmode=disable'$`)
	up := func() (port, stderr string) {
		t.Helper()
		res := runWatcher(t, 2*time.Minute, dir, nil, nil, "db", "up", "--data", data)
		m := portRe.FindStringSubmatch(res.Stdout)
		if res.Code != 0 || m == nil {
			t.Fatalf("db up: exit %d, stdout %q, stderr %q", res.Code, res.Stdout, res.Stderr)
		}
		return m[1], res.Stderr
	}
	down := func() {
		t.Helper()
		if res := runWatcher(t, 2*time.Minute, dir, nil, nil, "db", "down", "--data", data); res.Code != 0 {
			t.Fatalf("db down: exit %d, stderr %q", res.Code, res.Stderr)
		}
	}
	t.Cleanup(func() { runWatcher(t, 2*time.Minute, dir, nil, nil, "db", "down", "--data", data) })

	first, _ := up()
	if again, _ := up(); again != first {
		t.Errorf("db up on a running cluster: port %s, want %s", again, first)
	}
	down()
	if again, _ := up(); again != first {
		t.Errorf("db up after db down: port %s, want %s", again, first)
	}
	down()

	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:"+first)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	moved, stderr := up()
	if moved == first || !strings.Contains(stderr, "port "+first) || !strings.Contains(stderr, "taken") {
		t.Errorf("with port %s taken: port %s, stderr %q", first, moved, stderr)
	}
	down()
	res := runWatcher(t, time.Minute, dir, nil, nil, "db", "down", "--data", data)
	if res.Code != 0 || !strings.Contains(res.Stderr, "no PostgreSQL running") {
		t.Errorf("db down with nothing running: exit %d, stderr %q", res.Code, res.Stderr)
	}
}
