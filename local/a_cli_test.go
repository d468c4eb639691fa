package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/probe"
	"github.com/watcher-dev/watcher/internal/store"
)

// TestCLICheckExitCodes: `watcher check` exits 0 when the check is up, 1
// when it failed (HTTP 500, connection refused, regex not matched), 2 when
// it was called wrongly; the JSON result is printed either way.
func TestCLICheckExitCodes(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/broken" {
			w.WriteHeader(http.StatusInternalServerError)
		}
		fmt.Fprintln(w, "welcome")
	}))
	t.Cleanup(srv.Close) // after the parallel subtests
	refused := closedPort(t)
	for _, c := range []struct {
		name   string
		args   []string
		code   int
		stderr string // in the error line
	}{
		{"up", []string{srv.URL + "/"}, 0, ""},
		{"regex matched", []string{srv.URL + "/", "--regex", "welc"}, 0, ""},
		{"HTTP 500", []string{srv.URL + "/broken"}, exitFailed, "check failed: HTTP status 500"},
		{"refused port", []string{"http://" + refused + "/"}, exitFailed, "check failed: connect"},
		{"regex not matched", []string{srv.URL + "/", "--regex", "goodbye"}, exitFailed, "check failed: the regex did not match"},
		{"no URL", nil, exitUsage, "accepts 1 arg"},
		{"zero timeout", []string{srv.URL + "/", "--timeout", "0s"}, exitUsage, "--timeout"},
		{"bad header", []string{srv.URL + "/", "--header", "nocolon"}, exitUsage, "--header"},
		{"unknown flag", []string{srv.URL + "/", "--bogus"}, exitUsage, "unknown flag"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			res := runWatcher(t, time.Minute, "", nil, nil, append([]string{"check"}, c.args...)...)
			if res.Code != c.code || !strings.Contains(res.Stderr, c.stderr) || (c.code != exitUsage && !json.Valid([]byte(res.Stdout))) {
				t.Errorf("watcher check %v: exit %d, stdout %q, stderr %q; want exit %d, %q in stderr and the JSON result",
					c.args, res.Code, res.Stdout, res.Stderr, c.code, c.stderr)
			}
		})
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// blackHole listens on loopback, accepts every connection and never
// answers: a database that hangs. It returns a DATABASE_URL for it.
func blackHole(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // held open, never read
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-done
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return "postgres://watcher@" + l.Addr().String() + "/watcher?sslmode=disable"
}

// TestCLIFailsFastOnAHungDatabase: against a server that accepts
// connections and never answers, every command that needs the database
// ends within its connection timeout, exit 3, naming the database; the
// URL's own connect_timeout wins over DATABASE_CONNECT_TIMEOUT, and without
// either the default bounds the wait.
func TestCLIFailsFastOnAHungDatabase(t *testing.T) {
	t.Parallel()
	u := blackHole(t)
	addr := strings.TrimPrefix(strings.Split(u, "/watcher?")[0], "postgres://watcher@")
	scheduled, err := filepath.Abs("../events/scheduled.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		env   []string
		args  []string
		bound time.Duration
	}{
		{"endpoints list", []string{"DATABASE_CONNECT_TIMEOUT=1s"}, []string{"endpoints", "list"}, 4 * time.Second},
		{"migrate", []string{"DATABASE_CONNECT_TIMEOUT=1s"}, []string{"migrate"}, 4 * time.Second},
		{"report", []string{"DATABASE_CONNECT_TIMEOUT=1s"}, []string{"report"}, 4 * time.Second},
		{"run", []string{"DATABASE_CONNECT_TIMEOUT=1s"}, []string{"run", "--for", "1m"}, 4 * time.Second},
		{"invoke fanout", []string{"DATABASE_CONNECT_TIMEOUT=1s"}, []string{"invoke", "fanout", "--event", scheduled}, 4 * time.Second},
		{"replay", []string{"DATABASE_CONNECT_TIMEOUT=1s"}, []string{"replay"}, 4 * time.Second},
		{"url wins", []string{"DATABASE_CONNECT_TIMEOUT=1m"}, []string{"endpoints", "list"}, 4 * time.Second},
		{"default", nil, []string{"endpoints", "list"}, store.DefaultConnectTimeout + 4*time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dbURL := u
			if c.name == "url wins" {
				dbURL += "&connect_timeout=1"
			}
			start := time.Now()
			res := runWatcher(t, time.Minute, "", append(c.env, "DATABASE_URL="+dbURL), nil, c.args...)
			took := time.Since(start)
			if res.Code != exitError || took > c.bound || !strings.Contains(res.Stderr, "database "+addr+"/watcher unavailable") {
				t.Errorf("watcher %v: exit %d after %s, stderr %q; want exit 3 within %s, naming the database",
					c.args, res.Code, took.Round(time.Millisecond), res.Stderr, c.bound)
			}
		})
	}
}

// TestCLIRunRefusesUnknownSettings: `watcher run` and `watcher invoke`
// read the functions' WATCHER_* variables and LOG_LEVEL, and refuse an
// unknown variable or a bad value, exit 2, before touching any database.
func TestCLIRunRefusesUnknownSettings(t *testing.T) {
	t.Parallel()
	never := "DATABASE_URL=postgres://watcher@" + closedPort(t) + "/watcher"
	shard, err := filepath.Abs("../events/probe-shard.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		env  []string
		args []string
		want string
	}{
		{[]string{"WATCHER_SPAN_OFSET=5s"}, []string{"run", "--for", "1m"}, "WATCHER_SPAN_OFSET: unknown variable"},
		{[]string{"WATCHER_BATCH_SIZE=0"}, []string{"run"}, "WATCHER_BATCH_SIZE: 0 is outside 1..10000"},
		{[]string{"WATCHER_MAX_DELAY=abc"}, []string{"run"}, `WATCHER_MAX_DELAY: "abc" is not a duration`},
		{[]string{"LOG_LEVEL=loud"}, []string{"run"}, `LOG_LEVEL: "loud" is not DEBUG, INFO, WARN or ERROR`},
		{[]string{"WATCHER_LOCATON=home"}, []string{"invoke", "probe", "--event", shard}, "WATCHER_LOCATON: unknown variable"},
		{nil, []string{"run", "--for", "-1m"}, "must not be negative"},
	} {
		res := runWatcher(t, time.Minute, "", append(c.env, never), nil, c.args...)
		if res.Code != exitUsage || !strings.Contains(res.Stderr, c.want) || strings.Contains(res.Stderr, "database") {
			t.Errorf("%v watcher %v: exit %d, stderr %q; want exit 2 and %q", c.env, c.args, res.Code, res.Stderr, c.want)
		}
	}
}

// TestCLIInvokeProbeSpillsWhileTheDatabaseIsDown: `watcher invoke probe`
// with the database stopped runs its checks, ends soon after its span,
// spills every check to the spool, says where, and exits 0 (nothing was
// lost); `watcher replay` then stores each check exactly once.
func TestCLIInvokeProbeSpillsWhileTheDatabaseIsDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := pgtest.NewCluster(t)
	u := pgtest.NewDatabase(t, c)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }))
	defer srv.Close()

	sh := plan.Shard{Location: "home", Span: plan.Span{Start: time.Unix(0, 0), End: time.Unix(60, 0)}}
	for i := range 3 {
		sh.Endpoints = append(sh.Endpoints, endpoint.Endpoint{
			ID: int64(i + 1), URL: fmt.Sprintf("%s/site/%d", srv.URL, i), Method: "GET", Location: "home",
			Enabled: true, Interval: 10 * time.Second, Timeout: time.Second,
		})
	}
	dir := t.TempDir()
	writeShard(t, dir, sh)
	if err := c.StopServer(ctx); err != nil {
		t.Fatal(err)
	}

	env := []string{"DATABASE_URL=" + u, "DATABASE_CONNECT_TIMEOUT=1s"}
	start := time.Now()
	res := runWatcher(t, time.Minute, dir, env, nil, "invoke", "probe", "--event", "shard.json", "--retime")
	took := time.Since(start)
	var sum probe.Summary
	if err := json.Unmarshal([]byte(res.Stdout), &sum); err != nil {
		t.Fatalf("invoke probe: exit %d, stdout %q (%v), stderr %q", res.Code, res.Stdout, err, res.Stderr)
	}
	// The span ended at once (--retime), the slowest check's timeout is
	// 1 s, and 10 s more are given to write: then everything is spilled.
	if res.Code != 0 || sum.Planned != 18 || sum.Spilled != sum.Planned || sum.Unwritten != 0 ||
		!strings.Contains(res.Stderr, "spool=.watcher/spool") || took > 20*time.Second {
		t.Fatalf("invoke probe with the database down: exit %d after %s, %+v, stderr %q; want 18 checks spilled, where said, exit 0",
			res.Code, took.Round(time.Millisecond), sum, res.Stderr)
	}

	if err := c.StartServer(ctx); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"replayed 18 checks", "replayed 0 checks"} {
		res = runWatcher(t, time.Minute, dir, env, nil, "replay")
		if res.Code != 0 || !strings.Contains(res.Stdout, want) {
			t.Fatalf("replay %d: exit %d, stdout %q, stderr %q; want %q", i+1, res.Code, res.Stdout, res.Stderr, want)
		}
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var rows, distinct int
	if err := conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT (endpoint_id, planned_at)) FROM checks`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != sum.Planned || distinct != sum.Planned {
		t.Errorf("%d rows stored (%d distinct), want each of the %d checks once", rows, distinct, sum.Planned)
	}
}

// TestCLIInvokeProbeFailsWhenChecksAreLost: with no spool to take them
// (a directory no one can write files into, even root: /proc) and the
// database down, the checks are neither written nor spilled: exit 1, and
// the count says so.
func TestCLIInvokeProbeFailsWhenChecksAreLost(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	dir := t.TempDir()
	sh := plan.Shard{Location: "home", Span: plan.Span{Start: time.Unix(0, 0), End: time.Unix(60, 0)},
		Endpoints: []endpoint.Endpoint{{ID: 1, URL: "http://" + closedPort(t) + "/", Method: "GET", Location: "home",
			Enabled: true, Interval: 30 * time.Second, Timeout: time.Second}}}
	writeShard(t, dir, sh)
	env := []string{"DATABASE_URL=postgres://watcher@" + closedPort(t) + "/watcher", "DATABASE_CONNECT_TIMEOUT=1s"}
	res := runWatcher(t, time.Minute, dir, env, nil, "invoke", "probe", "--event", "shard.json", "--retime", "--spool", "/proc")
	if res.Code != exitFailed || !strings.Contains(res.Stderr, "2 checks neither written nor spilled") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and the lost checks counted", res.Code, res.Stdout, res.Stderr)
	}
}

// writeShard writes sh, a probe event, to dir/shard.json.
func writeShard(t *testing.T, dir string, sh plan.Shard) {
	t.Helper()
	event, err := json.Marshal(sh)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "shard.json"), event, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestEventsFollowFor(t *testing.T) {
	for dur, want := range map[time.Duration]int{
		0: 0, time.Second: 1, time.Minute: 1, time.Minute + time.Second: 2, 3 * time.Minute: 3, 10 * time.Minute: 10,
	} {
		if got := events(dur); got != want {
			t.Errorf("events(%s) = %d, want %d", dur, got, want)
		}
	}
}

func TestShardDeadline(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 30, 0, time.UTC)
	sh := plan.Shard{Span: plan.Span{Start: now.Add(-20 * time.Second), End: now.Add(40 * time.Second)},
		Endpoints: []endpoint.Endpoint{{Timeout: 3 * time.Second}, {}}}
	// The span's end, the default timeout of the second endpoint, the grace.
	if got, want := shardDeadline(&sh, now), now.Add(40*time.Second+endpoint.DefaultTimeout+localWriteGrace); !got.Equal(want) {
		t.Errorf("span ahead: %s, want %s", got, want)
	}
	// A span that has passed (a replayed fixture): from now.
	sh.Endpoints = sh.Endpoints[:1]
	if got, want := shardDeadline(&sh, now.Add(time.Hour)), now.Add(time.Hour+3*time.Second+localWriteGrace); !got.Equal(want) {
		t.Errorf("span passed: %s, want %s", got, want)
	}
}

func TestWithConnectTimeout(t *testing.T) { // not parallel: it sets the environment
	for _, c := range []struct {
		url, dbTimeout, pgTimeout, want string
	}{
		{"postgres://u@h/db", "", "", "postgres://u@h/db?connect_timeout=5"},
		{"postgres://u@h/db?sslmode=disable", "", "", "postgres://u@h/db?sslmode=disable&connect_timeout=5"},
		{"postgres://u@h/db?connect_timeout=2", "30s", "", "postgres://u@h/db?connect_timeout=2"},
		{"postgres://u@h/db", "1500ms", "", "postgres://u@h/db?connect_timeout=2"},
		{"postgres://u@h/db", "", "7", "postgres://u@h/db"},
		{"postgres://u@h/db", "3s", "7", "postgres://u@h/db?connect_timeout=3"},
		{"host=h dbname=db", "", "", "host=h dbname=db connect_timeout=5"},
		{"host=h connect_timeout=9 dbname=db", "1s", "", "host=h connect_timeout=9 dbname=db"},
	} {
		t.Setenv("DATABASE_CONNECT_TIMEOUT", c.dbTimeout)
		t.Setenv("PGCONNECT_TIMEOUT", c.pgTimeout)
		got, err := withConnectTimeout(c.url)
		if err != nil || got != c.want {
			t.Errorf("%q with DATABASE_CONNECT_TIMEOUT=%q PGCONNECT_TIMEOUT=%q: %q, %v; want %q", c.url, c.dbTimeout, c.pgTimeout, got, err, c.want)
		}
	}
	t.Setenv("PGCONNECT_TIMEOUT", "")
	for _, bad := range []string{"-1s", "0s", "5"} {
		t.Setenv("DATABASE_CONNECT_TIMEOUT", bad)
		if _, err := withConnectTimeout("postgres://u@h/db"); exitCode(err) != exitUsage || !strings.Contains(err.Error(), "DATABASE_CONNECT_TIMEOUT") {
			t.Errorf("DATABASE_CONNECT_TIMEOUT=%q: %v, want a usage error naming it", bad, err)
		}
	}
}

// TestRunDisablesItsDemoEndpoints: what `run --demo` imported is disabled
// when it ends, so that no endpoint is left enabled against its farm.
func TestRunDisablesItsDemoEndpoints(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, pgtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	eps := []endpoint.Endpoint{
		{Name: "a", URL: "http://127.0.0.1:1/a", Method: "GET", Location: "home", Enabled: true, Interval: time.Minute, Timeout: time.Second},
		{Name: "b", URL: "http://127.0.0.1:1/b", Method: "GET", Location: "home", Enabled: true, Interval: time.Minute, Timeout: time.Second},
	}
	if _, err := st.ImportEndpoints(ctx, eps, true); err != nil {
		t.Fatal(err)
	}
	disableDemo(st, eps)
	if enabled, err := st.Endpoints(ctx, true); err != nil || len(enabled) != 0 {
		t.Errorf("after the run: %d endpoints enabled (%v), want none", len(enabled), err)
	}
}
