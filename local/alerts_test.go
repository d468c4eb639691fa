package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/endpointfile"
	"github.com/watcher-dev/watcher/internal/fanout"
	"github.com/watcher-dev/watcher/internal/notify"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/store"
)

// receiver is a webhook receiver: it keeps every event whose signature
// verifies, in order of arrival.
type receiver struct {
	secret []byte
	mu     sync.Mutex
	events []notify.Event
	bad    int // requests without a valid signature
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var ev notify.Event
	r.mu.Lock()
	defer r.mu.Unlock()
	if !notify.Verify(r.secret, body, req.Header.Get(notify.HeaderSignature)) || json.Unmarshal(body, &ev) != nil ||
		req.Header.Get(notify.HeaderDelivery) != ev.ID {
		r.bad++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	r.events = append(r.events, ev)
}

func (r *receiver) got() (events []notify.Event, bad int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events), r.bad
}

// TestFleetAlerts runs the local fleet against a site that fails once,
// then four times in a row, then recovers, with failures: 3 and
// successes: 2, and a real webhook receiver: the down alert opens exactly
// once, at the third consecutive failure and within three checks and a
// minute of the first; it resolves exactly once, at the second pass; the
// lone failure opens nothing; and the receiver gets one signed 'opened'
// and one 'resolved' body, in that order.
func TestFleetAlerts(t *testing.T) {
	ctx := context.Background()
	t.Setenv("WATCHER_LOCATIONS", "home")
	u := pgtest.New(t)
	st, err := store.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)

	// The site fails at the planned instants in failAt (known once the
	// endpoint has its id), judged by when a request arrives: within half
	// an interval of the instant.
	var (
		mu     sync.Mutex
		failAt []time.Time
	)
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		for _, at := range failAt {
			if now.After(at.Add(-2500*time.Millisecond)) && now.Before(at.Add(2500*time.Millisecond)) {
				http.Error(w, "down", http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	}))
	t.Cleanup(site.Close)
	rcv := &receiver{secret: []byte("a-webhook-secret-of-some-length")}
	hook := httptest.NewServer(rcv)
	t.Cleanup(hook.Close)

	eps, err := endpointfile.Parse([]byte(fmt.Sprintf(`endpoints:
  - name: shop
    url: %s/
    interval: 5s
    alerts: {failures: 3, successes: 2}
`, site.URL)), locations())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.ImportEndpoints(ctx, eps, true); err != nil {
		t.Fatal(err)
	}
	stored, err := st.Endpoints(ctx, true)
	if err != nil || len(stored) != 1 {
		t.Fatalf("endpoints %v, %v", stored, err)
	}
	ep := stored[0]

	// The fanout evaluates alerts when its minute's event comes: the
	// failures end just before a whole minute, boundary, whose event opens
	// the alert; the next minute's resolves it. The event of the minute
	// before now starts the fleet at once (its span ends within ten
	// seconds of the next whole minute).
	start := time.Now()
	boundary := start.Truncate(time.Minute).Add(time.Minute)
	if boundary.Sub(start) < 40*time.Second {
		boundary = boundary.Add(time.Minute)
	}
	instants := plan.Instants(ep.ID, ep.Interval, plan.Span{Start: start, End: boundary.Add(2 * time.Minute)})
	i3 := 0 // the third failure: the last instant at least 4 s before the boundary
	for i, at := range instants {
		if !at.After(boundary.Add(-4 * time.Second)) {
			i3 = i
		}
	}
	single, first, third, fourth := instants[i3-5], instants[i3-2], instants[i3], instants[i3+1]
	resolvedAt := instants[i3+3] // the second pass after the fourth failure
	mu.Lock()
	failAt = []time.Time{single, instants[i3-2], instants[i3-1], third, fourth}
	mu.Unlock()

	c, err := loadLocalConfig(func(name string) (string, bool) {
		v, ok := map[string]string{
			notify.EnvWebhookURL:    hook.URL + "/hook",
			notify.EnvWebhookSecret: string(rcv.secret),
		}[name]
		return v, ok
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := newFleetWith(c, st, nil, slog.New(slog.DiscardHandler), false)

	var (
		runs sync.WaitGroup
		smu  sync.Mutex
		sums = map[time.Time]fanout.Summary{}
	)
	fire := func(ctx context.Context, scheduled time.Time) {
		runs.Go(func() {
			sum, err := f.fanout.Run(ctx, scheduled)
			if err != nil {
				t.Errorf("fanout of %s: %v", scheduled.Format(time.TimeOnly), err)
			}
			smu.Lock()
			sums[scheduled] = sum
			smu.Unlock()
		})
	}
	fire(ctx, start.Truncate(time.Minute))
	for m := start.Truncate(time.Minute).Add(time.Minute); m.Before(boundary); m = m.Add(time.Minute) {
		time.Sleep(time.Until(m))
		fire(ctx, m)
	}
	time.Sleep(time.Until(boundary))
	fire(ctx, boundary)
	// The last event: its alerts are what this test waits for, its span's
	// checks are not, so it ends once the resolution is delivered.
	time.Sleep(time.Until(boundary.Add(time.Minute)))
	last, stop := context.WithCancel(ctx)
	fire(last, boundary.Add(time.Minute))
	deadline := time.Now().Add(45 * time.Second)
	for time.Now().Before(deadline) {
		if evs, _ := rcv.got(); len(evs) >= 2 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	runs.Wait()
	f.wait()

	smu.Lock()
	if a := sums[boundary].Alerts; a == nil || a.Opened != 1 || a.Resolved != 0 || a.Delivered.Sent != 1 || a.Errors != 0 {
		t.Errorf("fanout at the boundary: alerts %+v, want one opened and sent", a)
	}
	if a := sums[boundary.Add(time.Minute)].Alerts; a == nil || a.Opened != 0 || a.Resolved != 1 || a.Delivered.Sent != 1 || a.Errors != 0 {
		t.Errorf("fanout a minute later: alerts %+v, want one resolved and sent", a)
	}
	smu.Unlock()

	evs, bad := rcv.got()
	if bad != 0 {
		t.Errorf("%d webhook requests without a valid signature", bad)
	}
	if len(evs) != 2 || evs[0].Event != "opened" || evs[1].Event != "resolved" || evs[0].AlertID != evs[1].AlertID {
		t.Fatalf("receiver got %+v, want one opened and one resolved of one alert", evs)
	}
	opened, resolved := evs[0], evs[1]
	if !opened.At.Equal(third) || opened.Kind != "down" || opened.Endpoint.Name != "shop" || opened.Endpoint.Location != "home" {
		t.Errorf("opened event %+v, want at the third failure %s", opened, third)
	}
	var causes []time.Time
	for _, ch := range opened.Checks {
		causes = append(causes, ch.PlannedAt)
		if ch.StatusCode == nil || *ch.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("cause %+v, want status 503", ch)
		}
	}
	if want := []time.Time{first, instants[i3-1], third}; !slices.EqualFunc(causes, want, time.Time.Equal) {
		t.Errorf("opened by checks at %v, want %v", causes, want)
	}
	if !resolved.At.Equal(resolvedAt) || resolved.ResolvedAt == nil || !resolved.OpenedAt.Equal(third) || len(resolved.Checks) != 2 {
		t.Errorf("resolved event %+v, want at %s", resolved, resolvedAt)
	}
	if want := fmt.Sprintf("alert-%d-opened", opened.AlertID); opened.ID != want {
		t.Errorf("event id %q, want %q", opened.ID, want)
	}

	as, err := st.Alerts(ctx, false, start.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 {
		t.Fatalf("%d alerts, want 1 (none for the lone failure at %s): %+v", len(as), single, as)
	}
	a := as[0]
	if a.ID != opened.AlertID || a.Open() || a.NotifiedAt == nil || a.ResolvedNotifiedAt == nil || a.Unsent != 0 {
		t.Errorf("alert %+v, want resolved, both transitions notified", a)
	}
	// Within three checks and a minute of the first failure: the database's
	// clock says when the alert was recorded.
	created := queryTime(t, u, `SELECT created_at FROM alerts`)
	t.Logf("first failure planned at %s; alert recorded %s after it", first.Format(time.TimeOnly), created.Sub(first).Round(time.Millisecond))
	if limit := first.Add(3*ep.Interval + time.Minute); created.After(limit) {
		t.Errorf("alert recorded at %s, after %s (three checks and a minute from the first failure at %s)",
			created.Format(time.TimeOnly), limit.Format(time.TimeOnly), first.Format(time.TimeOnly))
	}

	var out bytes.Buffer
	if err := writeAlerts(&out, as, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"resolved", "down", "shop", "home", "yes", "is up again"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("watcher alerts output lacks %q:\n%s", want, out.String())
		}
	}
}

// queryTime runs one query returning one timestamp.
func queryTime(t *testing.T, u, sql string) time.Time {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var at time.Time
	if err := conn.QueryRow(ctx, sql).Scan(&at); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return at
}

// TestCLIAlerts: `watcher alerts` lists what evaluation recorded, as a
// table or JSON, open ones alone with --open, and refuses a bad --since.
func TestCLIAlerts(t *testing.T) {
	t.Parallel()
	u := pgtest.New(t)
	env := []string{"DATABASE_URL=" + u}
	res := runWatcher(t, time.Minute, "", env, nil, "alerts")
	if res.Code != 0 || res.Stdout != "no alerts\n" {
		t.Fatalf("no alerts: exit %d, stdout %q, stderr %q", res.Code, res.Stdout, res.Stderr)
	}
	if res = runWatcher(t, time.Minute, "", env, nil, "alerts", "--json"); res.Code != 0 || res.Stdout != "[]\n" {
		t.Fatalf("no alerts --json: exit %d, stdout %q", res.Code, res.Stdout)
	}
	if res = runWatcher(t, time.Minute, "", env, nil, "alerts", "--since", "-1h"); res.Code != exitUsage {
		t.Fatalf("--since -1h: exit %d, stderr %q", res.Code, res.Stderr)
	}

	ctx := context.Background()
	st, err := store.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	eps, err := endpointfile.Parse([]byte("endpoints:\n  - {name: shop, url: 'https://shop.example/', interval: 5s, alerts: true}\n"), []string{"home"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.ImportEndpoints(ctx, eps, false); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Truncate(time.Second).Add(-time.Minute)
	var checks []record.Check
	for i := range 3 {
		checks = append(checks, record.Check{EndpointID: 1, Location: "home", PlannedAt: at.Add(time.Duration(i) * 5 * time.Second),
			Result: record.Result{StartedAt: at, Error: record.ErrConnect}})
	}
	if _, err := st.WriteChecks(ctx, checks); err != nil {
		t.Fatal(err)
	}
	if _, err := st.EvaluateAlerts(ctx, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	res = runWatcher(t, time.Minute, "", env, nil, "alerts", "--open")
	if res.Code != 0 || !regexp.MustCompile(`(?m)^1 +open +down +shop +home +\S+ \S+ +- +- +shop \(home\) is down: 3 consecutive failed checks; last: connect$`).MatchString(res.Stdout) {
		t.Fatalf("alerts --open: exit %d, stdout:\n%s\nstderr %s", res.Code, res.Stdout, res.Stderr)
	}
	res = runWatcher(t, time.Minute, "", env, nil, "alerts", "--json")
	var rows []store.AlertRow
	if err := json.Unmarshal([]byte(res.Stdout), &rows); res.Code != 0 || err != nil || len(rows) != 1 || rows[0].Kind != "down" || rows[0].ResolvedAt != nil {
		t.Fatalf("alerts --json: exit %d, %v, stdout:\n%s", res.Code, err, res.Stdout)
	}
}
