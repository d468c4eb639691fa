package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/record"
)

// What the status page covers: daily uptime over StatusDays UTC days (today
// so far the last of them) and hourly response times over StatusHours hours
// (the current hour so far the last).
const (
	StatusDays  = 90
	StatusHours = 24
)

// statusLatestWindow is how far back Status looks for an endpoint's latest
// check: a few of the longest intervals. An endpoint checked longer ago
// than that has no latest check on the page.
const statusLatestWindow = 4 * endpoint.MaxInterval

// upSQL is the rollups' definition of a check that is up
// (watcher_rollup_columns, migration 00009); every other check failed.
const upSQL = `error IS NULL AND status_code BETWEEN 200 AND 399 AND regex_match IS NOT FALSE`

// Status is what the status page shows, as of Now.
type Status struct {
	Now       time.Time
	Endpoints []EndpointStatus // the enabled endpoints, in id order
}

// EndpointStatus is one enabled endpoint on the status page: its checks
// from every location, added up.
type EndpointStatus struct {
	ID       int64
	Name     string // "" when it has none
	URL      string
	Group    string // "" when it has none
	Location string
	Interval time.Duration
	// Alerts: the endpoint has alert rules, so its state is its alerts'
	// (DownSince), not its latest check's.
	Alerts bool
	// DownSince is when its oldest open "down" alert opened; nil when none
	// is open.
	DownSince *time.Time
	// LastCheck is when its latest check was planned and LastUp whether that
	// check was up; nil when it has none in the last few intervals.
	LastCheck *time.Time
	LastUp    bool
	Days      []StatusBucket // StatusDays UTC days, oldest first; the last is today so far
	Hours     []StatusBucket // StatusHours hours, oldest first; the last is the current hour so far
}

// StatusBucket counts the checks of one day or one hour.
type StatusBucket struct {
	Start  time.Time
	Checks int64
	Up     int64 // checks that were up: the rest failed
	// The mean and the 95th percentile response time (the worst
	// location's), hours only; zero without checks.
	Mean, P95 time.Duration
}

// Status reads what the status page shows as of now, in one read-only
// snapshot: per enabled endpoint its daily checks and up checks over the
// last StatusDays days (from checks_day, today from checks_hour and the raw
// checks of the current hour), its hourly response times over the last
// StatusHours hours (checks_hour, the current hour from raw checks), its
// open "down" alerts and its latest check. It first brings the rollups up
// to date through the current hour (RollUp; what it reads of the current
// hour comes from raw checks), so it needs the owner's rights.
func (s *Store) Status(ctx context.Context, now time.Time) (Status, error) {
	now = now.UTC()
	st := Status{Now: now}
	today, hour := now.Truncate(Day), now.Truncate(time.Hour)
	if _, err := s.RollUp(ctx, hour); err != nil {
		return st, err
	}
	firstDay, firstHour := today.Add(-(StatusDays-1)*Day), hour.Add(-(StatusHours-1)*time.Hour)
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return st, fmt.Errorf("begin status read: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	rows, err := tx.Query(ctx, `
		SELECT e.id, coalesce(e.name, ''), e.url, coalesce(e."group", ''), e.location, e.interval_ms,
		       e.alert_rules IS NOT NULL,
		       (SELECT min(a.opened_at) FROM alerts a
		        WHERE a.endpoint_id = e.id AND a.kind = 'down' AND a.resolved_at IS NULL)
		FROM endpoints e WHERE e.enabled ORDER BY e.id`)
	if err != nil {
		return st, fmt.Errorf("query status endpoints: %w", err)
	}
	st.Endpoints, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (EndpointStatus, error) {
		var (
			e          EndpointStatus
			intervalMS int64
		)
		err := row.Scan(&e.ID, &e.Name, &e.URL, &e.Group, &e.Location, &intervalMS, &e.Alerts, &e.DownSince)
		e.Interval = time.Duration(intervalMS) * time.Millisecond
		if e.DownSince != nil {
			*e.DownSince = e.DownSince.UTC()
		}
		e.Days, e.Hours = make([]StatusBucket, StatusDays), make([]StatusBucket, StatusHours)
		for i := range e.Days {
			e.Days[i].Start = firstDay.Add(time.Duration(i) * Day)
		}
		for i := range e.Hours {
			e.Hours[i].Start = firstHour.Add(time.Duration(i) * time.Hour)
		}
		return e, err
	})
	if err != nil {
		return st, fmt.Errorf("read status endpoints: %w", err)
	}
	byID := make(map[int64]*EndpointStatus, len(st.Endpoints))
	for i := range st.Endpoints {
		byID[st.Endpoints[i].ID] = &st.Endpoints[i]
	}

	// Whole days before today.
	rows, err = tx.Query(ctx, `
		SELECT endpoint_id, bucket, sum(checks)::bigint, sum(up)::bigint
		FROM checks_day WHERE bucket >= $1 AND bucket < $2
		GROUP BY endpoint_id, bucket`, firstDay, today)
	if err != nil {
		return st, fmt.Errorf("query status days: %w", err)
	}
	var b StatusBucket
	var id int64
	_, err = pgx.ForEachRow(rows, []any{&id, &b.Start, &b.Checks, &b.Up}, func() error {
		if e := byID[id]; e != nil {
			if i := int(b.Start.Sub(firstDay) / Day); i >= 0 && i < StatusDays {
				e.Days[i].Checks, e.Days[i].Up = b.Checks, b.Up
			}
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("read status days: %w", err)
	}

	// Whole hours before this one from the hourly rollups, this one so far
	// from the raw checks (rolled up only once it ends). Today is the sum
	// of its hours.
	rows, err = tx.Query(ctx, `
		SELECT endpoint_id, bucket, sum(checks)::bigint, sum(up)::bigint, sum(sum_ms)::float8, max(p95_ms)::float8
		FROM checks_hour WHERE bucket >= $1 AND bucket < $2
		GROUP BY endpoint_id, bucket
		UNION ALL
		SELECT endpoint_id, $2, sum(n)::bigint, sum(up)::bigint, sum(sum_ms)::float8, max(p95)::float8
		FROM (SELECT endpoint_id, count(*) AS n, count(*) FILTER (WHERE `+upSQL+`) AS up,
		             sum(response_time_ms) AS sum_ms,
		             percentile_cont(0.95) WITHIN GROUP (ORDER BY response_time_ms) AS p95
		      FROM checks WHERE planned_at >= $2 AND planned_at < $3
		      GROUP BY endpoint_id, location) c
		GROUP BY endpoint_id`, firstHour, hour, hour.Add(time.Hour))
	if err != nil {
		return st, fmt.Errorf("query status hours: %w", err)
	}
	var sumMS, p95MS float64
	_, err = pgx.ForEachRow(rows, []any{&id, &b.Start, &b.Checks, &b.Up, &sumMS, &p95MS}, func() error {
		e := byID[id]
		i := int(b.Start.Sub(firstHour) / time.Hour)
		if e == nil || i < 0 || i >= StatusHours {
			return nil
		}
		h := &e.Hours[i]
		h.Checks, h.Up, h.P95 = b.Checks, b.Up, record.FromMS(p95MS)
		if b.Checks > 0 {
			h.Mean = record.FromMS(sumMS / float64(b.Checks))
		}
		if !b.Start.Before(today) {
			e.Days[StatusDays-1].Checks += b.Checks
			e.Days[StatusDays-1].Up += b.Up
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("read status hours: %w", err)
	}

	// The latest check of each endpoint, from any location.
	rows, err = tx.Query(ctx, `
		SELECT DISTINCT ON (endpoint_id) endpoint_id, planned_at, `+upSQL+`
		FROM checks WHERE planned_at >= $1
		ORDER BY endpoint_id, planned_at DESC`, now.Add(-statusLatestWindow))
	if err != nil {
		return st, fmt.Errorf("query latest checks: %w", err)
	}
	var (
		at time.Time
		up bool
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &at, &up}, func() error {
		if e := byID[id]; e != nil {
			t := at.UTC()
			e.LastCheck, e.LastUp = &t, up
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("read latest checks: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return st, fmt.Errorf("end status read: %w", err)
	}
	return st, nil
}
