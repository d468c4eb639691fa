package plan

import (
	"regexp/syntax"
	"strings"
	"time"

	"github.com/watcher-dev/watcher/internal/cost"
	"github.com/watcher-dev/watcher/internal/endpoint"
)

// The cost model: what one check is expected to cost the probe in CPU time
// and how long it holds its socket. The per-check constant is the probe's
// whole path as measured in a Lambda-sized sandbox (the margin is
// CPUShare's); the others are cautious, two to five times what was
// measured, because real targets add certificate chains that loopback skips.
//
// The probe's whole path (the bootstrap under the Runtime Interface
// Emulator, in a cgroup with a function's CPU quota, GC, the writer and the
// runtime included; `make bench-sandbox`, 2026-11-30) spent 0.42 to 0.54 ms
// a plain check with a 2 KB body and an RE2 regex at 128 to 512 MB with two
// Ps, and 0.34 to 0.42 ms at 192 and 256 MB with the runtime fitted to the
// quota (app.TuneRuntime: one P, GOGC 400); at 192 MB, 0.34 to 0.38 ms from
// 12,000 to 16,000 checks a span (2026-11-30 11:09).
//
// Where they come from (2026-11-28, this project's 2-vCPU development VM, one
// core, GOMAXPROCS=1, loopback, a fresh connection per check, client CPU by
// getrusage):
//   - a plain net/http check of a 2 KB body spent 0.15 ms; the project's
//     whole probe path spends 0.30-0.53 ms (`make bench`, README Performance);
//   - a TLS handshake added 0.53 ms (no chain verification; a real chain
//     verifies two or three signatures more);
//   - reading the body cost 0.42 µs a KiB (2 KB to 512 KB bodies);
//   - RE2 searched 27 µs a KiB at worst (an unanchored .* it cannot skip),
//     literal patterns next to nothing;
//   - regexp2 searched 0.6 µs a KiB for a lookbehind and 85 µs a KiB for a
//     backreference; a catastrophic pattern runs to its match timeout.
const (
	// CPUPerCheck is a check's fixed CPU: DNS, a fresh connection, the
	// request, the response headers, the record and its share of the
	// write: the sandbox's 0.34-0.38 ms at 192 MB less the 2 KB body and
	// its search (0.064 ms by the constants below), at the high end. It was
	// 0.4 ms, a margin on top of CPUShare's, which left a shard using about
	// 65 % of its quota and a location's last shard most of the time.
	CPUPerCheck = 320 * time.Microsecond
	// CPUPerTLS is a TLS handshake with certificate verification.
	CPUPerTLS = 2 * time.Millisecond
	// CPUPerBodyKiB is reading one KiB of body.
	CPUPerBodyKiB = 2 * time.Microsecond
	// CPURE2PerKiB is searching one KiB of body with RE2.
	CPURE2PerKiB = 30 * time.Microsecond
	// CPUBacktrackPerKiB is searching one KiB with the backtracking engine
	// (regexp2, in the regex worker, which shares the function's CPU). One
	// search never costs more than endpoint.RegexMatchTimeout.
	CPUBacktrackPerKiB = 250 * time.Microsecond

	// DefaultBodyBytes is the body assumed for an endpoint without history.
	DefaultBodyBytes = 64 << 10
	// MinHistoryChecks is how many recent checks an endpoint needs before
	// its history replaces the defaults.
	MinHistoryChecks = 3
)

// Budgets of a probe function, from what Lambda gives it.
const (
	// MBPerVCPU is Lambda's rule: a function gets memory/1,769 MB of a vCPU.
	MBPerVCPU = cost.FullVCPUMemoryMB
	// CPUShare is the part of its vCPU share a shard is planned to use: a
	// probe short of CPU starts checks late (its response times stay
	// true: check reads the kernel's receive stamps). In the sandbox
	// (watcher bench sandbox --memory 192 --shards 12000,14000,15000,16000,
	// 2026-11-30 11:09) 192 MB kept start lateness p99 at 7.8 ms at 65 % of
	// its quota, 8.6 ms at 70 %, 11.8 ms at 83 % and 16.7 ms at 89 %, under
	// the 20 ms target, with the response-time error p99 at 1.01 to 1.13x
	// of the unlimited run's; 128 MB reached 31.8 ms at 93 %. A shard of
	// those endpoints planned to 85 % holds 14,426 checks, between the runs
	// of 14,000 (70 %) and 15,000 (83 %).
	CPUShare = 0.85
	// DescriptorLimit is Lambda's RLIMIT_NOFILE.
	DescriptorLimit = 1024
	// SocketReserve is what a probe keeps of its descriptors for other than
	// checks: the runtime (standard streams, the netpoller), the Lambda
	// runtime API and AWS SDK connections, the database pool (at most a
	// few connections), the regex worker's pipes, and sockets whose close
	// lags their check's end (the HTTP transport closes them on its own
	// goroutine). The probe holds the same reserve back at run time.
	SocketReserve = 64
)

// CPUBudget is the CPU time a probe of memoryMB can spend in one span at
// share of its vCPU allowance: memoryMB/1,769 of a vCPU for SpanLength.
func CPUBudget(memoryMB int, share float64) time.Duration {
	return time.Duration(float64(memoryMB) / MBPerVCPU * share * float64(SpanLength))
}

// DefaultCPUBudget is CPUBudget for the probe's default memory (infra's
// probeMemoryMB, which local runs are priced at) at CPUShare: 5.5 s a span
// at 192 MB.
var DefaultCPUBudget = CPUBudget(cost.NominalProbeMemoryMB, CPUShare)

// Cost is what one check of an endpoint is expected to take.
type Cost struct {
	CPU time.Duration // the probe's CPU time, the regex worker's included
	// Duration is how long the check holds its socket: at most the
	// endpoint's timeout, and that whole timeout without history.
	Duration time.Duration
}

// History is what an endpoint's recent checks measured (the fanout reads it
// from the checks table every few minutes).
type History struct {
	Checks        int           // checks in the window
	P95           time.Duration // 95th percentile response time
	Mean          time.Duration // mean response time
	BodyBytes     int64         // mean body size
	TLSChecks     int           // checks that made a TLS handshake
	RegexTimeouts int           // checks whose regex ran out of time
}

// Estimate is the expected cost of one check of ep. With at least
// MinHistoryChecks in h, it is the measured one; otherwise the cautious
// default: the whole timeout, a DefaultBodyBytes body, a TLS handshake for
// an https URL.
//
// CPU is a mean, which adds up over a span's checks: the fixed part, the
// fraction of checks that shook hands times a handshake, the mean body read
// and searched, and each regex timeout at its full match timeout. Duration
// is the larger of the p95 and the mean response time (a heavy tail raises
// the mean above the p95), never above the timeout.
func Estimate(ep *endpoint.Endpoint, h *History, backtracks bool) Cost {
	timeout := ep.Timeout
	if timeout <= 0 {
		timeout = endpoint.DefaultTimeout
	}
	tls := 0.0
	if isHTTPS(ep.URL) {
		tls = 1
	}
	body := int64(DefaultBodyBytes)
	c := Cost{CPU: CPUPerCheck, Duration: timeout}
	if h != nil && h.Checks >= MinHistoryChecks {
		tls = max(tls, float64(h.TLSChecks)/float64(h.Checks))
		body = min(max(h.BodyBytes, 0), endpoint.BodyCap)
		c.Duration = min(max(h.P95, h.Mean, time.Millisecond), timeout)
		c.CPU += time.Duration(float64(endpoint.RegexMatchTimeout) * float64(h.RegexTimeouts) / float64(h.Checks))
	}
	kib := float64(body) / 1024
	c.CPU += time.Duration(tls*float64(CPUPerTLS)) + time.Duration(kib*float64(CPUPerBodyKiB))
	if ep.Regex != "" {
		per := CPURE2PerKiB
		if backtracks {
			per = CPUBacktrackPerKiB
		}
		c.CPU += min(time.Duration(kib*float64(per)), endpoint.RegexMatchTimeout)
	}
	return c
}

func isHTTPS(url string) bool {
	return len(url) >= 8 && strings.EqualFold(url[:8], "https://")
}

// Backtracks reports whether a pattern may need the backtracking engine:
// whether Go's RE2 parser refuses it (lookaround, backreferences,
// conditionals, atomic groups, possessive quantifiers, repeats over 1,000),
// with Python's {,n} read as the repeat it is. It errs towards yes: a few
// Python spellings that internal/regex translates for RE2 ((?x), \Z,
// (?#...)) count as backtracking too. The planner cannot link
// internal/regex (only the probe links the check engine), so this stands
// in for regex.Compile(pattern).Engine(), and a test holds it to that.
func Backtracks(pattern string) bool {
	_, err := syntax.Parse(strings.ReplaceAll(pattern, "{,", "{0,"), syntax.Perl)
	return err != nil
}
