package regex

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBacktrackingRunsInAnIdleWorker checks where a hostile match's CPU
// goes: to a worker process in the SCHED_IDLE class, not to this one.
func TestBacktrackingRunsInAnIdleWorker(t *testing.T) {
	g := newGate(1)
	re, err := Compile(catastrophic, 500*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	before := cpuTime(t)
	if _, err := g.match(context.Background(), re, bodyHostile); !errors.Is(err, ErrTimeout) {
		t.Fatalf("match: %v, want ErrTimeout", err)
	}
	if used := cpuTime(t) - before; used > 200*time.Millisecond {
		t.Errorf("this process used %s of CPU during a 500 ms backtracking match", used)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", waitWorker(t, g, nil).cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	if policy := fields[38]; policy != "5" { // field 41 of stat; 5 is SCHED_IDLE
		t.Errorf("worker scheduling policy %s, want 5 (SCHED_IDLE)", policy)
	}
}

func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
