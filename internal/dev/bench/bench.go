// Package bench owns Watcher's performance benchmark (`watcher bench`, make
// bench): the workloads of issue 4 run through the project's real probe
// path (planner, probe handler, check engine, batch writer through
// pgbouncer) and through a floor (the smallest honest checker), each in a
// child process pinned to one core with GOMAXPROCS=1, against the target
// farm in a process of its own on the other core; and the table that puts
// the figures beside the targets.
//
// The parent (Run) starts a throwaway PostgreSQL and pgbouncer, the farm and
// one child per measured run (RunChild), collects each child's Figures and
// prints the table.
package bench

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/watcher-dev/watcher/internal/dev/targets"
)

// Workload names.
const (
	WorkloadFixed     = "fixed"
	WorkloadReference = "reference"
)

// Sides of a comparison: the project's probe path and the floor.
const (
	SideWatcher = "watcher"
	SideFloor   = "floor"
)

// Mode names: a fresh connection per check (the default), or connections
// kept alive between checks.
const (
	ModeFresh = "fresh"
	ModeReuse = "reuse"
)

// referenceSeed fixes the reference workload's intervals, so that every run
// plans the same checks.
const referenceSeed = 1

// Workload sizes, from the issue.
const (
	fixedURLs     = 1_000
	referenceURLs = 10_000
)

// endpointsFile returns the workload's endpoints file against the farm.
func endpointsFile(workload, farmURL string) ([]byte, error) {
	switch workload {
	case WorkloadFixed:
		return targets.FixedEndpoints(farmURL, fixedURLs), nil
	case WorkloadReference:
		return targets.ReferenceEndpoints(farmURL, referenceURLs, referenceSeed), nil
	}
	return nil, fmt.Errorf("unknown workload %q (want %s or %s)", workload, WorkloadFixed, WorkloadReference)
}

// Targets are the goals. A zero field has no target.
type Targets struct {
	CPURatio      float64       // CPU per check at most this times the floor's, same mode
	ErrP99        time.Duration // measurement error p99 at most
	LatenessP99   time.Duration // start lateness p99 at most
	DoneFraction  float64       // checks done over checks due, at least
	PeakRSSBytes  int64         // peak resident set, at most
	PlanTime      time.Duration // planning one span of 100,000 endpoints, under
	ShardBytes    int64         // every shard payload, at most
	WriterVsCopy  float64       // writer rows/s over COPY rows/s, at least
	PlanEndpoints int           // the planner benchmark's size
}

// workloadTargets returns the targets for a workload.
func workloadTargets(workload string) Targets {
	switch workload {
	case WorkloadFixed:
		return Targets{CPURatio: 1.1, ErrP99: 3 * time.Millisecond, LatenessP99: 10 * time.Millisecond}
	case WorkloadReference:
		return Targets{DoneFraction: 0.999, LatenessP99: 20 * time.Millisecond, PeakRSSBytes: 256 << 20}
	}
	return Targets{}
}

// microTargets are the micro-benchmarks' targets.
func microTargets() Targets {
	return Targets{PlanTime: 200 * time.Millisecond, ShardBytes: 1_000_000, WriterVsCopy: 0.8, PlanEndpoints: 100_000}
}

// Figures are what one measured run found. Durations are in the window
// unless named otherwise.
type Figures struct {
	Workload string `json:"workload"`
	Side     string `json:"side"`
	Mode     string `json:"mode"`
	Run      int    `json:"run"`

	Window time.Duration `json:"window"`
	Due    int           `json:"due"`    // checks planned in the window
	Done   int           `json:"done"`   // of those, measured (and, for watcher, stored)
	Failed int           `json:"failed"` // of those done, with an error class
	Wrong  int           `json:"wrong"`  // of those done, status or regex match unlike the farm's known reply

	CPU          time.Duration `json:"cpu"` // utime + stime of the process over the window
	PeakRSSBytes int64         `json:"peak_rss_bytes"`
	// ProbeCoreOthers is the share of the window that other processes
	// (and the kernel for them) kept the measured core busy; FarmCoreBusy
	// is how busy the farm's core was. Both from /proc/stat, to tell a
	// quiet run from one shared with other work.
	ProbeCoreOthers float64 `json:"probe_core_others"`
	FarmCoreBusy    float64 `json:"farm_core_busy"`

	LatenessP50 time.Duration `json:"lateness_p50"`
	LatenessP99 time.Duration `json:"lateness_p99"`
	LatenessMax time.Duration `json:"lateness_max"`

	// Measurement error: recorded response time minus the farm's injected
	// delay, over successful checks.
	ErrP50 time.Duration `json:"err_p50"`
	ErrP99 time.Duration `json:"err_p99"`
	ErrMax time.Duration `json:"err_max"`
	ErrMin time.Duration `json:"err_min"`

	Rows       int64 `json:"rows"`        // rows inserted during the window (watcher)
	RoundTrips int64 `json:"round_trips"` // queries through pgbouncer during the window (watcher)
}

// CPUPerCheck is CPU time over the window per check done.
func (f *Figures) CPUPerCheck() time.Duration {
	if f.Done == 0 {
		return 0
	}
	return f.CPU / time.Duration(f.Done)
}

// DoneFraction is done over due.
func (f *Figures) DoneFraction() float64 {
	if f.Due == 0 {
		return 0
	}
	return float64(f.Done) / float64(f.Due)
}

// RowsPerSecond is rows inserted per second of the window.
func (f *Figures) RowsPerSecond() float64 {
	if f.Window <= 0 {
		return 0
	}
	return float64(f.Rows) / f.Window.Seconds()
}

// RoundTripsPer1000 is database round trips per 1,000 rows inserted.
func (f *Figures) RoundTripsPer1000() float64 {
	if f.Rows == 0 {
		return 0
	}
	return float64(f.RoundTrips) * 1000 / float64(f.Rows)
}

// processDefaults fills what both benchmarks' options leave empty: the
// executable its children run (this one), where the table goes (stdout)
// and where logs go (nowhere).
func processDefaults(exe *string, out *io.Writer, log **slog.Logger) error {
	if *exe == "" {
		e, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find this executable: %w", err)
		}
		*exe = e
	}
	if *out == nil {
		*out = os.Stdout
	}
	if *log == nil {
		*log = slog.New(slog.DiscardHandler)
	}
	return nil
}
