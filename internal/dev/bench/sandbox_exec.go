package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// SandboxExecEnv carries a sandbox's settings from `watcher bench sandbox`
// through the Runtime Interface Emulator (which passes its environment on to
// the function) to `watcher bench sandbox-exec`. It has no WATCHER_ prefix:
// the probe rejects WATCHER_* variables it does not know, and the wrapper
// removes it before the function starts anyway.
const SandboxExecEnv = "BENCH_SANDBOX_EXEC"

// execConfig is what the wrapper does before it becomes the function.
type execConfig struct {
	Bootstrap  string   `json:"bootstrap"`  // the function's bootstrap, exec'd last
	Procs      []string `json:"procs"`      // cgroup.procs files to join
	NoFile     uint64   `json:"nofile"`     // RLIMIT_NOFILE, soft and hard; 0 leaves it
	CPU        int      `json:"cpu"`        // the only core the function may run on; negative: any
	GOMAXPROCS int      `json:"gomaxprocs"` // set in the function's environment; 0: not set (the function's choice)
}

// SandboxExec is the wrapper the emulator starts in place of the function's
// bootstrap: it moves this process into the sandbox's cgroups, sets
// RLIMIT_NOFILE and the CPU affinity, then replaces itself with the
// bootstrap (same pid), so that the function, and any process it starts
// (its regex worker), runs inside the limits from its first instruction,
// while the emulator stays outside them as Lambda's own machinery does.
func SandboxExec() error {
	raw, ok := os.LookupEnv(SandboxExecEnv)
	if !ok {
		return fmt.Errorf("bench sandbox-exec: %s is not set; `watcher bench sandbox` starts this command, not people", SandboxExecEnv)
	}
	var cfg execConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		return fmt.Errorf("bench sandbox-exec: %s: %w", SandboxExecEnv, err)
	}
	// The affinity is a thread's: set it on the thread that execs.
	runtime.LockOSThread()
	pid := []byte(strconv.Itoa(os.Getpid()))
	for _, p := range cfg.Procs {
		if err := os.WriteFile(p, pid, 0); err != nil {
			return fmt.Errorf("bench sandbox-exec: join cgroup: %w", err)
		}
	}
	if cfg.NoFile > 0 {
		// Soft and hard alike, as in Lambda: the function cannot raise it.
		// (syscall.Setrlimit also stops Go restoring its own start-up
		// limit on exec.)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: cfg.NoFile, Max: cfg.NoFile}); err != nil {
			return fmt.Errorf("bench sandbox-exec: RLIMIT_NOFILE %d: %w", cfg.NoFile, err)
		}
	}
	if cfg.CPU >= 0 {
		var set unix.CPUSet
		set.Set(cfg.CPU)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			return fmt.Errorf("bench sandbox-exec: pin to CPU %d: %w", cfg.CPU, err)
		}
	}
	env := make([]string, 0, len(os.Environ()))
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, SandboxExecEnv+"=") || strings.HasPrefix(kv, "GOMAXPROCS=") {
			continue
		}
		env = append(env, kv)
	}
	if cfg.GOMAXPROCS > 0 {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(cfg.GOMAXPROCS))
	}
	err := syscall.Exec(cfg.Bootstrap, []string{cfg.Bootstrap}, env)
	return fmt.Errorf("bench sandbox-exec: exec %s: %w", cfg.Bootstrap, err)
}
