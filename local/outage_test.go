package main

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/dev/targets"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/spool"
)

// TestFleetSurvivesTwoMinuteDatabaseOutage runs the local fleet while the
// real PostgreSQL is stopped for two minutes: the fanout plans from the
// endpoints it last read, the probes keep measuring and keep their results,
// and once the database is back every planned check of both spans is stored
// exactly once.
func TestFleetSurvivesTwoMinuteDatabaseOutage(t *testing.T) {
	const outage = 2 * time.Minute
	ctx := context.Background()
	c := pgtest.NewCluster(t)
	u := pgtest.NewDatabase(t, c)
	st, eps := farmFleet(t, u, func(base string) []byte { return targets.ReferenceEndpoints(base, 80, 3) })
	dir, err := spool.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := newFleet(st, dir, quietLogger(), false)

	// The previous minute's event: its span ends within ten seconds.
	minute := time.Now().UTC().Truncate(time.Minute)
	first, err := f.fanout.Run(ctx, minute.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StopServer(ctx); err != nil {
		t.Fatal(err)
	}
	back := time.Now().Add(outage)

	// The next event comes during the outage.
	time.Sleep(time.Until(minute.Add(time.Minute)))
	second, err := f.fanout.Run(ctx, minute)
	if err != nil {
		t.Fatalf("fanout during the outage: %v", err)
	}
	if !second.Stale || second.Checks == 0 {
		t.Errorf("fanout during the outage: %+v, want a plan from the last endpoint list", second)
	}

	time.Sleep(time.Until(back))
	if err := c.StartServer(ctx); err != nil {
		t.Fatal(err)
	}
	f.wait()
	replay(ctx, dir, st)

	_, totals := f.status()
	if totals.Unwritten != 0 || totals.Done != first.Checks+second.Checks {
		t.Errorf("probes %+v: want %d checks done, none unwritten", totals, first.Checks+second.Checks)
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, s := range []struct {
		name  string
		start time.Time
	}{{"before", first.SpanStart}, {"during", second.SpanStart}} {
		span := plan.Span{Start: s.start, End: s.start.Add(plan.SpanLength)}
		var rows, distinct int
		err := conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT (endpoint_id, planned_at)) FROM checks
			WHERE planned_at >= $1 AND planned_at < $2`, span.Start, span.End).Scan(&rows, &distinct)
		if err != nil {
			t.Fatal(err)
		}
		if want := plan.Count(eps, span); rows != want || distinct != want {
			t.Errorf("span %s the outage: %d rows (%d distinct), want %d", s.name, rows, distinct, want)
		}
	}
}
