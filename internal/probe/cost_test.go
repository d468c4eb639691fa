package probe_test

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/cost"
	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/meter"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/probe"
)

// TestProbeRecordsItsCost checks that a probe invocation is recorded with
// its architecture, memory, billed duration (its duration rounded up to the
// millisecond) and the cost the price table gives for them, and that its EMF
// line carries a cost.
func TestProbeRecordsItsCost(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer site.Close()
	st := open(t, pgtest.New(t))
	var logs, emf syncBuffer
	p := newProbe(t, st, st, &logs, probe.Config{Meter: meter.Config{Region: "local", MemoryMB: 512, Arch: cost.ARM64, EMF: &emf}})
	eps := []endpoint.Endpoint{{ID: 3, URL: site.URL, Method: "GET", Interval: 5 * time.Second, Timeout: time.Second, Location: "home", Enabled: true}}
	sh := plan.Plan(eps, pastSpan(), plan.DefaultOptions)[0]
	start := time.Now()
	if _, err := p.Run(context.Background(), &sh, 321); err != nil {
		t.Fatal(err)
	}
	invs, err := st.Invocations(context.Background(), start.Add(-time.Second))
	if err != nil || len(invs) != 1 {
		t.Fatalf("invocations %+v, %v", invs, err)
	}
	inv := invs[0]
	if inv.Arch != cost.ARM64 || inv.MemoryMB != 512 || inv.ChecksPlanned != 12 || inv.ChecksDone != 12 || inv.PayloadBytes != 321 {
		t.Errorf("recorded %+v", inv)
	}
	// Stored durations keep microseconds; billing rounds up to the next millisecond.
	if inv.Billed < inv.Duration-time.Microsecond || inv.Billed > inv.Duration+time.Millisecond || inv.Billed%time.Millisecond != 0 {
		t.Errorf("billed %s for a duration of %s", inv.Billed, inv.Duration)
	}
	// arm64 at $0.0000133334 per GB-s and $0.0000002 per request.
	want := inv.Billed.Seconds()*0.5*0.0000133334 + 0.0000002
	if inv.CostUSD == nil || math.Abs(*inv.CostUSD-want) > 1e-15 {
		t.Errorf("cost %v, want $%.13f", inv.CostUSD, want)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(emf.String()), &line); err != nil {
		t.Fatalf("EMF line %q: %v", emf.String(), err)
	}
	if c, ok := line["CostUSD"].(float64); !ok || c < 0.0000002 || line["location"] != "home" {
		t.Errorf("EMF line %s lacks the cost", emf.String())
	}
}
