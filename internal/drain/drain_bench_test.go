package drain

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/dev/recordtest"
	"github.com/watcher-dev/watcher/internal/queue"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/store"
)

// BenchmarkDrainBatch measures what the drain spends on a check: one SQS
// batch of ten compressed messages of the reference workload's checks, as
// probes outside the VPC send them (3,000 checks a message, a 15 s flush of
// a full shard), written to a real PostgreSQL. It reports the handler's
// wall time and its own CPU (getrusage: the server's work is its own
// process) per check; the drain's time is not yet in the cost report, and
// these give its price: at 256 MB a function has 0.145 of a vCPU, so its
// billed time is about the wall time less the CPU plus the CPU / 0.145.
//
//	go test -run '^$' -bench DrainBatch -benchtime 5x ./internal/drain
func BenchmarkDrainBatch(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(ctx, pgtest.New(b))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	h := New(st, quiet(), nil)
	const perMessage, messages = 3000, 10
	checks := recordtest.Realistic(perMessage*messages, 1)
	var (
		wall, cpu time.Duration
		n         int
	)
	for i := 0; b.Loop(); i++ {
		// Each round is a new hour of the same checks: no conflicts.
		bodies := map[string][]byte{}
		for m := range messages {
			batch := make([]record.Check, perMessage)
			for k, c := range checks[m*perMessage : (m+1)*perMessage] {
				c.PlannedAt = c.PlannedAt.Add(time.Duration(i) * time.Hour)
				c.StartedAt = c.StartedAt.Add(time.Duration(i) * time.Hour)
				batch[k] = c
			}
			msgs, err := record.EncodeChecks(batch, queue.MaxMessageBytes)
			if err != nil {
				b.Fatal(err)
			}
			for k, msg := range msgs {
				bodies[fmt.Sprintf("m%02d-%d", m, k)] = msg.Body
			}
		}
		ev := event(b, bodies)
		before, start := cpuTime(b), time.Now()
		_, sum := h.Handle(ctx, ev)
		wall += time.Since(start)
		cpu += cpuTime(b) - before
		if sum.Failed != 0 || sum.Inserted != perMessage*messages {
			b.Fatalf("drained %+v; want %d inserted, none failed", sum, perMessage*messages)
		}
		n += sum.Inserted
	}
	b.ReportMetric(float64(wall.Nanoseconds())/float64(n), "wall-ns/check")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/check")
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
