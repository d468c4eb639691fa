package localpg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/watcher-dev/watcher/internal/dev/deathsig"
)

// readyTimeout bounds a start when the caller's context has no deadline.
const readyTimeout = 60 * time.Second

// serverCredential says who runs initdb, postgres and pgbouncer: nil for the
// current user, or the postgres user when we are root, because initdb and
// postgres refuse to run as root (and pgbouncer advises against it).
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, so PostgreSQL must run as user postgres: %w; "+
			"install Debian's postgresql package, which creates that user: apt-get install postgresql", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("parse uid of user postgres: %w", err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("parse gid of user postgres: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// prepareDir creates dir and, when the server runs as another user, hands
// it over and checks that user can reach it: a 0700 ancestor (a root-owned
// temporary directory, say) would make initdb fail with a vague message.
func prepareDir(dir string, cred *syscall.Credential) error {
	// Parents we create must let the server's user pass; dir is its own.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(dir), err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if cred == nil {
		return nil
	}
	if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
		return fmt.Errorf("hand %s to the postgres user: %w", dir, err)
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		owned := st != nil && st.Uid == cred.Uid
		if !owned && fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("the postgres user cannot enter %s (mode %v) to reach %s; "+
				"choose a directory it can reach or run chmod o+x %s", p, fi.Mode().Perm(), dir, p)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// chown hands a file we created to the server's user, when there is one.
func chown(path string, cred *syscall.Credential) error {
	if cred == nil {
		return nil
	}
	if err := os.Chown(path, int(cred.Uid), int(cred.Gid)); err != nil {
		return fmt.Errorf("hand %s to the postgres user: %w", path, err)
	}
	return nil
}

// command builds a long-lived server command run as cred in dir. The server
// must outlive the call that starts it, so ctx's cancellation is dropped;
// child.stop ends it instead.
func command(ctx context.Context, cred *syscall.Credential, dir, path string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(context.WithoutCancel(ctx), path, args...)
	setup(cmd, cred, dir)
	return cmd
}

// run runs a short server-side tool (initdb, pg_ctl) as cred in dir; its
// combined output goes into the error when it fails.
func run(ctx context.Context, cred *syscall.Credential, dir, path string, args ...string) error {
	cmd := exec.CommandContext(ctx, path, args...)
	setup(cmd, cred, dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", filepath.Base(path), strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// setup gives server-side commands a small, predictable environment: a
// stray PGPORT or PGDATA must not leak in.
func setup(cmd *exec.Cmd, cred *syscall.Credential, dir string) {
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "LC_ALL=C", "TZ=UTC"}
	// Its own process group: a Ctrl-C meant for us must not shut a server
	// down before we have flushed through it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
}

// child is a server process that dies with us: the kernel sends it
// deathSignal when this process exits, however it exits, so a test binary
// killed by a timeout leaves no server behind (deathsig.Start: strictly,
// when the thread that forked it exits, so it is forked on one that never
// does).
type child struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // valid once done is closed
}

func startChild(cmd *exec.Cmd, logPath string, deathSignal syscall.Signal) (*child, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", logPath, err)
	}
	defer logf.Close() // the child holds its own copy
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := deathsig.Start(cmd, deathSignal); err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(cmd.Path), err)
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// exited reports whether the process has ended.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends sig and waits for the exit; when ctx ends first it kills.
func (c *child) stop(ctx context.Context, sig syscall.Signal) error {
	if c.exited() {
		return nil
	}
	if err := c.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s: %w", filepath.Base(c.cmd.Path), err)
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		_ = c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("stop %s: %w (killed)", filepath.Base(c.cmd.Path), ctx.Err())
	}
}

// waitReady polls ready until it succeeds, the child exits, or time runs out.
func waitReady(ctx context.Context, what string, c *child, logPath string, ready func(context.Context) error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, readyTimeout)
		defer cancel()
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		probeCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		last = ready(probeCtx)
		cancel()
		if last == nil {
			return nil
		}
		var exited <-chan struct{}
		if c != nil {
			exited = c.done
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited during start-up (%w); log %s:\n%s", what, c.err, logPath, logTail(logPath))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last: %w); log %s:\n%s", what, ctx.Err(), last, logPath, logTail(logPath))
		case <-tick.C:
		}
	}
}

// logTail returns the end of a log file, for error messages.
func logTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const n = 2048
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		_, _ = f.Seek(-n, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	return strings.TrimSpace(string(b))
}

// freePort asks the kernel for a loopback port nobody listens on. Another
// process may take it before the server binds it; starts retry for that.
func freePort(ctx context.Context) (int, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// portFree reports whether nobody listens on the loopback port.
func portFree(ctx context.Context, port int) bool {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", fmt.Sprintf("%s:%d", Host, port))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// portTaken reports whether a start failed because the port was in use.
func portTaken(logPath string) bool {
	tail := logTail(logPath)
	return strings.Contains(tail, "Address already in use") || strings.Contains(tail, "could not bind")
}

// processAlive reports whether pid names a live process.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
