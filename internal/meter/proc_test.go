package meter

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestProcessStart reads a process's start from a /proc of our own: it
// started 950.5 s after boot (95,050 ticks) and the machine has been up
// 1,000.5 s, so it started 50 s ago. The command name holds spaces and
// parentheses.
func TestProcessStart(t *testing.T) {
	proc := t.TempDir()
	if err := os.MkdirAll(filepath.Join(proc, "self"), 0o755); err != nil {
		t.Fatal(err)
	}
	stat := "1234 (boot (strap) x) S 1 1234 1234 0 -1 4194560 500 0 0 0 3 2 0 0 20 0 8 0 95050 800000000 2000 18446744073709551615\n"
	for name, body := range map[string]string{"self/stat": stat, "uptime": "1000.50 1900.20\n"} {
		if err := os.WriteFile(filepath.Join(proc, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	got, err := processStart(proc, now)
	if err != nil || !got.Equal(now.Add(-50*time.Second)) {
		t.Errorf("processStart = %v, %v; want %v", got, err, now.Add(-50*time.Second))
	}
	if err := os.WriteFile(filepath.Join(proc, "self/stat"), []byte("1234 (x) S 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := processStart(proc, now); err == nil {
		t.Error("a short stat line was accepted")
	}
}

// TestLambdaProcessStart: only an on-demand Lambda function measures its
// init, from the real /proc where there is one.
func TestLambdaProcessStart(t *testing.T) {
	now := time.Now()
	env := func(v string) func(string) string { return func(string) string { return v } }
	if got := LambdaProcessStart(env(""), now); !got.IsZero() {
		t.Errorf("outside Lambda: %v", got)
	}
	if got := LambdaProcessStart(env("provisioned-concurrency"), now); !got.IsZero() {
		t.Errorf("provisioned concurrency: %v", got)
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	// /proc counts in 10 ms ticks: the start read may round up by two.
	if got := LambdaProcessStart(env("on-demand"), now); got.IsZero() || got.After(now.Add(2*time.Second/userHZ)) {
		t.Errorf("on-demand: process started %v, now %v", got, now)
	}
}
