package store_test

import (
	"slices"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/store"
)

// statusOracle computes in Go what Status must read for the enabled
// endpoints ids from checks, as of now.
func statusOracle(checks []record.Check, ids []int64, now time.Time) map[int64]store.EndpointStatus {
	today, hour := now.Truncate(store.Day), now.Truncate(time.Hour)
	firstDay, firstHour := today.Add(-(store.StatusDays-1)*store.Day), hour.Add(-(store.StatusHours-1)*time.Hour)
	out := map[int64]store.EndpointStatus{}
	for _, id := range ids {
		e := store.EndpointStatus{ID: id, Days: make([]store.StatusBucket, store.StatusDays),
			Hours: make([]store.StatusBucket, store.StatusHours)}
		for i := range e.Days {
			e.Days[i].Start = firstDay.Add(time.Duration(i) * store.Day)
		}
		for i := range e.Hours {
			e.Hours[i].Start = firstHour.Add(time.Duration(i) * time.Hour)
		}
		out[id] = e
	}
	type hourKey struct {
		id  int64
		loc string
		i   int
	}
	times := map[hourKey][]float64{}
	sums := map[[2]int64]float64{}
	for _, c := range checks {
		e, ok := out[c.EndpointID]
		at := c.PlannedAt.UTC().Truncate(time.Microsecond) // as stored
		if !ok || at.After(now) {
			continue
		}
		up := c.Error == "" && c.StatusCode != nil && *c.StatusCode >= 200 && *c.StatusCode < 400 &&
			(c.RegexMatch == nil || *c.RegexMatch)
		if i := int(at.Sub(firstDay) / store.Day); at.Compare(firstDay) >= 0 && i < store.StatusDays {
			e.Days[i].Checks++
			if up {
				e.Days[i].Up++
			}
		}
		if i := int(at.Sub(firstHour) / time.Hour); at.Compare(firstHour) >= 0 && i < store.StatusHours {
			e.Hours[i].Checks++
			if up {
				e.Hours[i].Up++
			}
			k := hourKey{c.EndpointID, c.Location, i}
			times[k] = append(times[k], record.MS(c.ResponseTime))
			sums[[2]int64{c.EndpointID, int64(i)}] += record.MS(c.ResponseTime)
		}
		if at.After(now.Add(-4*endpoint.MaxInterval)) && (e.LastCheck == nil || at.After(*e.LastCheck)) {
			e.LastCheck, e.LastUp = &at, up
		}
		out[c.EndpointID] = e
	}
	for k, ts := range times {
		slices.Sort(ts)
		h := &out[k.id].Hours[k.i]
		h.P95 = max(h.P95, percentile(ts, 0.95))
		h.Mean = record.FromMS(sums[[2]int64{k.id, int64(k.i)}] / float64(h.Checks))
	}
	return out
}

// TestStatus holds Status against the oracle over checks spread across
// the last 100 days (some before the page's first day), two locations and
// every outcome, plus a hand-worked day, on both storage paths: whole days
// come from daily rollups, today from hourly ones and the raw checks of the
// current hour, which no rollup holds yet.
func TestStatus(t *testing.T) {
	t.Parallel()
	onEach(t, func(t *testing.T, s *store.Store, url string, _ pgtest.Flavour) {
		ctx := testContext(t)
		eps := []endpoint.Endpoint{ep("https://a.example/", time.Minute), ep("https://b.example/", time.Minute),
			ep("https://silent.example/", time.Minute), ep("https://off.example/", time.Minute)}
		eps[0].Name = "api"
		eps[3].Enabled = false
		if _, err := s.ImportEndpoints(ctx, eps, false); err != nil {
			t.Fatal(err)
		}
		got, err := s.Endpoints(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		a, b, silent, off := got[0].ID, got[1].ID, got[2].ID, got[3].ID
		db := connect(t, url)
		if _, err := db.Exec(ctx, `UPDATE endpoints SET "group" = 'Shop', alert_rules = '{"failures": 3, "successes": 2}' WHERE id = $1`, a); err != nil {
			t.Fatal(err)
		}

		now := time.Now().UTC()
		today := now.Truncate(store.Day)
		var checks []record.Check
		// Every 97 minutes over 100 days, for a and b (b from two locations).
		i := 0
		for at := now.Add(-100 * store.Day); at.Before(now.Add(-30 * time.Minute)); at = at.Add(97 * time.Minute) {
			checks = append(checks, varied(a, at, i), varied(b, at, i+1))
			vpc := varied(b, at, i+2)
			vpc.Location = "vpc"
			checks = append(checks, vpc, varied(off, at, i))
			i += 3
		}
		// Densely over the last two hours (the current hour so far included).
		for at := now.Add(-2 * time.Hour); at.Before(now); at = at.Add(45 * time.Second) {
			checks = append(checks, varied(a, at, i), varied(b, at, i+1))
			i += 2
		}
		// A hand-worked day: three days ago, b from home: 4 checks, one 503.
		third := today.Add(-3 * store.Day)
		hand := []record.Check{metric(b, third.Add(time.Hour)), metric(b, third.Add(2*time.Hour)),
			metric(b, third.Add(3*time.Hour)), metric(b, third.Add(4*time.Hour))}
		hand[2].StatusCode = ptr(503)
		hand[0].PlannedAt = hand[0].PlannedAt.Add(time.Second) // off the 97-minute grid's instants
		// The latest check of a, a failure, and of the disabled endpoint.
		last := metric(a, now.Add(-time.Second))
		last.StatusCode, last.Error = nil, record.ErrTimeout
		checks = append(checks, append(hand, last, metric(off, now.Add(-time.Second)))...)
		if _, err := s.WriteChecks(ctx, checks); err != nil {
			t.Fatal(err)
		}
		// An open and a resolved down alert of a, an open certificate
		// alert of b: only a is down.
		opened := now.Add(-10 * time.Minute).Truncate(time.Microsecond)
		if _, err := db.Exec(ctx, `
			INSERT INTO alerts (endpoint_id, location, kind, opened_at, resolved_at, cause, resolve_cause, detail) VALUES
			    ($1, 'home', 'down', $3, NULL, '[]', NULL, 'test'),
			    ($1, 'home', 'down', $3 - interval '1 day', $3 - interval '20 hours', '[]', '[]', 'test'),
			    ($2, 'home', 'certificate', $3, NULL, '[]', NULL, 'test')`, a, b, opened); err != nil {
			t.Fatal(err)
		}

		st, err := s.Status(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Now.Equal(now) {
			t.Errorf("Now = %s, want %s", st.Now, now)
		}
		var ids []int64
		for _, e := range st.Endpoints {
			ids = append(ids, e.ID)
		}
		if want := []int64{a, b, silent}; !slices.Equal(ids, want) {
			t.Fatalf("endpoints %v, want the enabled ones %v", ids, want)
		}
		want := statusOracle(checks, ids, now)
		near := func(x, y time.Duration) bool { return (x - y).Abs() <= time.Microsecond }
		for _, e := range st.Endpoints {
			w := want[e.ID]
			for i, d := range e.Days {
				if d != w.Days[i] {
					t.Errorf("endpoint %d day %d: %+v, want %+v", e.ID, i, d, w.Days[i])
				}
			}
			for i, h := range e.Hours {
				wh := w.Hours[i]
				if h.Start != wh.Start || h.Checks != wh.Checks || h.Up != wh.Up || !near(h.Mean, wh.Mean) || !near(h.P95, wh.P95) {
					t.Errorf("endpoint %d hour %d: %+v, want %+v", e.ID, i, h, wh)
				}
			}
			if (e.LastCheck == nil) != (w.LastCheck == nil) || e.LastCheck != nil && (!e.LastCheck.Equal(*w.LastCheck) || e.LastUp != w.LastUp) {
				t.Errorf("endpoint %d latest check %v up %v, want %v up %v", e.ID, e.LastCheck, e.LastUp, w.LastCheck, w.LastUp)
			}
		}

		ea, eb, es := st.Endpoints[0], st.Endpoints[1], st.Endpoints[2]
		if ea.Name != "api" || ea.Group != "Shop" || !ea.Alerts || ea.Interval != time.Minute || ea.Location != "home" {
			t.Errorf("endpoint a: %+v", ea)
		}
		if ea.DownSince == nil || !ea.DownSince.Equal(opened) {
			t.Errorf("a down since %v, want %s (its open down alert)", ea.DownSince, opened)
		}
		if eb.Name != "" || eb.URL != "https://b.example/" || eb.Group != "" || eb.Alerts || eb.DownSince != nil {
			t.Errorf("endpoint b: %+v", eb)
		}
		if ea.LastCheck == nil || ea.LastUp || eb.LastCheck == nil || es.LastCheck != nil {
			t.Errorf("latest checks: a %v up %v (want its timeout), b %v, silent %v (want none)", ea.LastCheck, ea.LastUp, eb.LastCheck, es.LastCheck)
		}
		// The hand-worked day: its four checks (one down) beside the grid's.
		var grid store.StatusBucket
		for _, c := range checks[:len(checks)-len(hand)-2] {
			if c.EndpointID == b && c.PlannedAt.Truncate(store.Day).Equal(third) {
				grid.Checks++
			}
		}
		if d := eb.Days[store.StatusDays-4]; !d.Start.Equal(third) || d.Checks != grid.Checks+4 || d.Checks-d.Up < 1 {
			t.Errorf("b three days ago: %+v, want %d checks", d, grid.Checks+4)
		}
		if d := ea.Days[store.StatusDays-1]; !d.Start.Equal(today) || d.Checks == 0 {
			t.Errorf("a today: %+v, want its checks so far", d)
		}
		if h := ea.Hours[store.StatusHours-1]; h.Checks == 0 || h.P95 == 0 {
			t.Errorf("a this hour: %+v, want its checks so far", h)
		}
	})
}
