package meter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/cost"
	"github.com/watcher-dev/watcher/internal/emf"
	"github.com/watcher-dev/watcher/internal/meter"
	"github.com/watcher-dev/watcher/internal/record"
)

type recorder struct {
	invs []record.Invocation
	err  error
}

func (r *recorder) RecordInvocation(_ context.Context, inv record.Invocation) error {
	r.invs = append(r.invs, inv)
	return r.err
}

// TestCloseRecordsAndReportsOnePrice holds the meter's promise: the
// invocation record and the EMF line carry the same cost, priced once from
// the invocation's duration, with the function's own facts filled in.
func TestCloseRecordsAndReportsOnePrice(t *testing.T) {
	var line bytes.Buffer
	rec := &recorder{}
	m := meter.New(meter.Config{Function: "probe", Region: "eu-south-1", Arch: cost.X86, MemoryMB: 512, EMF: &line},
		rec, slog.New(slog.DiscardHandler))
	start := time.Date(2026, 11, 30, 12, 0, 10, 0, time.UTC)
	m.Close(context.Background(), record.Invocation{Location: "home", StartedAt: start, Duration: 1234567 * time.Microsecond},
		"home", []emf.Metric{{Name: "ChecksDone", Unit: "Count", Value: 7}}, time.Second)

	if len(rec.invs) != 1 {
		t.Fatalf("%d invocations recorded, want 1", len(rec.invs))
	}
	inv := rec.invs[0]
	// 1,235 ms billed x 0.5 GB x $0.0000195172 + $0.00000023 (eu-south-1, x86).
	want := 1.235*0.5*0.0000195172 + 0.00000023
	if inv.Function != "probe" || inv.Region != "eu-south-1" || inv.Arch != cost.X86 || inv.MemoryMB != 512 ||
		inv.Billed != 1235*time.Millisecond || inv.CostUSD == nil || !near(*inv.CostUSD, want) {
		t.Errorf("recorded %+v (cost %v), want probe, eu-south-1, x86_64, 512 MB, 1235 ms billed, $%.12f", inv, inv.CostUSD, want)
	}
	var got map[string]any
	if err := json.Unmarshal(line.Bytes(), &got); err != nil {
		t.Fatalf("EMF line %q: %v", line.String(), err)
	}
	if got["function"] != "probe" || got["location"] != "home" || got["ChecksDone"] != 7.0 ||
		got["Duration"] != 1234.567 || !near(got["CostUSD"].(float64), *inv.CostUSD) {
		t.Errorf("EMF line %s: want the recorded cost %v, duration 1234.567 ms, ChecksDone 7", line.String(), *inv.CostUSD)
	}
}

func TestCloseWithoutRecorderOrEMF(t *testing.T) {
	var logs bytes.Buffer
	failing := &recorder{err: errors.New("database down")}
	tests := []struct {
		name     string
		rec      meter.Recorder
		emf      io.Writer
		wantLog  string
		wantLine bool
	}{
		{name: "no recorder, EMF only", emf: &bytes.Buffer{}, wantLine: true},
		{name: "recorder fails: logged, line still written", rec: failing, emf: &bytes.Buffer{}, wantLog: "database down", wantLine: true},
		{name: "neither", rec: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs.Reset()
			m := meter.New(meter.Config{Function: "fanout", Region: "us-east-1", Arch: cost.ARM64, MemoryMB: 256, EMF: tt.emf},
				tt.rec, slog.New(slog.NewTextHandler(&logs, nil)))
			m.Close(context.Background(), record.Invocation{StartedAt: time.Now(), Duration: time.Second}, "all", nil, time.Second)
			if tt.wantLog != "" && !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("logs %q lack %q", logs.String(), tt.wantLog)
			}
			if b, ok := tt.emf.(*bytes.Buffer); ok && (b.Len() > 0) != tt.wantLine {
				t.Errorf("EMF line written: %v, want %v", b.Len() > 0, tt.wantLine)
			}
		})
	}
}

func near(a, b float64) bool { return a-b < 1e-15 && b-a < 1e-15 }
