package fanout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/cost"
	"github.com/watcher-dev/watcher/internal/fanout"
	"github.com/watcher-dev/watcher/internal/meter"
	"github.com/watcher-dev/watcher/internal/plan"
)

// TestFanoutRecordsItsCost checks that a fanout invocation is recorded with
// its architecture, billed duration and cost, and prints one EMF line with
// the cost and the event's delivery delay.
func TestFanoutRecordsItsCost(t *testing.T) {
	st, _ := setup(t, demo(20, "home"))
	scheduled := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	// Each reading of the clock is 1.5 ms after the last, so the invocation
	// lasts some multiple of 1.5 ms, billed in whole milliseconds.
	now := scheduled.Add(3 * time.Second)
	clock := func() time.Time { t := now; now = now.Add(1500 * time.Microsecond); return t }
	var emf bytes.Buffer
	h := fanout.New(fanout.Config{
		Probes:     map[string]string{"home": "probe-home"},
		SpanOffset: 10 * time.Second, MaxDelay: 2 * time.Minute, Plan: plan.DefaultOptions,
		Meter: meter.Config{Region: "eu-south-1", MemoryMB: 256, Arch: cost.X86, EMF: &emf},
	}, st, &shardCollector{shards: map[string][]plan.Shard{}}, slog.New(slog.NewTextHandler(io.Discard, nil)), newClock(clock))
	if _, err := h.Run(context.Background(), scheduled); err != nil {
		t.Fatal(err)
	}

	invs, err := st.Invocations(context.Background(), scheduled)
	if err != nil || len(invs) != 1 {
		t.Fatalf("invocations %+v, %v", invs, err)
	}
	inv := invs[0]
	billed := (inv.Duration + time.Millisecond - time.Microsecond) / time.Millisecond * time.Millisecond
	// Billed seconds x 0.25 GB x $0.0000195172 + $0.00000023 (eu-south-1, x86).
	want := billed.Seconds()*0.25*0.0000195172 + 0.00000023
	if inv.Arch != cost.X86 || inv.Duration <= 0 || inv.Billed != billed || inv.CostUSD == nil || math.Abs(*inv.CostUSD-want) > 1e-15 {
		t.Errorf("recorded %+v (cost %v), want x86_64, %s billed, $%.13f", inv, inv.CostUSD, billed, want)
	}

	var line map[string]any
	if err := json.Unmarshal(emf.Bytes(), &line); err != nil {
		t.Fatalf("EMF line %q: %v", emf.String(), err)
	}
	if line["function"] != "fanout" || line["location"] != "all" || line["Lateness"] != 3000.0 ||
		math.Abs(line["CostUSD"].(float64)-want) > 1e-15 || line["ChecksPlanned"] != float64(inv.ChecksPlanned) {
		t.Errorf("EMF line %s", emf.String())
	}
}
