package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/dev/targets"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/spool"
	"github.com/watcher-dev/watcher/internal/store"
)

// TestFleetStoresEachDueCheckOnce runs the local fleet (fanout, in-process
// invoker, probes, batch writer, PostgreSQL) over demo endpoints against the
// target farm for one span, and checks that exactly the planned checks are
// stored, each with the status and regex result the farm is known to give,
// and that the report from rollups counts them all; on each storage path.
func TestFleetStoresEachDueCheckOnce(t *testing.T) {
	for _, f := range pgtest.Flavours {
		t.Run(f.String(), func(t *testing.T) { // not in parallel: the fixture sets the environment
			testFleet(t, pgtest.NewOn(t, f))
		})
	}
}

func testFleet(t *testing.T, u string) {
	ctx := context.Background()
	st, eps := farmFleet(t, u, func(base string) []byte { return targets.DemoEndpoints(base, 150, 7) })

	// The event of the previous minute names a span that ends at most ten
	// seconds from now: its past checks run at once, the rest on time.
	scheduled := time.Now().UTC().Truncate(time.Minute).Add(-time.Minute)
	f := newFleet(st, nil, quietLogger(), false)
	sum, err := f.fanout.Run(ctx, scheduled)
	if err != nil {
		t.Fatal(err)
	}
	f.wait()
	span := sum.SpanStart
	if sum.Checks != plan.Count(eps, plan.Span{Start: span, End: span.Add(plan.SpanLength)}) {
		t.Fatalf("fanout planned %d checks", sum.Checks)
	}
	_, totals := f.status()
	if totals.Done != sum.Checks || totals.Written != sum.Checks || totals.Unwritten != 0 {
		t.Fatalf("probes: %+v, want %d checks done and written", totals, sum.Checks)
	}

	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	type row struct {
		status *int
		match  *bool
	}
	stored := map[int64]map[time.Time]row{}
	rows, err := conn.Query(ctx, `SELECT endpoint_id, planned_at, status_code, regex_match FROM checks`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var (
			id int64
			at time.Time
			r  row
		)
		if err := rows.Scan(&id, &at, &r.status, &r.match); err != nil {
			t.Fatal(err)
		}
		if stored[id] == nil {
			stored[id] = map[time.Time]row{}
		}
		if _, dup := stored[id][at.UTC()]; dup {
			t.Errorf("endpoint %d stored twice at %s", id, at)
		}
		stored[id][at.UTC()] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}

	total := 0
	for _, ep := range eps {
		want := plan.Instants(ep.ID, ep.Interval, plan.Span{Start: span, End: span.Add(plan.SpanLength)})
		got := stored[ep.ID]
		if len(got) != len(want) {
			t.Errorf("endpoint %d (%s every %s): %d rows, want %d", ep.ID, ep.URL, ep.Interval, len(got), len(want))
			continue
		}
		reply, err := targets.Options{}.Expect(ep.URL)
		if strings.Contains(ep.URL, "/echo/") {
			reply, err = targets.Reply{Status: 200}, nil // echo answers 200 with what it was sent
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, at := range want {
			r, ok := got[at]
			if !ok {
				t.Errorf("endpoint %d: no row at due instant %s", ep.ID, at)
				continue
			}
			total++
			if r.status == nil || *r.status != reply.Status {
				t.Errorf("endpoint %d at %s: status %v, the farm answers %d", ep.ID, at, r.status, reply.Status)
			}
			if ep.Regex != "" && (r.match == nil || *r.match != (reply.Status == 200)) {
				t.Errorf("endpoint %d (%s) at %s: regex_match %v for status %d", ep.ID, ep.Regex, at, r.match, reply.Status)
			}
		}
	}
	if total != sum.Checks {
		t.Errorf("checked %d rows, fanout planned %d", total, sum.Checks)
	}

	// The report, from rollups brought up to date once the span is over.
	now := span.Add(plan.SpanLength + 10*time.Minute)
	if _, err := st.RollUp(ctx, now); err != nil {
		t.Fatal(err)
	}
	rep, err := st.Report(ctx, span, now)
	if err != nil {
		t.Fatal(err)
	}
	var reported int64
	for _, r := range rep.Endpoints {
		reported += r.Checks
		if want := len(stored[r.EndpointID]); r.Checks != int64(want) {
			t.Errorf("report: endpoint %d has %d checks, %d stored", r.EndpointID, r.Checks, want)
		}
	}
	if reported != int64(sum.Checks) {
		t.Errorf("report counts %d checks, fanout planned %d", reported, sum.Checks)
	}
}

// newFleet is newFleetWith the configuration of an empty environment.
func newFleet(st *store.Store, dir *spool.Dir, log *slog.Logger, progress bool) *fleet {
	c, _ := loadLocalConfig(func(string) (string, bool) { return "", false }, nil)
	return newFleetWith(c, st, dir, log, progress)
}

// quietLogger keeps handler logs out of a person's terminal unless they matter.
func quietLogger() *slog.Logger { return logger(slog.LevelWarn) }
