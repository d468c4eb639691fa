package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/watcher-dev/watcher/internal/cost"
)

// cgroupRoot is where Linux mounts the cgroup v1 hierarchies, one directory
// per controller.
const cgroupRoot = "/sys/fs/cgroup"

// sandboxControllers are the cgroup v1 controllers a sandbox uses: cpu for
// the quota, cpuacct for the CPU it used, memory for the limit and the peak.
var sandboxControllers = []string{"cpu", "cpuacct", "memory"}

// cgroupPrefix starts the name of every group the sandbox makes; the
// creating process's pid follows, so that a later run can tell its
// predecessor's leftovers from another run's live groups.
const cgroupPrefix = "watcher-sandbox-"

// minQuota is the smallest CFS quota the kernel accepts.
const minQuota = time.Millisecond

// cpuQuota is a function's CFS quota per period: Lambda gives a function
// memoryMB / 1,769 of a vCPU.
func cpuQuota(memoryMB int, period time.Duration) time.Duration {
	q := time.Duration(math.Round(float64(period) * float64(memoryMB) / cost.FullVCPUMemoryMB / float64(time.Microsecond)))
	return max(q*time.Microsecond, minQuota)
}

// vCPU is the share of a vCPU Lambda gives memoryMB.
func vCPU(memoryMB int) float64 { return float64(memoryMB) / cost.FullVCPUMemoryMB }

// cgroupBases returns, for each sandbox controller, the directory new
// groups go under: the group this process is in (from /proc/self/cgroup's
// text), so a sandbox nests inside whatever limits its caller already has.
// Controllers mounted together (cpu,cpuacct) share one directory.
func cgroupBases(root string, self []byte) (map[string]string, error) {
	bases := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(self))
	for sc.Scan() {
		// hierarchy-ID:controller-list:path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 || parts[1] == "" {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if slices.Contains(sandboxControllers, c) {
				bases[c] = filepath.Join(root, c, parts[2])
			}
		}
	}
	var missing []string
	for _, c := range sandboxControllers {
		if bases[c] == "" {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("cgroup v1 controllers %s are not in /proc/self/cgroup (this machine may have only cgroup v2)",
			strings.Join(missing, ", "))
	}
	return bases, nil
}

// cgroup is one sandbox's group in each of the sandbox controllers.
type cgroup struct {
	dir  map[string]string // controller -> the group's directory
	dirs []string          // the distinct directories, in creation order
}

// newCgroup creates the group name under bases. A zero quota or memory
// limit leaves that resource unlimited (the group still accounts for it).
func newCgroup(bases map[string]string, name string, period, quota time.Duration, memoryBytes int64) (*cgroup, error) {
	g := &cgroup{dir: map[string]string{}}
	seen := map[string]string{}
	for _, c := range sandboxControllers {
		base, err := filepath.EvalSymlinks(bases[c])
		if err != nil {
			return nil, fmt.Errorf("cgroup v1 %s controller: %w", c, err)
		}
		dir := filepath.Join(base, name)
		g.dir[c] = dir
		if seen[dir] != "" {
			continue // co-mounted with an earlier controller
		}
		seen[dir] = c
		if err := os.Mkdir(dir, 0o755); err != nil {
			_ = g.remove()
			return nil, fmt.Errorf("create cgroup %s: %w (the sandbox needs root and a writable cgroup v1 %s controller)", dir, err, c)
		}
		g.dirs = append(g.dirs, dir)
	}
	set := func(c, file string, v int64) error {
		if err := os.WriteFile(filepath.Join(g.dir[c], file), []byte(strconv.FormatInt(v, 10)), 0); err != nil {
			_ = g.remove()
			return fmt.Errorf("cgroup %s: set %s to %d: %w", g.dir[c], file, v, err)
		}
		return nil
	}
	if err := set("cpu", "cpu.cfs_period_us", period.Microseconds()); err != nil {
		return nil, err
	}
	if quota > 0 {
		if err := set("cpu", "cpu.cfs_quota_us", quota.Microseconds()); err != nil {
			return nil, err
		}
	}
	if memoryBytes > 0 {
		if err := set("memory", "memory.limit_in_bytes", memoryBytes); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// procsFiles are the files a process writes its pid to, to join the group.
func (g *cgroup) procsFiles() []string {
	out := make([]string, len(g.dirs))
	for i, d := range g.dirs {
		out[i] = filepath.Join(d, "cgroup.procs")
	}
	return out
}

// pids are the processes in the group.
func (g *cgroup) pids() []int {
	b, err := os.ReadFile(filepath.Join(g.dir["memory"], "cgroup.procs"))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(f); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// readInt reads a file holding one integer.
func (g *cgroup) readInt(c, file string) int64 {
	b, err := os.ReadFile(filepath.Join(g.dir[c], file))
	if err != nil {
		return 0
	}
	v, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return v
}

// keyed reads a file of "key value" lines (cpu.stat, memory.oom_control).
func (g *cgroup) keyed(c, file string) map[string]int64 {
	out := map[string]int64{}
	b, err := os.ReadFile(filepath.Join(g.dir[c], file))
	if err != nil {
		return out
	}
	return parseKeyed(b)
}

func parseKeyed(b []byte) map[string]int64 {
	out := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		if v, err := strconv.ParseInt(f[1], 10, 64); err == nil {
			out[f[0]] = v
		}
	}
	return out
}

// cgroupUsage is what the group has used so far.
type cgroupUsage struct {
	CPU           time.Duration // cpuacct.usage
	Periods       int64         // CFS periods with runnable tasks
	Throttled     int64         // of those, periods the quota ran out
	ThrottledTime time.Duration
}

func (g *cgroup) usage() cgroupUsage {
	st := g.keyed("cpu", "cpu.stat")
	return cgroupUsage{
		CPU:           time.Duration(g.readInt("cpuacct", "cpuacct.usage")),
		Periods:       st["nr_periods"],
		Throttled:     st["nr_throttled"],
		ThrottledTime: time.Duration(st["throttled_time"]),
	}
}

// sub is u less an earlier reading.
func (u cgroupUsage) sub(v cgroupUsage) cgroupUsage {
	return cgroupUsage{CPU: u.CPU - v.CPU, Periods: u.Periods - v.Periods, Throttled: u.Throttled - v.Throttled,
		ThrottledTime: u.ThrottledTime - v.ThrottledTime}
}

// memoryPeak is the group's peak memory use (memory.max_usage_in_bytes:
// anonymous memory, page cache and kernel memory charged to it, as a
// function's sandbox is charged) and how many processes the OOM killer took.
func (g *cgroup) memoryPeak() (peak int64, oomKills int64) {
	return g.readInt("memory", "memory.max_usage_in_bytes"), g.keyed("memory", "memory.oom_control")["oom_kill"]
}

// remove kills what is left in the group (processes this benchmark started:
// the function and its regex worker), waits for them to go, and removes
// the group's directories.
func (g *cgroup) remove() error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids := g.pids()
		if len(pids) == 0 || time.Now().After(deadline) {
			break
		}
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var errs []error
	for i := len(g.dirs) - 1; i >= 0; i-- {
		var err error
		for range 50 { // a killed process leaves the group a moment after it dies
			if err = os.Remove(g.dirs[i]); err == nil || errors.Is(err, os.ErrNotExist) {
				err = nil
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", g.dirs[i], err))
		}
	}
	g.dirs = nil
	return errors.Join(errs...)
}

// ownCgroups checks that this process may make cgroups (root), and
// returns the bases of its hierarchies (cgroupBases) with groups left by
// an earlier run removed. bench names the command, for errors.
func ownCgroups(bench string) (map[string]string, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%s: cgroups need root", bench)
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", bench, err)
	}
	bases, err := cgroupBases(cgroupRoot, self)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", bench, err)
	}
	removeStaleCgroups(bases)
	return bases, nil
}

// removeStaleCgroups removes empty groups left by earlier sandbox runs whose
// process is gone (killed before it could clean up). Groups of live runs,
// and anything not named by this benchmark, are left alone.
func removeStaleCgroups(bases map[string]string) {
	for _, base := range bases {
		entries, err := os.ReadDir(base)
		if err != nil {
			continue
		}
		for _, e := range entries {
			pid, ok := cgroupOwner(e.Name())
			if !ok || !e.IsDir() || processAlive(pid) {
				continue
			}
			_ = os.Remove(filepath.Join(base, e.Name())) // fails, harmlessly, while a process is in it
		}
	}
}

// cgroupOwner is the pid in a sandbox group's name.
func cgroupOwner(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, cgroupPrefix)
	if !ok {
		return 0, false
	}
	pid, _, _ := strings.Cut(rest, "-")
	p, err := strconv.Atoi(pid)
	return p, err == nil && p > 0
}

func processAlive(pid int) bool {
	return syscall.Kill(pid, 0) == nil || errors.Is(syscall.Kill(pid, 0), syscall.EPERM)
}
