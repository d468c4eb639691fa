package localpg

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// debianBouncer is where Debian's pgbouncer package installs it, off a
// normal user's PATH.
const debianBouncer = "/usr/sbin/pgbouncer"

// Upstream is the server a bouncer pools connections to.
type Upstream struct {
	Host string // default 127.0.0.1
	Port int
	// DB is the database clients may name; empty routes every database.
	DB string
	// Users may log in through the bouncer; default the superuser. With
	// trust authentication pgbouncer still wants each name listed.
	Users []string
	// Logger receives start and stop events; nil discards them.
	Logger *slog.Logger
}

// Bouncer is a pgbouncer in transaction pooling mode on loopback, the local
// stand-in for RDS Proxy: each transaction may run on another server
// session, so clients must keep no session state. Its methods are safe for
// concurrent use.
type Bouncer struct {
	dir  string
	bin  string
	cred *syscall.Credential
	up   Upstream
	log  *slog.Logger

	mu       sync.Mutex
	port     int
	pickPort bool
	proc     *child
}

// StartBouncer starts a pgbouncer in dir in front of database db of cluster
// c (every database when db is empty).
func StartBouncer(ctx context.Context, dir string, c *Cluster, db string) (*Bouncer, error) {
	return StartBouncerFor(ctx, dir, Upstream{Host: Host, Port: c.Port(), DB: db, Logger: c.log})
}

var dbName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// StartBouncerFor starts a pgbouncer in dir in front of any upstream server.
func StartBouncerFor(ctx context.Context, dir string, up Upstream) (*Bouncer, error) {
	if up.Host == "" {
		up.Host = Host
	}
	if len(up.Users) == 0 {
		up.Users = []string{Superuser}
	}
	if up.DB != "" && !dbName.MatchString(up.DB) {
		return nil, fmt.Errorf("start pgbouncer: database name %q: want letters, digits and _", up.DB)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve pgbouncer dir: %w", err)
	}
	bin, err := findBouncer(exec.LookPath, debianBouncer)
	if err != nil {
		return nil, err
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	if err := prepareDir(dir, cred); err != nil {
		return nil, err
	}
	b := &Bouncer{dir: dir, bin: bin, cred: cred, up: up, log: up.Logger, pickPort: true}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if err := b.Start(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// Port is the port the bouncer listens on (127.0.0.1); it stays the same
// across restarts.
func (b *Bouncer) Port() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.port
}

// LogPath is pgbouncer's log file.
func (b *Bouncer) LogPath() string { return filepath.Join(b.dir, "pgbouncer.log") }

// URL returns a connection URL through the bouncer as the first user, to
// its database (or "postgres" when it routes every database).
func (b *Bouncer) URL() string {
	db := b.up.DB
	if db == "" {
		db = "postgres"
	}
	return b.URLFor(b.up.Users[0], db)
}

// URLFor returns a connection URL through the bouncer for user and db.
func (b *Bouncer) URLFor(user, db string) string { return connURL(user, b.Port(), db) }

// Start starts pgbouncer (again), on the port of its last run if any.
// It is a no-op when running.
func (b *Bouncer) Start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.proc != nil && !b.proc.exited() {
		return nil
	}
	const attempts = 3
	for attempt := 1; ; attempt++ {
		if b.port == 0 {
			p, err := freePort(ctx)
			if err != nil {
				return err
			}
			b.port = p
		}
		err := b.startLocked(ctx)
		if err == nil {
			b.pickPort = false // keep this port: clients hold URLs naming it
			b.log.Info("started pgbouncer", "dir", b.dir, "port", b.port, "upstream_port", b.up.Port)
			return nil
		}
		if !b.pickPort || attempt == attempts || !portTaken(b.LogPath()) {
			return fmt.Errorf("start pgbouncer in %s on port %d: %w", b.dir, b.port, err)
		}
		b.port = 0
	}
}

func (b *Bouncer) startLocked(ctx context.Context) error {
	ini := filepath.Join(b.dir, "pgbouncer.ini")
	if err := b.writeConfig(ini); err != nil {
		return err
	}
	// pgbouncer treats SIGTERM as an immediate shutdown.
	proc, err := startChild(command(ctx, b.cred, b.dir, b.bin, ini), b.LogPath(), syscall.SIGTERM)
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(Host, strconv.Itoa(b.port))
	ready := func(ctx context.Context) error {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return conn.Close()
	}
	if err := waitReady(ctx, "pgbouncer", proc, b.LogPath(), ready); err != nil {
		_ = proc.stop(context.Background(), syscall.SIGKILL)
		return err
	}
	b.proc = proc
	return nil
}

// writeConfig writes pgbouncer.ini and its user list. Trust
// authentication is fine on loopback for throwaway clusters.
func (b *Bouncer) writeConfig(ini string) error {
	target := fmt.Sprintf("host=%s port=%d", b.up.Host, b.up.Port)
	route := "* = " + target
	if b.up.DB != "" {
		route = fmt.Sprintf("%s = %s dbname=%s", b.up.DB, target, b.up.DB)
	}
	conf := fmt.Sprintf(`; Written by watcher's localpg on every start; edits are lost.
[databases]
%s

[pgbouncer]
listen_addr = %s
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
admin_users = %s
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 20
; Reconnect quickly after the server comes back (outage tests).
server_login_retry = 1
server_connect_timeout = 5
ignore_startup_parameters = extra_float_digits
log_connections = 0
log_disconnections = 0
stats_period = 3600
`, route, Host, b.port, filepath.Join(b.dir, "userlist.txt"), Superuser)
	var users strings.Builder
	for _, u := range b.up.Users {
		fmt.Fprintf(&users, "\"%s\" \"\"\n", strings.ReplaceAll(u, `"`, `""`))
	}
	for path, content := range map[string]string{ini: conf, filepath.Join(b.dir, "userlist.txt"): users.String()} {
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}

// Stop shuts pgbouncer down at once, cutting its clients off mid-query as a
// proxy failure would. Stopping a stopped bouncer is a no-op.
func (b *Bouncer) Stop(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.proc == nil {
		return nil
	}
	err := b.proc.stop(ctx, syscall.SIGTERM)
	b.proc = nil
	if err != nil {
		return fmt.Errorf("stop pgbouncer in %s: %w", b.dir, err)
	}
	b.log.Info("stopped pgbouncer", "dir", b.dir)
	return nil
}

// Restart stops pgbouncer and starts it again on the same port.
func (b *Bouncer) Restart(ctx context.Context) error {
	if err := b.Stop(ctx); err != nil {
		return err
	}
	return b.Start(ctx)
}
