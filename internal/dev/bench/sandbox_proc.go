package bench

// The sandbox's processes: the emulator with the function behind it, and
// what /proc and the logs say about them.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/watcher-dev/watcher/internal/dev/deathsig"
)

// rieProc is a running emulator with the function behind it.
type rieProc struct {
	cmd *exec.Cmd
	url string
	log *os.File
}

// startSandboxRIE runs the emulator with `watcher bench sandbox-exec` as the
// function's bootstrap: the wrapper joins the group, sets the limits and
// becomes the probe bootstrap. The emulator itself stays outside the group.
func startSandboxRIE(ctx context.Context, rie, exe string, xc execConfig, env []string, dir, logPath string) (*rieProc, error) {
	api, err := freeAddr(ctx)
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr(ctx)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(xc)
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	// Not tied to ctx: stop ends it, after the invocation's own end.
	cmd := exec.CommandContext(context.WithoutCancel(ctx), rie, "--runtime-interface-emulator-address", addr,
		"--runtime-api-address", api, exe, "bench", "sandbox-exec")
	cmd.Dir = dir
	// A clean environment: only what the function is configured with, as
	// in Lambda, so nothing from the caller's shell (WATCHER_*) leaks in.
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_REGION=" + sandboxRegion,
		"AWS_ACCESS_KEY_ID=sandbox", "AWS_SECRET_ACCESS_KEY=sandbox",
		"AWS_LAMBDA_FUNCTION_NAME=watcher-probe-sandbox",
		SandboxExecEnv + "=" + string(raw),
	}, env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := deathsig.Start(cmd, syscall.SIGKILL); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start the emulator: %w", err)
	}
	p := &rieProc{cmd: cmd, url: "http://" + addr, log: logf}
	for range 400 {
		var d net.Dialer
		if c, err := d.DialContext(ctx, "tcp", addr); err == nil {
			c.Close()
			return p, nil
		}
		if ctx.Err() != nil {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	p.stop()
	return nil, fmt.Errorf("the emulator did not listen on %s\n%s", addr, indent(logTail(logPath, 15)))
}

// invoke sends one synchronous invocation through the emulator's invoke API
// (the Lambda Invoke API's path) and returns the function's response.
func (p *rieProc) invoke(ctx context.Context, payload []byte, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url+"/2015-03-31/functions/function/invocations", bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("emulator status %d: %.300s", resp.StatusCode, body)
	}
	if bytes.HasPrefix(bytes.TrimSpace(body), []byte(`{"errorMessage"`)) {
		return body, fmt.Errorf("function error: %.300s", body)
	}
	return body, nil
}

// stop ends the emulator (the function, in the group, is the group's to end).
func (p *rieProc) stop() {
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	_ = p.log.Close()
}

// waitQuiet waits, at most limit, until cpu has been busy under 10 % of
// the time for 3 s, and reports how long it waited and whether it was.
func waitQuiet(ctx context.Context, cpu int, limit time.Duration) (time.Duration, bool) {
	const stretch, busiest = 3 * time.Second, 0.10
	start := time.Now()
	cores := [2]int{cpu, -1}
	for time.Since(start) < limit {
		b0 := coresBusy(cores)[0]
		if !sleepUntil(ctx, time.Now().Add(stretch)) {
			return time.Since(start), false
		}
		if float64(coresBusy(cores)[0]-b0) <= busiest*float64(stretch) {
			return time.Since(start), true
		}
	}
	return time.Since(start), false
}

// freeAddr is a loopback address with a port free a moment ago.
func freeAddr(ctx context.Context) (string, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// fdSampler keeps the peak number of descriptors the group's processes
// hold open.
type fdSampler struct {
	quit chan struct{}
	done chan int
}

func sampleFDs(g *cgroup, every time.Duration) *fdSampler {
	s := &fdSampler{quit: make(chan struct{}), done: make(chan int, 1)}
	go func() {
		peak := 0
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			n := 0
			for _, p := range g.pids() {
				n += countFDs(p)
			}
			peak = max(peak, n)
			select {
			case <-s.quit:
				s.done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// stop ends the sampling and returns the peak.
func (s *fdSampler) stop() int {
	close(s.quit)
	return <-s.done
}

func countFDs(pid int) int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	return len(names)
}

// peakRSS is a process's peak resident set.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	return parsePeakRSS(b)
}

func parsePeakRSS(status []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// nofileLimit is a process's RLIMIT_NOFILE as "soft/hard".
func nofileLimit(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return "?"
	}
	return parseNoFile(b)
}

func parseNoFile(limits []byte) string {
	for _, line := range strings.Split(string(limits), "\n") {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			f := strings.Fields(rest)
			if len(f) >= 2 {
				if f[0] == f[1] {
					return f[0]
				}
				return f[0] + "/" + f[1]
			}
		}
	}
	return "?"
}

// countInFile counts the lines of path that contain s.
func countInFile(path, s string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	return countLines(f, s)
}

func countLines(r io.Reader, s string) int {
	n := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if bytes.Contains(sc.Bytes(), []byte(s)) {
			n++
		}
	}
	return n
}

// logTail is the last n lines of a file.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "          | " + strings.ReplaceAll(s, "\n", "\n          | ")
}

// loadAvg is /proc/loadavg's first three figures.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
