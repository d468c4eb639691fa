package fanout_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/addrpolicy"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/fanout"
	"github.com/watcher-dev/watcher/internal/notify"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/store"
)

// TestFanoutAlerts: an invocation evaluates the alert rules over the checks
// stored and sends the notifications, beside its dispatch; with the
// database for alerts unreachable, the span is dispatched all the same and
// the failures are counted, not returned.
func TestFanoutAlerts(t *testing.T) {
	eps := demo(3, "home")
	for i := range eps {
		eps[i].Alerts = &endpoint.AlertRules{Failures: 3, Successes: 2}
	}
	st, _ := setup(t, eps)
	ctx := context.Background()
	stored, err := st.Endpoints(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	scheduled := time.Now().UTC().Truncate(time.Minute)
	var failing []record.Check
	for i := range 3 {
		failing = append(failing, record.Check{EndpointID: stored[0].ID, Location: "home",
			PlannedAt: scheduled.Add(time.Duration(i-3) * 5 * time.Second), Result: record.Result{Error: record.ErrTimeout}})
	}
	if _, err := st.WriteChecks(ctx, failing); err != nil {
		t.Fatal(err)
	}

	var (
		mu  sync.Mutex
		got []notify.Event
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev notify.Event
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Error(err)
		}
		mu.Lock()
		got = append(got, ev)
		mu.Unlock()
	}))
	defer rcv.Close()
	hook := notify.NewWebhook(rcv.URL, []byte("0123456789abcdef"), addrpolicy.Policy{AllowLoopback: true})

	unreachable, err := store.Open(ctx, "postgres://watcher@127.0.0.1:1/watcher?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer unreachable.Close()

	for _, tt := range []struct {
		name   string
		store  fanout.AlertStore
		want   fanout.AlertRun
		events int
	}{
		{"alerts evaluated and sent", st, fanout.AlertRun{AlertSummary: store.AlertSummary{States: 3, Checks: 3, Opened: 1, Notifications: 1},
			Delivered: notify.DeliverSummary{Sent: 1}}, 1},
		{"nothing new", st, fanout.AlertRun{AlertSummary: store.AlertSummary{States: 3}}, 1},
		{"database for alerts unreachable", unreachable, fanout.AlertRun{Errors: 2}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			scheduled = scheduled.Add(time.Minute) // a span of its own
			now := scheduled.Add(3 * time.Second)
			col := &shardCollector{shards: map[string][]plan.Shard{}}
			h := fanout.New(fanout.Config{
				Probes:     map[string]string{"home": "probe-home"},
				SpanOffset: 10 * time.Second, MaxDelay: 2 * time.Minute,
				Alerting: &fanout.Alerting{Store: tt.store, Channels: []string{notify.ChannelWebhook},
					Senders: map[string]notify.Sender{notify.ChannelWebhook: hook}},
			}, st, col, slog.New(slog.DiscardHandler), newClock(func() time.Time { return now }))
			sum, err := h.Run(ctx, scheduled)
			if err != nil || sum.Status != record.SpanDispatched || sum.Checks == 0 {
				t.Fatalf("Run = %+v, %v; want the span dispatched", sum, err)
			}
			if sum.Alerts == nil || *sum.Alerts != tt.want {
				t.Errorf("alerts %+v, want %+v", sum.Alerts, tt.want)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != tt.events || got[0].Event != "opened" || got[0].Endpoint.ID != stored[0].ID {
				t.Errorf("receiver got %+v, want one opened of endpoint %d", got, stored[0].ID)
			}
		})
	}
}
