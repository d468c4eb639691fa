package bench

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/watcher-dev/watcher/internal/record"
)

// SandboxTargets are the figures the sandboxed runs are held to (issue 11).
type SandboxTargets struct {
	DoneFraction float64       // checks done over due, at least
	LatenessP99  time.Duration // start lateness p99, at most
	ErrRatio     float64       // response-time error p99 over the baseline's, at most
}

// DefaultSandboxTargets are issue 11's.
var DefaultSandboxTargets = SandboxTargets{DoneFraction: 0.999, LatenessP99: 20 * time.Millisecond, ErrRatio: 2}

// errFloor keeps a baseline error p99 of about nothing from making every
// ratio huge: ratios are taken over at least this.
const errFloor = 100 * time.Microsecond

// judgement is how one sandboxed run fares against the targets.
type judgement struct {
	done, lateness, err bool
	ratio               float64 // error p99 over the baseline's; 0 without a baseline
	hasBaseline         bool
	// shared: the run or its baseline was measured on a core other work
	// kept busy, so a miss may be the machine's rather than the sandbox's.
	shared bool
}

func (j judgement) met() bool { return j.done && j.lateness && (j.err || !j.hasBaseline) }

// misses names the targets a run misses, briefly.
func (j judgement) misses(r *SandboxRow) string {
	var out []string
	if !j.done {
		out = append(out, fmt.Sprintf("done %.2f%%", 100*r.DoneFraction()))
	}
	if !j.lateness {
		out = append(out, "lateness p99 "+msf(r.LatenessP99))
	}
	if j.hasBaseline && !j.err {
		out = append(out, fmt.Sprintf("error %.1fx", j.ratio))
	}
	if j.shared && len(out) > 0 {
		out = append(out, "shared core")
	}
	return strings.Join(out, ", ")
}

// DoneFraction is the checks done and stored over the checks due.
func (r *SandboxRow) DoneFraction() float64 {
	if r.Due == 0 {
		return 0
	}
	return float64(min(r.Done, r.Rows)) / float64(r.Due)
}

// judge holds a sandboxed run to the targets, against its shard size's
// baseline (nil: none).
func judge(t SandboxTargets, r, base *SandboxRow) judgement {
	j := judgement{
		done:     r.Note == "" && r.DoneFraction() >= t.DoneFraction,
		lateness: r.Rows > 0 && r.LatenessP99 <= t.LatenessP99,
		shared:   r.Noisy() || (base != nil && base.Noisy()),
	}
	if base != nil && base.Rows > 0 {
		j.hasBaseline = true
		j.ratio = float64(r.ErrP99) / float64(max(base.ErrP99, errFloor))
		j.err = r.Rows > 0 && j.ratio <= t.ErrRatio
	}
	return j
}

// baseline is the baseline run of a shard size.
func (rep *SandboxReport) baseline(checks int) *SandboxRow {
	for i := range rep.Rows {
		if r := &rep.Rows[i]; r.Run.Kind == KindBaseline && r.Run.Checks == checks {
			return r
		}
	}
	return nil
}

func (rep *SandboxReport) kind(kind string) []*SandboxRow {
	var out []*SandboxRow
	for i := range rep.Rows {
		if rep.Rows[i].Run.Kind == kind {
			out = append(out, &rep.Rows[i])
		}
	}
	return out
}

// EMFILE counts the signs of running out of descriptors in a run: lines of
// output with "too many open files", and checks that failed to connect
// (the farm accepts every connection on loopback, so a failed dial there is
// the socket() call refused).
func (r *SandboxRow) EMFILE() int { return r.EMFILELog + r.Errors[record.ErrConnect] }

// hangMet reports whether a hanging run meets its targets: no EMFILE and
// every planned check recorded.
func (r *SandboxRow) hangMet() bool {
	return r.Note == "" && r.EMFILE() == 0 && r.Rows == r.Due && r.Due > 0
}

// writeSandboxTable prints the report as Markdown: how the runs were made,
// one row per memory size and shard size (baselines included), the
// hanging runs, then the verdicts and the cheapest run that meets them.
func writeSandboxTable(w io.Writer, rep SandboxReport) {
	m, o := rep.Machine, rep.Options
	t := DefaultSandboxTargets
	fmt.Fprintf(w, "Watcher bench sandbox, %s, %s in all. Machine: %s, %d cores, %.0f GiB, Linux %s, %s, PostgreSQL %s; load average %s at the start, %s at the end.\n\n",
		rep.Date.UTC().Format("2006-01-02 15:04 MST"), rep.Took.Round(time.Second), m.CPU, m.Cores, m.MemoryGB, m.Kernel, m.Go, m.Postgres,
		rep.LoadAvg[0], rep.LoadAvg[1])
	pinning := "not pinned"
	if !o.NoPin {
		pinning = fmt.Sprintf("on CPU %d; the farm, PostgreSQL and the emulator on CPU %d", o.SandboxCPU, o.FarmCPU)
	}
	fmt.Fprintf(w, "The probe bootstrap (linux/%s, lambda.norpc) under aws-lambda-rie, in a cgroup v1 group: CPU quota memory / 1,769 of a vCPU per %s CFS period, "+
		"memory limit the function's memory, RLIMIT_NOFILE %d, GOMAXPROCS %s, %s. Baselines: the same, with no limits. "+
		"Each run: %s, as many as make the shard's checks a 60 s span; "+
		"one warm-up invocation, then the shard invoked %s before a %s window of planned instants. "+
		"Priced as arm64 in us-east-1 at the memory size.%s\n\n",
		runtime.GOARCH, o.Period, o.NoFile, gomaxprocs(o.GOMAXPROCS), pinning, workloadNote(o.Workload), o.Lead, o.Window, quietNote(o))

	fmt.Fprintln(w, "| memory | vCPU | checks / span | done / due | rows | failed | lateness p99 | error p50 / p99 | error p99 vs no sandbox | peak RSS (cgroup) | peak fds | CPU / check | CPU of quota | throttled periods | billed | $ / 1M checks | $ / 1M checks, full span | others on its core |")
	fmt.Fprintln(w, "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for i := range rep.Rows {
		r := &rep.Rows[i]
		if r.Run.Kind == KindHang {
			continue
		}
		memory, vcpu, ratio, price, full := "no limits", "", "", "", ""
		if r.Run.Kind == KindSandbox {
			memory, vcpu = fmt.Sprintf("%s MB", commas(r.Run.MemoryMB)), fmt.Sprintf("%.3f", vCPU(r.Run.MemoryMB))
			if j := judge(t, r, rep.baseline(r.Run.Checks)); j.hasBaseline {
				ratio = fmt.Sprintf("%.2fx", j.ratio)
			}
			price, full = usdPerMillion(r.CostPerCheck()), usdPerMillion(r.FullSpanCostPerCheck)
		}
		cpu := fmt.Sprintf("%.0f%%", 100*r.CPUOfQuota())
		if r.Quota == 0 {
			cpu += " of a core"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s / %s%s | %s | %s | %s | %s / %s | %s | %s (%s) | %d | %s | %s | %.0f%% | %s ms | %s | %s | %.0f%% |\n",
			memory, vcpu, commas(r.Run.Checks), commas(r.Done), commas(r.Due), note(r), commas(r.Rows), commas(r.Failed),
			msf(r.LatenessP99), msf(r.ErrP50), msf(r.ErrP99), ratio, mb(r.PeakRSS), mb(r.CgroupPeak), r.PeakFDs,
			strconv.FormatFloat(float64(r.CPUPerCheck())/1e6, 'f', 2, 64)+" ms", cpu, 100*r.ThrottledShare(), commas(int(r.Billed.Milliseconds())), price, full, 100*r.OthersBusy)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Done is the invocation's own count of checks done, rows the checks stored for the window; error is the recorded response time "+
		"minus the farm's delay for the target, over successful checks. Peak RSS is the function's VmHWM (its binary's mapped pages included), cgroup its group's "+
		"memory.max_usage_in_bytes (what the limit holds: memory the function and its worker allocated and page cache they first touched). "+
		"Peak fds: descriptors open in the group, sampled every 50 ms. CPU per check is the group's CPU time (cpuacct.usage) during "+
		"the invocation per check done; CPU of quota is that usage over the invocation's wall time times the quota; throttled periods are the "+
		"CFS periods with work whose quota ran out (cpu.stat). Billed and $ are the invocation's own record; the full-span price "+
		"adds the rest of a 60 s span to the billed time (the run's %s lead is the fanout's dispatch lead) and divides by a "+
		"whole span's checks. The last column is how busy other processes kept the function's core.\n\n", o.Lead)

	if hangs := rep.kind(KindHang); len(hangs) > 0 {
		fmt.Fprintln(w, "Hanging targets: every check waits for its timeout (the endpoints' interval too, so each endpoint holds one socket all the time).")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| memory | checks / span | timeout | sockets needed | due | done | rows | errors | EMFILE: connect errors + log lines | peak fds | RLIMIT_NOFILE | unwritten | missed | every check recorded, no EMFILE |")
		fmt.Fprintln(w, "|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|--:|--:|---|")
		for _, r := range hangs {
			verdict := "met"
			if !r.hangMet() {
				verdict = "**missed**"
			}
			if r.Note != "" {
				verdict += " (" + r.Note + ")"
			}
			fmt.Fprintf(w, "| %s MB | %s | %s | %s | %s | %s | %s | %s | %d + %d | %d | %s | %s | %s | %s |\n",
				commas(r.Run.MemoryMB), commas(r.Run.Checks), r.Run.Timeout, commas(r.Run.Endpoints), commas(r.Due), commas(r.Done),
				commas(r.Rows), orNone(classes(r.Errors)), r.Errors[record.ErrConnect], r.EMFILELog, r.PeakFDs, r.NoFile,
				commas(r.Unwritten), commas(r.Missed), verdict)
		}
		fmt.Fprintln(w)
	}
	writeSandboxVerdicts(w, rep, t)
}

// writeSandboxVerdicts prints each target with its verdict, the matrix of
// runs that meet them all, and the cheapest such run.
func writeSandboxVerdicts(w io.Writer, rep SandboxReport, t SandboxTargets) {
	sand := rep.kind(KindSandbox)
	fmt.Fprintln(w, "| target | required | measured | |")
	fmt.Fprintln(w, "|---|---|---|---|")
	if len(sand) > 0 {
		var doneMiss, lateMiss, errMiss []string
		minDone, maxLate, maxRatio, haveRatio := 2.0, time.Duration(0), 0.0, false
		for _, r := range sand {
			j := judge(t, r, rep.baseline(r.Run.Checks))
			minDone, maxLate = min(minDone, r.DoneFraction()), max(maxLate, r.LatenessP99)
			name := r.Run.String()
			if j.shared {
				name += " (shared core)"
			}
			if !j.done {
				doneMiss = append(doneMiss, name)
			}
			if !j.lateness {
				lateMiss = append(lateMiss, name)
			}
			if j.hasBaseline {
				maxRatio, haveRatio = max(maxRatio, j.ratio), true
				if !j.err {
					errMiss = append(errMiss, name)
				}
			}
		}
		fmt.Fprintf(w, "| sandboxed: checks done of due | >= %.1f%% | lowest %.2f%% | %s |\n", 100*t.DoneFraction, 100*minDone, verdictOf(doneMiss))
		fmt.Fprintf(w, "| sandboxed: start lateness p99 | <= %s | highest %s | %s |\n", msf(t.LatenessP99), msf(maxLate), verdictOf(lateMiss))
		if haveRatio {
			fmt.Fprintf(w, "| sandboxed: response-time error p99 vs the same shard without the sandbox | <= %.0fx | highest %.2fx | %s |\n", t.ErrRatio, maxRatio, verdictOf(errMiss))
		}
	}
	for _, r := range rep.kind(KindHang) {
		v := "met"
		if !r.hangMet() {
			v = "**missed**"
		}
		fmt.Fprintf(w, "| every target hangs (%s MB, %s checks/span, timeout %s): no EMFILE, every planned check recorded | 0 EMFILE, rows = due | %d EMFILE, %s rows of %s due | %s |\n",
			commas(r.Run.MemoryMB), commas(r.Run.Checks), r.Run.Timeout, r.EMFILE(), commas(r.Rows), commas(r.Due), v)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "| run could not be measured | | %s | **missed** |\n", strings.ReplaceAll(firstLine(p), "|", "/"))
	}
	fmt.Fprintln(w)
	if len(sand) == 0 {
		return
	}

	// Which memory size and shard size meet every target, and what a
	// check costs there.
	var mems, shards []int
	for _, r := range sand {
		if !slices.Contains(mems, r.Run.MemoryMB) {
			mems = append(mems, r.Run.MemoryMB)
		}
		if !slices.Contains(shards, r.Run.Checks) {
			shards = append(shards, r.Run.Checks)
		}
	}
	slices.Sort(mems)
	slices.Sort(shards)
	fmt.Fprint(w, "| checks / span |")
	for _, m := range mems {
		fmt.Fprintf(w, " %s MB |", commas(m))
	}
	fmt.Fprint(w, "\n|--:|")
	for range mems {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprintln(w)
	var best *SandboxRow
	for _, n := range shards {
		fmt.Fprintf(w, "| %s |", commas(n))
		for _, m := range mems {
			r := rep.find(KindSandbox, m, n)
			if r == nil {
				fmt.Fprint(w, " |")
				continue
			}
			j := judge(t, r, rep.baseline(n))
			if j.met() {
				fmt.Fprintf(w, " met, %s |", usdPerMillion(r.FullSpanCostPerCheck))
				if best == nil || r.FullSpanCostPerCheck < best.FullSpanCostPerCheck {
					best = r
				}
			} else {
				fmt.Fprintf(w, " **missed** (%s) |", j.misses(r))
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Each cell: every target met or the ones missed, with the price of a million checks at a full span. "+
		"\"Shared core\": other work kept the function's core (or its baseline's) more than %.0f%% busy during the run, so the miss "+
		"may be the machine's rather than the sandbox's.\n", 100*noisyShare)
	if best != nil {
		fmt.Fprintf(w, "Cheapest run meeting every target: %s MB with %s checks a span, %s per million checks at a full span.\n",
			commas(best.Run.MemoryMB), commas(best.Run.Checks), usdPerMillion(best.FullSpanCostPerCheck))
	} else {
		fmt.Fprintln(w, "No sandboxed run met every target.")
	}
}

func (rep *SandboxReport) find(kind string, memoryMB, checks int) *SandboxRow {
	for i := range rep.Rows {
		if r := &rep.Rows[i]; r.Run.Kind == kind && r.Run.MemoryMB == memoryMB && r.Run.Checks == checks {
			return r
		}
	}
	return nil
}

// workloadNote describes the shards' endpoints.
func workloadNote(workload string) string {
	if workload == WorkloadReference {
		return "the reference workload's endpoints (the farm's default mix: one reply in five after 1 s, the rest after 10 ms; " +
			"intervals 5..30 s; regex \".*welcome\")"
	}
	return "targets answering after exactly 100 ms (2 KB, regex \"welcome\") every 5 s"
}

func quietNote(o SandboxOptions) string {
	if o.WaitQuiet <= 0 || o.NoPin {
		return ""
	}
	return fmt.Sprintf(" Each run waited up to %s for the function's core to be idle for 3 s.", o.WaitQuiet)
}

func verdictOf(misses []string) string {
	if len(misses) == 0 {
		return "met"
	}
	return "**missed** by " + strings.Join(misses, "; ")
}

// note marks a run whose invocation did not end normally.
func note(r *SandboxRow) string {
	if r.Note == "" {
		return ""
	}
	return " (" + strings.ReplaceAll(firstLine(r.Note), "|", "/") + ")"
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// msf is a duration in milliseconds with one decimal and the unit.
func msf(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) + " ms"
}

// usdPerMillion is a price per check as dollars per million checks.
func usdPerMillion(perCheck float64) string {
	if perCheck == 0 {
		return ""
	}
	return fmt.Sprintf("$%.3f", perCheck*1e6)
}

// commas writes n with thousands separators.
func commas(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
