package app

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
)

func TestTuneRuntime(t *testing.T) {
	procs, gc, limit := runtime.GOMAXPROCS(0), debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		runtime.GOMAXPROCS(procs)
		debug.SetGCPercent(gc)
		debug.SetMemoryLimit(limit)
	})
	reset := func() {
		runtime.GOMAXPROCS(2)
		debug.SetGCPercent(100)
		debug.SetMemoryLimit(math.MaxInt64)
	}
	tests := []struct {
		name             string
		env              map[string]string
		procs, gcPercent int
		limit            int64
	}{
		{"outside Lambda", map[string]string{}, 2, 100, math.MaxInt64},
		{"256 MB: one P, GOGC 400, half the memory", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256"}, 1, 400, 128 << 20},
		{"a whole vCPU keeps its Ps", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769"}, 2, 400, 1769 << 20 / 2},
		{"the environment wins", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "GOMAXPROCS": "2", "GOGC": "100", "GOMEMLIMIT": "1GiB"}, 2, 100, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "GOMAXPROCS", "GOGC", "GOMEMLIMIT"} {
				t.Setenv(k, tt.env[k])
			}
			reset()
			TuneRuntime()
			if got := runtime.GOMAXPROCS(0); got != tt.procs {
				t.Errorf("GOMAXPROCS %d, want %d", got, tt.procs)
			}
			if got := debug.SetGCPercent(100); got != tt.gcPercent {
				t.Errorf("GOGC %d, want %d", got, tt.gcPercent)
			}
			if got := debug.SetMemoryLimit(-1); got != tt.limit {
				t.Errorf("memory limit %d, want %d", got, tt.limit)
			}
		})
	}
}
