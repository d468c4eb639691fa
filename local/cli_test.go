package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// The built watcher binary, for tests that drive it as a person would:
// arguments, environment, exit code, output.
var built struct {
	once sync.Once
	path string
	err  error
	dir  string
}

// watcherBinary builds the watcher command once per test binary and returns
// its path.
func watcherBinary(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "watcher-cli-")
		if built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "watcher")
		out, err := exec.Command("go", "build", "-o", built.path, ".").CombinedOutput()
		if err != nil {
			built.err = errors.New("go build: " + err.Error() + ": " + string(out))
		}
	})
	if built.err != nil {
		t.Fatalf("build watcher: %v", built.err)
	}
	return built.path
}

// cliResult is what a run of the binary left.
type cliResult struct {
	Code           int
	Stdout, Stderr string
}

// runWatcher runs the built binary with args and the environment env
// (added to a minimal one: PATH, HOME, TMPDIR), in dir (empty: a fresh
// temporary directory), bounded by timeout, and returns its exit code and
// output. A run that outlives timeout fails the test: never hanging is part
// of what these tests check.
func runWatcher(t testing.TB, timeout time.Duration, dir string, env []string, stdin []byte, args ...string) cliResult {
	t.Helper()
	bin := watcherBinary(t)
	if dir == "" {
		dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TMPDIR=" + os.TempDir()}, env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("watcher %v did not end within %s\nstdout:\n%s\nstderr:\n%s", args, timeout, stdout.String(), stderr.String())
	}
	res := cliResult{Stdout: stdout.String(), Stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.Code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run watcher %v: %v", args, err)
	}
	return res
}

func TestCLIHelp(t *testing.T) {
	t.Parallel()
	res := runWatcher(t, time.Minute, "", nil, nil, "--help")
	if res.Code != 0 || !bytes.Contains([]byte(res.Stdout), []byte("maintain")) {
		t.Errorf("watcher --help: exit %d, stdout %q", res.Code, res.Stdout)
	}
}
