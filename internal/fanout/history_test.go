package fanout_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/fanout"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/store"
)

// flakyHistory is the real store whose history read can be made to fail,
// and which counts the reads.
type flakyHistory struct {
	*store.Store
	fail  atomic.Bool
	reads atomic.Int32
}

func (f *flakyHistory) EndpointHistory(ctx context.Context, from, to time.Time) ([]store.EndpointHistory, error) {
	f.reads.Add(1)
	if f.fail.Load() {
		return nil, errors.New("history unreadable (injected)")
	}
	return f.Store.EndpointHistory(ctx, from, to)
}

// TestFanoutPacksByMeasuredHistory runs the fanout minute after minute over
// 1,000 endpoints due once a span whose checks answered in 20 ms, with a
// socket budget of 100. Without their history each check counts its whole
// 10 s timeout, and the span needs many shards; with it, one. The history
// is read at most every HistoryRefresh; when the read fails the span is
// planned all the same, with the last history read (at first none: the
// defaults), and never fails.
func TestFanoutPacksByMeasuredHistory(t *testing.T) {
	eps := make([]endpoint.Endpoint, 1000)
	for i := range eps {
		eps[i] = endpoint.Endpoint{Name: "quick" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676)),
			URL: "http://target.test/", Method: "GET", Interval: time.Minute, Timeout: 10 * time.Second,
			Location: "home", Enabled: true}
	}
	st, _ := setup(t, eps)
	ctx := context.Background()
	stored, err := st.Endpoints(ctx, true)
	if err != nil || len(stored) != len(eps) {
		t.Fatalf("%d endpoints, %v", len(stored), err)
	}
	base := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	var measured []record.Check
	for _, ep := range stored {
		for k := -4; k <= 14; k++ { // some within the window of every run below
			at := base.Add(time.Duration(k) * time.Minute)
			code := 200
			measured = append(measured, record.Check{EndpointID: ep.ID, Location: "home", PlannedAt: at,
				Result: record.Result{StartedAt: at, ResponseTime: 20 * time.Millisecond, StatusCode: &code, BodyBytes: 512}})
		}
	}
	if _, err := st.WriteChecks(ctx, measured); err != nil {
		t.Fatal(err)
	}

	f := &flakyHistory{Store: st}
	opt := plan.Options{MaxChecks: 2000, MaxPayloadBytes: 900 << 10, CPUBudget: plan.DefaultCPUBudget, MaxSockets: 100}
	var now time.Time
	h := fanout.New(fanout.Config{
		Probes: map[string]string{"home": "probe-home"}, SpanOffset: 10 * time.Second, MaxDelay: 2 * time.Minute, Plan: opt,
	}, f, &shardCollector{shards: map[string][]plan.Shard{}}, slog.New(slog.DiscardHandler),
		newClock(func() time.Time { return now }))

	tests := []struct {
		minute   int
		fail     bool
		reads    int32 // history reads so far
		measured bool  // planned from the measured history
	}{
		{0, true, 1, false},  // read fails: the defaults
		{1, false, 1, false}, // not read again before HistoryRefresh
		{5, false, 2, true},  // read
		{6, true, 2, true},   // kept
		{10, true, 3, true},  // read fails: the last history read
		{15, false, 4, true}, // read
	}
	for _, tt := range tests {
		scheduled := base.Add(time.Duration(tt.minute) * time.Minute)
		now = scheduled.Add(time.Second)
		f.fail.Store(tt.fail)
		sum, err := h.Run(ctx, scheduled)
		if err != nil || sum.Status != record.SpanDispatched || sum.Checks != len(eps) || sum.Failed != 0 {
			t.Fatalf("minute %d: summary %+v, %v; want every check dispatched", tt.minute, sum, err)
		}
		if got := f.reads.Load(); got != tt.reads {
			t.Errorf("minute %d: %d history reads, want %d", tt.minute, got, tt.reads)
		}
		span := plan.SpanFor(scheduled, 10*time.Second)
		defaults := len(plan.Plan(stored, span, opt))
		switch {
		case defaults < 10:
			t.Fatalf("minute %d: %d shards at the default cost: the case tests nothing", tt.minute, defaults)
		case tt.measured && sum.Shards != 1:
			t.Errorf("minute %d: %d shards, want 1 from the measured history", tt.minute, sum.Shards)
		case !tt.measured && sum.Shards != defaults:
			t.Errorf("minute %d: %d shards, want %d at the default cost", tt.minute, sum.Shards, defaults)
		}
	}
}
