package probe_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/dev/nettest"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/probe"
	"github.com/watcher-dev/watcher/internal/record"
)

// memorySink keeps what the probe writes.
type memorySink struct {
	mu     sync.Mutex
	checks []record.Check
}

func (s *memorySink) WriteChecks(_ context.Context, batch []record.Check) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks = append(s.checks, batch...)
	return len(batch), nil
}

// hangingProcessEnv makes the test binary serve hanging sites
// (serveHangingSites) instead of running tests; its value is how many.
const hangingProcessEnv = "PROBE_TEST_HANGING_PROCESS"

// startHangingSites starts n sites in a process of their own (so that their
// accepted connections take none of the probe's descriptors) whose every
// request hangs until the client gives up.
func startHangingSites(t *testing.T, n int) []string {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), os.Args[0])
	cmd.Env = append(os.Environ(), hangingProcessEnv+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close() // the process ends when its stdin does
		_ = cmd.Wait()
	})
	line, err := readLine(stdout)
	if err != nil {
		t.Fatalf("hanging sites process: %v", err)
	}
	urls := strings.Fields(line)
	if len(urls) != n {
		t.Fatalf("hanging sites process printed %q, want %d URLs", line, n)
	}
	_ = stdout.Close() // all it prints; no descriptor kept for it
	return urls
}

func readLine(r io.Reader) (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for {
		if _, err := r.Read(buf); err != nil {
			return b.String(), err
		}
		if buf[0] == '\n' {
			return b.String(), nil
		}
		b.WriteByte(buf[0])
	}
}

// serveHangingSites runs in the hanging sites process.
func serveHangingSites(n int) int {
	hang := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	var urls []string
	for range n {
		s := httptest.NewUnstartedServer(hang)
		s.Config.ErrorLog = log.New(io.Discard, "", 0)
		s.Start()
		defer s.Close()
		urls = append(urls, s.URL)
	}
	fmt.Println(strings.Join(urls, " "))
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// openSockets counts the process's open sockets and all its descriptors.
func openSockets(t *testing.T) (sockets, all int) {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.HasPrefix(target, "socket:") {
			sockets++
		}
	}
	return sockets, len(entries)
}

// TestProbeHoldsItsSocketBudget runs a shard in which every target hangs
// until the check's timeout (responses that never come, and, for one
// endpoint in five, connects that never complete) with the process's
// descriptor limit lowered, so that the socket budget it derives (the limit
// less plan.SocketReserve, here 32) is smaller than the shard's overlap
// (about 48). It holds the promises: no check runs into "too many open
// files"; the checks never have more sockets open than the budget, counted
// in /proc/self/fd while the shard runs; and every planned check is
// recorded, as a timeout or, when no socket came free in time, as no_socket
// with its lateness; none is dropped or missed.
//
// Connects that never complete hold their sockets past their checks: the
// HTTP transport lets the dial go on until the kernel gives up (about two
// minutes). They stay counted, so they use up the budget as the shard goes
// on, and more checks are recorded as no_socket than the overlap alone
// would make.
func TestProbeHoldsItsSocketBudget(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts descriptors in /proc/self/fd")
	}
	sites := startHangingSites(t, 16)
	stalled := nettest.StalledAddr(t)
	sink := &memorySink{}
	var logs syncBuffer
	p := newProbe(t, sink, nil, &logs, probe.Config{})

	// 240 endpoints due once each over the next 5 s and checked with a 1 s
	// timeout: about 48 checks in flight at full timeout, over a budget of 32.
	const budget, timeout = 32, time.Second
	var eps []endpoint.Endpoint
	for i := range 240 {
		u := sites[i%len(sites)] + "/" + strconv.Itoa(i)
		if i%5 == 0 {
			u = "http://" + stalled + "/"
		}
		eps = append(eps, endpoint.Endpoint{ID: int64(i + 1), URL: u, Method: "GET", Interval: 5 * time.Second,
			Timeout: timeout, Location: "home", Enabled: true})
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	span := plan.Span{Start: now.Add(300 * time.Millisecond), End: now.Add(5300 * time.Millisecond)}
	shards := plan.Plan(eps, span, plan.Options{MaxChecks: 10_000, MaxPayloadBytes: 1 << 30})
	if len(shards) != 1 || shards[0].Checks != len(eps) {
		t.Fatalf("%d shards: want one of %d checks", len(shards), len(eps))
	}

	// The descriptor limit, lowered for this test only: the budget, plus
	// the reserve, which must hold what the process has open besides.
	beforeSockets, beforeAll := openSockets(t)
	if beforeAll+8 > plan.SocketReserve {
		t.Fatalf("%d descriptors open before the shard: the reserve of %d cannot hold them", beforeAll, plan.SocketReserve)
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	lowered := old
	lowered.Cur = budget + plan.SocketReserve
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lowered); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
			t.Error(err)
		}
	})

	// Count the sockets open while the shard runs.
	stop := make(chan struct{})
	peak := make(chan int)
	go func() {
		most := 0
		for {
			select {
			case <-stop:
				peak <- most
				return
			default:
			}
			n, _ := openSockets(t)
			most = max(most, n)
			time.Sleep(time.Millisecond)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sum, err := p.Run(ctx, &shards[0], 0)
	close(stop)
	most := <-peak
	if err != nil {
		t.Fatal(err)
	}
	// Each dial ends with its check (internal/check bounds it by the
	// check's deadline), so none outlives the shard for long; the kernel
	// would otherwise keep a connect to the stalled address for minutes.
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		after, _ := openSockets(t)
		if after-beforeSockets <= 0 {
			break
		}
		if time.Now().After(end) {
			t.Errorf("%d sockets still open 5 s after the shard: dials outlived their checks", after-beforeSockets)
			break
		}
	}

	if sum.MaxInFlight != budget {
		t.Errorf("in-flight limit %d, want the budget %d", sum.MaxInFlight, budget)
	}
	if got := most - beforeSockets; got > budget {
		t.Errorf("%d sockets open for checks at once, over the budget of %d", got, budget)
	}
	classes := map[string]int{}
	seen := map[int64]bool{}
	for _, c := range sink.checks {
		classes[c.Error]++
		seen[c.EndpointID] = true
		if strings.Contains(c.ErrorDetail, "too many open files") {
			t.Errorf("endpoint %d: %s: %s", c.EndpointID, c.Error, c.ErrorDetail)
		}
		if c.Error == record.ErrNoSocket && (c.Lateness <= 0 || c.StatusCode != nil) {
			t.Errorf("endpoint %d: no_socket with lateness %s and status %v", c.EndpointID, c.Lateness, c.StatusCode)
		}
	}
	if strings.Contains(logs.String(), "too many open files") {
		t.Errorf("the logs mention too many open files:\n%s", logs.String())
	}
	if sum.Planned != len(eps) || sum.Done != len(eps) || len(sink.checks) != len(eps) || len(seen) != len(eps) ||
		sum.MissedDeadline != 0 || sum.Unwritten != 0 {
		t.Errorf("summary %+v, %d checks recorded for %d endpoints: want every planned check recorded once", sum, len(sink.checks), len(seen))
	}
	if classes[record.ErrTimeout]+classes[record.ErrNoSocket] != len(eps) || classes[record.ErrNoSocket] == 0 || classes[record.ErrTimeout] < budget {
		t.Errorf("error classes %v: want every check a timeout or no_socket, some of each", classes)
	}
	if sum.NoSocket != classes[record.ErrNoSocket] {
		t.Errorf("summary counts %d checks without a socket, the checks say %d", sum.NoSocket, classes[record.ErrNoSocket])
	}
	t.Logf("classes %v, peak %d sockets for checks, %d descriptors open before, lateness p99 %.0f ms",
		classes, most-beforeSockets, beforeAll, sum.LatenessP99)
}
