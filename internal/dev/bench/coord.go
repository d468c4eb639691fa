package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/watcher-dev/watcher/internal/dev/deathsig"
	"github.com/watcher-dev/watcher/internal/dev/localpg"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/endpointfile"
	"github.com/watcher-dev/watcher/internal/store"
)

// Options configure Run. Zero values take the defaults.
type Options struct {
	Workloads []string      // default fixed, reference
	Modes     []string      // default fresh, reuse
	Runs      int           // runs of each workload, mode and side; default 1
	Warmup    time.Duration // default 5 s
	Window    time.Duration // measured window; default 60 s
	ProbeCPU  int           // the core of the measured process; default 1
	FarmCPU   int           // the core of the farm, PostgreSQL, pgbouncer and this process; default 0
	// Micro is a file of `go test -bench` output whose planner and writer
	// figures join the table; empty leaves them out.
	Micro string
	// Profiles, when set, is a directory for a CPU profile of each run's
	// window (WORKLOAD-MODE-SIDE-RUN.pprof).
	Profiles string
	// Exe is the watcher binary to run children from; default this one.
	Exe string
	Out io.Writer // progress and the table; default stdout
	Log *slog.Logger
}

func (o *Options) defaults() error {
	if len(o.Workloads) == 0 {
		o.Workloads = []string{WorkloadFixed, WorkloadReference}
	}
	if len(o.Modes) == 0 {
		o.Modes = []string{ModeFresh, ModeReuse}
	}
	for _, w := range o.Workloads {
		if _, err := endpointsFile(w, "http://x"); err != nil {
			return err
		}
	}
	for _, m := range o.Modes {
		if m != ModeFresh && m != ModeReuse {
			return fmt.Errorf("unknown mode %q (want %s or %s)", m, ModeFresh, ModeReuse)
		}
	}
	if o.Runs <= 0 {
		o.Runs = 1
	}
	if o.Warmup <= 0 {
		o.Warmup = 5 * time.Second
	}
	if o.Window <= 0 {
		o.Window = time.Minute
	}
	if o.ProbeCPU == 0 && o.FarmCPU == 0 {
		o.ProbeCPU = 1
	}
	return processDefaults(&o.Exe, &o.Out, &o.Log)
}

// Run runs the benchmark: a throwaway PostgreSQL and pgbouncer, the target
// farm in its own process, then for each workload, mode and run the floor
// and the project, each in a child process pinned to ProbeCPU with
// GOMAXPROCS=1, and prints the table.
func Run(ctx context.Context, opt Options) error {
	if err := opt.defaults(); err != nil {
		return err
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return errors.New("bench: taskset not found: install util-linux (it pins processes to cores)")
	}
	if n := runtime.NumCPU(); opt.ProbeCPU >= n || opt.FarmCPU >= n {
		return fmt.Errorf("bench: this machine has %d cores; --probe-cpu %d and --farm-cpu %d must name two of them", n, opt.ProbeCPU, opt.FarmCPU)
	}
	if opt.Profiles != "" {
		if err := os.MkdirAll(opt.Profiles, 0o755); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	}
	machine := describeMachine()
	// Everything this process starts from now on (PostgreSQL, pgbouncer, the
	// farm) inherits its core, leaving ProbeCPU to the measured child.
	if err := pin(ctx, opt.FarmCPU); err != nil {
		return err
	}

	dir, err := os.MkdirTemp("", "watcher-bench-")
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil { // the postgres user works in it
		return fmt.Errorf("bench: %w", err)
	}
	fmt.Fprintf(opt.Out, "starting PostgreSQL, pgbouncer and the target farm on CPU %d\n", opt.FarmCPU)
	cluster, err := localpg.Start(ctx, filepath.Join(dir, "pg"), localpg.Options{DieWithProcess: true, Logger: opt.Log})
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer func() { _ = cluster.Stop(context.WithoutCancel(ctx)) }()
	bouncer, err := localpg.StartBouncer(ctx, filepath.Join(dir, "pgbouncer"), cluster, "")
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer func() { _ = bouncer.Stop(context.WithoutCancel(ctx)) }()
	const template = "bench_template"
	if err := cluster.CreateDatabase(ctx, template); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := store.Migrate(ctx, cluster.URL(template), store.WithLogger(opt.Log)); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	machine.Postgres = serverVersion(ctx, cluster.URL(template))

	farmURL, stopFarm, err := startFarm(ctx, opt.Exe, opt.FarmCPU)
	if err != nil {
		return err
	}
	defer stopFarm()

	var all []Figures
	for _, workload := range opt.Workloads {
		file, _ := endpointsFile(workload, farmURL)
		eps, err := endpointfile.Parse(file, []string{endpoint.DefaultLocation})
		if err != nil {
			return fmt.Errorf("bench: %s endpoints: %w", workload, err)
		}
		for _, mode := range opt.Modes {
			for run := 1; run <= opt.Runs; run++ {
				// The floor first, then the project, so that a change in
				// the machine's load between runs touches both alike.
				for _, side := range []string{SideFloor, SideWatcher} {
					db := fmt.Sprintf("bench_%s_%s_%s_%d", workload, mode, side, run)
					if err := cluster.CreateDatabaseFrom(ctx, db, template); err != nil {
						return fmt.Errorf("bench: %w", err)
					}
					if err := importEndpoints(ctx, cluster.URL(db), eps, opt.Log); err != nil {
						return err
					}
					cfg := ChildConfig{
						Workload: workload, Side: side, Mode: mode, Run: run,
						DatabaseURL: bouncer.URLFor(localpg.Superuser, db),
						StatsURL:    bouncer.URLFor(localpg.Superuser, "pgbouncer") + "&default_query_exec_mode=simple_protocol",
						Database:    db,
						Warmup:      opt.Warmup,
						Window:      opt.Window,
						ProbeCPU:    opt.ProbeCPU,
						FarmCPU:     opt.FarmCPU,
					}
					if opt.Profiles != "" {
						cfg.Profile = filepath.Join(opt.Profiles, fmt.Sprintf("%s-%s-%s-%d.pprof", workload, mode, side, run))
					}
					fmt.Fprintf(opt.Out, "%s  %s %s %s run %d: warm-up %s, window %s\n",
						time.Now().Format("15:04:05"), workload, mode, side, run, opt.Warmup, opt.Window)
					f, err := runChild(ctx, opt.Exe, opt.ProbeCPU, cfg)
					if err != nil {
						return err
					}
					fmt.Fprintf(opt.Out, "          %s\n", f.brief())
					all = append(all, f)
					_ = cluster.DropDatabase(ctx, db) // keep the disk small; the next run has its own
				}
			}
		}
	}

	var micro *Micro
	if opt.Micro != "" {
		m, err := ParseMicro(opt.Micro)
		if err != nil {
			return err
		}
		micro = &m
	}
	fmt.Fprintln(opt.Out)
	writeTable(opt.Out, Report{Machine: machine, Options: opt, Runs: all, Micro: micro, Date: time.Now()})
	return nil
}

// pin moves this process (every thread) to cpu, so the processes it starts
// inherit that core.
func pin(ctx context.Context, cpu int) error {
	out, err := exec.CommandContext(ctx, "taskset", "-a", "-p", "-c", strconv.Itoa(cpu), strconv.Itoa(os.Getpid())).CombinedOutput()
	if err != nil {
		return fmt.Errorf("bench: pin to CPU %d: %w: %s", cpu, err, bytes.TrimSpace(out))
	}
	return nil
}

// startFarm runs `watcher targets` on a free loopback port, pinned to cpu
// (negative: not pinned), and returns its URL once it answers.
func startFarm(ctx context.Context, exe string, cpu int) (string, func(), error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("bench: find a port for the farm: %w", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	cmd := exec.CommandContext(context.WithoutCancel(ctx), "taskset", "-c", strconv.Itoa(cpu), exe, "targets", "--addr", addr)
	if cpu < 0 {
		cmd = exec.CommandContext(context.WithoutCancel(ctx), exe, "targets", "--addr", addr)
	}
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	cmd.Stderr = os.Stderr
	if err := deathsig.Start(cmd, syscall.SIGKILL); err != nil {
		return "", nil, fmt.Errorf("bench: start the target farm: %w", err)
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	url := "http://" + addr
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := ready(ctx, url+"/site/0?delay=0&status=200")
		if err == nil {
			return url, stop, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			stop()
			return "", nil, fmt.Errorf("bench: the target farm on %s did not answer: %w", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ready checks that url answers 200.
func ready(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// importEndpoints stores the workload's endpoints in the run's database.
func importEndpoints(ctx context.Context, url string, eps []endpoint.Endpoint, log *slog.Logger) error {
	st, err := store.Open(ctx, url, store.WithLogger(log))
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer st.Close()
	if _, err := st.ImportEndpoints(ctx, eps, true); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}

// runChild runs one measured run in a child process pinned to cpu.
func runChild(ctx context.Context, exe string, cpu int, cfg ChildConfig) (Figures, error) {
	arg, err := json.Marshal(cfg)
	if err != nil {
		return Figures{}, fmt.Errorf("bench: %w", err)
	}
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, "taskset", "-c", strconv.Itoa(cpu), exe, "bench", "--child", string(arg))
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
	err = deathsig.Start(cmd, syscall.SIGKILL)
	if err == nil {
		err = cmd.Wait()
	}
	if err != nil {
		return Figures{}, fmt.Errorf("bench: %s %s %s run %d: %w", cfg.Workload, cfg.Mode, cfg.Side, cfg.Run, err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var f Figures
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &f); err != nil {
		return Figures{}, fmt.Errorf("bench: %s %s %s run %d: read figures: %w", cfg.Workload, cfg.Mode, cfg.Side, cfg.Run, err)
	}
	return f, nil
}

// Machine describes where the benchmark ran.
type Machine struct {
	CPU      string
	Cores    int
	MemoryGB float64
	Kernel   string
	Go       string
	Postgres string
}

func describeMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %f kB", &kb); err == nil {
			m.MemoryGB = kb / (1 << 20)
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// serverVersion is PostgreSQL's version, "" when it cannot be read.
func serverVersion(ctx context.Context, url string) string {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return ""
	}
	defer conn.Close(ctx)
	return conn.PgConn().ParameterStatus("server_version")
}
