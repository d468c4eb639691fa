package store_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/addrpolicy"
	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/notify"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/store"
)

var alertChannels = []string{notify.ChannelWebhook, notify.ChannelSNS}

// importAlerting imports endpoints named names, every 5 s at home, with
// rules, and returns their ids by name.
func importAlerting(t *testing.T, s *store.Store, rules *endpoint.AlertRules, names ...string) map[string]int64 {
	t.Helper()
	ctx := testContext(t)
	var eps []endpoint.Endpoint
	for _, n := range names {
		eps = append(eps, endpoint.Endpoint{Name: n, URL: "https://" + n + ".test/", Method: "GET",
			Interval: 5 * time.Second, Timeout: 5 * time.Second, Location: "home", Enabled: true,
			Group: "shops", Alerts: rules})
	}
	if _, err := s.ImportEndpoints(ctx, eps, false); err != nil {
		t.Fatal(err)
	}
	stored, err := s.Endpoints(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	for _, e := range stored {
		ids[e.Name] = e.ID
	}
	return ids
}

// outcomes writes checks of endpoint id 5 s apart from at, one per
// character: '.' passed, 'x' timed out, '5' answered 503.
func outcomes(t *testing.T, s *store.Store, id int64, at time.Time, pattern string) {
	t.Helper()
	var cs []record.Check
	for i, ch := range pattern {
		c := metric(id, at.Add(time.Duration(i)*5*time.Second))
		switch ch {
		case 'x':
			c.Error, c.StatusCode = record.ErrTimeout, nil
		case '5':
			c.StatusCode = ptr(503)
		}
		cs = append(cs, c)
	}
	if _, err := s.WriteChecks(testContext(t), cs); err != nil {
		t.Fatal(err)
	}
}

func evaluate(t *testing.T, s *store.Store, now time.Time) store.AlertSummary {
	t.Helper()
	sum, err := s.EvaluateAlerts(testContext(t), now, alertChannels)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func alertsOf(t *testing.T, s *store.Store) []store.AlertRow {
	t.Helper()
	as, err := s.Alerts(testContext(t), false, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(as) // oldest first
	return as
}

// TestEvaluateAlerts works one case by hand on each storage path: three
// failures open a down alert at the third, two passes resolve it at the
// second, a lone failure opens nothing, and each transition queues one
// notification per channel with the event as its body.
func TestEvaluateAlerts(t *testing.T) {
	t.Parallel()
	for _, f := range pgtest.Flavours {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			url := pgtest.NewOn(t, f)
			s := open(t, url)
			ids := importAlerting(t, s, &endpoint.AlertRules{Failures: 3, Successes: 2}, "shop", "blog")
			base := time.Now().UTC().Truncate(time.Minute).Add(-5 * time.Minute)
			outcomes(t, s, ids["shop"], base, "..x5x.x..")
			outcomes(t, s, ids["blog"], base, "..x.xx.x.")

			sum := evaluate(t, s, base.Add(2*time.Minute))
			want := store.AlertSummary{States: 2, Checks: 18, Opened: 1, Resolved: 1, Notifications: 4}
			if sum != want {
				t.Errorf("summary %+v, want %+v", sum, want)
			}
			if again := evaluate(t, s, base.Add(2*time.Minute)); again.Opened+again.Resolved+again.Notifications+again.Checks != 0 {
				t.Errorf("evaluating again: %+v, want nothing new", again)
			}

			as := alertsOf(t, s)
			if len(as) != 1 {
				t.Fatalf("%d alerts, want 1: %+v", len(as), as)
			}
			a := as[0]
			if a.Name != "shop" || a.Kind != "down" || a.Location != "home" || a.Group != "shops" {
				t.Errorf("alert %+v", a)
			}
			if !a.OpenedAt.Equal(base.Add(20*time.Second)) || a.ResolvedAt == nil || !a.ResolvedAt.Equal(base.Add(40*time.Second)) {
				t.Errorf("opened %v, resolved %v; want the planned instants of checks 4 and 8", a.OpenedAt, a.ResolvedAt)
			}
			if want := "shop (home) is down: 3 consecutive failed checks; last: timeout"; a.Detail != want {
				t.Errorf("detail %q, want %q", a.Detail, want)
			}
			if a.Unsent != 4 || a.NotifiedAt != nil {
				t.Errorf("unsent %d, notified %v; want 4, nil", a.Unsent, a.NotifiedAt)
			}
			if got := query[int](t, url, `SELECT jsonb_array_length(cause) FROM alerts`); got != 3 {
				t.Errorf("cause holds %d checks, want 3", got)
			}

			ms, err := s.Due(testContext(t), time.Now(), 10)
			if err != nil {
				t.Fatal(err)
			}
			var events []string
			for _, m := range ms {
				var ev notify.Event
				if err := json.Unmarshal(m.Body, &ev); err != nil {
					t.Fatal(err)
				}
				events = append(events, m.Channel+" "+ev.ID)
				if ev.Endpoint.Name != "shop" || ev.Endpoint.Group != "shops" || ev.AlertID != a.ID || ev.Kind != "down" {
					t.Errorf("event %+v", ev)
				}
				switch ev.Event {
				case "opened":
					if len(ev.Checks) != 3 || ev.Checks[0].Error != "timeout" || *ev.Checks[1].StatusCode != 503 || !ev.At.Equal(a.OpenedAt) {
						t.Errorf("opened event %+v", ev)
					}
				case "resolved":
					if len(ev.Checks) != 2 || ev.ResolvedAt == nil || !ev.OpenedAt.Equal(a.OpenedAt) {
						t.Errorf("resolved event %+v", ev)
					}
				}
			}
			// Resolved notifications wait for the opened ones.
			wantEvents := []string{
				fmt.Sprintf("webhook alert-%d-opened", a.ID), fmt.Sprintf("sns alert-%d-opened", a.ID),
			}
			if !slices.Equal(events, wantEvents) {
				t.Errorf("due %q, want %q", events, wantEvents)
			}
		})
	}
}

// TestEvaluateAlertsExactlyOnce: checks arriving bit by bit, evaluated
// after each bit, several times and concurrently, through a
// transaction-pooling proxy, give the alerts that evaluating once at the
// end gives.
func TestEvaluateAlertsExactlyOnce(t *testing.T) {
	t.Parallel()
	const pattern = "..xxx..x.xxxx.x...xx.xxx..."
	base := time.Now().UTC().Truncate(time.Minute).Add(-5 * time.Minute)
	rules := &endpoint.AlertRules{Failures: 3, Successes: 2}

	once := open(t, pgtest.New(t))
	id := importAlerting(t, once, rules, "shop")["shop"]
	outcomes(t, once, id, base, pattern)
	evaluate(t, once, base.Add(3*time.Minute))

	bits := open(t, pgtest.Bouncer(t, pgtest.New(t))) // through pgbouncer in transaction mode
	id = importAlerting(t, bits, rules, "shop")["shop"]
	for i := 0; i < len(pattern); {
		n := min(len(pattern)-i, 1+i%4)
		outcomes(t, bits, id, base.Add(time.Duration(i)*5*time.Second), pattern[i:i+n])
		i += n
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				if _, err := bits.EvaluateAlerts(testContext(t), base.Add(3*time.Minute), alertChannels); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}

	strip := func(as []store.AlertRow) []string {
		var out []string
		for _, a := range as {
			out = append(out, fmt.Sprintf("%s %s-%v %s", a.Kind, a.OpenedAt.Sub(base), a.ResolvedAt.Sub(base), a.Detail))
		}
		return out
	}
	want, got := strip(alertsOf(t, once)), strip(alertsOf(t, bits))
	if len(want) != 3 || !slices.Equal(got, want) {
		t.Errorf("alerts evaluated bit by bit:\n%q\nat once:\n%q (want 3)", got, want)
	}
}

// TestCertificateAlert: an HTTPS check seeing a certificate that expires
// within CertificateDays opens a certificate alert naming its issuer; a
// later one seeing a renewed certificate resolves it.
func TestCertificateAlert(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.New(t))
	id := importAlerting(t, s, &endpoint.AlertRules{Failures: 3, Successes: 2, CertificateDays: 14}, "shop")["shop"]
	base := time.Now().UTC().Truncate(time.Minute).Add(-5 * time.Minute)
	var cs []record.Check
	for i, days := range []int{30, 10, 10, 90} {
		c := metric(id, base.Add(time.Duration(i)*5*time.Second))
		c.TLSNotAfter, c.TLSIssuer = ptr(base.Add(time.Duration(days)*24*time.Hour)), "Test CA"
		cs = append(cs, c)
	}
	if _, err := s.WriteChecks(testContext(t), cs); err != nil {
		t.Fatal(err)
	}
	if sum := evaluate(t, s, base.Add(time.Minute)); sum.Opened != 1 || sum.Resolved != 1 {
		t.Errorf("summary %+v, want one opened and one resolved", sum)
	}
	as := alertsOf(t, s)
	if len(as) != 1 || as[0].Kind != "certificate" || !as[0].OpenedAt.Equal(base.Add(5*time.Second)) {
		t.Fatalf("alerts %+v", as)
	}
	notAfter := base.Add(10 * 24 * time.Hour).Format("2006-01-02 15:04 UTC")
	if want := "shop (home): certificate expires in 9 days (" + notAfter + ", issued by Test CA)"; as[0].Detail != want {
		t.Errorf("detail %q, want %q", as[0].Detail, want)
	}
}

// TestOutbox: Due claims with a lease, so a second Due gets nothing; a
// failure waits until its next attempt; Sent marks the alert notified once
// every channel's notification is sent; the resolved ones then come due.
func TestOutbox(t *testing.T) {
	t.Parallel()
	url := pgtest.New(t)
	s := open(t, url)
	ctx := testContext(t)
	id := importAlerting(t, s, &endpoint.AlertRules{Failures: 2, Successes: 1}, "shop")["shop"]
	base := time.Now().UTC().Truncate(time.Minute).Add(-5 * time.Minute)
	outcomes(t, s, id, base, "xx.")
	evaluate(t, s, base.Add(time.Minute))

	now := time.Now().Truncate(time.Millisecond)
	ms, err := s.Due(ctx, now, 10)
	if err != nil || len(ms) != 2 {
		t.Fatalf("Due = %d messages, %v; want the 2 opened", len(ms), err)
	}
	if again, err := s.Due(ctx, now, 10); err != nil || len(again) != 0 {
		t.Fatalf("Due again = %d messages, %v; want none (leased)", len(again), err)
	}
	web, sns := ms[0], ms[1]
	if err := s.Failed(ctx, web.ID, 1, now.Add(time.Minute), "webhook: receiver answered 503"); err != nil {
		t.Fatal(err)
	}
	if err := s.Sent(ctx, sns.ID, now); err != nil {
		t.Fatal(err)
	}
	a := alertsOf(t, s)[0]
	if a.NotifiedAt != nil || a.Unsent != 3 || a.LastError != "webhook: receiver answered 503" {
		t.Errorf("after one of two sent: notified %v, unsent %d, last error %q", a.NotifiedAt, a.Unsent, a.LastError)
	}
	// The SNS resolved notification is due; the webhook's waits for its opened one.
	later := now.Add(outboxLeaseForTest)
	ms, err = s.Due(ctx, later, 10)
	if err != nil || len(ms) != 2 || ms[0].ID != web.ID || ms[0].Attempts != 1 || ms[1].Channel != notify.ChannelSNS {
		t.Fatalf("Due after the lease = %+v, %v; want the webhook's opened (1 attempt) and the SNS resolved", ms, err)
	}
	for _, m := range ms {
		if err := s.Sent(ctx, m.ID, later); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sent(ctx, web.ID, later); err != nil { // twice: no change
		t.Fatal(err)
	}
	a = alertsOf(t, s)[0]
	if a.NotifiedAt == nil || !a.NotifiedAt.Equal(later) || a.ResolvedNotifiedAt != nil || a.Unsent != 1 {
		t.Errorf("notified %v, resolved notified %v, unsent %d; want notified at %v, the webhook's resolved unsent",
			a.NotifiedAt, a.ResolvedNotifiedAt, a.Unsent, later)
	}
	ms, err = s.Due(ctx, later, 10)
	if err != nil || len(ms) != 1 || ms[0].Channel != notify.ChannelWebhook {
		t.Fatalf("Due = %+v, %v; want the webhook's resolved", ms, err)
	}
	if err := s.Sent(ctx, ms[0].ID, later); err != nil {
		t.Fatal(err)
	}
	if a = alertsOf(t, s)[0]; a.ResolvedNotifiedAt == nil || a.Unsent != 0 {
		t.Errorf("resolved notified %v, unsent %d", a.ResolvedNotifiedAt, a.Unsent)
	}
	if n := query[int](t, url, `SELECT count(*) FROM alert_notifications WHERE sent_at IS NULL`); n != 0 {
		t.Errorf("%d unsent", n)
	}
}

// outboxLeaseForTest is just past the lease of a claim.
const outboxLeaseForTest = store.OutboxLease + time.Second

// TestReceiverDownTenMinutes: a webhook receiver that refuses everything
// for ten minutes gets every notification exactly once when it is back,
// each alert's opened before its resolved, through notify.Deliver run
// every minute over the store's outbox (the clock is the test's).
func TestReceiverDownTenMinutes(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.New(t))
	ctx := testContext(t)
	ids := importAlerting(t, s, &endpoint.AlertRules{Failures: 2, Successes: 2}, "a", "b", "c")
	base := time.Now().UTC().Truncate(time.Minute).Add(-5 * time.Minute)
	for _, id := range ids {
		outcomes(t, s, id, base, ".xx..")
	}
	if sum, err := s.EvaluateAlerts(ctx, base.Add(time.Minute), []string{notify.ChannelWebhook}); err != nil || sum.Notifications != 6 {
		t.Fatalf("EvaluateAlerts = %+v, %v; want 6 notifications", sum, err)
	}

	var (
		mu       sync.Mutex
		now      = time.Now()
		back     = now.Add(10 * time.Minute)
		refused  int
		accepted []string
	)
	secret := []byte("0123456789abcdef0123")
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if now.Before(back) {
			refused++
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		if !notify.Verify(secret, body, r.Header.Get(notify.HeaderSignature)) {
			t.Errorf("bad signature on %s", body)
		}
		accepted = append(accepted, r.Header.Get(notify.HeaderDelivery))
	}))
	t.Cleanup(rcv.Close)
	hook := notify.NewWebhook(rcv.URL, secret, addrpolicy.Policy{AllowLoopback: true})
	t.Cleanup(hook.Close)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	for range 13 {
		if _, err := notify.Deliver(ctx, s, map[string]notify.Sender{notify.ChannelWebhook: hook}, clock); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		now = now.Add(time.Minute)
		mu.Unlock()
	}

	mu.Lock()
	defer mu.Unlock()
	if refused == 0 {
		t.Error("the receiver refused nothing: it was never tried while down")
	}
	var want []string
	for _, a := range alertsOf(t, s) {
		want = append(want, fmt.Sprintf("alert-%d-opened", a.ID), fmt.Sprintf("alert-%d-resolved", a.ID))
		if a.NotifiedAt == nil || a.ResolvedNotifiedAt == nil || a.Unsent != 0 {
			t.Errorf("alert %d: notified %v, resolved notified %v, unsent %d", a.ID, a.NotifiedAt, a.ResolvedNotifiedAt, a.Unsent)
		}
	}
	if got := slices.Sorted(slices.Values(accepted)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Errorf("accepted %q, want each of %q once", accepted, want)
	}
	for _, id := range accepted {
		if strings.HasSuffix(id, "-resolved") && !slices.Contains(accepted[:slices.Index(accepted, id)], strings.TrimSuffix(id, "resolved")+"opened") {
			t.Errorf("%s delivered before its opened: %q", id, accepted)
		}
	}
}

// TestUnwatchedAlertResolved: an endpoint disabled while its alert is
// open has the alert resolved by the next evaluation, and people told.
func TestUnwatchedAlertResolved(t *testing.T) {
	t.Parallel()
	url := pgtest.New(t)
	s := open(t, url)
	rules := &endpoint.AlertRules{Failures: 2, Successes: 2}
	id := importAlerting(t, s, rules, "shop")["shop"]
	base := time.Now().UTC().Truncate(time.Minute).Add(-5 * time.Minute)
	outcomes(t, s, id, base, ".xx")
	if sum := evaluate(t, s, base.Add(time.Minute)); sum.Opened != 1 {
		t.Fatalf("summary %+v, want one opened", sum)
	}
	ep := endpoint.Endpoint{Name: "shop", URL: "https://shop.test/", Method: "GET", Interval: 5 * time.Second,
		Timeout: 5 * time.Second, Location: "home", Group: "shops", Alerts: rules}
	if _, err := s.ImportEndpoints(testContext(t), []endpoint.Endpoint{ep}, false); err != nil { // enabled: false
		t.Fatal(err)
	}
	now := base.Add(2 * time.Minute)
	if sum := evaluate(t, s, now); sum.Resolved != 1 || sum.Notifications != 2 {
		t.Errorf("summary %+v, want one resolved, two notifications", sum)
	}
	a := alertsOf(t, s)[0]
	if a.Open() || !a.ResolvedAt.Equal(now) || a.ResolveDetail != "shop (home): down alert closed: the endpoint is disabled, moved or without alert rules" {
		t.Errorf("alert %+v", a)
	}
	if n := query[int](t, url, `SELECT count(*) FROM alert_state`); n != 0 {
		t.Errorf("%d alert states left", n)
	}
	if sum := evaluate(t, s, now); sum != (store.AlertSummary{}) {
		t.Errorf("again: %+v, want nothing", sum)
	}
}
