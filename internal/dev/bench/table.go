package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Report is everything the table shows.
type Report struct {
	Date    time.Time
	Machine Machine
	Options Options
	Runs    []Figures
	Micro   *Micro // nil when the micro-benchmarks were not run
}

// brief is one progress line.
func (f *Figures) brief() string {
	return fmt.Sprintf("due %d, done %d (%.2f%%), failed %d, wrong %d; CPU %s ms/check; peak RSS %s; lateness p99 %s; error p50/p99 %s/%s; others on its core %.1f%%, farm core %.0f%%",
		f.Due, f.Done, 100*f.DoneFraction(), f.Failed, f.Wrong, ms(f.CPUPerCheck()), mb(f.PeakRSSBytes),
		msUnit(f.LatenessP99), ms(f.ErrP50), msUnit(f.ErrP99), 100*f.ProbeCoreOthers, 100*f.FarmCoreBusy)
}

// writeTable prints the report as Markdown: the machine, one row per run,
// then each target with its verdict.
func writeTable(w io.Writer, r Report) {
	m := r.Machine
	fmt.Fprintf(w, "Watcher bench, %s. Machine: %s, %d cores, %.0f GiB, Linux %s, %s, PostgreSQL %s.\n",
		r.Date.UTC().Format("2006-01-02 15:04 MST"), m.CPU, m.Cores, m.MemoryGB, m.Kernel, m.Go, m.Postgres)
	fmt.Fprintf(w, "Measured process on CPU %d with GOMAXPROCS=1; target farm, PostgreSQL and pgbouncer on CPU %d. Warm-up %s, window %s.\n\n",
		r.Options.ProbeCPU, r.Options.FarmCPU, r.Options.Warmup, r.Options.Window)

	fmt.Fprintln(w, "| workload | mode | side | run | due | done | failed | wrong | CPU/check | vs floor | peak RSS | lateness p50 / p99 | error p50 / p99 / max | rows/s | round trips / 1k rows | others on its core / farm core |")
	fmt.Fprintln(w, "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for i := range r.Runs {
		f := &r.Runs[i]
		ratio, rows, trips := "", "-", "-"
		if f.Side == SideWatcher {
			if fl := r.floor(f); fl != nil && fl.CPUPerCheck() > 0 {
				ratio = fmt.Sprintf("%.2fx", float64(f.CPUPerCheck())/float64(fl.CPUPerCheck()))
			}
			rows, trips = fmt.Sprintf("%.0f", f.RowsPerSecond()), fmt.Sprintf("%.1f", f.RoundTripsPer1000())
		}
		fmt.Fprintf(w, "| %s | %s | %s | %d | %d | %d (%.2f%%) | %d | %d | %s ms | %s | %s | %s / %s ms | %s / %s / %s ms | %s | %s | %.1f%% / %.0f%% |\n",
			f.Workload, f.Mode, f.Side, f.Run, f.Due, f.Done, 100*f.DoneFraction(), f.Failed, f.Wrong,
			ms(f.CPUPerCheck()), ratio, mb(f.PeakRSSBytes), ms(f.LatenessP50), ms(f.LatenessP99),
			ms(f.ErrP50), ms(f.ErrP99), ms(f.ErrMax), rows, trips, 100*f.ProbeCoreOthers, 100*f.FarmCoreBusy)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Error is the recorded response time minus the delay the farm injects (100 ms for every fixed target; 10 ms or 1 s by path for the reference). "+
		"Wrong counts checks whose status or regex match differs from the farm's known reply. The last column is how busy other processes kept "+
		"the measured core, and how busy the farm's core was (farm, PostgreSQL, pgbouncer and anything else), over the window: a run "+
		"that shared its core is not a clean measurement.")
	fmt.Fprintln(w)
	writeTargets(w, r)
}

// floor is the floor run paired with a project run.
func (r Report) floor(f *Figures) *Figures {
	for i := range r.Runs {
		g := &r.Runs[i]
		if g.Side == SideFloor && g.Workload == f.Workload && g.Mode == f.Mode && g.Run == f.Run {
			return g
		}
	}
	return nil
}

// verdict is one target's line.
type verdict struct {
	target, required string
	measured         []string
	met              bool
}

// each is the verdict of one target over every run: met when every run meets it.
func each(runs []*Figures, target, required string, judge func(*Figures) (string, bool)) verdict {
	v := verdict{target: target, required: required, met: true}
	for _, f := range runs {
		measured, ok := judge(f)
		v.measured = append(v.measured, measured)
		v.met = v.met && ok
	}
	return v
}

func writeTargets(w io.Writer, r Report) {
	var vs []verdict
	add := func(v verdict) { vs = append(vs, v) }
	for _, workload := range r.Options.Workloads {
		t := workloadTargets(workload)
		for _, mode := range r.Options.Modes {
			var runs []*Figures
			for i := range r.Runs {
				if f := &r.Runs[i]; f.Side == SideWatcher && f.Workload == workload && f.Mode == mode {
					runs = append(runs, f)
				}
			}
			if len(runs) == 0 {
				continue
			}
			name := workload + ", " + mode
			if t.CPURatio > 0 {
				v := verdict{target: name + ": CPU per check vs floor (same mode)", required: fmt.Sprintf("<= %.1fx", t.CPURatio), met: true}
				for _, f := range runs {
					fl := r.floor(f)
					if fl == nil || fl.CPUPerCheck() == 0 {
						v.measured, v.met = append(v.measured, "no floor"), false
						continue
					}
					ratio := float64(f.CPUPerCheck()) / float64(fl.CPUPerCheck())
					v.measured = append(v.measured, fmt.Sprintf("%.2fx (%s / %s ms)", ratio, ms(f.CPUPerCheck()), ms(fl.CPUPerCheck())))
					v.met = v.met && ratio <= t.CPURatio
				}
				add(v)
			}
			if t.ErrP99 > 0 {
				add(each(runs, name+": p99 measurement error", "<= "+msUnit(t.ErrP99), func(f *Figures) (string, bool) {
					return msUnit(f.ErrP99), f.ErrP99 <= t.ErrP99
				}))
			}
			if t.DoneFraction > 0 {
				add(each(runs, name+": checks done of due", fmt.Sprintf(">= %.1f%%", 100*t.DoneFraction), func(f *Figures) (string, bool) {
					return fmt.Sprintf("%.2f%%", 100*f.DoneFraction()), f.DoneFraction() >= t.DoneFraction
				}))
			}
			if t.LatenessP99 > 0 {
				add(each(runs, name+": p99 start lateness", "<= "+msUnit(t.LatenessP99), func(f *Figures) (string, bool) {
					return msUnit(f.LatenessP99), f.LatenessP99 <= t.LatenessP99
				}))
			}
			if t.PeakRSSBytes > 0 {
				add(each(runs, name+": peak RSS", "<= "+mb(t.PeakRSSBytes), func(f *Figures) (string, bool) {
					return mb(f.PeakRSSBytes), f.PeakRSSBytes <= t.PeakRSSBytes
				}))
			}
		}
	}
	if m := r.Micro; m != nil {
		t := microTargets()
		for _, p := range m.Plans {
			add(verdict{target: fmt.Sprintf("planner, %s endpoints: one span of %d", p.Name, t.PlanEndpoints), required: "< " + msUnit(t.PlanTime),
				measured: []string{fmt.Sprintf("%s (%.0f allocations, %d shards)", msUnit(p.Time), p.Allocs, p.Shards)}, met: p.Time < t.PlanTime})
			add(verdict{target: fmt.Sprintf("planner, %s endpoints: largest shard payload (encoded)", p.Name), required: fmt.Sprintf("<= %d bytes", t.ShardBytes),
				measured: []string{fmt.Sprintf("%d bytes", p.PayloadBytes)}, met: p.PayloadBytes > 0 && p.PayloadBytes <= t.ShardBytes})
		}
		if m.CopyRows > 0 {
			ratio := m.WriterRows / m.CopyRows
			add(verdict{target: "writer rows/s through pgbouncer vs psql COPY", required: fmt.Sprintf(">= %.1fx", t.WriterVsCopy),
				measured: []string{fmt.Sprintf("%.2fx (%.0f vs %.0f rows/s)", ratio, m.WriterRows, m.CopyRows)}, met: ratio >= t.WriterVsCopy})
		}
	}
	fmt.Fprintln(w, "| target | required | measured | |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, v := range vs {
		verdict := "met"
		if !v.met {
			verdict = "**MISSED**"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", v.target, v.required, strings.Join(v.measured, "; "), verdict)
	}
}

// Micro holds the micro-benchmarks' figures.
type Micro struct {
	Plans      []PlanFigures
	WriterRows float64 // rows/s through pgbouncer
	CopyRows   float64 // rows/s of psql COPY
}

// PlanFigures are one planner benchmark's.
type PlanFigures struct {
	Name         string // endpoint kind: plain, rich
	Time         time.Duration
	Allocs       float64
	PayloadBytes int64 // largest shard payload
	Shards       int
}

// Metric names the micro-benchmarks report.
const (
	metricPayloadBytes = "max-payload-bytes"
	metricShards       = "shards"
	metricWriterRows   = "writer-rows/s"
	metricCopyRows     = "copy-rows/s"
)

// ParseMicro reads the planner and writer figures from `go test -bench`
// output (BenchmarkPlan100k/* and BenchmarkWriterVsCopy).
func ParseMicro(path string) (Micro, error) {
	f, err := os.Open(path)
	if err != nil {
		return Micro{}, fmt.Errorf("bench: micro-benchmark output: %w", err)
	}
	defer f.Close()
	m, err := parseMicro(f)
	if err != nil {
		return Micro{}, fmt.Errorf("bench: read %s: %w", path, err)
	}
	return m, nil
}

func parseMicro(r io.Reader) (Micro, error) {
	var m Micro
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		// BenchmarkPlan100k/plain-2: the -N suffix is GOMAXPROCS when not 1.
		name, _, _ := strings.Cut(fields[0], "-")
		metrics := map[string]float64{}
		for i := 2; i+1 < len(fields); i += 2 {
			if v, err := strconv.ParseFloat(fields[i], 64); err == nil {
				metrics[fields[i+1]] = v
			}
		}
		switch bench, sub, _ := strings.Cut(name, "/"); bench {
		case "BenchmarkPlan100k":
			m.Plans = append(m.Plans, PlanFigures{
				Name: sub, Time: time.Duration(metrics["ns/op"]), Allocs: metrics["allocs/op"],
				PayloadBytes: int64(metrics[metricPayloadBytes]), Shards: int(metrics[metricShards]),
			})
		case "BenchmarkWriterVsCopy":
			m.WriterRows, m.CopyRows = metrics[metricWriterRows], metrics[metricCopyRows]
		}
	}
	return m, sc.Err()
}

// ms formats a duration in milliseconds with microsecond resolution.
func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 3, 64) }

func msUnit(d time.Duration) string { return ms(d) + " ms" }

func mb(b int64) string { return fmt.Sprintf("%.0f MB", float64(b)/(1<<20)) }
