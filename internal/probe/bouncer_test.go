package probe_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/probe"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/store"
)

// restartingSink writes through the store and restarts pgbouncer while
// every fifth batch is being written, so that the restart cuts the batch's
// connection mid-write (or the next one finds the pool's connections dead).
type restartingSink struct {
	st      *store.Store
	restart func()

	batches, failures atomic.Int64
	wg                sync.WaitGroup
}

func (s *restartingSink) WriteChecks(ctx context.Context, batch []record.Check) (int, error) {
	if s.batches.Add(1)%5 == 0 {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.restart() }()
	}
	n, err := s.st.WriteChecks(ctx, batch)
	if err != nil {
		s.failures.Add(1)
	}
	return n, err
}

// TestProbeWritesThroughBouncerRestarts runs a probe whose results flow
// through pgbouncer in transaction mode, in small batches, while pgbouncer
// is restarted again and again under it. Afterwards every planned check is
// in metrics exactly once: no loss, no duplicates.
func TestProbeWritesThroughBouncerRestarts(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer site.Close()
	u := pgtest.New(t)
	bouncer := pgtest.StartBouncer(t, u)
	st := open(t, bouncer.URL())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var restarts atomic.Int64
	sink := &restartingSink{st: st, restart: func() {
		if err := bouncer.Restart(ctx); err != nil {
			t.Errorf("restart pgbouncer: %v", err)
			return
		}
		restarts.Add(1)
	}}

	eps := make([]endpoint.Endpoint, 600)
	for i := range eps {
		eps[i] = ep(int64(1+i), site.URL+"/", "", 5*time.Second, time.Second)
	}
	// Checks spread over three seconds from now keep batches flowing.
	start := time.Now().UTC().Truncate(time.Millisecond)
	span := plan.Span{Start: start, End: start.Add(3 * time.Second)}
	shards := plan.Plan(eps, span, plan.Options{MaxChecks: len(eps), MaxPayloadBytes: 8 << 20})
	if len(shards) != 1 {
		t.Fatalf("%d shards", len(shards))
	}
	want := plan.Count(eps, span)
	var logs syncBuffer
	p := newProbe(t, sink, st, &logs, probe.Config{BatchSize: 20, FlushEvery: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	sum, err := p.Run(ctx, &shards[0], 0)
	if err != nil {
		t.Fatal(err)
	}
	sink.wg.Wait()
	if sum.Done != want || sum.Written+sum.Duplicates != want || sum.Unwritten != 0 {
		t.Errorf("summary %+v: want %d checks done and written", sum, want)
	}
	if restarts.Load() == 0 || sink.failures.Load() == 0 || !strings.Contains(logs.String(), "write checks batch") {
		t.Fatalf("%d restarts, %d failed writes: the fault was not injected", restarts.Load(), sink.failures.Load())
	}
	t.Logf("%d checks in %d batches, %d pgbouncer restarts, %d failed writes, %d rows already stored on retry",
		want, sink.batches.Load(), restarts.Load(), sink.failures.Load(), sum.Duplicates)

	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var rows, distinct int
	if err := conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT (endpoint_id, planned_at)) FROM checks`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != want || distinct != want {
		t.Errorf("metrics: %d rows, %d distinct (endpoint, instant); plan.Count = %d", rows, distinct, want)
	}
	// Every planned instant, not just the right number of them.
	var missing int
	for _, e := range eps {
		for _, at := range plan.Instants(e.ID, e.Interval, span) {
			var ok bool
			if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM checks WHERE endpoint_id = $1 AND planned_at = $2)`, e.ID, at).Scan(&ok); err != nil {
				t.Fatal(err)
			}
			if !ok {
				missing++
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d planned checks missing", missing)
	}
}
