package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/watcher-dev/watcher/internal/config"
	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/dev/targets"
	"github.com/watcher-dev/watcher/internal/fanout"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/spool"
)

// TestFleetSurvivesTwoMinuteDatabaseOutage runs the local fleet while the
// real PostgreSQL is stopped for two minutes: the fanout plans from the
// endpoints it last read, the probes keep measuring and keep their results,
// and once the database is back every planned check of both spans is stored
// exactly once. What the fleet records about itself survives as well: the
// span dispatched during the outage is in the ledger as dispatched (its
// claim spilled and replayed), never as a gap, not even for a fanout that
// looks for missed spans before the spool is replayed; every invocation,
// fanout and probe, has one row, and a second replay doubles none.
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
	if !second.Stale || second.Checks == 0 || second.Status != record.SpanDispatched || !second.ClaimSpilled || second.RecordsLost != 0 {
		t.Errorf("fanout during the outage: %+v, want a plan from the last endpoint list, dispatched, its claim spilled", second)
	}

	time.Sleep(time.Until(back))
	if err := c.StartServer(ctx); err != nil {
		t.Fatal(err)
	}
	f.wait()

	// Before the spool is replayed, the events of the next two minutes, the
	// second handled once the outage's span is past saving (its clock says
	// so): it looks for missed spans and must find the outage's span
	// dispatched, its claim waiting in the spool. These fanouts dispatch
	// nowhere (probes are not what this part tests).
	var now time.Time
	later := fanout.New(fanout.Config{Probes: map[string]string{"home": "nowhere"}, SpanOffset: config.DefaultSpanOffset,
		MaxDelay: config.DefaultMaxDelay, Spill: dir}, st, nowhere{}, slog.New(slog.DiscardHandler), clockAt{&now})
	missed := 0
	for i, late := range []time.Duration{time.Second, config.DefaultMaxDelay + plan.MissedGrace + time.Second - time.Minute} {
		scheduled := minute.Add(time.Duration(i+1) * time.Minute)
		now = scheduled.Add(late)
		sum, err := later.Run(ctx, scheduled)
		if err != nil || sum.Status != record.SpanDispatched {
			t.Fatalf("fanout after the outage: %+v, %v", sum, err)
		}
		missed += sum.Missed
	}
	if missed != 0 {
		t.Errorf("%d spans recorded missed after the outage, want none", missed)
	}

	replay(ctx, dir, st)
	_, totals := f.status()
	if totals.Unwritten != 0 || totals.RecordsLost != 0 || totals.Done != first.Checks+second.Checks {
		t.Errorf("probes %+v: want %d checks done, none unwritten, no record lost", totals, first.Checks+second.Checks)
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

	// What the fleet knows about itself, after one replay and after another.
	for round := range 2 {
		if round == 1 {
			if r, err := dir.Replay(ctx, st); err != nil || r.Files != 0 {
				t.Errorf("second replay: %+v, %v; want nothing left", r, err)
			}
		}
		spans, err := st.Spans(ctx, first.SpanStart)
		if err != nil {
			t.Fatal(err)
		}
		if len(spans) != 4 {
			t.Errorf("round %d: ledger %+v, want the 4 spans", round, spans)
		}
		for _, s := range spans {
			if s.Status != record.SpanDispatched {
				t.Errorf("round %d: span %s %s (%s), want dispatched", round, s.Start.Format("15:04:05"), s.Status, s.Detail)
			}
			if s.Start.Equal(second.SpanStart) && (s.Shards != second.Shards || s.Checks != second.Checks) {
				t.Errorf("round %d: outage span %+v, want %d shards, %d checks", round, s, second.Shards, second.Checks)
			}
		}
		var gaps int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM spans s WHERE status = 'missed'
			AND EXISTS (SELECT FROM checks WHERE planned_at >= s.span_start AND planned_at < s.span_start + interval '1 minute')`).
			Scan(&gaps); err != nil {
			t.Fatal(err)
		}
		if gaps != 0 {
			t.Errorf("round %d: %d spans recorded missed hold stored checks", round, gaps)
		}
		for _, w := range []struct {
			function string
			span     time.Time
			want     int
		}{
			{"fanout", first.SpanStart, 1}, {"fanout", second.SpanStart, 1},
			{"probe", first.SpanStart, first.Shards}, {"probe", second.SpanStart, second.Shards},
		} {
			var rows, distinct int
			if err := conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT coalesce(shard, -1)) FROM invocations
				WHERE function = $1 AND span_start = $2`, w.function, w.span).Scan(&rows, &distinct); err != nil {
				t.Fatal(err)
			}
			if rows != w.want || distinct != w.want {
				t.Errorf("round %d: %s invocations of span %s: %d rows (%d distinct), want %d", round, w.function,
					w.span.Format("15:04:05"), rows, distinct, w.want)
			}
		}
	}
}

// nowhere is an invoker that starts nothing.
type nowhere struct{}

func (nowhere) Invoke(context.Context, string, []byte) error { return nil }

// clockAt is a fanout clock that stands at *t and never waits.
type clockAt struct{ t *time.Time }

func (c clockAt) Now() time.Time                           { return *c.t }
func (clockAt) Sleep(context.Context, time.Duration) error { return nil }
