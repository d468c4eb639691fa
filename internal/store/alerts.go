package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/watcher-dev/watcher/internal/alert"
	"github.com/watcher-dev/watcher/internal/endpoint"
)

// Alert evaluation bounds.
const (
	// NewAlertLookback is how far back the first evaluation of an endpoint
	// (at a location) reads: its alert state starts there, so an endpoint
	// given alert rules is judged on its last minutes, not on a day of
	// history.
	NewAlertLookback = 10 * time.Minute
	// alertScanMargin widens the oldest check an evaluation reads beyond
	// endpoint.MaxAlertWindow, the longest failure-ratio window.
	alertScanMargin = 10 * time.Minute
	// OutboxLease is how long a notification claimed by Due is kept from
	// other senders: longer than any delivery run lasts (the fanout's is
	// bounded well under it), so a claimed message is sent once, and one
	// whose sender died is tried again when it lapses.
	OutboxLease = time.Minute
)

// AlertSummary counts what one EvaluateAlerts did.
type AlertSummary struct {
	States        int `json:"states"`        // alert states evaluated: endpoints with rules, times kinds
	Checks        int `json:"checks"`        // checks read
	Opened        int `json:"opened"`        // alerts opened
	Resolved      int `json:"resolved"`      // alerts resolved
	Notifications int `json:"notifications"` // outbox rows written (a transition times the channels)
}

// alertTarget is one endpoint with alert rules, at its location.
type alertTarget struct {
	ep     endpoint.Endpoint
	states []*alertState // down first, then certificate if it has one
}

// alertState is one row of alert_state, as evaluation carries it.
type alertState struct {
	alert.State
	openID    int64     // the open alert; 0: none
	openedAt  time.Time // the open alert's opened_at
	advanced  bool      // the watermark moved: write the row
	scanAfter time.Time // the oldest check this state needs is after this
}

// EvaluateAlerts evaluates the alert rules of every enabled endpoint that
// has some over the checks stored since its last evaluation (planned at or
// before now), and records what changed, all in one transaction: the alert
// states, the alerts opened and resolved (with the checks that caused
// them), and per transition one outbox notification per channel in
// channels, whose body is the alert.Event. Concurrent and repeated calls
// are serialised by a lock on alert_state held to the commit (which works
// through a transaction-pooling proxy) and each transition is recorded
// exactly once: a state's watermark (the planned instant of the last check
// it consumed) moves only with what it caused.
//
// A check stored after the watermark of its endpoint passed its planned
// instant (a check spilled and replayed late) is not evaluated: checks are
// consumed in planned order, once. The first evaluation of an endpoint
// starts NewAlertLookback before now; none reads checks older than
// endpoint.MaxAlertWindow and a margin before now (after a longer stop, the
// checks in between are skipped).
//
// An endpoint no longer evaluated (disabled, its alert rules removed, or
// moved to another location) has its open alerts resolved at now, with no
// causing checks, and its states forgotten: evaluated again, it starts
// afresh.
func (s *Store) EvaluateAlerts(ctx context.Context, now time.Time, channels []string) (AlertSummary, error) {
	var sum AlertSummary
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// A table lock in a self-conflicting mode: held to the commit, and
		// no session state for RDS Proxy to pin a connection for (as an
		// advisory lock could be).
		if _, err := tx.Exec(ctx, `LOCK TABLE alert_state IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return fmt.Errorf("lock alert evaluation: %w", err)
		}
		targets, err := alertTargets(ctx, tx, now)
		if err != nil {
			return err
		}
		checks, err := alertChecks(ctx, tx, targets, now)
		if err != nil {
			return err
		}
		for _, tg := range targets {
			cs := checks[tg.ep.ID]
			sum.States += len(tg.states)
			sum.Checks += len(cs)
			for _, st := range tg.states {
				var since []alert.Check
				for i := range cs {
					if cs[i].PlannedAt.After(st.scanAfter) {
						since = cs[i:]
						break
					}
				}
				next, ts := alert.Evaluate(*tg.ep.Alerts, st.State, since)
				st.advanced = !next.Watermark.Equal(st.Watermark)
				st.State = next
				for _, t := range ts {
					n, err := recordTransition(ctx, tx, now, &tg.ep, st, t, channels)
					if err != nil {
						return err
					}
					sum.Notifications += n
					if t.Opened {
						sum.Opened++
					} else {
						sum.Resolved++
					}
				}
			}
		}
		if err := writeAlertStates(ctx, tx, targets); err != nil {
			return err
		}
		n, err := resolveUnwatched(ctx, tx, now, channels)
		sum.Resolved += n
		sum.Notifications += n * len(channels)
		return err
	})
	if err != nil {
		return AlertSummary{}, fmt.Errorf("evaluate alerts: %w", err)
	}
	return sum, nil
}

// resolveUnwatched resolves the open alerts of the alert states whose
// endpoint is no longer evaluated at their location, and deletes those
// states. It returns the alerts resolved.
func resolveUnwatched(ctx context.Context, tx pgx.Tx, now time.Time, channels []string) (int, error) {
	rows, err := tx.Query(ctx, `
		DELETE FROM alert_state s USING endpoints e
		WHERE e.id = s.endpoint_id AND NOT (e.enabled AND e.alert_rules IS NOT NULL AND e.location = s.location
		      AND (s.kind <> 'certificate' OR coalesce((e.alert_rules->>'certificate_days')::int, 0) > 0))
		RETURNING s.kind, s.open_alert, e.id, coalesce(e.name, ''), e.url, coalesce(e."group", ''), s.location`)
	if err != nil {
		return 0, fmt.Errorf("forget alert states of endpoints no longer evaluated: %w", err)
	}
	type unwatched struct {
		ep endpoint.Endpoint
		st alertState
	}
	var open []unwatched
	for rows.Next() {
		var (
			u      unwatched
			openID *int64
		)
		if err := rows.Scan(&u.st.Kind, &openID, &u.ep.ID, &u.ep.Name, &u.ep.URL, &u.ep.Group, &u.ep.Location); err != nil {
			rows.Close()
			return 0, fmt.Errorf("read alert states of endpoints no longer evaluated: %w", err)
		}
		if openID != nil {
			u.st.openID = *openID
			open = append(open, u)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read alert states of endpoints no longer evaluated: %w", err)
	}
	for i := range open {
		u := &open[i]
		if err := tx.QueryRow(ctx, `SELECT opened_at FROM alerts WHERE id = $1`, u.st.openID).Scan(&u.st.openedAt); err != nil {
			return 0, fmt.Errorf("read alert %d: %w", u.st.openID, err)
		}
		t := alert.Transition{Kind: u.st.Kind, At: later(now, u.st.openedAt),
			Reason: u.st.Kind + " alert closed: the endpoint is disabled, moved or without alert rules"}
		if _, err := recordTransition(ctx, tx, now, &u.ep, &u.st, t, channels); err != nil {
			return 0, err
		}
	}
	return len(open), nil
}

// alertTargets reads the enabled endpoints with alert rules and their
// alert states (new ones starting NewAlertLookback before now).
func alertTargets(ctx context.Context, tx pgx.Tx, now time.Time) ([]*alertTarget, error) {
	rows, err := tx.Query(ctx, `
		SELECT e.id, coalesce(e.name, ''), e.url, coalesce(e."group", ''), e.location, e.alert_rules::text,
		       s.kind, s.watermark, s.since, s.streak::text, s.open_alert, a.opened_at
		FROM endpoints e
		LEFT JOIN alert_state s ON s.endpoint_id = e.id AND s.location = e.location
		LEFT JOIN alerts a ON a.id = s.open_alert
		WHERE e.enabled AND e.alert_rules IS NOT NULL
		ORDER BY e.id, s.kind DESC`) // 'down' before 'certificate'
	if err != nil {
		return nil, fmt.Errorf("query endpoints with alert rules: %w", err)
	}
	defer rows.Close()
	var (
		out    []*alertTarget
		byID   = map[int64]*alertTarget{}
		floor  = now.Add(-endpoint.MaxAlertWindow - alertScanMargin)
		fresh  = now.Add(-NewAlertLookback)
		rules  string
		kind   *string
		mark   *time.Time
		since  *time.Time
		streak *string
		openID *int64
		opened *time.Time
	)
	for rows.Next() {
		var ep endpoint.Endpoint
		if err := rows.Scan(&ep.ID, &ep.Name, &ep.URL, &ep.Group, &ep.Location, &rules,
			&kind, &mark, &since, &streak, &openID, &opened); err != nil {
			return nil, fmt.Errorf("read endpoints with alert rules: %w", err)
		}
		tg := byID[ep.ID]
		if tg == nil {
			ep.Alerts = &endpoint.AlertRules{}
			if err := json.Unmarshal([]byte(rules), ep.Alerts); err != nil {
				return nil, fmt.Errorf("endpoint %d: decode alert_rules: %w", ep.ID, err)
			}
			tg = &alertTarget{ep: ep}
			byID[ep.ID] = tg
			out = append(out, tg)
		}
		if kind == nil {
			continue
		}
		if *kind == alert.KindCertificate && tg.ep.Alerts.CertificateDays <= 0 {
			continue // the rule was removed: resolveUnwatched closes its alert and forgets it
		}
		st := &alertState{State: alert.State{Kind: *kind, Watermark: mark.UTC()}}
		if since != nil {
			st.Since = since.UTC()
		}
		if streak != nil {
			if err := json.Unmarshal([]byte(*streak), &st.Streak); err != nil {
				return nil, fmt.Errorf("endpoint %d: decode %s alert streak: %w", ep.ID, *kind, err)
			}
			if len(st.Streak) == 0 {
				st.Streak = nil
			}
		}
		if openID != nil {
			st.Open, st.openID, st.openedAt = true, *openID, opened.UTC()
		}
		tg.states = append(tg.states, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read endpoints with alert rules: %w", err)
	}
	for _, tg := range out {
		has := func(kind string) bool {
			return slices.ContainsFunc(tg.states, func(s *alertState) bool { return s.Kind == kind })
		}
		if !has(alert.KindDown) {
			tg.states = slices.Insert(tg.states, 0, &alertState{State: alert.State{Kind: alert.KindDown, Watermark: fresh}})
		}
		if tg.ep.Alerts.CertificateDays > 0 && !has(alert.KindCertificate) {
			tg.states = append(tg.states, &alertState{State: alert.State{Kind: alert.KindCertificate, Watermark: fresh}})
		}
		for _, st := range tg.states {
			st.Watermark = later(st.Watermark, floor)
			st.scanAfter = st.Watermark
			// The failure ratio looks back over its window, but only while
			// the endpoint is up and only at checks after its last
			// transition (alert.Evaluate).
			if r := tg.ep.Alerts; st.Kind == alert.KindDown && r.FailureRatio > 0 && !st.Open {
				st.scanAfter = later(later(st.Watermark.Add(-r.Window), st.Since), floor)
			}
		}
	}
	return out, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// alertChecks reads, per endpoint, the checks its states need (after the
// earliest scanAfter, planned at or before now), in planned order. One
// query; the range on planned_at leads, as the checks key does.
func alertChecks(ctx context.Context, tx pgx.Tx, targets []*alertTarget, now time.Time) (map[int64][]alert.Check, error) {
	if len(targets) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(targets))
	locations := make([]string, len(targets))
	after := make([]time.Time, len(targets))
	oldest := now
	for i, tg := range targets {
		ids[i], locations[i], after[i] = tg.ep.ID, tg.ep.Location, now
		for _, st := range tg.states {
			if st.scanAfter.Before(after[i]) {
				after[i] = st.scanAfter
			}
		}
		if after[i].Before(oldest) {
			oldest = after[i]
		}
	}
	rows, err := tx.Query(ctx, `
		SELECT c.endpoint_id, c.planned_at, coalesce(c.error, ''), c.status_code, c.regex_match,
		       c.response_time_ms, c.tls_not_after
		FROM unnest($1::bigint[], $2::text[], $3::timestamptz[]) AS b(endpoint_id, location, after)
		JOIN checks c ON c.endpoint_id = b.endpoint_id AND c.location = b.location AND c.planned_at > b.after
		WHERE c.planned_at > $4 AND c.planned_at <= $5
		ORDER BY c.endpoint_id, c.planned_at`, ids, locations, after, oldest, now)
	if err != nil {
		return nil, fmt.Errorf("query checks for alerts: %w", err)
	}
	defer rows.Close()
	out := map[int64][]alert.Check{}
	for rows.Next() {
		var (
			id         int64
			c          alert.Check
			statusCode *int16
		)
		if err := rows.Scan(&id, &c.PlannedAt, &c.Error, &statusCode, &c.RegexMatch, &c.ResponseTime,
			&c.NotAfter); err != nil {
			return nil, fmt.Errorf("read checks for alerts: %w", err)
		}
		c.PlannedAt = c.PlannedAt.UTC()
		if statusCode != nil {
			code := int(*statusCode)
			c.StatusCode = &code
		}
		if c.NotAfter != nil {
			na := c.NotAfter.UTC()
			c.NotAfter = &na
		}
		out[id] = append(out[id], c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read checks for alerts: %w", err)
	}
	return out, nil
}

// recordTransition records t of st: opens or resolves the alert, and
// writes one notification per channel, due at now. It returns the
// notifications written.
func recordTransition(ctx context.Context, tx pgx.Tx, now time.Time, ep *endpoint.Endpoint, st *alertState, t alert.Transition, channels []string) (int, error) {
	ev := alert.Event{Kind: t.Kind, At: t.At, Checks: []alert.CheckRef{}, Endpoint: alert.EndpointRef{
		ID: ep.ID, Name: ep.Name, URL: ep.URL, Group: ep.Group, Location: ep.Location}}
	for _, c := range t.Checks {
		ev.Checks = append(ev.Checks, alert.CheckRef{PlannedAt: c.PlannedAt, Error: c.Error,
			StatusCode: c.StatusCode, RegexMatch: c.RegexMatch, ResponseTimeMS: c.ResponseTime})
	}
	if n := len(t.Checks); n > 0 && t.Kind == alert.KindCertificate && t.Checks[n-1].NotAfter != nil {
		// The issuer of the one check that tells: read here, not with
		// every check evaluated.
		last := &t.Checks[n-1]
		err := tx.QueryRow(ctx, `SELECT issuer FROM certificates WHERE endpoint_id = $1 AND location = $2 AND not_after = $3`,
			ep.ID, ep.Location, *last.NotAfter).Scan(&last.Issuer)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return 0, fmt.Errorf("read certificate issuer: %w", err)
		}
		ev.Certificate = &alert.Certificate{NotAfter: *last.NotAfter, Issuer: last.Issuer,
			DaysLeft: alert.DaysLeft(*last.NotAfter, last.PlannedAt)}
	}
	cause, err := json.Marshal(append([]alert.Check{}, t.Checks...))
	if err != nil {
		return 0, fmt.Errorf("encode alert cause: %w", err)
	}
	if t.Opened {
		ev.Event, ev.OpenedAt = "opened", t.At
		ev.Summary = eventSummary(ep, t, ev.Certificate, 0)
		err := tx.QueryRow(ctx, `
			INSERT INTO alerts (endpoint_id, location, kind, opened_at, cause, detail)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			ep.ID, ep.Location, t.Kind, t.At, string(cause), ev.Summary).Scan(&ev.AlertID)
		if err != nil {
			return 0, fmt.Errorf("open %s alert of endpoint %d: %w", t.Kind, ep.ID, err)
		}
		st.openID, st.openedAt = ev.AlertID, t.At
	} else {
		if st.openID == 0 {
			return 0, fmt.Errorf("resolve %s alert of endpoint %d: no open alert recorded", t.Kind, ep.ID)
		}
		at := t.At
		ev.Event, ev.AlertID, ev.OpenedAt, ev.ResolvedAt = "resolved", st.openID, st.openedAt, &at
		ev.Summary = eventSummary(ep, t, ev.Certificate, t.At.Sub(st.openedAt))
		tag, err := tx.Exec(ctx, `
			UPDATE alerts SET resolved_at = $2, resolve_cause = $3, resolve_detail = $4
			WHERE id = $1 AND resolved_at IS NULL`, st.openID, t.At, string(cause), ev.Summary)
		if err == nil && tag.RowsAffected() != 1 {
			err = errors.New("it is not open")
		}
		if err != nil {
			return 0, fmt.Errorf("resolve %s alert %d: %w", t.Kind, st.openID, err)
		}
		st.openID, st.openedAt = 0, time.Time{}
	}
	if len(channels) == 0 {
		return 0, nil
	}
	ev.ID = fmt.Sprintf("alert-%d-%s", ev.AlertID, ev.Event)
	body, err := json.Marshal(ev)
	if err != nil {
		return 0, fmt.Errorf("encode notification: %w", err)
	}
	tag, err := tx.Exec(ctx, `
		INSERT INTO alert_notifications (alert_id, event, channel, body, next_attempt_at)
		SELECT $1, $2, ch, $4::json, $5 FROM unnest($3::text[]) AS ch
		ON CONFLICT (alert_id, event, channel) DO NOTHING`, ev.AlertID, ev.Event, channels, string(body), now)
	if err != nil {
		return 0, fmt.Errorf("queue notifications of alert %d: %w", ev.AlertID, err)
	}
	return int(tag.RowsAffected()), nil
}

// eventSummary is the one line for people: "shop (home) is down: 3
// consecutive failed checks; last: timeout".
func eventSummary(ep *endpoint.Endpoint, t alert.Transition, cert *alert.Certificate, down time.Duration) string {
	who := fmt.Sprintf("%s (%s)", cmp.Or(ep.Name, ep.URL), ep.Location)
	if len(t.Checks) == 0 {
		return fmt.Sprintf("%s: %s", who, t.Reason)
	}
	last := t.Checks[len(t.Checks)-1]
	switch {
	case t.Kind == alert.KindDown && t.Opened:
		return fmt.Sprintf("%s is down: %s; last: %s", who, t.Reason, checkOutcome(last))
	case t.Kind == alert.KindDown:
		return fmt.Sprintf("%s is up again after %s: %s", who, down.Round(time.Second), t.Reason)
	case cert == nil:
		return fmt.Sprintf("%s: %s", who, t.Reason)
	}
	issuer := ""
	if cert.Issuer != "" {
		issuer = ", issued by " + cert.Issuer
	}
	verb := "expires"
	if !t.Opened {
		verb = "renewed: expires"
	}
	return fmt.Sprintf("%s: certificate %s in %d days (%s%s)", who, verb, cert.DaysLeft,
		cert.NotAfter.UTC().Format("2006-01-02 15:04 UTC"), issuer)
}

// checkOutcome says how a check failed: its error class, its status or
// its regex.
func checkOutcome(c alert.Check) string {
	switch {
	case c.Error != "":
		return c.Error
	case c.StatusCode == nil:
		return "no status"
	case *c.StatusCode < 200 || *c.StatusCode > 399:
		return fmt.Sprintf("status %d", *c.StatusCode)
	case c.RegexMatch != nil && !*c.RegexMatch:
		return "regex not matched"
	}
	return "passed"
}

// writeAlertStates upserts the states whose watermark moved, in one
// statement.
func writeAlertStates(ctx context.Context, tx pgx.Tx, targets []*alertTarget) error {
	var (
		ids              []int64
		locations, kinds []string
		marks            []time.Time
		sinces           []*time.Time
		streaks          []string
		openIDs          []*int64
	)
	for _, tg := range targets {
		for _, st := range tg.states {
			if !st.advanced {
				continue
			}
			streak := []byte("[]")
			if len(st.Streak) > 0 {
				var err error
				if streak, err = json.Marshal(st.Streak); err != nil {
					return fmt.Errorf("encode alert streak: %w", err)
				}
			}
			var since *time.Time
			if !st.Since.IsZero() {
				since = &st.Since
			}
			var open *int64
			if st.openID != 0 {
				open = &st.openID
			}
			ids = append(ids, tg.ep.ID)
			locations = append(locations, tg.ep.Location)
			kinds = append(kinds, st.Kind)
			marks = append(marks, st.Watermark)
			sinces = append(sinces, since)
			streaks = append(streaks, string(streak))
			openIDs = append(openIDs, open)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO alert_state (endpoint_id, location, kind, watermark, since, streak, open_alert, updated_at)
		SELECT endpoint_id, location, kind, watermark, since, streak::jsonb, open_alert, now()
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::text[], $7::bigint[])
		     AS t(endpoint_id, location, kind, watermark, since, streak, open_alert)
		ON CONFLICT (endpoint_id, location, kind) DO UPDATE SET
		    watermark = excluded.watermark, since = excluded.since, streak = excluded.streak,
		    open_alert = excluded.open_alert, updated_at = excluded.updated_at`,
		ids, locations, kinds, marks, sinces, streaks, openIDs)
	if err != nil {
		return fmt.Errorf("write %d alert states: %w", len(ids), err)
	}
	return nil
}

// The store is the notifications' outbox.
var _ alert.Outbox = (*Store)(nil)

// Due claims up to limit unsent notifications whose next attempt is at or
// before now, oldest first, by moving their next attempt OutboxLease
// ahead: a concurrent Due (another fanout, `watcher run`) skips them. A
// resolved notification waits until its alert's opened one on the same
// channel is sent, so that receivers get them in order.
func (s *Store) Due(ctx context.Context, now time.Time, limit int) ([]alert.Message, error) {
	rows, err := s.pool.Query(ctx, `
		WITH due AS (
		    SELECT n.id FROM alert_notifications n
		    WHERE n.sent_at IS NULL AND n.next_attempt_at <= $1
		      AND NOT (n.event = 'resolved' AND EXISTS (
		          SELECT 1 FROM alert_notifications o
		          WHERE o.alert_id = n.alert_id AND o.channel = n.channel
		            AND o.event = 'opened' AND o.sent_at IS NULL))
		    ORDER BY n.id LIMIT $2
		    FOR UPDATE SKIP LOCKED)
		UPDATE alert_notifications n SET next_attempt_at = $3
		FROM due WHERE n.id = due.id
		RETURNING n.id, n.channel, n.body::text, n.attempts`, now, limit, now.Add(OutboxLease))
	if err != nil {
		return nil, fmt.Errorf("claim due notifications: %w", err)
	}
	ms, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (alert.Message, error) {
		var (
			m    alert.Message
			body string
		)
		err := row.Scan(&m.ID, &m.Channel, &body, &m.Attempts)
		m.Body = []byte(body)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim due notifications: %w", err)
	}
	slices.SortFunc(ms, func(a, b alert.Message) int { return cmp.Compare(a.ID, b.ID) })
	return ms, nil
}

// Sent marks notification id as sent at at, and its alert as notified of
// the transition once every channel's notification of it is sent.
func (s *Store) Sent(ctx context.Context, id int64, at time.Time) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			alertID int64
			event   string
		)
		err := tx.QueryRow(ctx, `
			UPDATE alert_notifications SET sent_at = $2 WHERE id = $1 AND sent_at IS NULL
			RETURNING alert_id, event`, id, at).Scan(&alertID, &event)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // sent already
		}
		if err != nil {
			return err
		}
		// The alert's row lock orders concurrent Sent calls of one alert,
		// so that the last one sees every other's sent_at.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM alerts WHERE id = $1 FOR UPDATE`, alertID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `
			UPDATE alerts SET
			    notified_at = CASE WHEN $2 = 'opened' THEN $3 ELSE notified_at END,
			    resolved_notified_at = CASE WHEN $2 = 'resolved' THEN $3 ELSE resolved_notified_at END
			WHERE id = $1 AND NOT EXISTS (
			    SELECT 1 FROM alert_notifications
			    WHERE alert_id = $1 AND event = $2 AND sent_at IS NULL)`, alertID, event, at)
		return err
	})
	if err != nil {
		return fmt.Errorf("record notification %d as sent: %w", id, err)
	}
	return nil
}

// Failed records a failed attempt of notification id: its attempts, the
// earliest next attempt and why (which must hold no secret).
func (s *Store) Failed(ctx context.Context, id int64, attempts int, next time.Time, reason string) error {
	_, err := s.pool.Exec(ctx, `
		UPDATE alert_notifications SET attempts = $2, next_attempt_at = $3, last_error = $4
		WHERE id = $1 AND sent_at IS NULL`, id, attempts, next, reason)
	if err != nil {
		return fmt.Errorf("record notification %d as failed: %w", id, err)
	}
	return nil
}

// AlertRow is one alert as `watcher alerts` lists it.
type AlertRow struct {
	ID                 int64      `json:"id"`
	EndpointID         int64      `json:"endpoint_id"`
	Name               string     `json:"name"` // "" when the endpoint has none
	URL                string     `json:"url"`
	Group              string     `json:"group,omitempty"`
	Location           string     `json:"location"`
	Kind               string     `json:"kind"` // "down" or "certificate"
	OpenedAt           time.Time  `json:"opened_at"`
	ResolvedAt         *time.Time `json:"resolved_at"` // null while open
	Detail             string     `json:"detail"`
	ResolveDetail      string     `json:"resolve_detail,omitempty"`
	NotifiedAt         *time.Time `json:"notified_at"`          // every channel told of the opening
	ResolvedNotifiedAt *time.Time `json:"resolved_notified_at"` // ... of the resolution
	// Unsent counts its notifications not yet sent; LastError is the
	// latest failure among them.
	Unsent    int    `json:"unsent"`
	LastError string `json:"last_error,omitempty"`
}

// Open reports whether the alert is still open.
func (a *AlertRow) Open() bool { return a.ResolvedAt == nil }

// Alerts returns the alerts still open and, unless openOnly, those opened
// or resolved at or after since, the latest opened first.
func (s *Store) Alerts(ctx context.Context, openOnly bool, since time.Time) ([]AlertRow, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT a.id, a.endpoint_id, coalesce(e.name, ''), e.url, coalesce(e."group", ''), a.location, a.kind,
		       a.opened_at, a.resolved_at, a.detail, coalesce(a.resolve_detail, ''),
		       a.notified_at, a.resolved_notified_at,
		       (SELECT count(*) FROM alert_notifications n WHERE n.alert_id = a.id AND n.sent_at IS NULL),
		       coalesce((SELECT n.last_error FROM alert_notifications n
		                 WHERE n.alert_id = a.id AND n.sent_at IS NULL AND n.last_error IS NOT NULL
		                 ORDER BY n.id DESC LIMIT 1), '')
		FROM alerts a JOIN endpoints e ON e.id = a.endpoint_id
		WHERE a.resolved_at IS NULL OR (NOT $1 AND (a.opened_at >= $2 OR a.resolved_at >= $2))
		ORDER BY a.opened_at DESC, a.id DESC`, openOnly, since)
	if err != nil {
		return nil, fmt.Errorf("query alerts: %w", err)
	}
	as, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (AlertRow, error) {
		var a AlertRow
		err := row.Scan(&a.ID, &a.EndpointID, &a.Name, &a.URL, &a.Group, &a.Location, &a.Kind,
			&a.OpenedAt, &a.ResolvedAt, &a.Detail, &a.ResolveDetail, &a.NotifiedAt, &a.ResolvedNotifiedAt,
			&a.Unsent, &a.LastError)
		a.OpenedAt = a.OpenedAt.UTC()
		for _, t := range []**time.Time{&a.ResolvedAt, &a.NotifiedAt, &a.ResolvedNotifiedAt} {
			if *t != nil {
				u := (*t).UTC()
				*t = &u
			}
		}
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("read alerts: %w", err)
	}
	return as, nil
}
