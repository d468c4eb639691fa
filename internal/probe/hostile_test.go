package probe_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/watcher-dev/watcher/internal/dev/nettest"
	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/dev/targets"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/probe"
	"github.com/watcher-dev/watcher/internal/record"
)

// hostileSites are the target farm and the two hostile sites it cannot be:
// a TLS server no probe trusts, and an address whose connects hang.
type hostileSites struct {
	farm           string // http://127.0.0.1:PORT
	untrustedTLS   string // https://127.0.0.1:PORT
	hangingConnect string // 127.0.0.1:PORT
}

func startHostileSites(tb testing.TB) hostileSites {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	farm, tlsURL, err := startFarmAndTLS(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = farm.Close() })
	return hostileSites{farm: farm.URL(), untrustedTLS: tlsURL, hangingConnect: nettest.StalledAddr(tb)}
}

// startFarmAndTLS starts the target farm and a TLS site with a certificate
// no probe trusts, until ctx ends.
func startFarmAndTLS(ctx context.Context) (*targets.Server, string, error) {
	farm, err := targets.Start(ctx, "127.0.0.1:0", targets.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, "", err
	}
	tlsSite := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(targets.Welcome))
	}))
	tlsSite.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes fail on purpose
	tlsSite.StartTLS()
	context.AfterFunc(ctx, tlsSite.Close)
	return farm, tlsSite.URL, nil
}

// sitesProcessEnv makes the test binary serve the farm and the TLS site
// (serveHostileSites) instead of running tests.
const sitesProcessEnv = "PROBE_TEST_SITES_PROCESS"

// startHostileSitesProcess is startHostileSites with the farm and the TLS
// site in a process of their own, as remote sites are: the CPU they spend
// serving hostile replies (TLS handshakes, endless bodies, huge headers) is
// then not the probe's.
func startHostileSitesProcess(tb testing.TB) hostileSites {
	tb.Helper()
	cmd := exec.CommandContext(context.Background(), os.Args[0])
	cmd.Env = append(os.Environ(), sitesProcessEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = stdin.Close() // the process ends when its stdin does
		_ = cmd.Wait()
	})
	var farm, tlsURL string
	if _, err := fmt.Fscanln(stdout, &farm, &tlsURL); err != nil {
		tb.Fatalf("sites process: %v", err)
	}
	return hostileSites{farm: farm, untrustedTLS: tlsURL, hangingConnect: nettest.StalledAddr(tb)}
}

// serveHostileSites runs in the sites process: it prints the farm's and
// the TLS site's URLs and serves until stdin ends.
func serveHostileSites() int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	farm, tlsURL, err := startFarmAndTLS(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sites process:", err)
		return 1
	}
	defer farm.Close()
	fmt.Println(farm.URL(), tlsURL)
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// hostileKind is one way a target can misbehave and the error class a check
// of it must record.
type hostileKind struct {
	name  string
	class string
	regex string
	url   func(i int) string
}

func (s hostileSites) kinds() []hostileKind {
	farmHost := strings.TrimPrefix(s.farm, "http://")
	return []hostileKind{
		{name: "slow drip", class: record.ErrTimeout, url: func(i int) string { return fmt.Sprintf("%s/drip/%d?every=50ms", s.farm, i) }},
		{name: "endless body", class: record.ErrBodyTooLarge, url: func(i int) string { return fmt.Sprintf("%s/endless/%d", s.farm, i) }},
		{name: "huge headers", class: record.ErrRead, url: func(i int) string { return fmt.Sprintf("%s/huge-headers/%d", s.farm, i) }},
		{name: "slow headers", class: record.ErrTimeout, url: func(i int) string { return fmt.Sprintf("%s/slow-headers/%d?every=50ms", s.farm, i) }},
		{name: "redirect loop", class: record.ErrTooManyRedirects, url: func(i int) string { return fmt.Sprintf("%s/redirect-loop/%d", s.farm, i) }},
		{name: "untrusted certificate", class: record.ErrTLS, url: func(i int) string { return fmt.Sprintf("%s/%d", s.untrustedTLS, i) }},
		{name: "TLS to a plain server", class: record.ErrTLS, url: func(i int) string { return fmt.Sprintf("https://%s/site/%d", farmHost, i) }},
		{name: "hanging connect", class: record.ErrTimeout, url: func(i int) string { return fmt.Sprintf("http://%s/%d", s.hangingConnect, i) }},
		{name: "hanging response", class: record.ErrTimeout, url: func(i int) string { return fmt.Sprintf("%s/hang/%d", s.farm, i) }},
		{name: "catastrophic backtracking", class: record.ErrRegexTimeout, regex: targets.BacktrackRegex,
			url: func(i int) string { return fmt.Sprintf("%s/backtrack/%d", s.farm, i) }},
	}
}

// calmURL answers 200 with the welcome body after 10 ms, every time.
func (s hostileSites) calmURL(i int) string {
	return fmt.Sprintf("%s/site/%d?delay=10ms&status=200", s.farm, i)
}

func ep(id int64, url, regex string, interval, timeout time.Duration) endpoint.Endpoint {
	return endpoint.Endpoint{ID: id, URL: url, Method: "GET", Regex: regex, Interval: interval, Timeout: timeout, Location: "home", Enabled: true}
}

// TestProbeHostileTargets runs one shard holding every kind of hostile
// target beside calm ones, all due at once, against the target farm and the
// real database. Each hostile check records its error class, bounded by its
// timeout; every calm check succeeds; nothing stalls the shard: every check
// is done and written.
func TestProbeHostileTargets(t *testing.T) {
	sites := startHostileSites(t)
	u := pgtest.New(t)
	st := open(t, u)
	var logs syncBuffer
	p := newProbe(t, st, st, &logs, probe.Config{})
	const timeout = time.Second
	var (
		eps   []endpoint.Endpoint
		class = map[int64]string{}
		name  = map[int64]string{}
	)
	for i, k := range sites.kinds() {
		id := int64(100 + i)
		eps = append(eps, ep(id, k.url(i), k.regex, 5*time.Second, timeout))
		class[id], name[id] = k.class, k.name
	}
	for i := range 20 {
		id := int64(1 + i)
		eps = append(eps, ep(id, sites.calmURL(i), "welcome", 5*time.Second, timeout))
		class[id], name[id] = "", "calm"
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	span := plan.Span{Start: now.Add(-5 * time.Second), End: now} // each endpoint due once, all past
	shards := plan.Plan(eps, span, plan.DefaultOptions)
	if len(shards) != 1 || shards[0].Checks != len(eps) {
		t.Fatalf("plan: %d shards, want one of %d checks", len(shards), len(eps))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sum, err := p.Run(ctx, &shards[0], 0)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Done != len(eps) || sum.Written != len(eps) || sum.MissedDeadline != 0 || sum.Failed != len(sites.kinds()) {
		t.Fatalf("summary %+v: want %d checks done and written, %d failed", sum, len(eps), len(sites.kinds()))
	}

	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT endpoint_id, coalesce(error, ''), response_time_ms, status_code, regex_match FROM checks`)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for rows.Next() {
		var (
			id     int64
			got    string
			rt     float64
			status *int
			match  *bool
		)
		if err := rows.Scan(&id, &got, &rt, &status, &match); err != nil {
			t.Fatal(err)
		}
		seen++
		if got != class[id] {
			t.Errorf("%s (endpoint %d): error class %q, want %q", name[id], id, got, class[id])
		}
		// Bounded by the timeout: twice it leaves room for a loaded machine
		// and still catches a check that ignored its deadline.
		if rt > 2*float64(timeout.Milliseconds()) {
			t.Errorf("%s: response time %.0f ms, timeout %s", name[id], rt, timeout)
		}
		if class[id] == "" && (status == nil || *status != 200 || match == nil || !*match) {
			t.Errorf("calm endpoint %d: status %v, regex match %v", id, status, match)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if seen != len(eps) {
		t.Errorf("%d rows, want %d", seen, len(eps))
	}
}
