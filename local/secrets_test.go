package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/dev/targets"
	"github.com/watcher-dev/watcher/internal/store"
)

// lockedBuffer collects log lines from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// captureOutput points os.Stdout and os.Stderr at a pipe until the returned
// function is called, which restores them and returns what was written.
func captureOutput(t *testing.T) func() string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = w, w
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(&out, r)
		close(done)
	}()
	restored := false
	restore := func() string {
		if !restored {
			restored = true
			os.Stdout, os.Stderr = stdout, stderr
			w.Close()
			<-done
			r.Close()
		}
		return out.String()
	}
	t.Cleanup(func() { restore() })
	return restore
}

// TestFleetNeverRevealsPasswords imports endpoints whose basic-auth password
// comes from an environment variable, runs the local fleet over them for
// one span (every check sends the password, some to sites that fail in
// their own ways, one to a site that echoes the credentials back into a
// redirect), lists the endpoints and prints the report, all with every log
// at debug level and stdout and stderr captured. Neither the password nor
// its base64 forms appear in any of that text, nor in any column of any
// table of the database.
func TestFleetNeverRevealsPasswords(t *testing.T) {
	const (
		username = "monitor"
		// No quote, backslash, comma or parenthesis: a row's text form shows it as is.
		password = "Pw-8ZQx!kvT3:wörd+/="
		envVar   = "WATCHER_TEST_SITE_PASSWORD"
	)
	credential := base64.StdEncoding.EncodeToString([]byte(username + ":" + password))
	forbidden := []string{password, credential, base64.StdEncoding.EncodeToString([]byte(password)),
		url.QueryEscape(password), url.PathEscape(password)}
	ctx := context.Background()
	t.Setenv("WATCHER_LOCATIONS", "home")
	t.Setenv(envVar, password)
	u := pgtest.New(t)
	t.Setenv("DATABASE_URL", u)

	var logs lockedBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	farm, err := targets.Start(ctx, "127.0.0.1:0", targets.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer farm.Close()
	// A hostile site: it puts the credentials it was sent into a redirect
	// to a closed port, so that they would surface in any error that quoted
	// the URL.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	reflector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pw, _ := r.BasicAuth()
		w.Header().Set("X-Echo-Auth", r.Header.Get("Authorization"))
		http.Redirect(w, r, "http://"+url.UserPassword(user, pw).String()+"@"+closedAddr+"/"+url.PathEscape(pw), http.StatusFound)
	}))
	defer reflector.Close()

	auth := fmt.Sprintf("basic_auth: {username: %s, password_env: %s}", username, envVar)
	yaml := fmt.Sprintf(`endpoints:
  - {name: echo, url: '%[1]s/echo/auth', interval: 5s, regex: '"basic_auth_user":"monitor"', %[2]s}
  - {name: unauthorized, url: '%[1]s/site/1?status=401', interval: 10s, %[2]s}
  - {name: hang, url: '%[1]s/hang/1', interval: 30s, timeout: 1s, %[2]s}
  - {name: loop, url: '%[1]s/redirect-loop/1', interval: 30s, %[2]s}
  - {name: refused, url: 'http://%[3]s/', interval: 30s, %[2]s}
  - {name: reflector, url: '%[4]s/', interval: 10s, %[2]s}
`, farm.URL(), auth, closedAddr, reflector.URL)
	file := filepath.Join(t.TempDir(), "endpoints.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	output := captureOutput(t)
	for _, args := range [][]string{{"import", file, "--replace"}, {"list", "--json"}, {"list"}} {
		cmd := endpointsCmd()
		cmd.SetArgs(args)
		if err := cmd.ExecuteContext(ctx); err != nil {
			output()
			t.Fatalf("endpoints %v: %v", args, err)
		}
	}
	st, err := store.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	started := time.Now()
	f := newFleet(st, nil, log, true)
	sum, err := f.fanout.Run(ctx, time.Now().UTC().Truncate(time.Minute).Add(-time.Minute))
	if err != nil {
		output()
		t.Fatal(err)
	}
	f.wait()
	f.progress(ctx, st, started.Add(-2*time.Minute))
	if err := printReport(ctx, st, started.Add(-2*time.Minute)); err != nil {
		output()
		t.Fatal(err)
	}
	text := output() + logs.String()

	// The run did what it should, so the absence of secrets means something.
	_, totals := f.status()
	if sum.Checks == 0 || totals.Written != sum.Checks {
		t.Fatalf("fanout planned %d checks, probes wrote %d", sum.Checks, totals.Written)
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	errorsByName := map[string]string{}
	rows, err := conn.Query(ctx, `SELECT e.name, string_agg(DISTINCT coalesce(m.error, 'ok:' || m.status_code || ':' || coalesce(m.regex_match::text, '-')), ',')
		FROM checks m JOIN endpoints e ON e.id = m.endpoint_id GROUP BY e.name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name, errs string
		if err := rows.Scan(&name, &errs); err != nil {
			t.Fatal(err)
		}
		errorsByName[name] = errs
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"echo": "ok:200:true", "unauthorized": "ok:401:-", "hang": "timeout", "loop": "too_many_redirects",
		"refused": "connect", "reflector": "connect",
	} {
		if got := errorsByName[name]; got != want {
			t.Errorf("endpoint %s: outcome %q, want %q", name, got, want)
		}
	}

	for _, s := range forbidden {
		if i := strings.Index(text, s); i >= 0 {
			t.Errorf("secret %q in the output or logs: ...%s...", s, text[max(0, i-200):min(len(text), i+len(s)+50)])
		}
	}
	if !strings.Contains(text, envVar) || !strings.Contains(text, "fanout done") || !strings.Contains(text, "probe done") {
		t.Errorf("the captured output lacks the reference or the fanout's log; capture broken?\n%s", text)
	}

	// Every column of every table, each row as text.
	var tables []string
	trows, err := conn.Query(ctx, `SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public'`)
	if err != nil {
		t.Fatal(err)
	}
	for trows.Next() {
		var name string
		if err := trows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if err := trows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(tables) < 4 {
		t.Fatalf("tables %v", tables)
	}
	var refs int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM endpoints WHERE password_ref = $1`, "env:"+envVar).Scan(&refs); err != nil || refs != 6 {
		t.Errorf("endpoints keep the reference %d times (%v), want 6", refs, err)
	}
	for _, table := range tables {
		for _, s := range forbidden {
			var n int
			if err := conn.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s t WHERE strpos(t::text, $1) > 0`, table), s).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				t.Errorf("secret %q in %d rows of table %s", s, n, table)
			}
		}
	}
}
