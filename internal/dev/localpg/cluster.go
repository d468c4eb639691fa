// Package localpg starts and stops throwaway PostgreSQL clusters and
// pgbouncers on loopback, for tests and for the local bootstrap (make run).
// It finds the server binaries on PATH or in /usr/lib/postgresql/*/bin, and
// when running as root runs them as the postgres user, which they require.
package localpg

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Superuser is the cluster's superuser, made by initdb. Trust
// authentication on loopback only: these clusters hold nothing secret.
const Superuser = "postgres"

// Host is where clusters and bouncers listen.
const Host = "127.0.0.1"

// reuseTimeout bounds the wait for a server found running.
const reuseTimeout = 15 * time.Second

// maxSocketPath is the longest unix socket path Linux accepts, less a byte.
const maxSocketPath = 107

// Options tune Start. The zero value is what make run wants.
type Options struct {
	// BinDir holds initdb, pg_ctl and postgres. Empty searches PATH, then
	// the newest /usr/lib/postgresql/*/bin.
	BinDir string
	// Port to listen on. Zero picks a free port on first start and keeps it
	// across restarts.
	Port int
	// MaxConnections is the server's max_connections; zero means 200.
	MaxConnections int
	// DieWithProcess makes the server a child of this process, which the
	// kernel stops when the process exits, however it exits: tests leave no
	// server behind. Otherwise the server starts through pg_ctl, outlives
	// this process, and a later Start on the same directory reuses it
	// (make run, watcher db up).
	DieWithProcess bool
	// Logger receives start and stop events; nil discards them.
	Logger *slog.Logger
	// Settings are further server settings, name to value, written after
	// the defaults (so they win): shared_preload_libraries = 'timescaledb'
	// for the TimescaleDB path, shared_buffers for a sized server.
	Settings map[string]string
}

// Cluster is one PostgreSQL cluster under a directory:
// data/ (PGDATA), run/ (the unix socket) and postgres.log.
// Its methods are safe for concurrent use.
type Cluster struct {
	dir      string
	bin      string
	cred     *syscall.Credential
	maxConns int
	settings map[string]string
	detach   bool
	log      *slog.Logger

	mu       sync.Mutex
	port     int
	pickPort bool   // the port was ours to choose, so a clash may retry another
	proc     *child // nil when detached, reused or stopped
	notes    []string
}

// Start returns a running cluster in dir: it runs initdb when dir holds no
// cluster yet, reuses a server already running there, and otherwise starts
// one. Calling it every time (as make run does) is cheap once initialised.
func Start(ctx context.Context, dir string, opts Options) (*Cluster, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve cluster dir: %w", err)
	}
	bin := opts.BinDir
	if bin == "" {
		if bin, err = findServer(exec.LookPath, debianRoot); err != nil {
			return nil, err
		}
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		dir:      dir,
		bin:      bin,
		cred:     cred,
		maxConns: opts.MaxConnections,
		settings: opts.Settings,
		detach:   !opts.DieWithProcess,
		log:      opts.Logger,
		port:     opts.Port,
		pickPort: opts.Port == 0,
	}
	if c.maxConns == 0 {
		c.maxConns = 200
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if err := prepareDir(dir, cred); err != nil {
		return nil, err
	}
	// A cluster opens only with the major version that made it.
	root := debianRoot
	if opts.BinDir != "" {
		root = ""
	}
	if c.bin, err = serverFor(ctx, c.dataDir(), c.bin, root); err != nil {
		return nil, err
	}
	if err := c.initdb(ctx); err != nil {
		return nil, err
	}
	if pid, port, ok := c.running(); ok {
		c.port, c.pickPort = port, false
		// A running server answers at once; a stale pid file naming some
		// other live process should not hold us up for long.
		reuseCtx, cancel := context.WithTimeout(ctx, reuseTimeout)
		defer cancel()
		if err := waitReady(reuseCtx, "postgres", nil, c.LogPath(), c.ping); err != nil {
			return nil, fmt.Errorf("reuse server running in %s (pid %d, port %d): %w", dir, pid, port, err)
		}
		c.log.Info("reusing running postgres", "dir", dir, "port", port, "pid", pid)
		if replacedBinary(pid) {
			c.note(fmt.Sprintf("the server running in %s (pid %d) runs a program file replaced since it started "+
				"(PostgreSQL was upgraded): stop it and start again to run the installed one (watcher db down; watcher db up)", dir, pid))
		}
		return c, nil
	}
	// Keep the port of the last start, so that a DATABASE_URL exported
	// then still works, unless someone else has taken it meanwhile.
	if saved := c.savedPort(); c.pickPort && saved != 0 {
		if portFree(ctx, saved) {
			c.port = saved
		} else {
			c.note(fmt.Sprintf("port %d, where the cluster in %s listened before, is taken: it moves to another; export its new DATABASE_URL", saved, dir))
		}
	}
	if err := c.StartServer(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// note records something the person who started the cluster should know.
func (c *Cluster) note(msg string) {
	c.log.Warn(msg)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.notes = append(c.notes, msg)
}

// Notes says what Start found that the person who started the cluster
// should know: a port taken meanwhile, a server binary since upgraded.
func (c *Cluster) Notes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.notes)
}

// savedPort is the port the cluster was last started on (its settings file
// keeps it), or 0.
func (c *Cluster) savedPort() int {
	b, err := os.ReadFile(filepath.Join(c.dataDir(), "watcher.conf"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && strings.TrimSpace(k) == "port" {
			if p, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && p > 0 && p < 65536 {
				return p
			}
		}
	}
	return 0
}

// StopRunning stops the server running in dir, if any, with a fast
// shutdown, and waits for it to exit. Unlike Start followed by Stop it
// never starts one, and it needs no server binaries (of any version). It
// reports whether a server was running.
func StopRunning(ctx context.Context, dir string) (bool, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false, fmt.Errorf("resolve cluster dir: %w", err)
	}
	c := &Cluster{dir: dir}
	pid, _, ok := c.running()
	if !ok {
		return false, nil
	}
	// SIGINT is PostgreSQL's fast shutdown; the server removes its pid file
	// when it has stopped.
	if err := syscall.Kill(pid, syscall.SIGINT); err != nil {
		return true, fmt.Errorf("stop postgres in %s (pid %d): %w", dir, pid, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, readyTimeout)
		defer cancel()
	}
	for {
		if _, _, ok := c.running(); !ok {
			return true, nil
		}
		select {
		case <-ctx.Done():
			return true, fmt.Errorf("stop postgres in %s (pid %d): %w", dir, pid, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }
func (c *Cluster) sockDir() string { return filepath.Join(c.dir, "run") }

// Dir is the cluster's directory.
func (c *Cluster) Dir() string { return c.dir }

// LogPath is the server's log file.
func (c *Cluster) LogPath() string { return filepath.Join(c.dir, "postgres.log") }

// Port is the TCP port the server listens on (127.0.0.1).
func (c *Cluster) Port() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.port
}

// URL returns a connection URL for database db as the superuser.
func (c *Cluster) URL(db string) string { return c.URLAs(Superuser, db) }

// URLAs returns a connection URL for database db as role user; loopback
// connections are trusted, so no password is needed.
func (c *Cluster) URLAs(user, db string) string { return connURL(user, c.Port(), db) }

func connURL(user string, port int, db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(user),
		Host:     fmt.Sprintf("%s:%d", Host, port),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// initdb creates the cluster unless dir already holds one.
func (c *Cluster) initdb(ctx context.Context) error {
	data := c.dataDir()
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err == nil {
		return nil
	}
	if entries, err := os.ReadDir(data); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s is not empty and not a PostgreSQL data directory", data)
	}
	if err := run(ctx, c.cred, c.dir, filepath.Join(c.bin, "initdb"),
		"-D", data, "-U", Superuser, "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"); err != nil {
		return fmt.Errorf("initialise cluster in %s: %w", c.dir, err)
	}
	// Our settings live in a file rewritten on every start (the port may
	// change); postgresql.conf only includes it.
	conf, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("open postgresql.conf: %w", err)
	}
	_, werr := conf.WriteString("\ninclude_if_exists = 'watcher.conf'\n")
	if err := errors.Join(werr, conf.Close()); err != nil {
		return fmt.Errorf("append to postgresql.conf: %w", err)
	}
	c.log.Info("initialised postgres cluster", "dir", c.dir, "bin", c.bin)
	return nil
}

// writeConf writes the settings of a throwaway cluster: loopback only, and
// durability traded for speed (a crash may lose it all; nobody cares).
func (c *Cluster) writeConf(port int) error {
	sock := c.sockDir()
	if err := os.MkdirAll(sock, 0o755); err != nil {
		return fmt.Errorf("create socket dir: %w", err)
	}
	if err := chown(sock, c.cred); err != nil {
		return err
	}
	if len(sock)+len("/.s.PGSQL.65535") > maxSocketPath {
		sock = "" // too long for a unix socket: TCP only
	}
	conf := fmt.Sprintf(`# Written by watcher's localpg on every start; edits are lost.
listen_addresses = '%s'
port = %d
unix_socket_directories = '%s'
max_connections = %d
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
timezone = 'UTC'
log_timezone = 'UTC'
lc_messages = 'C'
`, Host, port, sock, c.maxConns)
	for _, name := range slices.Sorted(maps.Keys(c.settings)) {
		conf += fmt.Sprintf("%s = '%s'\n", name, strings.ReplaceAll(c.settings[name], "'", "''"))
	}
	path := filepath.Join(c.dataDir(), "watcher.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// running reads postmaster.pid and reports a live server's pid and port.
func (c *Cluster) running() (pid, port int, ok bool) {
	f, err := os.Open(filepath.Join(c.dataDir(), "postmaster.pid"))
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	// Lines: pid, data dir, start time, port, socket dir, listen address, ...
	var lines []string
	for s := bufio.NewScanner(f); s.Scan() && len(lines) < 4; {
		lines = append(lines, strings.TrimSpace(s.Text()))
	}
	if len(lines) < 4 {
		return 0, 0, false
	}
	pid, err1 := strconv.Atoi(lines[0])
	port, err2 := strconv.Atoi(lines[3])
	if err1 != nil || err2 != nil || !processAlive(pid) {
		return 0, 0, false
	}
	return pid, port, true
}

// ping succeeds once the server accepts connections. Callers hold c.mu.
func (c *Cluster) ping(ctx context.Context) error {
	conn, err := pgconn.Connect(ctx, connURL(Superuser, c.port, "postgres"))
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// StartServer starts the server of an initialised cluster on its port
// (picking a free one the first time). It is a no-op when already running.
func (c *Cluster) StartServer(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc != nil && !c.proc.exited() {
		return nil
	}
	if _, _, ok := c.running(); ok && c.proc == nil && c.port != 0 {
		return nil
	}
	const attempts = 3
	for attempt := 1; ; attempt++ {
		if c.port == 0 {
			p, err := freePort(ctx)
			if err != nil {
				return err
			}
			c.port = p
		}
		err := c.startLocked(ctx)
		if err == nil {
			c.log.Info("started postgres", "dir", c.dir, "port", c.port, "detached", c.detach)
			return nil
		}
		if !c.pickPort || attempt == attempts || !portTaken(c.LogPath()) {
			return fmt.Errorf("start postgres in %s on port %d: %w", c.dir, c.port, err)
		}
		c.port = 0 // someone took it between our pick and the bind
	}
}

func (c *Cluster) startLocked(ctx context.Context) error {
	if err := c.writeConf(c.port); err != nil {
		return err
	}
	logPath := c.LogPath()
	if c.detach {
		if err := touch(logPath, c.cred); err != nil {
			return err
		}
		if err := run(ctx, c.cred, c.dir, filepath.Join(c.bin, "pg_ctl"),
			"start", "-D", c.dataDir(), "-l", logPath, "-w", "-t", "60", "-s"); err != nil {
			return err
		}
		return waitReady(ctx, "postgres", nil, logPath, c.ping)
	}
	// SIGQUIT is PostgreSQL's immediate shutdown: if we die, it goes too.
	proc, err := startChild(command(ctx, c.cred, c.dir, filepath.Join(c.bin, "postgres"), "-D", c.dataDir()),
		logPath, syscall.SIGQUIT)
	if err != nil {
		return err
	}
	if err := waitReady(ctx, "postgres", proc, logPath, c.ping); err != nil {
		_ = proc.stop(context.Background(), syscall.SIGQUIT)
		return err
	}
	c.proc = proc
	return nil
}

// StopServer stops the server with a fast shutdown (sessions are ended,
// data is kept) and waits for it to exit. The cluster can start again with
// StartServer on the same port. Stopping a stopped server is a no-op.
func (c *Cluster) StopServer(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc != nil {
		// SIGINT is PostgreSQL's fast shutdown.
		err := c.proc.stop(ctx, syscall.SIGINT)
		c.proc = nil
		if err != nil {
			return fmt.Errorf("stop postgres in %s: %w", c.dir, err)
		}
		c.log.Info("stopped postgres", "dir", c.dir)
		return nil
	}
	if _, _, ok := c.running(); !ok {
		return nil
	}
	// A detached or reused server: not our child, so ask pg_ctl.
	if err := run(ctx, c.cred, c.dir, filepath.Join(c.bin, "pg_ctl"),
		"stop", "-D", c.dataDir(), "-m", "fast", "-w", "-t", "60", "-s"); err != nil {
		return fmt.Errorf("stop postgres in %s: %w", c.dir, err)
	}
	c.log.Info("stopped postgres", "dir", c.dir)
	return nil
}

// Restart stops the server and starts it again on the same port, as a
// database outage would.
func (c *Cluster) Restart(ctx context.Context) error {
	if err := c.StopServer(ctx); err != nil {
		return err
	}
	return c.StartServer(ctx)
}

// Stop stops the server; the directory and its data stay for the caller to
// keep or remove.
func (c *Cluster) Stop(ctx context.Context) error { return c.StopServer(ctx) }

// CreateDatabase creates database name unless it exists (make run calls it
// on every start).
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	err := c.exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// CreateDatabaseFrom creates database name as a copy of template, which no
// session may be connected to. It fails if name exists.
func (c *Cluster) CreateDatabaseFrom(ctx context.Context, name, template string) error {
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	sql := fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s",
		pgx.Identifier{name}.Sanitize(), pgx.Identifier{template}.Sanitize())
	// PostgreSQL 15 copies through the WAL by default; copying the files is
	// about twice as fast for the small databases of tests, fsync being off.
	if v, _ := strconv.Atoi(strings.SplitN(conn.ParameterStatus("server_version"), ".", 2)[0]); v >= 15 {
		sql += " STRATEGY FILE_COPY"
	}
	if _, err := conn.Exec(ctx, sql).ReadAll(); err != nil {
		return fmt.Errorf("create database %s from %s: %w", name, template, err)
	}
	return nil
}

// DropDatabase drops database name if it exists, ending its sessions.
func (c *Cluster) DropDatabase(ctx context.Context, name string) error {
	if err := c.exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// exec runs one statement in the maintenance database.
func (c *Cluster) exec(ctx context.Context, sql string) error {
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql).ReadAll()
	return err
}

// connect opens a session on the maintenance database.
func (c *Cluster) connect(ctx context.Context) (*pgconn.PgConn, error) {
	conn, err := pgconn.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return nil, fmt.Errorf("connect to the cluster in %s: %w", c.dir, err)
	}
	return conn, nil
}

// touch creates path if needed and hands it to the server's user.
func touch(path string, cred *syscall.Credential) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	return chown(path, cred)
}
