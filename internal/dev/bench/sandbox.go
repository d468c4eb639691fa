package bench

// The Lambda-sized sandbox (issue 11, item 1): the real probe bootstrap
// under the Runtime Interface Emulator, inside a cgroup v1 group whose CPU
// quota is the function's share of a vCPU (memory / 1,769) and whose memory
// limit is the function's memory, with RLIMIT_NOFILE 1,024, against the
// target farm in a process of its own. See RunSandbox.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/watcher-dev/watcher/internal/config"
	"github.com/watcher-dev/watcher/internal/cost"
	"github.com/watcher-dev/watcher/internal/dev/localpg"
	"github.com/watcher-dev/watcher/internal/dev/targets"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/probe"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/store"
)

// Kinds of sandbox run.
const (
	// KindSandbox: the function's memory as its memory limit and its share
	// of a vCPU as its CPU quota, RLIMIT_NOFILE as Lambda sets it.
	KindSandbox = "sandbox"
	// KindBaseline: the same shard with no limits (the group only counts),
	// the reference for the response-time error.
	KindBaseline = "baseline"
	// KindHang: a sandboxed shard whose every target hangs until the
	// check's timeout.
	KindHang = "hang"
)

// Sandbox workload constants: the fixed-delay targets' interval (the
// busiest an endpoint may be) and timeout (never above the interval).
const (
	sandboxInterval = endpoint.MinInterval
	sandboxTimeout  = endpoint.MinInterval
	// lambdaNoFile is Lambda's limit on a function's open file descriptors.
	lambdaNoFile = 1024
	// sandboxRegion prices the invocations: us-east-1, the price table's
	// first tier; sandboxArch as infra deploys the probes.
	sandboxRegion = "us-east-1"
	sandboxArch   = cost.ARM64
)

// SandboxOptions configure RunSandbox. Zero values take the defaults.
type SandboxOptions struct {
	MemoryMB []int // function memory sizes; default 128, 192, 256, 512, 1024, 1769
	// Shards are shard sizes in checks per 60 s span; default 2000, 5000, 12000.
	// Each is a shard of the Workload's endpoints.
	Shards []int
	// Workload is what the shards check: WorkloadFixed (the default),
	// fixed-delay endpoints (100 ms, 2 KB, regex "welcome") every 5 s; or
	// WorkloadReference, the reference workload's first endpoints (the
	// farm's default mix, one reply in five after 1 s and the rest after
	// 10 ms, intervals 5..30 s, regex ".*welcome"), as many as make the
	// shard's checks a span.
	Workload string
	// Window is the stretch of planned instants each run measures, at the
	// shard's rate; at most a span (60 s); default 45 s.
	Window time.Duration
	// Lead is how long before the window's first instant the shard is
	// invoked; default the fanout's dispatch lead (2 s).
	Lead time.Duration
	// Period is the CFS period of the quota; default 20 ms, what Lambda's
	// throttling has been observed to use.
	Period time.Duration
	NoFile int // RLIMIT_NOFILE inside the sandbox; default 1,024
	// GOMAXPROCS set in the function's environment; default (0) or
	// negative: not set, as in Lambda, so the function chooses
	// (app.TuneRuntime: one P below a whole vCPU, where Go itself would see
	// the two vCPUs Lambda shows at any memory size up to 3,008 MB).
	GOMAXPROCS int
	// NoBaseline skips the runs without limits.
	NoBaseline bool
	// HangTimeouts: one hanging run per timeout (the endpoints' interval
	// too, so each holds one socket all the time); default 10 s, 30 s.
	// NoHang skips them.
	HangTimeouts []time.Duration
	NoHang       bool
	HangMemoryMB int // default the probes' (cost.NominalProbeMemoryMB)
	HangChecks   int // checks per span of the hanging shard; default the largest of Shards
	// NoPin lets every process run on any core. By default the function
	// runs on SandboxCPU and everything else this command starts (the
	// farm, PostgreSQL, the emulator, this process) on FarmCPU.
	NoPin      bool
	SandboxCPU int // default 1
	FarmCPU    int // default 0
	// Bootstrap and RIE are prebuilt binaries (the probe function for this
	// machine, built with -tags lambda.norpc, and aws-lambda-rie); empty
	// builds them from the module in the working directory.
	Bootstrap string
	RIE       string
	// WaitQuiet, when set, holds each run back (at most this long) until
	// the function's core has been nearly idle (others under 10 %) for 3 s,
	// on a machine shared with other work.
	WaitQuiet time.Duration
	// RetryNoisy measures a run again, at most this many times, when other
	// work kept the function's core more than 10 % busy during it; the
	// quietest measurement is kept. Negative: never. (Zero takes the
	// default, 1.)
	RetryNoisy int
	// JSON, when set, is a file the report is written to as JSON as well.
	JSON string
	// Logs is a directory to keep each run's emulator and function output
	// in; empty keeps them only for the run's duration (a failed run's tail
	// is printed).
	Logs string
	Exe  string       `json:"-"` // the watcher binary (farm, wrapper); default this one
	Out  io.Writer    `json:"-"` // progress and the table; default stdout
	Log  *slog.Logger `json:"-"`
}

func (o *SandboxOptions) defaults() error {
	if len(o.MemoryMB) == 0 {
		o.MemoryMB = []int{128, cost.NominalProbeMemoryMB, 256, 512, 1024, cost.FullVCPUMemoryMB}
	}
	if len(o.Shards) == 0 {
		o.Shards = []int{2000, 5000, 12000}
	}
	if o.Workload == "" {
		o.Workload = WorkloadFixed
	}
	if o.Window <= 0 {
		o.Window = 45 * time.Second
	}
	if o.Lead <= 0 {
		o.Lead = config.DefaultDispatchLead
	}
	if o.Period <= 0 {
		o.Period = 20 * time.Millisecond
	}
	if o.NoFile <= 0 {
		o.NoFile = lambdaNoFile
	}
	if len(o.HangTimeouts) == 0 {
		o.HangTimeouts = []time.Duration{10 * time.Second, 30 * time.Second}
	}
	if o.HangMemoryMB <= 0 {
		o.HangMemoryMB = cost.NominalProbeMemoryMB
	}
	if o.HangChecks <= 0 {
		o.HangChecks = slices.Max(o.Shards)
	}
	if o.SandboxCPU == 0 && o.FarmCPU == 0 {
		o.SandboxCPU = 1
	}
	if o.RetryNoisy == 0 {
		o.RetryNoisy = 1
	}
	o.RetryNoisy = max(o.RetryNoisy, 0)
	var problems []string
	if o.Workload != WorkloadFixed && o.Workload != WorkloadReference {
		problems = append(problems, fmt.Sprintf("workload %q is neither %s nor %s", o.Workload, WorkloadFixed, WorkloadReference))
	}
	for _, m := range o.MemoryMB {
		if m < 128 || m > 10240 {
			problems = append(problems, fmt.Sprintf("memory %d MB is outside Lambda's 128..10,240 MB", m))
		}
	}
	for _, s := range append(slices.Clone(o.Shards), o.HangChecks) {
		if s < 12 || s > 100_000 {
			problems = append(problems, fmt.Sprintf("shard size %d is outside 12..100,000 checks per span", s))
		}
	}
	if o.Window > plan.SpanLength {
		problems = append(problems, fmt.Sprintf("window %s is longer than a span (%s)", o.Window, plan.SpanLength))
	}
	if o.Window < sandboxInterval {
		problems = append(problems, fmt.Sprintf("window %s is shorter than the targets' interval (%s)", o.Window, sandboxInterval))
	}
	if o.Period < time.Millisecond || o.Period > time.Second {
		problems = append(problems, fmt.Sprintf("CFS period %s is outside 1ms..1s", o.Period))
	}
	for _, t := range o.HangTimeouts {
		if t < endpoint.MinInterval || t > endpoint.MaxInterval {
			problems = append(problems, fmt.Sprintf("hanging timeout %s is outside %s..%s (it is the endpoints' interval too)",
				t, endpoint.MinInterval, endpoint.MaxInterval))
		}
	}
	if !o.NoPin {
		if n := runtime.NumCPU(); o.SandboxCPU >= n || o.FarmCPU >= n || o.SandboxCPU == o.FarmCPU || o.SandboxCPU < 0 || o.FarmCPU < 0 {
			problems = append(problems, fmt.Sprintf("this machine has %d cores; --sandbox-cpu %d and --farm-cpu %d must name two of them (or --pin=false)",
				n, o.SandboxCPU, o.FarmCPU))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("bench sandbox: %s", strings.Join(problems, "; "))
	}
	return processDefaults(&o.Exe, &o.Out, &o.Log)
}

// SandboxRun is one measured run.
type SandboxRun struct {
	Kind     string `json:"kind"`
	Workload string `json:"workload,omitempty"` // of a sandbox or baseline run
	MemoryMB int    `json:"memory_mb"`          // the function's memory size (its price; its limits when sandboxed)
	// Checks is the shard's size in checks per 60 s span, which sets its
	// rate; the run measures Window of it.
	Checks    int           `json:"checks"`
	Endpoints int           `json:"endpoints"`
	Interval  time.Duration `json:"interval"` // 0: the reference's, 5..30 s
	Timeout   time.Duration `json:"timeout"`
}

// every says how often the run's endpoints are checked.
func (r SandboxRun) every() string {
	if r.Interval == 0 {
		return "5..30s"
	}
	return r.Interval.String()
}

// Limited reports whether the run has the function's limits.
func (r SandboxRun) Limited() bool { return r.Kind != KindBaseline }

func (r SandboxRun) String() string {
	what := "checks/span"
	if r.Workload == WorkloadReference {
		what = "reference checks/span"
	}
	switch r.Kind {
	case KindBaseline:
		return fmt.Sprintf("no sandbox, %d %s", r.Checks, what)
	case KindHang:
		return fmt.Sprintf("hanging, %d MB, %d checks/span, timeout %s", r.MemoryMB, r.Checks, r.Timeout)
	}
	return fmt.Sprintf("%d MB, %d %s", r.MemoryMB, r.Checks, what)
}

// slug names the run's files.
func (r SandboxRun) slug() string {
	switch r.Kind {
	case KindBaseline:
		return fmt.Sprintf("baseline-%s-%d", r.Workload, r.Checks)
	case KindHang:
		return fmt.Sprintf("hang-%dmb-%d-%s", r.MemoryMB, r.Checks, r.Timeout)
	}
	return fmt.Sprintf("sandbox-%s-%dmb-%d", r.Workload, r.MemoryMB, r.Checks)
}

// sandboxRuns lists the runs in order: for each shard size, the baseline
// then each memory size, smallest first; then the hanging runs.
func sandboxRuns(o SandboxOptions) []SandboxRun {
	var out []SandboxRun
	for _, n := range o.Shards {
		if !o.NoBaseline {
			out = append(out, shardRun(o.Workload, KindBaseline, cost.FullVCPUMemoryMB, n))
		}
		for _, m := range o.MemoryMB {
			out = append(out, shardRun(o.Workload, KindSandbox, m, n))
		}
	}
	if !o.NoHang {
		for _, t := range o.HangTimeouts {
			out = append(out, SandboxRun{Kind: KindHang, MemoryMB: o.HangMemoryMB, Checks: o.HangChecks,
				Endpoints: endpointsFor(o.HangChecks, t), Interval: t, Timeout: t})
		}
	}
	return out
}

func shardRun(workload, kind string, memoryMB, checks int) SandboxRun {
	if workload == WorkloadReference {
		return SandboxRun{Kind: kind, Workload: workload, MemoryMB: memoryMB, Checks: checks,
			Endpoints: referenceEndpointsFor(checks), Timeout: sandboxTimeout}
	}
	return SandboxRun{Kind: kind, Workload: workload, MemoryMB: memoryMB, Checks: checks,
		Endpoints: endpointsFor(checks, sandboxInterval), Interval: sandboxInterval, Timeout: sandboxTimeout}
}

// referenceEndpointsFor is how many of the reference workload's endpoints,
// from the first, make at least checks checks a span.
func referenceEndpointsFor(checks int) int {
	var n int
	var perSpan float64
	// Every endpoint is checked at least twice a span: checks endpoints
	// are more than enough.
	for _, iv := range targets.ReferenceIntervals(checks, referenceSeed) {
		if perSpan >= float64(checks) {
			break
		}
		perSpan += float64(plan.SpanLength) / float64(iv)
		n++
	}
	return n
}

// endpointsFor is how many endpoints at interval make about checks checks a
// span.
func endpointsFor(checks int, interval time.Duration) int {
	return max(1, int(math.Round(float64(checks)*float64(interval)/float64(plan.SpanLength))))
}

// sandboxEndpoints are the run's endpoints against the farm: fixed replies
// (100 ms, 2 KB, regex "welcome"), the reference's (the farm's default
// mix), or /hang/ targets that never answer.
func sandboxEndpoints(farmURL string, r SandboxRun) []endpoint.Endpoint {
	base := strings.TrimSuffix(farmURL, "/")
	eps := make([]endpoint.Endpoint, r.Endpoints)
	var intervals []time.Duration
	if r.Kind != KindHang && r.Workload == WorkloadReference {
		intervals = targets.ReferenceIntervals(r.Endpoints, referenceSeed)
	}
	for i := range eps {
		ep := endpoint.Endpoint{
			ID: int64(i + 1), Method: endpoint.DefaultMethod, Interval: r.Interval, Timeout: r.Timeout,
			Location: endpoint.DefaultLocation, Enabled: true,
		}
		switch {
		case r.Kind == KindHang:
			ep.URL = fmt.Sprintf("%s/%s/%d", base, targets.ModeHang, i)
		case intervals != nil:
			ep.URL = fmt.Sprintf("%s/site/%d", base, i)
			ep.Interval, ep.Regex = intervals[i], targets.ReferenceRegex
		default:
			ep.URL = fmt.Sprintf("%s/site/%d?%s", base, i, targets.FixedReply().Query())
			ep.Regex = "welcome"
		}
		eps[i] = ep
	}
	return eps
}

// SandboxRow is what one run measured.
type SandboxRow struct {
	Run SandboxRun `json:"run"`

	Due       int `json:"due"`       // checks planned in the window
	Planned   int `json:"planned"`   // the invocation's summary
	Done      int `json:"done"`      // the invocation's summary
	Rows      int `json:"rows"`      // rows in checks for the window
	Failed    int `json:"failed"`    // rows with an error class
	Wrong     int `json:"wrong"`     // rows unlike the farm's known reply
	Unwritten int `json:"unwritten"` // the summary's
	Missed    int `json:"missed"`    // the summary's, deadline and retry

	Errors map[string]int `json:"errors"` // rows by error class

	LatenessP50, LatenessP99, LatenessMax time.Duration
	ErrP50, ErrP99, ErrMax                time.Duration // response time minus the farm's delay, successful checks

	PeakRSS    int64 `json:"peak_rss"`    // the function's VmHWM
	CgroupPeak int64 `json:"cgroup_peak"` // memory.max_usage_in_bytes: the function, its worker, page cache
	OOMKills   int64 `json:"oom_kills"`
	PeakFDs    int   `json:"peak_fds"` // open descriptors of the group's processes, sampled every 50 ms
	NoFile     string

	Wall  time.Duration `json:"wall"`  // the invocation, as the caller saw it
	Quota float64       `json:"quota"` // cores; 0 unlimited
	Usage cgroupUsage   `json:"usage"` // over the invocation

	Billed   time.Duration `json:"billed"`
	CostUSD  float64       `json:"cost_usd"`
	Recorded int           `json:"recorded_memory_mb"` // the memory the invocation priced itself at
	// FullSpanCostPerCheck is the cost of a check when the same shard runs
	// a whole span as the fleet runs it: the invocation's billed time with
	// the rest of the span (and the fanout's dispatch lead in place of
	// Lead), over the span's checks.
	FullSpanCostPerCheck float64 `json:"full_span_cost_per_check"`

	EMFILELog int    `json:"emfile_log"` // "too many open files" in the emulator's and function's output
	Note      string `json:"note,omitempty"`
	// OthersBusy is how busy other processes kept the function's core
	// during the invocation (pinned runs only).
	OthersBusy float64 `json:"others_busy"`
	Attempts   int     `json:"attempts"` // measurements made; the quietest is kept
}

// noisyShare is how busy other work may keep the function's core before a
// run counts as measured on a shared core.
const noisyShare = 0.10

// Noisy reports whether other work kept the function's core busy enough to
// cloud the run's figures.
func (r *SandboxRow) Noisy() bool { return r.OthersBusy > noisyShare }

// CostPerCheck is the invocation's cost over the checks it did.
func (r *SandboxRow) CostPerCheck() float64 {
	if r.Done == 0 {
		return 0
	}
	return r.CostUSD / float64(r.Done)
}

// CPUPerCheck is the CPU the function used over the invocation per check done.
func (r *SandboxRow) CPUPerCheck() time.Duration {
	if r.Done == 0 {
		return 0
	}
	return r.Usage.CPU / time.Duration(r.Done)
}

// CPUOfQuota is the CPU the function used over what its quota allows for
// the invocation's wall time; without a quota, over one core.
func (r *SandboxRow) CPUOfQuota() float64 {
	q := r.Quota
	if q == 0 {
		q = 1
	}
	if r.Wall <= 0 {
		return 0
	}
	return float64(r.Usage.CPU) / (float64(r.Wall) * q)
}

// ThrottledShare is the share of the CFS periods with runnable work whose
// quota ran out.
func (r *SandboxRow) ThrottledShare() float64 {
	if r.Usage.Periods == 0 {
		return 0
	}
	return float64(r.Usage.Throttled) / float64(r.Usage.Periods)
}

// SandboxReport is what the table shows.
type SandboxReport struct {
	Date     time.Time
	Machine  Machine
	Options  SandboxOptions
	Rows     []SandboxRow
	Took     time.Duration
	LoadAvg  [2]string // at the start and the end
	Problems []string  // runs that could not be measured
}

// sandboxEnv is what every run shares.
type sandboxEnv struct {
	opt       SandboxOptions
	dir       string
	logs      string
	cluster   *localpg.Cluster
	template  string
	farmURL   string
	bases     map[string]string
	bootstrap string
	rie       string
}

// RunSandbox measures the probe function in a Lambda-sized sandbox: it
// builds the probe bootstrap for this machine and the Runtime Interface
// Emulator, starts a throwaway PostgreSQL (migrated) and the target farm in
// a process of its own, then for each shard size runs a baseline without
// limits and each memory size in a cgroup v1 group (CPU quota memory/1,769
// of a vCPU per CFS period, memory limit, RLIMIT_NOFILE), invoking the
// emulator with a real shard payload, and finally the hanging shards. It
// prints one Markdown table and the verdicts. Cgroups and processes are
// cleaned up on every exit path, Ctrl-C included.
func RunSandbox(ctx context.Context, opt SandboxOptions) error {
	began := time.Now()
	if err := opt.defaults(); err != nil {
		return err
	}
	bases, err := ownCgroups("bench sandbox")
	if err != nil {
		return err
	}

	dir, err := os.MkdirTemp("", "watcher-sandbox-")
	if err != nil {
		return fmt.Errorf("bench sandbox: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil { // the postgres user works in it
		return fmt.Errorf("bench sandbox: %w", err)
	}
	env := &sandboxEnv{opt: opt, dir: dir, logs: opt.Logs, bases: bases, bootstrap: opt.Bootstrap, rie: opt.RIE}
	if env.logs == "" {
		env.logs = filepath.Join(dir, "logs")
	}
	if err := os.MkdirAll(env.logs, 0o755); err != nil {
		return fmt.Errorf("bench sandbox: %w", err)
	}
	if err := env.build(ctx); err != nil {
		return err
	}

	machine := describeMachine()
	report := SandboxReport{Machine: machine, Options: opt}
	report.LoadAvg[0] = loadAvg()
	farmCPU := -1
	if !opt.NoPin {
		farmCPU = opt.FarmCPU
		// PostgreSQL, the farm and the emulator inherit this core.
		if err := pin(ctx, opt.FarmCPU); err != nil {
			return err
		}
	}
	fmt.Fprintf(opt.Out, "starting PostgreSQL and the target farm%s\n", onCPU(farmCPU))
	env.cluster, err = localpg.Start(ctx, filepath.Join(dir, "pg"), localpg.Options{DieWithProcess: true, Logger: opt.Log})
	if err != nil {
		return fmt.Errorf("bench sandbox: %w", err)
	}
	defer func() { _ = env.cluster.Stop(context.WithoutCancel(ctx)) }()
	env.template = "sandbox_template"
	if err := env.cluster.CreateDatabase(ctx, env.template); err != nil {
		return fmt.Errorf("bench sandbox: %w", err)
	}
	if err := store.Migrate(ctx, env.cluster.URL(env.template), store.WithLogger(opt.Log)); err != nil {
		return fmt.Errorf("bench sandbox: %w", err)
	}
	report.Machine.Postgres = serverVersion(ctx, env.cluster.URL(env.template))
	farmURL, stopFarm, err := startFarm(ctx, opt.Exe, farmCPU)
	if err != nil {
		return err
	}
	defer stopFarm()
	env.farmURL = farmURL

	runs := sandboxRuns(opt)
	fnCPU := -1
	if !opt.NoPin {
		fnCPU = opt.SandboxCPU
	}
	fmt.Fprintf(opt.Out, "%d runs of about %s each; the function%s with GOMAXPROCS=%s, RLIMIT_NOFILE %d, CFS period %s\n",
		len(runs), opt.Window+opt.Lead+2*time.Second, onCPU(fnCPU), gomaxprocs(opt.GOMAXPROCS), opt.NoFile, opt.Period)
	for i, run := range runs {
		var best *SandboxRow
		for attempt := 0; ; attempt++ {
			fmt.Fprintf(opt.Out, "%s  %s: %d endpoints every %s, window %s\n",
				time.Now().Format("15:04:05"), run, run.Endpoints, run.every(), opt.Window)
			if opt.WaitQuiet > 0 && !opt.NoPin {
				if waited, quiet := waitQuiet(ctx, opt.SandboxCPU, opt.WaitQuiet); !quiet && ctx.Err() == nil {
					fmt.Fprintf(opt.Out, "          CPU %d still busy after %s; measuring anyway\n", opt.SandboxCPU, waited.Round(time.Second))
				}
			}
			row, err := env.measure(ctx, i*10+attempt, run)
			if ctx.Err() != nil {
				return fmt.Errorf("bench sandbox: interrupted (%w); its cgroups and processes are removed", ctx.Err())
			}
			if err != nil {
				// One run that cannot be measured (a function that will
				// not start, say) does not lose the others.
				fmt.Fprintf(opt.Out, "          FAILED: %v\n", err)
				report.Problems = append(report.Problems, fmt.Sprintf("%s: %v", run, err))
				break
			}
			row.Attempts = attempt + 1
			fmt.Fprintf(opt.Out, "          %s\n", row.brief())
			if best == nil || row.OthersBusy < best.OthersBusy {
				best = &row
			}
			if !row.Noisy() || attempt >= opt.RetryNoisy || opt.NoPin {
				break
			}
			fmt.Fprintf(opt.Out, "          other work kept CPU %d %.0f%% busy: measuring again\n", opt.SandboxCPU, 100*row.OthersBusy)
		}
		if best != nil {
			report.Rows = append(report.Rows, *best)
		}
	}
	report.LoadAvg[1] = loadAvg()
	report.Date, report.Took = time.Now(), time.Since(began)
	fmt.Fprintln(opt.Out)
	writeSandboxTable(opt.Out, report)
	if opt.JSON != "" {
		b, err := json.MarshalIndent(report, "", "  ")
		if err == nil {
			err = os.WriteFile(opt.JSON, b, 0o644)
		}
		if err != nil {
			return fmt.Errorf("bench sandbox: write %s: %w", opt.JSON, err)
		}
	}
	return nil
}

func onCPU(cpu int) string {
	if cpu < 0 {
		return ""
	}
	return fmt.Sprintf(" on CPU %d", cpu)
}

func gomaxprocs(n int) string {
	if n <= 0 {
		return "(the function's choice)"
	}
	return strconv.Itoa(n)
}

// build makes the probe bootstrap (for this machine, as make functions
// builds it for arm64) and the emulator, unless given.
func (e *sandboxEnv) build(ctx context.Context) error {
	for _, p := range []*string{&e.bootstrap, &e.rie} {
		if *p == "" {
			continue
		}
		if fi, err := os.Stat(*p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return fmt.Errorf("bench sandbox: %s is not an executable file", *p)
		}
		abs, err := filepath.Abs(*p) // the emulator and the function run elsewhere
		if err != nil {
			return fmt.Errorf("bench sandbox: %w", err)
		}
		*p = abs
	}
	if e.bootstrap != "" && e.rie != "" {
		return nil
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.opt.Out, "building the probe bootstrap (linux/%s, lambda.norpc) and aws-lambda-rie\n", runtime.GOARCH)
	gobuild := func(out string, env []string, args ...string) error {
		cmd := exec.CommandContext(ctx, "go", append([]string{"build", "-o", out}, args...)...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), env...)
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("bench sandbox: go build %s: %w\n%s", args[len(args)-1], err, b)
		}
		return nil
	}
	if e.bootstrap == "" {
		e.bootstrap = filepath.Join(e.dir, "bootstrap")
		if err := gobuild(e.bootstrap, []string{"GOOS=linux", "GOARCH=" + runtime.GOARCH, "CGO_ENABLED=0"},
			"-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "./functions/probe"); err != nil {
			return err
		}
	}
	if e.rie == "" {
		e.rie = filepath.Join(e.dir, "aws-lambda-rie")
		if err := gobuild(e.rie, []string{"CGO_ENABLED=0"}, "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"); err != nil {
			return err
		}
	}
	return nil
}

// moduleRoot is the directory of this module's go.mod, from the working
// directory.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", errors.New("bench sandbox: run it from the watcher repository (it builds the probe bootstrap), or give --bootstrap and --rie")
	}
	b, err := os.ReadFile(gomod)
	if err != nil {
		return "", fmt.Errorf("bench sandbox: %w", err)
	}
	if !bytes.HasPrefix(b, []byte("module github.com/watcher-dev/watcher\n")) {
		return "", fmt.Errorf("bench sandbox: %s is not watcher's go.mod; run it from the repository, or give --bootstrap and --rie", gomod)
	}
	return filepath.Dir(gomod), nil
}

// measure runs one shard in its own database, group and emulator.
func (e *sandboxEnv) measure(ctx context.Context, i int, run SandboxRun) (SandboxRow, error) {
	opt := e.opt
	row := SandboxRow{Run: run, Errors: map[string]int{}}
	db := fmt.Sprintf("sandbox_%03d", i)
	if err := e.cluster.CreateDatabaseFrom(ctx, db, e.template); err != nil {
		return row, err
	}
	defer func() { _ = e.cluster.DropDatabase(context.WithoutCancel(ctx), db) }()

	var quota time.Duration
	var memory int64
	if run.Limited() {
		quota, memory = cpuQuota(run.MemoryMB, opt.Period), int64(run.MemoryMB)<<20
		row.Quota = float64(quota) / float64(opt.Period)
	}
	g, err := newCgroup(e.bases, fmt.Sprintf("%s%d-%d", cgroupPrefix, os.Getpid(), i), opt.Period, quota, memory)
	if err != nil {
		return row, err
	}
	defer func() {
		if err := g.remove(); err != nil {
			fmt.Fprintf(opt.Out, "          cleanup: %v\n", err)
		}
	}()

	// The function's timeout, as infra sizes the probe's (ProbeTimeout):
	// the span (here the window) and its offset (the lead), the longest
	// check timeout an endpoint may have and a margin. A probe starts no
	// check it could not finish by then, so a shorter one would leave
	// checks missed that a deployed probe runs.
	timeout := opt.Lead + opt.Window + endpoint.MaxInterval + 30*time.Second
	xc := execConfig{Bootstrap: e.bootstrap, Procs: g.procsFiles(), CPU: -1, GOMAXPROCS: max(opt.GOMAXPROCS, 0)}
	if !opt.NoPin {
		xc.CPU = opt.SandboxCPU
	}
	if run.Limited() {
		xc.NoFile = uint64(opt.NoFile)
	}
	logPath := filepath.Join(e.logs, run.slug()+".log")
	rie, err := startSandboxRIE(ctx, e.rie, opt.Exe, xc, []string{
		"AWS_LAMBDA_FUNCTION_TIMEOUT=" + strconv.Itoa(int(timeout.Seconds()+0.999)),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(run.MemoryMB),
		"DATABASE_URL=" + e.cluster.URL(db),
		"WATCHER_LOCATION=" + endpoint.DefaultLocation,
		"WATCHER_ALLOW_LOOPBACK=true",
		"WATCHER_ARCH=" + sandboxArch,
	}, e.dir, logPath)
	if err != nil {
		return row, err
	}
	defer rie.stop()
	fail := func(err error) (SandboxRow, error) {
		return row, fmt.Errorf("%w\n%s", err, indent(logTail(logPath, 15)))
	}

	// The emulator starts the function at its first invocation: a payload
	// for another location makes the handler return at once, so the
	// measured invocation finds it warm, as the fleet's minute-by-minute
	// invocations do.
	warm, err := rie.invoke(ctx, []byte(`{"location":"bench-sandbox-warm-up"}`), time.Minute)
	if !bytes.Contains(warm, []byte("reached the probe")) {
		if err == nil {
			err = fmt.Errorf("the function answered %.300s", warm)
		}
		return fail(fmt.Errorf("cold start: %w", err))
	}
	pids := g.pids()
	if len(pids) == 0 {
		return fail(errors.New("the function is not in its cgroup"))
	}
	fn := pids[0]
	row.NoFile = nofileLimit(fn)

	eps := sandboxEndpoints(e.farmURL, run)
	start := time.Now().Add(opt.Lead).Truncate(time.Millisecond)
	span := plan.Span{Start: start, End: start.Add(opt.Window)}
	shards := plan.Plan(eps, span, plan.Options{MaxChecks: math.MaxInt32, MaxPayloadBytes: plan.DefaultOptions.MaxPayloadBytes,
		MaxJSONBytes: plan.DefaultOptions.MaxJSONBytes})
	if len(shards) != 1 {
		return row, fmt.Errorf("the planner packed %d shards, want one", len(shards))
	}
	// The payload the fanout would send, compressed when large, so the
	// function decodes what it decodes in the fleet.
	payload, err := shards[0].Encoded()
	if err != nil {
		return row, err
	}
	row.Due = plan.Count(eps, span)

	sampler := sampleFDs(g, 50*time.Millisecond)
	cores := [2]int{-1, -1}
	if !opt.NoPin {
		cores = [2]int{opt.SandboxCPU, -1}
	}
	busy0, use0, t0 := coresBusy(cores), g.usage(), time.Now()
	out, invokeErr := rie.invoke(ctx, payload, timeout+30*time.Second)
	row.Wall = time.Since(t0)
	row.Usage = g.usage().sub(use0)
	if !opt.NoPin {
		others := coresBusy(cores)[0] - busy0[0] - row.Usage.CPU
		row.OthersBusy = max(0, float64(others)/float64(row.Wall))
	}
	row.PeakFDs = sampler.stop()
	row.PeakRSS = peakRSS(fn)
	row.CgroupPeak, row.OOMKills = g.memoryPeak()
	if ctx.Err() != nil {
		return row, ctx.Err()
	}
	if invokeErr != nil {
		row.Note = "invocation failed: " + invokeErr.Error()
	} else {
		var sum probe.Summary
		if err := json.Unmarshal(out, &sum); err != nil || sum.Planned == 0 {
			row.Note = fmt.Sprintf("the function answered %.300s", out)
		}
		row.Planned, row.Done, row.Unwritten, row.Missed = sum.Planned, sum.Done, sum.Unwritten, sum.MissedDeadline+sum.MissedRetry
	}
	if row.OOMKills > 0 {
		row.Note = strings.TrimPrefix(row.Note+fmt.Sprintf("; OOM killer: %d", row.OOMKills), "; ")
	}
	row.EMFILELog = countInFile(logPath, "too many open files")

	if err := e.readBack(ctx, db, eps, span, t0, &row); err != nil {
		return row, err
	}
	return row, nil
}

// readBack fills the row from what the function stored: its checks and its
// invocation record.
func (e *sandboxEnv) readBack(ctx context.Context, db string, eps []endpoint.Endpoint, span plan.Span, since time.Time, row *SandboxRow) error {
	st, err := store.Open(ctx, e.cluster.URL(db), store.WithLogger(e.opt.Log))
	if err != nil {
		return err
	}
	defer st.Close()
	checks, err := st.Checks(ctx, span.Start, span.End)
	if err != nil {
		return err
	}
	want := map[int64]expectation{}
	for i := range eps {
		if w, ok := expect(eps[i].URL); ok {
			want[eps[i].ID] = w
		}
	}
	fillChecks(row, checks, want)
	invs, err := st.Invocations(ctx, since.Add(-time.Minute))
	if err != nil {
		return err
	}
	for _, inv := range invs {
		if inv.Function != "probe" {
			continue
		}
		row.Billed, row.Recorded = inv.Billed, inv.MemoryMB
		if inv.CostUSD != nil {
			row.CostUSD = *inv.CostUSD
		}
	}
	if row.Billed > 0 && row.Run.Kind == KindSandbox {
		row.FullSpanCostPerCheck = fullSpanCostPerCheck(row.Run.MemoryMB, row.Billed, e.opt.Window, e.opt.Lead, row.Done)
	}
	return nil
}

// fillChecks sets the row's check figures from the stored checks. want
// holds the farm's known reply per endpoint (none for hanging targets).
func fillChecks(row *SandboxRow, checks []record.Check, want map[int64]expectation) {
	var lateness, errs []time.Duration
	for i := range checks {
		c := &checks[i]
		row.Rows++
		lateness = append(lateness, c.Lateness)
		if c.Error != "" {
			row.Failed++
			row.Errors[c.Error]++
			continue
		}
		w, ok := want[c.EndpointID]
		if !ok || c.StatusCode == nil || *c.StatusCode != w.status || c.RegexMatch == nil || *c.RegexMatch != w.match {
			row.Wrong++
		}
		if ok {
			errs = append(errs, c.ResponseTime-w.delay)
		}
	}
	row.LatenessP50, row.LatenessP99, row.LatenessMax = percentile(lateness, 0.50), percentile(lateness, 0.99), percentile(lateness, 1)
	row.ErrP50, row.ErrP99, row.ErrMax = percentile(errs, 0.50), percentile(errs, 0.99), percentile(errs, 1)
}

// fullSpanCostPerCheck prices a check of the shard run for a whole span as
// the fleet runs it: billed time with the rest of the span (and the
// fanout's dispatch lead in place of the run's lead), over the span's
// checks.
func fullSpanCostPerCheck(memoryMB int, billed, window, lead time.Duration, done int) float64 {
	if done == 0 || window <= 0 {
		return 0
	}
	d := billed + (plan.SpanLength - window) + (config.DefaultDispatchLead - lead)
	_, usd, _ := cost.Invocation(cost.DefaultTable().Price(sandboxRegion, sandboxArch), memoryMB, d)
	return usd / (float64(done) * float64(plan.SpanLength) / float64(window))
}

// brief is one progress line.
func (r *SandboxRow) brief() string {
	s := fmt.Sprintf("due %d, done %d, rows %d, failed %d, wrong %d; lateness p99 %s; error p50/p99 %s/%s; peak RSS %s (cgroup %s); fds %d (limit %s); CPU %.0f%% of quota, throttled %.0f%% of periods; billed %d ms, $%.3g/check",
		r.Due, r.Done, r.Rows, r.Failed, r.Wrong, msUnit(r.LatenessP99), ms(r.ErrP50), msUnit(r.ErrP99),
		mb(r.PeakRSS), mb(r.CgroupPeak), r.PeakFDs, r.NoFile, 100*r.CPUOfQuota(), 100*r.ThrottledShare(),
		r.Billed.Milliseconds(), r.CostPerCheck())
	if len(r.Errors) > 0 {
		s += "; errors " + classes(r.Errors)
	}
	if r.EMFILELog > 0 {
		s += fmt.Sprintf("; %d log lines with \"too many open files\"", r.EMFILELog)
	}
	if r.Note != "" {
		s += "; " + r.Note
	}
	return s
}

// classes is "timeout 830, connect 12", largest first.
func classes(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
