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

// queueRecorder is a recorder that sends through the record queue: it
// counts what it sent, as queue.Sink does.
type queueRecorder struct {
	recorder
	requests, bytes int64
}

func (q *queueRecorder) TakeSent() (int64, int64) {
	r, b := q.requests, q.bytes
	q.requests, q.bytes = 0, 0
	return r, b
}

// TestCloseRecordsLineItems holds Close to the facts it records and the
// lines it prices from them: a cold start's init billed as duration, NAT
// on what the checks moved (bodies plus the overhead per check), data out
// on what they sent to the Internet (the caller's plus an estimate per
// check), the
// recorder's and the caller's queue requests, what the counted logger, the
// EMF line and Lambda's own lines log, and storage per check written.
func TestCloseRecordsLineItems(t *testing.T) {
	var out, line bytes.Buffer
	logs := meter.NewLogCounter(&out)
	log := meter.CountedLogger(slog.NewJSONHandler(logs, nil), logs)
	rec := &queueRecorder{requests: 3, bytes: 150_000}
	start := time.Date(2026, 11, 30, 12, 0, 10, 0, time.UTC)
	m := meter.New(meter.Config{Function: "probe", Region: "us-east-1", Arch: cost.ARM64, MemoryMB: 512, VPC: true,
		ProcessStart: start.Add(-250 * time.Millisecond), EMF: &line}, rec, log)
	log.With("shard", 1).Info("probe starting") // derived loggers count too
	logged := int64(out.Len())

	m.Close(context.Background(), record.Invocation{Location: "home", StartedAt: start, Duration: 1234567 * time.Microsecond,
		ChecksDone: 100, ChecksWritten: 90, NetBytes: 50_000, SentBytes: 3_000, QueueRequests: 2, QueueBytes: 70_000},
		"home", nil, time.Second)
	if len(rec.invs) != 1 {
		t.Fatalf("%d invocations recorded", len(rec.invs))
	}
	inv := rec.invs[0]
	if !inv.ColdStart || inv.Init != 250*time.Millisecond || !inv.VPC {
		t.Errorf("cold start %v, init %s, VPC %v; want a cold start of 250 ms in a VPC", inv.ColdStart, inv.Init, inv.VPC)
	}
	// 50,000 body bytes + 100 checks x 7,000; 90 rows.
	wantLog := logged + int64(line.Len()) + cost.LambdaPlatformLogBytes
	if inv.NetBytes != 50_000+100*cost.CheckOverheadBytes || inv.StorageBytes != 90*cost.CheckRowBytes || inv.QueueRequests != 5 ||
		inv.QueueBytes != 220_000 || inv.LogBytes != wantLog {
		t.Errorf("bytes in %d, storage %d, queue %d / %d, logs %d; want 750000, 90 rows, 5 / 220000, %d",
			inv.NetBytes, inv.StorageBytes, inv.QueueRequests, inv.QueueBytes, inv.LogBytes, wantLog)
	}
	// 3,000 bytes the caller sent + 100 checks x 2,200.
	if inv.SentBytes != 3_000+100*cost.CheckSentBytes {
		t.Errorf("sent %d bytes to the Internet, want %d", inv.SentBytes, 3_000+100*cost.CheckSentBytes)
	}
	gb := float64(cost.GB)
	lambda := (1.235+0.25)*0.5*0.0000133334 + 0.0000002
	figures := []struct {
		name      string
		got, want float64
	}{
		{"cost (Lambda, init included)", *inv.CostUSD, lambda},
		{"requests", inv.RequestUSD, 0.0000002},
		{"NAT", inv.NATUSD, float64(50_000+100*cost.CheckOverheadBytes) / gb * 0.045},
		{"data out", inv.DataOutUSD, float64(3_000+100*cost.CheckSentBytes) / gb * 0.09},
		{"queue", inv.QueueUSD, 5 * 0.40 / 1e6},
		{"logs", inv.LogsUSD, float64(wantLog) / gb * 0.50},
		{"storage", inv.StorageUSD, float64(90*cost.CheckRowBytes) / gb * 0.115},
	}
	for _, f := range figures {
		if !near(f.got, f.want) {
			t.Errorf("%s = $%.16g, want $%.16g", f.name, f.got, f.want)
		}
	}
	var got map[string]any
	if err := json.Unmarshal(line.Bytes(), &got); err != nil || !near(got["CostUSD"].(float64), lambda) {
		t.Errorf("EMF line %s (%v): want the recorded cost %v", line.String(), err, lambda)
	}

	// The next invocation is warm; it logs only what came after the first
	// closed; the recorder's send of the first record counts here.
	out.Reset()
	line.Reset()
	rec.requests, rec.bytes = 1, 2_000
	log.Info("probe done")
	logged = int64(out.Len())
	m.Close(context.Background(), record.Invocation{Location: "home", StartedAt: start.Add(time.Minute), Duration: time.Second},
		"home", nil, time.Second)
	inv = rec.invs[1]
	if inv.ColdStart || inv.Init != 0 || inv.QueueRequests != 1 || inv.LogBytes != logged+int64(line.Len())+cost.LambdaPlatformLogBytes {
		t.Errorf("warm invocation: cold %v, init %s, queue %d, logs %d", inv.ColdStart, inv.Init, inv.QueueRequests, inv.LogBytes)
	}
	// No checks (as a fanout): nothing sent to the Internet.
	if inv.SentBytes != 0 || inv.DataOutUSD != 0 {
		t.Errorf("warm invocation without checks: sent %d bytes, $%v of data out; want none", inv.SentBytes, inv.DataOutUSD)
	}
}

// TestColdStartInitialisedAhead: a first invocation long after its process
// started (an environment initialised ahead of time) is a cold start whose
// init is not measured; a meter without a process start records none.
func TestColdStartInitialisedAhead(t *testing.T) {
	start := time.Date(2026, 11, 30, 12, 0, 10, 0, time.UTC)
	for _, tt := range []struct {
		name     string
		process  time.Time
		wantCold bool
	}{
		{"initialised ahead", start.Add(-cost.MaxInit - time.Millisecond), true},
		{"no process start (local)", time.Time{}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			m := meter.New(meter.Config{Function: "probe", MemoryMB: 512, ProcessStart: tt.process}, rec, slog.New(slog.DiscardHandler))
			m.Close(context.Background(), record.Invocation{StartedAt: start, Duration: time.Second}, "home", nil, time.Second)
			if inv := rec.invs[0]; inv.ColdStart != tt.wantCold || inv.Init != 0 || inv.NATUSD != 0 {
				t.Errorf("cold %v, init %s, NAT %v; want cold %v, no init, no NAT outside a VPC", inv.ColdStart, inv.Init, inv.NATUSD, tt.wantCold)
			}
		})
	}
}

func TestTakeSentCountsEachOutputOnce(t *testing.T) {
	q := &queueRecorder{requests: 4, bytes: 300}
	var nothing meter.Recorder
	requests, sent := meter.TakeSent(q, &recorder{}, nothing, q)
	if requests != 4 || sent != 300 {
		t.Errorf("TakeSent = %d, %d; want 4, 300", requests, sent)
	}
}

// flaky fails its first n calls.
type flaky struct {
	recorder
	n int
}

func (f *flaky) RecordInvocation(ctx context.Context, inv record.Invocation) error {
	if f.n > 0 {
		f.n--
		return errors.New("connection refused")
	}
	return f.recorder.RecordInvocation(ctx, inv)
}

// TestCloseKeepsTheRecord: an invocation record the recorder refuses for a
// moment is retried and recorded; one it refuses until the time is up goes
// to the spill; one the spill refuses too is counted in RecordsLost (beside
// what the caller counted there) and returned as lost, never dropped
// silently.
func TestCloseKeepsTheRecord(t *testing.T) {
	down := errors.New("database down")
	tests := []struct {
		name                  string
		rec                   *flaky
		spill                 *recorder
		wantRecorded, wantSpl int
		wantLost              int
	}{
		{name: "retried until recorded", rec: &flaky{n: 2}, spill: &recorder{}, wantRecorded: 1},
		{name: "spilled", rec: &flaky{recorder: recorder{err: down}}, spill: &recorder{}, wantSpl: 1},
		{name: "lost", rec: &flaky{recorder: recorder{err: down}}, spill: &recorder{err: errors.New("spool gone")}, wantSpl: 1, wantLost: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var line bytes.Buffer
			m := meter.New(meter.Config{Function: "fanout", Region: "us-east-1", MemoryMB: 256, EMF: &line, Spill: tt.spill},
				tt.rec, slog.New(slog.DiscardHandler))
			lost := m.Close(context.Background(), record.Invocation{StartedAt: time.Now(), Duration: time.Second}, "all",
				[]emf.Metric{{Name: meter.RecordsLost, Unit: "Count", Value: 2}}, 2*time.Second)
			recorded := len(tt.rec.invs)
			if tt.rec.err != nil {
				recorded = 0
			}
			if lost != tt.wantLost || recorded != tt.wantRecorded || len(tt.spill.invs) != tt.wantSpl {
				t.Errorf("lost %d, recorded %d, spilled %d; want %d, %d, %d", lost, recorded, len(tt.spill.invs),
					tt.wantLost, tt.wantRecorded, tt.wantSpl)
			}
			var got map[string]any
			if err := json.Unmarshal(line.Bytes(), &got); err != nil {
				t.Fatalf("EMF line %q: %v", line.String(), err)
			}
			if want := float64(2 + tt.wantLost); got[meter.RecordsLost] != want {
				t.Errorf("EMF %s = %v, want %v", meter.RecordsLost, got[meter.RecordsLost], want)
			}
		})
	}
}
