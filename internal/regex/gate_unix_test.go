//go:build unix

package regex

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestGateRefusesChildThatIsNoWorker starts the gate's worker from scripts
// that ignore the marker argument, as an executable whose main lacks
// ServeWorkerIfAsked would: each is killed once its hello fails, started
// only once, and the matches run in this process with the right answers.
func TestGateRefusesChildThatIsNoWorker(t *testing.T) {
	const hello = 300 * time.Millisecond
	tests := []struct {
		name   string
		script string // after it has noted its pid
	}{
		{"exits at once", `exit 0`},
		{"half a hello", `printf WR`},
		{"wrong bytes", `printf '=== RUN   TestMain\n'; exec cat >/dev/null`},
		{"hello then wrong bytes", `printf WRX2; exec cat >/dev/null`},
		{"silent", `exec sleep 60`},
		{"silent, output closed", `exec sleep 60 >&-`},
	}
	re, err := Compile(`welcome(?= home)`, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	slow, err := Compile(catastrophic, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			pids := filepath.Join(dir, "pids")
			exe := filepath.Join(dir, "not-a-worker")
			script := "#!/bin/sh\necho $$ >>" + pids + "\n" + tt.script + "\n"
			if err := os.WriteFile(exe, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			g := newGate(1)
			g.exe, g.hello = exe, hello

			start := time.Now()
			if ok, err := g.match(context.Background(), re, []byte("welcome home")); !ok || err != nil {
				t.Errorf("first match = %v, %v; want true, nil", ok, err)
			}
			if took := time.Since(start); took > hello+2*time.Second {
				t.Errorf("the first match took %s with a %s hello timeout", took, hello)
			}
			if ok, err := g.match(context.Background(), re, []byte("welcome away")); ok || err != nil {
				t.Errorf("second match = %v, %v; want false, nil", ok, err)
			}
			if ok, err := g.match(context.Background(), slow, bodyHostile); ok || !errors.Is(err, ErrTimeout) {
				t.Errorf("hostile match = %v, %v; want ErrTimeout", ok, err)
			}
			if g.noSpawn == nil || g.w != nil || len(g.slots) != 0 {
				t.Errorf("noSpawn %v, worker %v, %d slots taken; want a reason, no worker, none", g.noSpawn, g.w, len(g.slots))
			}
			data, err := os.ReadFile(pids)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Fields(string(data))
			if len(lines) != 1 {
				t.Fatalf("the child started %d times, want once", len(lines))
			}
			pid, err := strconv.Atoi(lines[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("child %d still there after the gate gave up on it (kill 0: %v)", pid, err)
			}
		})
	}
}
