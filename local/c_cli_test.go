package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/dev/pgtest"
)

// TestCLIImportValidatesInOnePass: a file with a duplicate, a type error, a
// cascading interval and a bad variable name is refused with every problem
// in one format, each once, with exit code 1 and no database needed.
func TestCLIImportValidatesInOnePass(t *testing.T) {
	t.Parallel()
	file := []byte(`endpoints:
  - {name: a, url: 'http://a.example/'}
  - {name: a, url: 'http://b.example/', interval: abc}
  - {url: 'http://c.example/', headers: [x]}
  - {url: 'http://d.example/', basic_auth: {username: u, password_env: "lower case!"}}
`)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), file, 0o644); err != nil {
		t.Fatal(err)
	}
	res := runWatcher(t, time.Minute, dir, nil, nil, "endpoints", "import", "--dry-run", "bad.yaml")
	want := `watcher: bad.yaml: invalid endpoints file: 4 problem(s)
  endpoints[1] (a): interval: "abc" is not a duration such as 30s or a number of seconds
  endpoints[1] (a): name: "a" already names endpoints[0]
  endpoints[2] (http://c.example/): headers: want a mapping of names to values, got a list (line 4)
  endpoints[3] (http://d.example/): basic_auth.password_env: "lower case!" is not an environment variable name (capital letters, digits and _, not starting with a digit)
`
	if res.Code != exitFailed || res.Stderr != want || res.Stdout != "" {
		t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 1 and:\n%s", res.Code, res.Stdout, res.Stderr, want)
	}
}

// TestCLIImportCapsProblems: thousands of bad entries print a bounded
// message that says how many more there are.
func TestCLIImportCapsProblems(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("endpoints:\n")
	for i := range 5000 {
		fmt.Fprintf(&b, "  - {url: 'ftp://%d.example/'}\n", i)
	}
	res := runWatcher(t, time.Minute, "", nil, []byte(b.String()), "endpoints", "import", "-")
	lines := strings.Split(strings.TrimSpace(res.Stderr), "\n")
	if res.Code != exitFailed || len(lines) != 22 || lines[len(lines)-1] != "  ... and 4980 more" ||
		!strings.Contains(lines[0], "5000 problem(s)") {
		t.Errorf("exit %d, %d lines, first %q, last %q", res.Code, len(lines), lines[0], lines[len(lines)-1])
	}
}

// TestCLIImportDryRunFromStdin: --dry-run reads the file from standard
// input and prints what would be imported, with no DATABASE_URL.
func TestCLIImportDryRunFromStdin(t *testing.T) {
	t.Parallel()
	file := []byte("endpoints:\n  - {name: health, url: 'http://a.example/', interval: 30}\n  - {url: 'http://b.example/', enabled: false}\n")
	res := runWatcher(t, time.Minute, "", nil, file, "endpoints", "import", "--dry-run", "-")
	if res.Code != 0 || !regexp.MustCompile(`(?m)^health +home +30s +10s +GET +true +http://a\.example/$`).MatchString(res.Stdout) ||
		!strings.Contains(res.Stdout, "valid: 2 endpoints (1 enabled); --dry-run, so nothing was imported") {
		t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s", res.Code, res.Stdout, res.Stderr)
	}
	// Without --dry-run the database is needed, and its absence is said.
	res = runWatcher(t, time.Minute, "", nil, file, "endpoints", "import", "-")
	if res.Code != exitUsage || !strings.Contains(res.Stderr, "DATABASE_URL is not set") {
		t.Errorf("import without a database: exit %d, stderr %q", res.Code, res.Stderr)
	}
}

// TestCLIImportFromStdinWrites: "-" imports standard input into the database.
func TestCLIImportFromStdinWrites(t *testing.T) {
	t.Parallel()
	env := []string{"DATABASE_URL=" + pgtest.New(t)}
	file := []byte("endpoints:\n  - {name: one, url: 'http://a.example/', group: Shop, alerts: {failures: 4, certificate_days: 14}}\n  - {name: two, url: 'http://b.example/'}\n")
	res := runWatcher(t, time.Minute, "", env, file, "endpoints", "import", "-")
	if res.Code != 0 || !strings.Contains(res.Stdout, "imported 2 endpoints: 2 new") {
		t.Fatalf("exit %d, stdout %q, stderr %q", res.Code, res.Stdout, res.Stderr)
	}
	// The group and the alert rules are listed, in the table and in JSON.
	res = runWatcher(t, time.Minute, "", env, nil, "endpoints", "list")
	if res.Code != 0 || !regexp.MustCompile(`(?m)^\d+ +Shop +home +1m0s +10s +GET +true +down=4,up=2,cert=14d +http://a\.example/$`).MatchString(res.Stdout) {
		t.Fatalf("list: exit %d, stdout:\n%s", res.Code, res.Stdout)
	}
	res = runWatcher(t, time.Minute, "", env, nil, "endpoints", "list", "--json")
	if res.Code != 0 || !strings.Contains(res.Stdout, `"alerts":{"failures":4,"successes":2,"certificate_days":14}`) ||
		!strings.Contains(res.Stdout, `"group":"Shop"`) || strings.Count(res.Stdout, `"alerts"`) != 1 {
		t.Fatalf("list --json: exit %d, stdout:\n%s", res.Code, res.Stdout)
	}

	// An empty list with --replace would disable both: refused, then forced.
	empty := []byte("endpoints: []\n")
	res = runWatcher(t, time.Minute, "", env, empty, "endpoints", "import", "--replace", "-")
	if res.Code != exitUsage || !strings.Contains(res.Stderr, "--replace would disable every endpoint; add --force") {
		t.Fatalf("empty --replace: exit %d, stderr %q", res.Code, res.Stderr)
	}
	res = runWatcher(t, time.Minute, "", env, nil, "endpoints", "list")
	if res.Code != 0 || !strings.Contains(res.Stdout, "http://a.example/") || !strings.Contains(res.Stdout, "http://b.example/") {
		t.Fatalf("after a refused replace: exit %d, list %q", res.Code, res.Stdout)
	}
	res = runWatcher(t, time.Minute, "", env, empty, "endpoints", "import", "--replace", "--force", "-")
	if res.Code != 0 || !strings.Contains(res.Stdout, "2 disabled") {
		t.Fatalf("forced empty --replace: exit %d, stdout %q, stderr %q", res.Code, res.Stdout, res.Stderr)
	}
}

func TestCLIVersion(t *testing.T) {
	t.Parallel()
	res := runWatcher(t, time.Minute, "", nil, nil, "--version")
	if res.Code != 0 || !strings.HasPrefix(res.Stdout, "watcher ") || !strings.Contains(res.Stdout, runtime.Version()) {
		t.Errorf("--version: exit %d, stdout %q", res.Code, res.Stdout)
	}
}

// TestCLIUsageErrors: bad flags, bad values and wrong arguments exit 2,
// naming the flag, before anything runs (no database is needed to refuse).
func TestCLIUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		msg  string
	}{
		{[]string{"cost", "--fleet-size", "-5"}, `"--fleet-size" flag: must not be negative`},
		{[]string{"cost", "--since", "-5m"}, `"--since" flag: must not be negative`},
		{[]string{"cost", "--top", "0"}, `"--top" flag: must be positive`},
		{[]string{"cost", "--cpu-ms-per-check", "0"}, `"--cpu-ms-per-check" flag: must be positive`},
		{[]string{"cost", "--memory", "512,-1"}, `"--memory" flag: -1: must be positive`},
		{[]string{"cost", "--shard-sizes", "0"}, `"--shard-sizes" flag: 0: must be positive`},
		{[]string{"targets", "--demo-yaml", "-3"}, `"--demo-yaml" flag: must not be negative`},
		{[]string{"maintain", "--raw-retention", "-1d"}, `"--raw-retention" flag`},
		{[]string{"maintain", "--raw-retention", "12h"}, "below one day"},
		{[]string{"db", "up", "--data", ""}, `"--data" flag: must not be empty`},
		{[]string{"cost", "--no-such-flag"}, "unknown flag"},
		{[]string{"endpoints", "import"}, "accepts 1 arg(s)"},
		{[]string{"endpoints", "bogus"}, `unknown command "bogus"`},
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"migrate", "extra"}, "unknown command"},
	}
	for _, tt := range tests {
		res := runWatcher(t, time.Minute, "", nil, nil, tt.args...)
		if res.Code != exitUsage || !strings.Contains(res.Stderr, tt.msg) {
			t.Errorf("watcher %q: exit %d, stderr %q; want exit %d and %q", tt.args, res.Code, res.Stderr, exitUsage, tt.msg)
		}
	}
}
