package bench

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/record"
)

func TestCPUQuotaIsTheFunctionsShareOfAVCPU(t *testing.T) {
	for _, tc := range []struct {
		mb     int
		period time.Duration
		want   time.Duration
	}{
		{128, 20 * time.Millisecond, 1447 * time.Microsecond},
		{512, 20 * time.Millisecond, 5789 * time.Microsecond},
		{1769, 20 * time.Millisecond, 20 * time.Millisecond},
		{3538, 100 * time.Millisecond, 200 * time.Millisecond},
		{128, 100 * time.Millisecond, 7236 * time.Microsecond},
		{128, 5 * time.Millisecond, time.Millisecond}, // 362 µs: raised to the kernel's least
	} {
		if got := cpuQuota(tc.mb, tc.period); got != tc.want {
			t.Errorf("cpuQuota(%d MB, %s) = %s, want %s", tc.mb, tc.period, got, tc.want)
		}
	}
}

func TestCgroupBasesNestInThisProcesssGroups(t *testing.T) {
	self := []byte("12:pids:/\n4:memory:/process_api/abc\n3:cpuset:/\n2:cpu,cpuacct:/user.slice\n0::/\n")
	got, err := cgroupBases("/sys/fs/cgroup", self)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"cpu":     filepath.FromSlash("/sys/fs/cgroup/cpu/user.slice"),
		"cpuacct": filepath.FromSlash("/sys/fs/cgroup/cpuacct/user.slice"),
		"memory":  filepath.FromSlash("/sys/fs/cgroup/memory/process_api/abc"),
	}
	for c, w := range want {
		if got[c] != w {
			t.Errorf("%s: %q, want %q", c, got[c], w)
		}
	}
	if _, err := cgroupBases("/sys/fs/cgroup", []byte("0::/user.slice\n")); err == nil ||
		!strings.Contains(err.Error(), "cpu, cpuacct, memory") {
		t.Errorf("cgroup v2 only: err %v, want the missing controllers named", err)
	}
}

func TestCgroupOwner(t *testing.T) {
	for name, want := range map[string]int{"watcher-sandbox-123-4": 123, "watcher-sandbox-9-0": 9, "other-1": 0, "watcher-sandbox-x-1": 0} {
		got, ok := cgroupOwner(name)
		if got != want || ok != (want > 0) {
			t.Errorf("cgroupOwner(%q) = %d, %v; want %d", name, got, ok, want)
		}
	}
}

func TestSandboxRunsAndTheirShards(t *testing.T) {
	o := SandboxOptions{MemoryMB: []int{128, 512}, Shards: []int{500, 2000}, HangTimeouts: []time.Duration{10 * time.Second}}
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	runs := sandboxRuns(o)
	var kinds []string
	for _, r := range runs {
		kinds = append(kinds, r.slug())
	}
	want := "baseline-fixed-500 sandbox-fixed-128mb-500 sandbox-fixed-512mb-500 baseline-fixed-2000 sandbox-fixed-128mb-2000 sandbox-fixed-512mb-2000 hang-192mb-2000-10s"
	if got := strings.Join(kinds, " "); got != want {
		t.Fatalf("runs %s,\nwant %s", got, want)
	}
	// A whole span of each run's endpoints plans about its checks, in one
	// shard, and every target is one the farm answers predictably.
	span := plan.Span{Start: time.UnixMilli(1_800_000_000_000), End: time.UnixMilli(1_800_000_060_000)}
	for _, r := range runs {
		eps := sandboxEndpoints("http://127.0.0.1:1/", r)
		n := plan.Count(eps, span)
		if n < r.Checks*98/100 || n > r.Checks*102/100 {
			t.Errorf("%s: %d checks a span, want about %d", r, n, r.Checks)
		}
		for _, ep := range eps[:3] {
			_, fixed := expect(ep.URL)
			if fixed == (r.Kind == KindHang) || ep.Timeout > ep.Interval || ep.Location != endpoint.DefaultLocation {
				t.Errorf("%s: endpoint %+v", r, ep)
			}
		}
	}
	if hang := runs[len(runs)-1]; hang.Endpoints != 333 || !strings.Contains(sandboxEndpoints("http://f", hang)[0].URL, "/hang/") {
		t.Errorf("hanging run %+v: want 333 endpoints (2,000 checks a span, each every 10 s) on /hang/", hang)
	}
}

// TestSandboxReferenceShards: with the reference workload, a run's shard is
// the reference's first endpoints, as many as make its checks a span, each
// a target whose reply the farm fixes, at the reference's intervals.
func TestSandboxReferenceShards(t *testing.T) {
	o := SandboxOptions{MemoryMB: []int{192}, Shards: []int{2000, 16000}, Workload: WorkloadReference, NoHang: true}
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	span := plan.Span{Start: time.UnixMilli(1_800_000_000_000), End: time.UnixMilli(1_800_000_060_000)}
	for _, r := range sandboxRuns(o) {
		eps := sandboxEndpoints("http://127.0.0.1:1/", r)
		if n := plan.Count(eps, span); n < r.Checks*98/100 || n > r.Checks*102/100 {
			t.Errorf("%s: %d checks a span, want about %d", r, n, r.Checks)
		}
		intervals := map[time.Duration]bool{}
		for _, ep := range eps {
			intervals[ep.Interval] = true
			w, ok := expect(ep.URL)
			if !ok || ep.Regex != ".*welcome" || ep.Interval < 5*time.Second || ep.Interval > 30*time.Second || ep.Timeout > ep.Interval {
				t.Fatalf("%s: endpoint %+v (expectation %+v, %v)", r, ep, w, ok)
			}
		}
		if len(intervals) != 26 {
			t.Errorf("%s: %d distinct intervals, want all 26 of 5..30 s", r, len(intervals))
		}
	}
	if o := (SandboxOptions{Workload: "mixed", NoPin: true}); o.defaults() == nil {
		t.Error("an unknown workload was accepted")
	}
}

func TestSandboxOptionsRefuseWhatLambdaWouldNot(t *testing.T) {
	o := SandboxOptions{MemoryMB: []int{64}, Shards: []int{5}, Window: 2 * time.Minute, NoPin: true}
	err := o.defaults()
	for _, want := range []string{"64 MB", "shard size 5", "window 2m0s"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err %v, want it to name %q", err, want)
		}
	}
}

func TestFillChecksMeasuresAgainstTheFarmsDelay(t *testing.T) {
	ok, yes := 200, true
	at := time.Unix(1_800_000_000, 0)
	want := map[int64]expectation{1: {delay: 100 * time.Millisecond, status: 200, match: true}}
	checks := []record.Check{
		{EndpointID: 1, PlannedAt: at, Lateness: time.Millisecond, Result: record.Result{ResponseTime: 102 * time.Millisecond, StatusCode: &ok, RegexMatch: &yes}},
		{EndpointID: 1, PlannedAt: at.Add(5 * time.Second), Lateness: 3 * time.Millisecond, Result: record.Result{ResponseTime: 105 * time.Millisecond, StatusCode: &ok, RegexMatch: &yes}},
		{EndpointID: 1, PlannedAt: at.Add(10 * time.Second), Result: record.Result{Error: record.ErrConnect}},
		{EndpointID: 2, PlannedAt: at, Result: record.Result{Error: record.ErrTimeout}},
	}
	row := SandboxRow{Errors: map[string]int{}}
	fillChecks(&row, checks, want)
	if row.Rows != 4 || row.Failed != 2 || row.Wrong != 0 || row.ErrP99 != 5*time.Millisecond || row.ErrP50 != 2*time.Millisecond ||
		row.LatenessP99 != 3*time.Millisecond || row.Errors[record.ErrConnect] != 1 || row.EMFILE() != 1 {
		t.Errorf("row %+v", row)
	}
}

func TestJudgeAgainstTheBaseline(t *testing.T) {
	tg := DefaultSandboxTargets
	base := &SandboxRow{Rows: 100, ErrP99: 4 * time.Millisecond}
	good := &SandboxRow{Due: 1000, Done: 1000, Rows: 1000, LatenessP99: 5 * time.Millisecond, ErrP99: 8 * time.Millisecond}
	if j := judge(tg, good, base); !j.met() || j.ratio != 2 {
		t.Errorf("good run: %+v", j)
	}
	slow := &SandboxRow{Due: 1000, Done: 998, Rows: 998, LatenessP99: 25 * time.Millisecond, ErrP99: 9 * time.Millisecond}
	j := judge(tg, slow, base)
	if j.met() || j.done || j.lateness || j.err {
		t.Errorf("slow run: %+v", j)
	}
	if got := j.misses(slow); got != "done 99.80%, lateness p99 25.0 ms, error 2.2x" {
		t.Errorf("misses %q", got)
	}
	if j := judge(tg, good, nil); !j.met() || j.hasBaseline {
		t.Errorf("without a baseline: %+v", j)
	}
	if j := judge(tg, good, &SandboxRow{Rows: 10}); j.ratio != 80 { // a zero baseline counts as 0.1 ms
		t.Errorf("zero baseline: ratio %v", j.ratio)
	}
}

func TestSandboxTable(t *testing.T) {
	o := SandboxOptions{MemoryMB: []int{128, 512}, Shards: []int{500}}
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	mk := func(kind string, mb int, errP99, late time.Duration, cost float64) SandboxRow {
		return SandboxRow{Run: shardRun(WorkloadFixed, kind, mb, 500), Due: 375, Planned: 375, Done: 375, Rows: 375, Errors: map[string]int{},
			ErrP99: errP99, LatenessP99: late, FullSpanCostPerCheck: cost, CostUSD: cost * 375, Billed: 47_100 * time.Millisecond}
	}
	hang := SandboxRow{Run: SandboxRun{Kind: KindHang, MemoryMB: 512, Checks: 5000, Endpoints: 2500, Interval: 30 * time.Second, Timeout: 30 * time.Second},
		Due: 3750, Rows: 3700, Errors: map[string]int{record.ErrTimeout: 3000, record.ErrConnect: 700}, NoFile: "1024", PeakFDs: 1024}
	shared := mk(KindSandbox, 128, 30*time.Millisecond, 30*time.Millisecond, 2e-7)
	shared.OthersBusy = 0.3
	rep := SandboxReport{Options: o, Rows: []SandboxRow{
		mk(KindBaseline, 1769, 4*time.Millisecond, time.Millisecond, 0),
		shared,
		mk(KindSandbox, 512, 6*time.Millisecond, 2*time.Millisecond, 5e-7),
		hang,
	}, Problems: []string{"1,024 MB, 500 checks/span: cold start: boom\ntail"}}
	var b bytes.Buffer
	writeSandboxTable(&b, rep)
	out := b.String()
	for _, want := range []string{
		"| no limits |",
		"| 128 MB | 0.072 | 500 |",
		"7.50x",
		"**missed** by 128 MB, 500 checks/span (shared core)",
		"| 500 | **missed** (lateness p99 30.0 ms, error 7.5x, shared core) | met, $0.500 |",
		"Cheapest run meeting every target: 512 MB with 500 checks a span, $0.500 per million checks",
		"timeout 3000, connect 700 | 700 + 0 | 1024 | 1024 |",
		"700 EMFILE, 3,700 rows of 3,750 due | **missed** |",
		"| run could not be measured | | 1,024 MB, 500 checks/span: cold start: boom | **missed** |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestSmallParsers(t *testing.T) {
	if got := parsePeakRSS([]byte("Name:\tbootstrap\nVmPeak:\t  9 kB\nVmHWM:\t   31240 kB\n")); got != 31240<<10 {
		t.Errorf("VmHWM %d", got)
	}
	limits := "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 1024                 files\n"
	if got := parseNoFile([]byte(limits)); got != "1024" {
		t.Errorf("nofile %q", got)
	}
	if got := parseKeyed([]byte("nr_periods 10\nnr_throttled 3\nthrottled_time 123\n")); got["nr_throttled"] != 3 || got["throttled_time"] != 123 {
		t.Errorf("cpu.stat %v", got)
	}
	if got := countLines(strings.NewReader("a\ndial tcp: socket: too many open files\nb too many open files\n"), "too many open files"); got != 2 {
		t.Errorf("countLines %d", got)
	}
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -5000: "-5,000"} {
		if got := commas(n); got != want {
			t.Errorf("commas(%d) = %q", n, got)
		}
	}
}
