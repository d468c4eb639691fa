package store_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/store"
)

// onEach runs test on a fresh database of each storage path.
func onEach(t *testing.T, test func(t *testing.T, s *store.Store, url string, f pgtest.Flavour)) {
	t.Helper()
	for _, f := range pgtest.Flavours {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			url := pgtest.NewOn(t, f)
			s := open(t, url)
			want := map[pgtest.Flavour]string{pgtest.Plain: store.StoragePartitions, pgtest.Timescale: store.StorageTimescaleDB}[f]
			if got, err := s.Storage(testContext(t)); err != nil || got != want {
				t.Fatalf("Storage() = %q, %v; want %q", got, err, want)
			}
			test(t, s, url, f)
		})
	}
}

// varied is a check of endpoint id at at, its outcome and response time a
// function of i, so that every count of a rollup has something to count.
func varied(id int64, at time.Time, i int) record.Check {
	c := metric(id, at)
	c.ResponseTime = time.Duration(1+(i*37)%400) * time.Millisecond
	switch {
	case i%11 == 0:
		c.StatusCode, c.Error = nil, record.ErrTimeout
	case i%13 == 0:
		c.StatusCode, c.Error = nil, record.ErrDNS
	case i%17 == 0:
		c.StatusCode, c.Error = nil, record.ErrTooManyRedirects
	case i%5 == 0:
		c.StatusCode = ptr(503)
	case i%7 == 0:
		c.StatusCode = ptr(404)
	case i%3 == 0:
		c.StatusCode, c.RegexMatch = ptr(200), ptr(false)
	case i%4 == 0:
		c.StatusCode, c.RegexMatch = ptr(302), ptr(true)
	}
	return c
}

// spread is checks of endpoints 1..n every step over [from, to).
func spread(n int, from, to time.Time, step time.Duration) []record.Check {
	var out []record.Check
	i := 0
	for at := from; at.Before(to); at = at.Add(step) {
		for id := int64(1); id <= int64(n); id++ {
			out = append(out, varied(id, at, i))
			i++
		}
	}
	return out
}

// expect computes the rollups of checks at one level in Go: what the
// database must hold, counts exact, percentiles as percentile_cont.
func expect(checks []record.Check, width time.Duration) map[string]store.Rollup {
	times := map[string][]float64{}
	out := map[string]store.Rollup{}
	for _, c := range checks {
		b := c.PlannedAt.UTC().Truncate(width)
		k := rollupKey(c.EndpointID, c.Location, b)
		r := out[k]
		r.EndpointID, r.Location, r.Bucket = c.EndpointID, c.Location, b
		r.Checks++
		ms := record.MS(c.ResponseTime)
		r.SumMS += ms
		times[k] = append(times[k], ms)
		st := 0
		if c.StatusCode != nil {
			st = *c.StatusCode
		}
		switch {
		case st >= 200 && st < 300:
			r.Status2xx++
		case st >= 300 && st < 400:
			r.Status3xx++
		case st >= 400 && st < 500:
			r.Status4xx++
		case st >= 500 && st < 600:
			r.Status5xx++
		}
		if c.RegexMatch != nil && !*c.RegexMatch {
			r.RegexFailures++
		}
		switch c.Error {
		case "":
			if st >= 200 && st < 400 && (c.RegexMatch == nil || *c.RegexMatch) {
				r.Up++
			}
		case record.ErrTimeout:
			r.Errors++
			r.ErrTimeout++
		case record.ErrDNS:
			r.Errors++
			r.ErrDNS++
		default:
			r.Errors++
			r.ErrOther++
		}
		out[k] = r
	}
	for k, r := range out {
		ts := times[k]
		slices.Sort(ts)
		r.P50, r.P95, r.P99 = percentile(ts, 0.5), percentile(ts, 0.95), percentile(ts, 0.99)
		r.Max = record.FromMS(ts[len(ts)-1])
		out[k] = r
	}
	return out
}

func rollupKey(id int64, loc string, b time.Time) string {
	return fmt.Sprintf("%d|%s|%s", id, loc, b.Format(time.RFC3339))
}

// percentile is percentile_cont over sorted values.
func percentile(sorted []float64, p float64) time.Duration {
	rank := p * float64(len(sorted)-1)
	lo := int(math.Floor(rank))
	hi := min(lo+1, len(sorted)-1)
	return record.FromMS(sorted[lo] + (rank-float64(lo))*(sorted[hi]-sorted[lo]))
}

// sameRollups compares the database's rollups of level over [from, to)
// with the expected ones: every count equal, percentiles within a
// microsecond (float rounding).
func sameRollups(t *testing.T, s *store.Store, level string, width time.Duration, from, to time.Time, checks []record.Check) {
	t.Helper()
	got, err := s.Rollups(testContext(t), level, from, to)
	if err != nil {
		t.Fatal(err)
	}
	want := expect(checks, width)
	if len(got) != len(want) {
		t.Errorf("%s: %d rollups, want %d", level, len(got), len(want))
	}
	near := func(a, b time.Duration) bool { return (a - b).Abs() <= time.Microsecond }
	for _, g := range got {
		w, ok := want[rollupKey(g.EndpointID, g.Location, g.Bucket)]
		if !ok {
			t.Errorf("%s: unexpected rollup %+v", level, g)
			continue
		}
		if math.Abs(g.SumMS-w.SumMS) > 1e-6 {
			t.Errorf("%s %d %s: sum %v ms, want %v", level, g.EndpointID, g.Bucket, g.SumMS, w.SumMS)
		}
		g.SumMS = w.SumMS
		if g.Counts != w.Counts || !near(g.P50, w.P50) || !near(g.P95, w.P95) || !near(g.P99, w.P99) || !near(g.Max, w.Max) {
			t.Errorf("%s %d %s:\n got %+v\nwant %+v", level, g.EndpointID, g.Bucket, g, w)
		}
	}
}

func TestMaintainRollupsExact(t *testing.T) {
	t.Parallel()
	onEach(t, func(t *testing.T, s *store.Store, _ string, _ pgtest.Flavour) {
		ctx := testContext(t)
		now := time.Now().UTC()
		// Yesterday 22:50 to 23:10 today would cross midnight; use the two
		// hours before yesterday's end so that every level is complete.
		dayStart := now.Truncate(store.Day).Add(-store.Day)
		from, to := dayStart.Add(22*time.Hour+50*time.Minute), dayStart.Add(23*time.Hour+10*time.Minute)
		checks := spread(3, from, to, 15*time.Second)
		if _, err := s.WriteChecks(ctx, checks); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Maintain(ctx, store.DefaultRetention, now); err != nil {
			t.Fatal(err)
		}
		check := func(checks []record.Check) {
			t.Helper()
			sameRollups(t, s, store.LevelMinute, time.Minute, dayStart, now, checks)
			sameRollups(t, s, store.LevelHour, time.Hour, dayStart, now, checks)
			sameRollups(t, s, store.LevelDay, store.Day, dayStart, now, checks)
		}
		check(checks)

		// Late rows into buckets already rolled up, and a replay of rows
		// already stored (which inserts nothing): counted once each.
		var late []record.Check
		for i := range 10 {
			late = append(late, varied(9, from.Add(5*time.Minute+time.Duration(i)*10*time.Second), i))
		}
		if _, err := s.WriteChecks(ctx, append(late, checks[:50]...)); err != nil {
			t.Fatal(err)
		}
		checks = append(checks, late...)
		if _, err := s.Maintain(ctx, store.DefaultRetention, now); err != nil {
			t.Fatal(err)
		}
		check(checks)

		// An upkeep interrupted at ever later points, then run to the end,
		// leaves the same rollups as one uninterrupted run. The first
		// budget is shorter than the upkeep's first few round trips: an
		// upkeep with little left to do once finished within 1 ms.
		more := spread(2, from.Add(time.Minute), from.Add(3*time.Minute), 7*time.Second)
		for i := range more {
			more[i].Location = "vpc"
		}
		if _, err := s.WriteChecks(ctx, more); err != nil {
			t.Fatal(err)
		}
		checks = append(checks, more...)
		interrupted := 0
		for budget := 100 * time.Microsecond; ; budget += 3 * time.Millisecond {
			short, cancel := context.WithTimeout(ctx, budget)
			_, err := s.Maintain(short, store.DefaultRetention, now)
			cancel()
			if err == nil {
				break
			}
			if !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "canceling statement") &&
				!strings.Contains(err.Error(), "timeout") {
				t.Fatalf("interrupted upkeep: %v", err)
			}
			interrupted++
		}
		t.Logf("upkeep interrupted %d times before it completed", interrupted)
		if interrupted == 0 {
			t.Error("no upkeep was interrupted: the test proves nothing")
		}
		check(checks)
	})
}

func TestMaintainRetention(t *testing.T) {
	t.Parallel()
	onEach(t, func(t *testing.T, s *store.Store, url string, f pgtest.Flavour) {
		ctx := testContext(t)
		now := time.Now().UTC()
		old := now.Truncate(store.Day).Add(-20 * store.Day).Add(time.Hour) // past raw retention
		older := old.Add(-30 * store.Day)                                  // past minute retention too
		recent := now.Truncate(time.Hour).Add(-3 * time.Hour)
		if f == pgtest.Plain {
			// Partitions for the old days, as a fleet running then had them.
			conn := connect(t, url)
			for _, at := range []time.Time{older, old} {
				if _, err := conn.Exec(ctx, "SELECT watcher_ensure_range_partitions('checks', 'planned_at', 1, $1, $2)", at, at.Add(time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, at := range []time.Time{older, old, recent} {
			if _, err := s.WriteChecks(ctx, spread(2, at, at.Add(10*time.Minute), time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		keep := store.Retention{Minute: 30 * store.Day}.WithDefaults()
		res, err := s.Maintain(ctx, keep, now)
		if err != nil {
			t.Fatal(err)
		}
		if res.PartitionsDropped < 2 {
			t.Errorf("%d partitions dropped, want at least the two old days' raw ones", res.PartitionsDropped)
		}
		count := func(level string, at time.Time) int64 {
			var n int64
			if level == "" {
				rs, err := s.Checks(ctx, at, at.Add(store.Day))
				if err != nil {
					t.Fatal(err)
				}
				return int64(len(rs))
			}
			rs, err := s.Rollups(ctx, level, at.Truncate(store.Day), at.Truncate(store.Day).Add(store.Day))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				n += r.Checks
			}
			return n
		}
		for _, c := range []struct {
			name  string
			level string
			at    time.Time
			want  int64
		}{
			{"raw checks past raw retention are gone", "", old, 0},
			{"raw checks past raw retention are gone (older)", "", older, 0},
			{"recent raw checks stay", "", recent, 20},
			{"minute rollups of the old day stay (30 days)", store.LevelMinute, old, 20},
			{"minute rollups past their retention are gone", store.LevelMinute, older, 0},
			{"hourly rollups of the oldest day stay", store.LevelHour, older, 20},
			{"daily rollups of the oldest day stay", store.LevelDay, older, 20},
		} {
			if got := count(c.level, c.at); got != c.want {
				t.Errorf("%s: %d checks, want %d", c.name, got, c.want)
			}
		}
		// A replay of checks older than raw retention may land (in the
		// default partition on the native path) but never rewrites the
		// rollups of those days from the few rows it brings.
		if _, err := s.WriteChecks(ctx, spread(1, old, old.Add(time.Minute), time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Maintain(ctx, keep, now); err != nil {
			t.Fatal(err)
		}
		if got := count(store.LevelDay, old); got != 20 {
			t.Errorf("after a stale replay the old day's rollup counts %d checks, want 20", got)
		}
	})
}

func TestMaintainRefusesBadRetention(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.New(t))
	for _, c := range []struct {
		r    store.Retention
		want string
	}{
		{store.Retention{Raw: 12 * time.Hour}.WithDefaults(), "raw retention 12h0m0s is below one day"},
		{store.Retention{Raw: store.Day}.WithDefaults(), "shorter than the daily rollup it feeds"},
		{store.Retention{Raw: 30 * store.Day, Hour: 20 * store.Day}.WithDefaults(), "hour retention 20d is shorter than the raw retention 30d"},
		{store.Retention{Hour: 500 * store.Day, Day: 400 * store.Day}.WithDefaults(), "day retention 400d is shorter than the hour retention 500d"},
		{store.Retention{Minute: time.Hour}.WithDefaults(), "minute retention 1h0m0s is below one day"},
	} {
		_, err := s.Maintain(testContext(t), c.r, time.Now())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Maintain(%+v) = %v, want an error saying %q", c.r, err, c.want)
		}
	}
}

// TestMaintainPrunesLedgers: the upkeep deletes what the fleet recorded
// about itself (invocations, the span ledger, shard attempts) and the
// resolved alerts, with their notifications, from before the hourly
// rollups' retention; it keeps everything newer, every open alert, and
// every alert with a notification still to send, however old.
func TestMaintainPrunesLedgers(t *testing.T) {
	t.Parallel()
	url := pgtest.New(t)
	s := open(t, url)
	ctx := testContext(t)
	now := time.Now().UTC()
	keep := store.DefaultRetention
	old, recent := now.Add(-keep.Hour-store.Day), now.Add(-store.Day)
	ids := importAlerting(t, s, &endpoint.AlertRules{Failures: 3, Successes: 2}, "shop")
	conn := connect(t, url)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	for _, at := range []time.Time{old, recent} {
		span := at.Truncate(time.Minute)
		if err := s.RecordInvocation(ctx, record.Invocation{Function: "fanout", Region: "local", SpanStart: &span, StartedAt: at}); err != nil {
			t.Fatal(err)
		}
		exec(`INSERT INTO spans (span_start, status) VALUES ($1, 'dispatched')`, span)
		exec(`INSERT INTO shard_attempts (location, shard, span_start, started_at) VALUES ('home', 0, $1, $1)`, span)
	}
	alert := func(opened time.Time, resolved *time.Time, sent bool) int64 {
		t.Helper()
		var id int64
		cause := "[]"
		var resolveCause *string
		if resolved != nil {
			resolveCause = &cause
		}
		if err := conn.QueryRow(ctx, `INSERT INTO alerts (endpoint_id, location, kind, opened_at, resolved_at, cause, resolve_cause, detail)
			VALUES ($1, 'home', 'down', $2, $3, $4, $5, 'down') RETURNING id`, ids["shop"], opened, resolved, cause, resolveCause).Scan(&id); err != nil {
			t.Fatal(err)
		}
		var sentAt *time.Time
		if sent {
			sentAt = &opened
		}
		exec(`INSERT INTO alert_notifications (alert_id, event, channel, body, sent_at) VALUES ($1, 'opened', 'webhook', '{}', $2)`, id, sentAt)
		return id
	}
	oldEnd, recentEnd := old.Add(time.Hour), recent.Add(time.Hour)
	gone := alert(old, &oldEnd, true)
	unsent := alert(old.Add(-time.Hour), &oldEnd, false)
	stillOpen := alert(old.Add(-2*time.Hour), nil, true)
	fresh := alert(recent, &recentEnd, true)

	res, err := s.Maintain(ctx, keep, now)
	if err != nil {
		t.Fatal(err)
	}
	if res.LedgerRowsPruned != 4 {
		t.Errorf("%d ledger rows pruned, want 4: an invocation, a span, a shard attempt and an alert", res.LedgerRowsPruned)
	}
	for _, c := range []struct {
		what string
		sql  string
		want int64
	}{
		{"invocations", `SELECT count(*) FROM invocations WHERE started_at > $1`, 1},
		{"spans", `SELECT count(*) FROM spans WHERE span_start > $1`, 1},
		{"shard attempts", `SELECT count(*) FROM shard_attempts WHERE span_start > $1`, 1},
	} {
		if got, all := query[int64](t, url, c.sql, old), query[int64](t, url, strings.Replace(c.sql, "> $1", "IS NOT NULL", 1)); got != c.want || all != c.want {
			t.Errorf("%s: %d left, %d of them recent; want only the recent one", c.what, all, got)
		}
	}
	var left []int64
	rows, err := conn.Query(ctx, `SELECT id FROM alerts ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		left = append(left, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []int64{unsent, stillOpen, fresh}; !slices.Equal(left, want) {
		t.Errorf("alerts left %v, want %v (alert %d, resolved and notified long ago, gone)", left, want, gone)
	}
	if n := query[int64](t, url, `SELECT count(*) FROM alert_notifications WHERE alert_id = $1`, gone); n != 0 {
		t.Errorf("%d notifications of the pruned alert left", n)
	}
}
