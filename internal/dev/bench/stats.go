package bench

import (
	"bufio"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/watcher-dev/watcher/internal/dev/targets"
	"github.com/watcher-dev/watcher/internal/plan"
)

// sample is one check as either side recorded it.
type sample struct {
	planned  time.Time
	lateness time.Duration // actual start minus planned instant
	response time.Duration // recorded response time
	status   int           // 0 without a response
	match    *bool         // regex match, nil when unknown
	failed   bool          // an error class was recorded
	want     expectation   // the farm's known reply
}

// expectation is what the farm answers an endpoint: its injected delay,
// status, and whether the body holds the workload's regex.
type expectation struct {
	delay  time.Duration
	status int
	match  bool
}

// expect returns the farm's known reply to url; ok is false for a URL the
// farm gives no fixed reply.
func expect(url string) (expectation, bool) {
	r, err := targets.Options{}.Expect(url)
	if err != nil {
		return expectation{}, false
	}
	// Both workloads' regexes ("welcome", ".*welcome") match exactly the
	// bodies that start with the farm's Welcome text.
	return expectation{delay: r.Delay, status: r.Status, match: r.Size >= len(targets.Welcome)}, true
}

// summarize fills the check figures of f from the samples planned in the
// window.
func summarize(f *Figures, window plan.Span, samples []sample) {
	var lateness, errs []time.Duration
	f.ErrMin = 0
	first := true
	for _, s := range samples {
		if s.planned.Before(window.Start) || !s.planned.Before(window.End) {
			continue
		}
		f.Done++
		lateness = append(lateness, s.lateness)
		if s.failed {
			f.Failed++
			continue
		}
		w := s.want
		if s.status != w.status || (s.match != nil && *s.match != w.match) || s.match == nil {
			f.Wrong++
		}
		e := s.response - w.delay
		errs = append(errs, e)
		if first || e < f.ErrMin {
			f.ErrMin, first = e, false
		}
	}
	f.LatenessP50, f.LatenessP99, f.LatenessMax = percentile(lateness, 0.50), percentile(lateness, 0.99), percentile(lateness, 1)
	f.ErrP50, f.ErrP99, f.ErrMax = percentile(errs, 0.50), percentile(errs, 0.99), percentile(errs, 1)
}

// percentile is the nearest-rank percentile p (0..1) of ds; it sorts ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(p*float64(len(ds))+0.999999) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

// usage is the process's CPU time (user + system, all threads) and peak
// resident set so far.
func usage() (cpu time.Duration, peakRSS int64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return cpu, ru.Maxrss * 1024 // Linux reports kilobytes
}

// coresBusy returns how long each of the cores (negative: skipped) has been
// busy since boot, from /proc/stat: user, nice, system, irq, softirq and
// steal time, in clock ticks of 10 ms.
func coresBusy(cores [2]int) [2]time.Duration {
	var out [2]time.Duration
	f, err := os.Open("/proc/stat")
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 9 || !strings.HasPrefix(fields[0], "cpu") || fields[0] == "cpu" {
			continue
		}
		n, err := strconv.Atoi(fields[0][3:])
		if err != nil {
			continue
		}
		var ticks int64
		for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system (idle iowait) irq softirq steal
			v, _ := strconv.ParseInt(fields[i], 10, 64)
			ticks += v
		}
		for k, c := range cores {
			if c == n {
				out[k] = time.Duration(ticks) * 10 * time.Millisecond
			}
		}
	}
	return out
}
