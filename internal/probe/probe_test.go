package probe_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/watcher-dev/watcher/internal/check"
	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/meter"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/probe"
	"github.com/watcher-dev/watcher/internal/regex"
	"github.com/watcher-dev/watcher/internal/secrets"
	"github.com/watcher-dev/watcher/internal/store"
)

func TestMain(m *testing.M) {
	regex.ServeWorkerIfAsked()
	if os.Getenv(sitesProcessEnv) != "" {
		os.Exit(serveHostileSites())
	}
	if n, err := strconv.Atoi(os.Getenv(hangingProcessEnv)); err == nil {
		os.Exit(serveHangingSites(n))
	}
	pgtest.Main(m)
}

// syncBuffer is a log destination safe for the probe's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newProbe returns a probe of location home writing checks to sink and
// recording and claiming in st (none when nil).
func newProbe(t *testing.T, sink probe.Sink, st *store.Store, logs io.Writer, cfg probe.Config) *probe.Handler {
	t.Helper()
	out := probe.Outputs{Sink: sink}
	if st != nil {
		out.Recorder, out.Claimer = st, st
	}
	return newProbeWith(t, out, logs, cfg)
}

func newProbeWith(t *testing.T, out probe.Outputs, logs io.Writer, cfg probe.Config) *probe.Handler {
	t.Helper()
	cfg.Location = "home"
	checker := check.New(check.Options{Policy: check.Policy{AllowLoopback: true}})
	return probe.New(cfg, checker, out, secrets.New(os.LookupEnv, nil), slog.New(slog.NewJSONHandler(logs, nil)))
}

func open(t *testing.T, u string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

// pastSpan ends now: every check of it is due at once.
func pastSpan() plan.Span {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return plan.Span{Start: now.Add(-plan.SpanLength), End: now}
}

func TestProbeRunsEveryCheckWithItsRequest(t *testing.T) {
	const password = "s3cret-Pa55" // must never reach a log or the database
	t.Setenv("SITE_PASSWORD", password)
	var mu sync.Mutex
	got := map[string]int{}
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		user, pw, _ := r.BasicAuth()
		mu.Lock()
		got[r.Method+" "+r.URL.Path+" "+string(body)+" "+r.Header.Get("X-Probe")+" "+user+":"+pw]++
		mu.Unlock()
		if r.URL.Path == "/down" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = io.WriteString(w, "You are always welcome!")
	}))
	defer site.Close()

	u := pgtest.New(t)
	st := open(t, u)
	var logs syncBuffer
	p := newProbe(t, st, st, &logs, probe.Config{BatchSize: 7})
	eps := []endpoint.Endpoint{
		{ID: 1, URL: site.URL + "/get", Method: "GET", Regex: "welcome", Interval: 5 * time.Second, Timeout: time.Second, Location: "home", Enabled: true},
		{ID: 2, URL: site.URL + "/post", Method: "POST", Body: `{"ping":1}`, Headers: map[string]string{"X-Probe": "yes"},
			BasicAuth: &endpoint.BasicAuth{Username: "monitor", PasswordEnv: "SITE_PASSWORD"},
			Interval:  10 * time.Second, Timeout: time.Second, Location: "home", Enabled: true},
		{ID: 3, URL: site.URL + "/down", Method: "GET", Regex: "(?<!always )welcome", Interval: 30 * time.Second, Timeout: time.Second, Location: "home", Enabled: true},
		{ID: 4, URL: site.URL + "/secretless", Method: "GET", BasicAuth: &endpoint.BasicAuth{Username: "x", PasswordEnv: "WATCHER_TEST_UNSET"},
			Interval: 60 * time.Second, Timeout: time.Second, Location: "home", Enabled: true},
	}
	span := pastSpan()
	sh := plan.Plan(eps, span, plan.DefaultOptions)[0]
	sum, err := p.Run(context.Background(), &sh, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := plan.Count(eps, span)
	if sum.Planned != want || sum.Done != want || sum.Written != want || sum.Unwritten != 0 || sum.MissedDeadline != 0 {
		t.Fatalf("summary %+v, want %d planned, done and written", sum, want)
	}
	if n := got["GET /get   :"]; n != 12 {
		t.Errorf("GET /get requests: %d, want 12 (%v)", n, got)
	}
	if n := got[`POST /post {"ping":1} yes monitor:`+password]; n != 6 {
		t.Errorf("POST with body, header and basic auth: %d, want 6 (%v)", n, got)
	}

	conn, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tests := []struct {
		name  string
		where string
		want  int
	}{
		{"get matched", "endpoint_id = 1 AND status_code = 200 AND regex_match AND error IS NULL", 12},
		{"post without regex", "endpoint_id = 2 AND status_code = 200 AND regex_match IS NULL", 6},
		{"503 recorded with failed lookbehind", "endpoint_id = 3 AND status_code = 503 AND NOT regex_match", 2},
		{"missing password recorded as config error", "endpoint_id = 4 AND status_code IS NULL AND error = 'config'", 1},
		{"lateness recorded", "lateness_ms > 0", want},
	}
	for _, tt := range tests {
		var n int
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM checks WHERE "+tt.where).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != tt.want {
			t.Errorf("%s: %d rows, want %d", tt.name, n, tt.want)
		}
	}
	// Secrets never reach logs or the database.
	encoded := base64.StdEncoding.EncodeToString([]byte("monitor:" + password))
	if strings.Contains(logs.String(), password) || strings.Contains(logs.String(), encoded) {
		t.Error("password in the logs")
	}
	var leaks int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM checks WHERE error LIKE '%'||$1||'%'`, password).Scan(&leaks); err != nil {
		t.Fatal(err)
	}
	if leaks != 0 {
		t.Error("password in the database")
	}
}

// TestProbeKeepsResultsWhileDatabaseIsDown stops the real PostgreSQL while
// a probe runs, starts it again later, and checks every result arrives once.
func TestProbeKeepsResultsWhileDatabaseIsDown(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer site.Close()
	c := pgtest.NewCluster(t)
	u := pgtest.NewDatabase(t, c)
	st := open(t, u)
	if err := st.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.StopServer(ctx); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	p := newProbe(t, st, st, &logs, probe.Config{BatchSize: 5, FlushEvery: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	eps := []endpoint.Endpoint{{ID: 9, URL: site.URL, Method: "GET", Interval: 5 * time.Second, Timeout: time.Second, Location: "home", Enabled: true}}
	now := time.Now().UTC().Truncate(time.Millisecond)
	// Twelve checks now, then the span ends; the server comes back a second later.
	sh := plan.Plan(eps, plan.Span{Start: now.Add(-plan.SpanLength), End: now}, plan.DefaultOptions)[0]
	go func() {
		time.Sleep(time.Second)
		if err := c.StartServer(ctx); err != nil {
			t.Error(err)
		}
	}()
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	sum, err := p.Run(rctx, &sh, 0)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Done != 12 || sum.Written != 12 || sum.Unwritten != 0 {
		t.Fatalf("summary %+v: want 12 done and written after the outage", sum)
	}
	if !strings.Contains(logs.String(), "write checks batch") {
		t.Error("the failed writes were not logged")
	}
}

// TestProbeReportsWhatItCouldNotWrite keeps the database down past the
// invocation's deadline: the results are counted and logged as unwritten.
func TestProbeReportsWhatItCouldNotWrite(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer site.Close()
	c := pgtest.NewCluster(t)
	u := pgtest.NewDatabase(t, c)
	st := open(t, u)
	ctx := context.Background()
	if err := c.StopServer(ctx); err != nil {
		t.Fatal(err)
	}
	var logs, metrics syncBuffer
	p := newProbe(t, st, st, &logs, probe.Config{FlushEvery: 50 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Margin: 100 * time.Millisecond, Meter: meter.Config{EMF: &metrics}})
	eps := []endpoint.Endpoint{{ID: 9, URL: site.URL, Method: "GET", Interval: 5 * time.Second, Timeout: 100 * time.Millisecond, Location: "home", Enabled: true}}
	sh := plan.Plan(eps, pastSpan(), plan.DefaultOptions)[0]
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	sum, err := p.Run(rctx, &sh, 0)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Done != 12 || sum.Written != 0 || sum.Unwritten != 12 {
		t.Fatalf("summary %+v: want 12 done, 12 unwritten", sum)
	}
	if !strings.Contains(logs.String(), `"msg":"checks not written"`) || !strings.Contains(logs.String(), `"unwritten":12`) {
		t.Errorf("unwritten results not reported in the logs:\n%s", logs.String())
	}
	// The alarm on unwritten checks reads this metric.
	if m := metrics.String(); !strings.Contains(m, `"ChecksUnwritten":12`) || !strings.Contains(m, `"Namespace":"Watcher"`) {
		t.Errorf("EMF line %q lacks ChecksUnwritten 12", m)
	}
}

// TestProbeMissesChecksItCannotFinish gives the invocation too little time
// for its later checks: they are counted as missed, never invented.
func TestProbeMissesChecksItCannotFinish(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer site.Close()
	u := pgtest.New(t)
	st := open(t, u)
	var logs syncBuffer
	p := newProbe(t, st, st, &logs, probe.Config{Margin: 200 * time.Millisecond})
	eps := []endpoint.Endpoint{{ID: 5, URL: site.URL, Method: "GET", Interval: 5 * time.Second, Timeout: time.Second, Location: "home", Enabled: true}}
	now := time.Now().UTC().Truncate(time.Millisecond)
	// Three instants have passed; the next ones are seconds away, past the deadline.
	span := plan.Span{Start: now.Add(-14 * time.Second), End: now.Add(46 * time.Second)}
	sh := plan.Plan(eps, span, plan.DefaultOptions)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	sum, err := p.Run(ctx, &sh, 0)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Planned != 12 || sum.Done+sum.MissedDeadline != 12 || sum.MissedDeadline < 8 || sum.Written != sum.Done {
		t.Errorf("summary %+v: want 12 planned, later ones missed, every done one written", sum)
	}
}

func TestProbeRefusesAnotherLocationsShard(t *testing.T) {
	p := newProbe(t, nil, nil, io.Discard, probe.Config{})
	_, err := p.Invoke(context.Background(), []byte(`{"location":"eu","span":{"start":"2026-01-01T00:00:00Z","end":"2026-01-01T00:01:00Z"}}`))
	if err == nil || !strings.Contains(err.Error(), `shard for location "eu"`) {
		t.Errorf("err = %v", err)
	}
}
