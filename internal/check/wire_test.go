//go:build linux

package check

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// wireChildEnv makes the test binary a probe that runs one check and prints
// its result: the process a test stops and resumes, as a CPU quota does.
const wireChildEnv = "WATCHER_WIRE_CHILD"

// TestWireChild is the child's side of TestResponseTimeExcludesProbeStalls.
func TestWireChild(t *testing.T) {
	url := os.Getenv(wireChildEnv)
	if url == "" {
		t.Skip("the child of TestResponseTimeExcludesProbeStalls")
	}
	if os.Getenv(wireChildEnv+"_STOP_CONNECTED") != "" {
		// To this thread, so that it stops before it returns: a signal to
		// the process may be taken by another thread while this one
		// goes on to send the request.
		testHookConnected = func() { _ = syscall.Tgkill(os.Getpid(), syscall.Gettid(), syscall.SIGSTOP) }
	}
	opt := loopbackOnly
	if ca := os.Getenv(wireChildEnv + "_CA"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			t.Fatal(err)
		}
		opt.RootCAs = x509.NewCertPool()
		opt.RootCAs.AppendCertsFromPEM(pem)
	}
	c := New(opt)
	start := time.Now()
	res := c.Run(context.Background(), &Request{URL: url, Timeout: 5 * time.Second})
	wall := time.Since(start)
	if res.Error != "" {
		t.Fatalf("check failed: %s %s", res.Error, res.ErrorDetail)
	}
	fmt.Printf("RESULT %d %d %d\n", res.ResponseTime, res.TTFB, wall)
}

// stopped waits until process pid is stopped (state T in /proc).
func stopped(t *testing.T, pid int) {
	t.Helper()
	for range 500 {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err == nil {
			// pid (comm) state ...: the state follows the last ')'.
			if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'T' {
				return
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("process %d never stopped", pid)
}

// TestResponseTimeExcludesProbeStalls stops the probe's process for 150 ms
// where a CPU quota would (with the response waiting in its socket, and
// with the connection open and the request not yet sent): the recorded
// response time is the target's 100 ms delay, not the stall, while the
// wall clock saw both.
func TestResponseTimeExcludesProbeStalls(t *testing.T) {
	const delay, stall = 100 * time.Millisecond, 150 * time.Millisecond
	for _, tc := range []struct {
		name              string
		stopBeforeReply   bool
		stopWhenConnected bool
		// HTTPS, over HTTP/1.1: over HTTP/2 the transport may read a later
		// frame before the body's end reaches the check, which leaves
		// that check's times as the wall clock's.
		tls bool
	}{
		{name: "response waits while the probe is stopped", stopBeforeReply: true},
		{name: "request waits while the probe is stopped", stopWhenConnected: true},
		{name: "HTTPS response waits while the probe is stopped", stopBeforeReply: true, tls: true},
		{name: "HTTPS handshake waits while the probe is stopped", stopWhenConnected: true, tls: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pid := make(chan int, 1)
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				time.Sleep(delay)
				if tc.stopBeforeReply {
					p := <-pid
					if err := syscall.Kill(p, syscall.SIGSTOP); err != nil {
						t.Error(err)
					}
					stopped(t, p)
					time.AfterFunc(stall, func() { _ = syscall.Kill(p, syscall.SIGCONT) })
				}
				_, _ = io.WriteString(w, "You are always welcome!")
			}))
			cmd := exec.Command(os.Args[0], "-test.run", "^TestWireChild$", "-test.v")
			if tc.tls {
				srv.StartTLS()
				ca := filepath.Join(t.TempDir(), "ca.pem")
				block := &pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}
				if err := os.WriteFile(ca, pem.EncodeToMemory(block), 0o600); err != nil {
					t.Fatal(err)
				}
				cmd.Env = append(cmd.Env, wireChildEnv+"_CA="+ca)
			} else {
				srv.Start()
			}
			t.Cleanup(srv.Close)
			cmd.Env = append(append(cmd.Env, os.Environ()...), wireChildEnv+"="+srv.URL)
			if tc.stopWhenConnected {
				cmd.Env = append(cmd.Env, wireChildEnv+"_STOP_CONNECTED=1")
			}
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pid <- cmd.Process.Pid
			if tc.stopWhenConnected {
				stopped(t, cmd.Process.Pid)
				time.Sleep(stall)
				if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
					t.Fatal(err)
				}
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("child: %v\n%s", err, out.String())
			}
			var rt, ttfb, wall time.Duration
			i := strings.Index(out.String(), "RESULT ")
			if i < 0 {
				t.Fatalf("child printed no result:\n%s", out.String())
			}
			if _, err := fmt.Sscanf(out.String()[i:], "RESULT %d %d %d", &rt, &ttfb, &wall); err != nil {
				t.Fatal(err)
			}
			t.Logf("response time %v, TTFB %v, wall %v", rt, ttfb, wall)
			if wall < delay+stall {
				t.Fatalf("wall %v: the stall did not hold up the check", wall)
			}
			// The target's delay plus a loopback round trip; a stall in
			// the measurement would add 150 ms.
			if rt < delay || rt > delay+50*time.Millisecond {
				t.Errorf("response time %v, want the target's %v delay and not the %v stall", rt, delay, stall)
			}
			if ttfb < delay || ttfb > rt {
				t.Errorf("TTFB %v, want between the delay %v and the response time %v", ttfb, delay, rt)
			}
		})
	}
}
