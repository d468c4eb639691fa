// Package pgtest gives tests a real PostgreSQL: one throwaway cluster per
// test binary, started on first use, and a fresh, migrated database per
// test, cloned from a template migrated once. PostgreSQL missing is a test
// failure naming the package to install, never a skip.
//
// Use it from a TestMain so that the cluster and its directory go away at
// the end:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// Without it the server still dies with the test binary (the kernel sends
// it a signal), and the next run of any test binary removes its directory.
package pgtest

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/dev/localpg"
	"github.com/watcher-dev/watcher/internal/store"
)

// template is the database migrated once and cloned for every test.
const template = "watcher_template"

// startTimeout bounds initdb, start-up and the template's migration.
const startTimeout = 2 * time.Minute

// dirPrefix names this package's directories in os.TempDir(); the pid that
// follows lets a later run tell a dead run's leftovers from a live one's.
const dirPrefix = "watcher-pgtest-"

// env is the shared cluster of one test binary.
type env struct {
	root    string
	cluster *localpg.Cluster
	seq     atomic.Int64
}

// Flavour is a kind of server: plain PostgreSQL (as on RDS) or one with
// TimescaleDB preloaded.
type Flavour int

const (
	Plain Flavour = iota
	Timescale
)

func (f Flavour) String() string { return [...]string{"plain PostgreSQL", "TimescaleDB"}[f] }

// Flavours lists both, for tests that run on each storage path.
var Flavours = []Flavour{Plain, Timescale}

// settings are the server settings of a flavour.
func (f Flavour) settings() map[string]string {
	if f == Timescale {
		// No background jobs: their schedulers would hold connections to
		// the template (so no database could be cloned from it) and run
		// policies behind the tests' backs; tests call the upkeep itself.
		return map[string]string{"shared_preload_libraries": "timescaledb", "timescaledb.telemetry_level": "off",
			"timescaledb.max_background_workers": "0"}
	}
	return nil
}

// shared is the one piece of package state: a test binary shares one
// cluster per flavour across its tests, which is the point of this package.
var shared struct {
	mu  sync.Mutex
	env [2]*env
	err [2]error
}

// Main runs the tests, then stops the shared clusters and removes their
// directories, and exits with the tests' status.
func Main(m *testing.M) {
	code := m.Run()
	shared.mu.Lock()
	for i, e := range shared.env {
		if e == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := e.cluster.Stop(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
		cancel()
		_ = os.RemoveAll(e.root)
		shared.env[i] = nil
	}
	shared.mu.Unlock()
	os.Exit(code)
}

// sharedEnv starts the flavour's shared cluster on first use and migrates
// the template. A failure is remembered: every test fails with it at once.
func sharedEnv(t testing.TB, f Flavour) *env {
	t.Helper()
	if f == Timescale {
		requireTimescale(t)
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.env[f] == nil && shared.err[f] == nil {
		shared.env[f], shared.err[f] = startEnv(f)
	}
	if shared.err[f] != nil {
		t.Fatalf("pgtest: %v", shared.err[f])
	}
	return shared.env[f]
}

// timescaleInstall is the script that installs the extension on this kind
// of machine (.ci/run runs it).
const timescaleInstall = "../shared/timescaledb/install"

// requireTimescale skips the test, saying how to fix it, where TimescaleDB
// is not installed into the server's PostgreSQL; WATCHER_REQUIRE_TIMESCALEDB=1
// (set by .ci/run once it installed it) makes that a failure instead.
func requireTimescale(t testing.TB) {
	t.Helper()
	if localpg.HasLibrary("timescaledb") {
		return
	}
	msg := "TimescaleDB is not installed into this PostgreSQL: run " + timescaleInstall + " as root"
	if os.Getenv("WATCHER_REQUIRE_TIMESCALEDB") == "1" {
		t.Fatal("pgtest: " + msg)
	}
	t.Skip("pgtest: " + msg)
}

func startEnv(f Flavour) (*env, error) {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	removeStale()
	root, err := makeDir("")
	if err != nil {
		return nil, err
	}
	c, err := localpg.Start(ctx, filepath.Join(root, "cluster"), localpg.Options{DieWithProcess: true, Settings: f.settings()})
	if err != nil {
		_ = os.RemoveAll(root)
		return nil, fmt.Errorf("start %s for tests: %w", f, err)
	}
	if err := createMigrated(ctx, c, template); err != nil {
		_ = c.Stop(ctx)
		_ = os.RemoveAll(root)
		return nil, err
	}
	return &env{root: root, cluster: c}, nil
}

// createMigrated creates database name on c and applies the migrations.
func createMigrated(ctx context.Context, c *localpg.Cluster, name string) error {
	if err := c.CreateDatabase(ctx, name); err != nil {
		return err
	}
	quiet := store.WithLogger(slog.New(slog.DiscardHandler))
	if err := store.Migrate(ctx, c.URL(name), quiet); err != nil {
		return fmt.Errorf("migrate test database %s: %w", name, err)
	}
	return nil
}

// New returns the URL of a fresh, migrated database for this test, on the
// shared plain cluster. The database is dropped when the test ends.
func New(t testing.TB) string {
	t.Helper()
	return NewOn(t, Plain)
}

// NewOn is New on the shared cluster of flavour f. A Timescale database
// is skipped where the extension is not installed (see requireTimescale).
func NewOn(t testing.TB, f Flavour) string {
	t.Helper()
	return freshOn(t, f, func(ctx context.Context, c *localpg.Cluster, name string) error {
		return c.CreateDatabaseFrom(ctx, name, template)
	})
}

// Empty returns the URL of a fresh database with no migrations applied, on
// the shared cluster, for tests of the migrations themselves.
func Empty(t testing.TB) string {
	t.Helper()
	return EmptyOn(t, Plain)
}

// EmptyOn is Empty on the shared cluster of flavour f.
func EmptyOn(t testing.TB, f Flavour) string {
	t.Helper()
	return freshOn(t, f, func(ctx context.Context, c *localpg.Cluster, name string) error {
		return c.CreateDatabase(ctx, name)
	})
}

// freshOn makes a database for this test on the shared cluster of flavour
// f with create, dropped when the test ends, and returns its URL.
func freshOn(t testing.TB, f Flavour, create func(ctx context.Context, c *localpg.Cluster, name string) error) string {
	t.Helper()
	e := sharedEnv(t, f)
	name := fmt.Sprintf("t%d_%s", e.seq.Add(1), dbSafe(t.Name()))
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := create(ctx, e.cluster, name); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	dropAtEnd(t, e.cluster, name)
	return e.cluster.URL(name)
}

// dropAtEnd drops database name of c when the test ends.
func dropAtEnd(t testing.TB, c *localpg.Cluster, name string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.DropDatabase(ctx, name); err != nil {
			t.Logf("pgtest: %v", err)
		}
	})
}

// Bouncer starts a pgbouncer in transaction pooling mode in front of the
// database of dbURL, stopped when the test ends, and returns the URL that
// reaches the database through it. Each call starts its own bouncer, so a
// test may restart it freely.
func Bouncer(t testing.TB, dbURL string) string {
	t.Helper()
	b := StartBouncer(t, dbURL)
	return b.URL()
}

// StartBouncer is Bouncer returning the bouncer itself, for tests that stop
// or restart it.
func StartBouncer(t testing.TB, dbURL string) *localpg.Bouncer {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("pgtest: parse database url: %v", err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatalf("pgtest: database url %q has no port", dbURL)
	}
	up := localpg.Upstream{Host: u.Hostname(), Port: port, DB: strings.TrimPrefix(u.Path, "/")}
	if name := u.User.Username(); name != "" {
		up.Users = []string{name}
	}
	dir, err := makeDir("bouncer-")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	b, err := localpg.StartBouncerFor(ctx, filepath.Join(dir, "pgbouncer"), up)
	if err != nil {
		_ = os.RemoveAll(dir)
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := b.Stop(ctx); err != nil {
			t.Logf("pgtest: %v", err)
		}
		_ = os.RemoveAll(dir)
	})
	return b
}

// NewCluster starts a cluster of the test's own, stopped and removed when
// the test ends, for tests that stop or restart the server (outages) and
// must not disturb the shared one.
func NewCluster(t testing.TB) *localpg.Cluster {
	t.Helper()
	removeStale()
	dir, err := makeDir("own-")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	c, err := localpg.Start(ctx, filepath.Join(dir, "cluster"), localpg.Options{DieWithProcess: true})
	if err != nil {
		_ = os.RemoveAll(dir)
		t.Fatalf("pgtest: start PostgreSQL for tests: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Logf("pgtest: %v", err)
		}
		_ = os.RemoveAll(dir)
	})
	return c
}

// NewDatabase creates a migrated database on c (from NewCluster) and
// returns its URL.
func NewDatabase(t testing.TB, c *localpg.Cluster) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	name := fmt.Sprintf("w%08x_%s", rand.Uint32(), dbSafe(t.Name()))
	if err := createMigrated(ctx, c, name); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return c.URL(name)
}

// makeDir makes a directory the postgres user can reach, named so that
// removeStale recognises it once this process is gone.
func makeDir(kind string) (string, error) {
	dir, err := os.MkdirTemp("", dirPrefix+strconv.Itoa(os.Getpid())+"-"+kind)
	if err != nil {
		return "", fmt.Errorf("create test directory: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", fmt.Errorf("open test directory to the postgres user: %w", err)
	}
	return dir, nil
}

var stalePid = regexp.MustCompile(`^` + dirPrefix + `(\d+)-`)

// removeStale removes directories of test binaries that died without
// cleaning up (a timeout, a kill); their servers died with them.
func removeStale() {
	entries, _ := os.ReadDir(os.TempDir())
	for _, e := range entries {
		m := stalePid.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() || alive(pid) {
			continue
		}
		_ = os.RemoveAll(filepath.Join(os.TempDir(), e.Name()))
	}
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9_]+`)

// dbSafe turns a test name into part of a database name (63 bytes at most).
func dbSafe(name string) string {
	s := unsafeChars.ReplaceAllString(strings.ToLower(name), "_")
	if len(s) > 40 {
		s = s[:40]
	}
	return s
}
