package probe_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/probe"
	"github.com/watcher-dev/watcher/internal/spool"
)

// TestProbeSpillsWhatTheDatabaseRefuses keeps the database down for the
// whole invocation: every result goes to the spool and reaches the database
// once it is back and the spool is replayed. The checks send a basic-auth
// password to a site that echoes it in its body and redirects to a closed
// port with it in the URL; no spool file holds it in any form.
func TestProbeSpillsWhatTheDatabaseRefuses(t *testing.T) {
	const password = "Spool-pw:7Qe!x"
	t.Setenv("WATCHER_TEST_SPOOL_PASSWORD", password)
	credential := base64.StdEncoding.EncodeToString([]byte("monitor:" + password))
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	_ = closed.Close()
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pw, _ := r.BasicAuth()
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://"+url.UserPassword(user, pw).String()+"@"+closedAddr+"/"+url.PathEscape(pw), http.StatusFound)
			return
		}
		_, _ = io.WriteString(w, r.Header.Get("Authorization")+" "+pw)
	}))
	defer site.Close()
	ctx := context.Background()
	c := pgtest.NewCluster(t)
	u := pgtest.NewDatabase(t, c)
	st := open(t, u)
	if err := c.StopServer(ctx); err != nil {
		t.Fatal(err)
	}
	dir, err := spool.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	p := newProbeWith(t, probe.Outputs{Sink: st, Recorder: st, Claimer: st, Spill: dir}, &logs,
		probe.Config{FlushEvery: 50 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Margin: 200 * time.Millisecond})
	auth := &endpoint.BasicAuth{Username: "monitor", PasswordEnv: "WATCHER_TEST_SPOOL_PASSWORD"}
	eps := []endpoint.Endpoint{
		{ID: 7, URL: site.URL + "/echo", Method: "GET", Regex: "Basic", BasicAuth: auth, Interval: 5 * time.Second, Timeout: 100 * time.Millisecond, Location: "home", Enabled: true},
		{ID: 8, URL: site.URL + "/redirect", Method: "GET", BasicAuth: auth, Interval: 5 * time.Second, Timeout: 100 * time.Millisecond, Location: "home", Enabled: true},
	}
	sh := plan.Plan(eps, pastSpan(), plan.DefaultOptions)[0]
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	sum, err := p.Run(rctx, &sh, 0)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Done != 24 || sum.Written != 0 || sum.Spilled != 24 || sum.Unwritten != 0 {
		t.Fatalf("summary %+v: want 24 done and spilled", sum)
	}
	files := 0
	err = filepath.WalkDir(dir.Path(), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range []string{password, credential, url.PathEscape(password), url.QueryEscape(password)} {
			if bytes.Contains(body, []byte(s)) {
				t.Errorf("spool file %s holds the secret %q", path, s)
			}
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("%d spool files (%v)", files, err)
	}

	if err := c.StartServer(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := dir.Replay(ctx, st)
	if err != nil || r.Inserted != 24 {
		t.Fatalf("replay %+v, %v", r, err)
	}
	if n := count(t, u, "endpoint_id = 7 AND regex_match AND status_code = 200"); n != 12 {
		t.Errorf("%d rows of the echoing endpoint after replay, want 12 that matched", n)
	}
	if n := count(t, u, "endpoint_id = 8 AND error = 'connect'"); n != 12 {
		t.Errorf("%d rows of the redirecting endpoint after replay, want 12 connect errors", n)
	}
}

// TestRetriedShardLeavesPassedChecksMissed kills a probe invocation in the
// middle of its span (its context ends, as when Lambda times out) and runs
// the same shard again, as Lambda's asynchronous retry would: no row is
// doubled, and the instants that passed in between are missed, not
// measured late.
func TestRetriedShardLeavesPassedChecksMissed(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	defer site.Close()
	u := pgtest.New(t)
	st := open(t, u)
	eps := []endpoint.Endpoint{{ID: 3, URL: site.URL, Method: "GET", Interval: 5 * time.Second, Timeout: time.Second, Location: "home", Enabled: true}}
	now := time.Now().UTC().Truncate(time.Millisecond)
	// Instants every 5 s; the span ends 16 s from now.
	span := plan.Span{Start: now.Add(-44 * time.Second), End: now.Add(16 * time.Second)}
	sh := plan.Plan(eps, span, plan.DefaultOptions)[0]
	all := plan.Instants(3, 5*time.Second, span)

	var logs syncBuffer
	first := newProbe(t, st, st, &logs, probe.Config{FlushEvery: 100 * time.Millisecond})
	killed, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	sum1, err := first.Run(killed, &sh, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Sit out at least one instant, as the retry comes later.
	time.Sleep(5500 * time.Millisecond)

	retryStart := time.Now()
	retry := newProbe(t, st, st, &logs, probe.Config{})
	sum2, err := retry.Run(context.Background(), &sh, 0)
	if err != nil {
		t.Fatal(err)
	}
	if sum2.MissedRetry == 0 || sum2.MissedRetry+sum2.Done+sum2.MissedDeadline != len(all) {
		t.Errorf("retry %+v: want the passed instants missing and the rest done (%d planned)", sum2, len(all))
	}
	stored := count(t, u, "endpoint_id = 3")
	byRetry := count(t, u, fmt.Sprintf("endpoint_id = 3 AND started_at >= '%s' AND lateness_ms < 1000", retryStart.UTC().Format(time.RFC3339Nano)))
	if stored != sum1.Written+sum2.Written || stored >= len(all) || byRetry != sum2.Written {
		t.Errorf("stored %d rows (first attempt wrote %d, retry %d; %d instants): passed checks must be missing, not late",
			stored, sum1.Written, sum2.Written, len(all))
	}
	var dups int
	conn, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(context.Background(), `SELECT count(*) - count(DISTINCT planned_at) FROM checks`).Scan(&dups); err != nil || dups != 0 {
		t.Errorf("duplicates %d, %v", dups, err)
	}
}

func count(t *testing.T, u, where string) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM checks WHERE "+where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
