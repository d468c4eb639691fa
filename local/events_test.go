package main

import (
	"context"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/dev/targets"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/record"
)

// TestFleetLateEventRunsPastChecksAtOnce delivers the scheduled event of
// the previous minute a minute or more late, then again, to the local fleet
// (real probes, the target farm, PostgreSQL). The span is dispatched once;
// its checks whose instant had passed run at once and record their
// lateness, the time from their instant to their start; nothing is stored
// twice. (internal/fanout's TestFanoutUnderEventFaults covers duplicate,
// out-of-order and missing events on a controlled clock.)
func TestFleetLateEventRunsPastChecksAtOnce(t *testing.T) {
	ctx := context.Background()
	u := pgtest.New(t)
	st, eps := farmFleet(t, u, func(base string) []byte { return targets.DemoEndpoints(base, 120, 3) })

	f := newFleet(st, nil, slog.New(slog.DiscardHandler), false)
	scheduled := time.Now().UTC().Truncate(time.Minute).Add(-time.Minute)
	delivered := time.Now()
	sum, err := f.fanout.Run(ctx, scheduled)
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.fanout.Run(ctx, scheduled)
	if err != nil {
		t.Fatal(err)
	}
	f.wait()
	span := plan.SpanFor(scheduled, sum.SpanStart.Sub(scheduled))
	if sum.Status != record.SpanDispatched || again.Status != record.SpanDuplicate || sum.Checks != plan.Count(eps, span) {
		t.Fatalf("first delivery %+v, second %q; want dispatched %d checks, then duplicate", sum, again.Status, plan.Count(eps, span))
	}
	_, totals := f.status()
	if totals.Done != sum.Checks || totals.Written != sum.Checks {
		t.Fatalf("probes %+v, want %d checks done and written", totals, sum.Checks)
	}

	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT endpoint_id, planned_at, started_at, lateness_ms FROM checks`)
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		id int64
		at time.Time
	}
	seen := map[key]bool{}
	past := 0
	for rows.Next() {
		var (
			k        key
			started  time.Time
			lateness float64
		)
		if err := rows.Scan(&k.id, &k.at, &started, &lateness); err != nil {
			t.Fatal(err)
		}
		if seen[k] {
			t.Errorf("endpoint %d stored twice at %s", k.id, k.at)
		}
		seen[k] = true
		// The recorded lateness is the start's distance from the instant
		// (to the float precision of the column).
		measured := record.MS(started.Sub(k.at))
		if math.Abs(lateness-max(0, measured)) > 0.1 {
			t.Errorf("endpoint %d at %s: lateness %.3f ms, started %.3f ms after its instant", k.id, k.at, lateness, measured)
		}
		if k.at.Before(delivered) {
			past++
			if started.Before(delivered) || lateness < float64(delivered.Sub(k.at).Milliseconds()) {
				t.Errorf("endpoint %d at %s: started %s, lateness %.0f ms; its event came at %s", k.id, k.at, started, lateness, delivered)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(seen) != sum.Checks || past == 0 {
		t.Errorf("%d rows, %d of them past when the event came; want %d rows", len(seen), past, sum.Checks)
	}
}
