package endpointfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/endpoint"
)

var fleet = []string{"home", "eu-west-1"}

func TestParseIssueExample(t *testing.T) {
	const file = `
endpoints:
  - url: https://example.com/health
    interval: 30s
    regex: "(?i)welcome"
    method: POST
    headers: {Content-Type: application/json}
    body: '{"ping":1}'
    basic_auth: {username: monitor, password_env: EXAMPLE_PASSWORD}
    timeout: 5s
    location: home
  - url: http://example.com/
    interval: 300
`
	eps, err := Parse([]byte(file), fleet)
	if err != nil {
		t.Fatal(err)
	}
	want := []endpoint.Endpoint{
		{
			URL: "https://example.com/health", Method: "POST",
			Headers: map[string]string{"Content-Type": "application/json"}, Body: `{"ping":1}`,
			BasicAuth: &endpoint.BasicAuth{Username: "monitor", PasswordEnv: "EXAMPLE_PASSWORD"},
			Regex:     "(?i)welcome", Interval: 30 * time.Second, Timeout: 5 * time.Second,
			Location: "home", Enabled: true,
		},
		{
			URL: "http://example.com/", Method: "GET", Interval: 300 * time.Second,
			Timeout: endpoint.DefaultTimeout, Location: "home", Enabled: true,
		},
	}
	if !reflect.DeepEqual(eps, want) {
		t.Errorf("got  %+v\nwant %+v", eps, want)
	}
	// The JSON form (shard payloads) round-trips, durations included.
	b, err := json.Marshal(eps[0])
	if err != nil {
		t.Fatal(err)
	}
	var back endpoint.Endpoint
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, eps[0]) {
		t.Errorf("JSON round trip: got %+v", back)
	}
	if !strings.Contains(string(b), `"interval_ms":30000`) || strings.Contains(string(b), "password\":") {
		t.Errorf("JSON form %s", b)
	}
}

func TestParseDefaultsTimeoutToInterval(t *testing.T) {
	eps, err := Parse([]byte("endpoints:\n  - {url: 'http://a.example/', interval: 5s}\n"), fleet)
	if err != nil {
		t.Fatal(err)
	}
	if eps[0].Timeout != 5*time.Second {
		t.Errorf("timeout %s, want the 5s interval (default 10s is above it)", eps[0].Timeout)
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name  string
		entry string
		field string
		msg   string
	}{
		{"bad url", `{url: "http://exa mple.com/%zz"}`, "url", "invalid"},
		{"no url", `{interval: 30}`, "url", "required"},
		{"ftp scheme", `{url: "ftp://example.com/"}`, "url", `scheme "ftp"`},
		{"no host", `{url: "http:///path"}`, "url", "no host"},
		{"credentials in url", `{url: "http://u:p@example.com/"}`, "url", "credentials"},
		{"interval too short", `{url: "http://a.example/", interval: 4s}`, "interval", "outside"},
		{"interval too long", `{url: "http://a.example/", interval: 301}`, "interval", "outside"},
		{"interval fraction", `{url: "http://a.example/", interval: 5500ms}`, "interval", "whole number"},
		{"interval garbage", `{url: "http://a.example/", interval: soon}`, "interval", "not a duration"},
		{"timeout above interval", `{url: "http://a.example/", interval: 10s, timeout: 11s}`, "timeout", "above the interval"},
		{"timeout zero", `{url: "http://a.example/", timeout: 0s}`, "timeout", "positive"},
		{"unknown location", `{url: "http://a.example/", location: mars}`, "location", `"mars" is not a configured location`},
		{"bad regex", `{url: "http://a.example/", regex: "(unclosed"}`, "regex", "no engine accepts"},
		{"bad method", `{url: "http://a.example/", method: FETCH}`, "method", "not one of"},
		{"unknown field", `{url: "http://a.example/", intervall: 30}`, "intervall", "unknown field"},
		{"basic auth without password", `{url: "http://a.example/", basic_auth: {username: u}}`, "basic_auth", "exactly one"},
		{"basic auth inline password", `{url: "http://a.example/", basic_auth: {username: u, password: x}}`, "basic_auth.password", "unknown field"},
		{"header with newline", `{url: "http://a.example/", headers: {X-A: "a\nb"}}`, "headers.X-A", "line break"},
		{"host header", `{url: "http://a.example/", headers: {host: b}}`, "headers.host", "Host"},
		{"password env lower case", `{url: "http://a.example/", basic_auth: {username: u, password_env: "lower case!"}}`, "basic_auth.password_env", "not an environment variable name"},
		{"password env digit first", `{url: "http://a.example/", basic_auth: {username: u, password_env: 1PASS}}`, "basic_auth.password_env", "not an environment variable name"},
		{"username with colon", `{url: "http://a.example/", basic_auth: {username: "a:b", password_env: P}}`, "basic_auth.username", "colon"},
		{"interval list", `{url: "http://a.example/", interval: [30]}`, "interval", "got a list"},
		{"headers list", `{url: "http://a.example/", headers: [a]}`, "headers", "got a list"},
		{"header value mapping", `{url: "http://a.example/", headers: {X-A: {b: c}}}`, "headers.X-A", "got a mapping"},
		{"body unquoted json", `{url: "http://a.example/", body: {"ping": 1}}`, "body", "want a string, got a mapping"},
		{"enabled not bool", `{url: "http://a.example/", enabled: maybe}`, "enabled", `want true or false, got "maybe"`},
		{"url list", `{url: [a]}`, "url", "want a string, got a list"},
		{"basic auth username list", `{url: "http://a.example/", basic_auth: {username: [u], password_env: P}}`, "basic_auth.username", "got a list"},
		{"basic auth not mapping", `{url: "http://a.example/", basic_auth: u}`, "basic_auth", "want a mapping"},
		{"field twice", `{url: "http://a.example/", interval: 30, interval: 40}`, "interval", "given twice"},
		{"same endpoint twice", `{url: 'http://ok.example/'}`, "", "same endpoint as endpoints[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := "endpoints:\n  - {url: 'http://ok.example/'}\n  - " + tt.entry + "\n"
			eps, err := Parse([]byte(file), fleet)
			if eps != nil {
				t.Errorf("got endpoints %v with an invalid file", eps)
			}
			var inv *InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("err = %v, want *InvalidError", err)
			}
			for _, p := range inv.Problems {
				if p.Index == 1 && p.Field == tt.field && strings.Contains(p.Message, tt.msg) {
					return
				}
			}
			t.Errorf("problems %v lack endpoints[1].%s containing %q", inv.Problems, tt.field, tt.msg)
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	file := `
endpoints:
  - {url: "ftp://a/", interval: 1}
  - {url: "http://ok.example/"}
  - {url: "http://b.example/", location: nowhere, regex: "(?<=a+)b("}
`
	_, err := Parse([]byte(file), fleet)
	var inv *InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("err = %v", err)
	}
	got := map[string]bool{}
	for _, p := range inv.Problems {
		got[fmt.Sprintf("%d.%s", p.Index, p.Field)] = true
	}
	for _, want := range []string{"0.url", "0.interval", "2.location", "2.regex"} {
		if !got[want] {
			t.Errorf("missing problem %s in:\n%v", want, err)
		}
	}
	if got["1.url"] {
		t.Errorf("valid entry reported: %v", err)
	}
}

// TestParseOnePass: a file with a duplicate, a type error and a bad
// interval reports all three in one format, each once, with the field.
func TestParseOnePass(t *testing.T) {
	file := `
endpoints:
  - {name: a, url: 'http://a.example/'}
  - {name: a, url: 'http://b.example/', interval: abc}
  - {url: 'http://c.example/', headers: [x], enabled: 3}
  - {url: 'http://c.example/', enabled: false}
  - {url: 'http://d.example/', basic_auth: {username: u, password_env: "lower case!"}}
`
	_, err := Parse([]byte(file), fleet)
	want := `invalid endpoints file: 6 problem(s)
  endpoints[1] (a): interval: "abc" is not a duration such as 30s or a number of seconds
  endpoints[1] (a): name: "a" already names endpoints[0]
  endpoints[2] (http://c.example/): enabled: want true or false, got "3" (line 5)
  endpoints[2] (http://c.example/): headers: want a mapping of names to values, got a list (line 5)
  endpoints[3] (http://c.example/): same endpoint as endpoints[2] (url, method, headers, body, regex, basic_auth username and location all equal); give one a name
  endpoints[4] (http://d.example/): basic_auth.password_env: "lower case!" is not an environment variable name (capital letters, digits and _, not starting with a digit)`
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
}

// TestParseCapsTheMessage: thousands of bad entries list MaxListed problems
// and say how many more; the error still holds them all.
func TestParseCapsTheMessage(t *testing.T) {
	var b strings.Builder
	b.WriteString("endpoints:\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "  - {url: 'ftp://%d.example/'}\n", i)
	}
	_, err := Parse([]byte(b.String()), fleet)
	var inv *InvalidError
	if !errors.As(err, &inv) || len(inv.Problems) != 1000 {
		t.Fatalf("err = %T with %d problems", err, len(inv.Problems))
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != MaxListed+2 || lines[len(lines)-1] != "  ... and 980 more" {
		t.Errorf("%d lines, last %q", len(lines), lines[len(lines)-1])
	}
}

func TestParseFileShape(t *testing.T) {
	tests := []struct{ name, file, msg string }{
		{"empty", "", "empty"},
		{"not yaml", "endpoints: [", "file"},
		{"list at top", "- url: http://a/", "top level"},
		{"unknown top key", "endpoint: []", "unknown top-level key"},
		{"endpoints not list", "endpoints: {url: x}", "must be a list"},
		{"endpoints twice", "endpoints: []\nendpoints: []", "given twice"},
		{"duplicate name", "endpoints:\n  - {name: a, url: 'http://a.example/'}\n  - {name: a, url: 'http://b.example/'}", "already names endpoints[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.file), fleet)
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %v, want it to mention %q", err, tt.msg)
			}
		})
	}
}

func TestKey(t *testing.T) {
	a := endpoint.Endpoint{URL: "http://a/", Method: "GET", Location: "home", Interval: time.Minute, Headers: map[string]string{"X": "1", "Y": "2"}}
	b := a
	b.Interval, b.Timeout, b.Enabled = 5*time.Second, time.Second, true
	if a.Key() != b.Key() {
		t.Error("interval, timeout and enabled must not change the key")
	}
	for name, mod := range map[string]func(*endpoint.Endpoint){
		"regex":    func(e *endpoint.Endpoint) { e.Regex = "x" },
		"method":   func(e *endpoint.Endpoint) { e.Method = "POST" },
		"location": func(e *endpoint.Endpoint) { e.Location = "eu" },
		"header":   func(e *endpoint.Endpoint) { e.Headers = map[string]string{"X": "1", "Y": "3"} },
		"body":     func(e *endpoint.Endpoint) { e.Body = "b" },
	} {
		c := a
		mod(&c)
		if c.Key() == a.Key() {
			t.Errorf("changing %s kept the key", name)
		}
	}
	named := a
	named.Name = "health"
	if named.Key() != "name:health" {
		t.Errorf("named key %q", named.Key())
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("endpoints:\n  - {url: 'http://a.example/', interval: 30s, regex: 'a(?=b)'}\n"))
	f.Add([]byte("endpoints: [{url: 'https://x/', basic_auth: {username: u, password_env: P}, headers: {A: b}}]"))
	f.Add([]byte("endpoints:\n  - url: http://a/\n    interval: 5\n    timeout: 5s\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		eps, err := Parse(data, fleet)
		if err != nil {
			var inv *InvalidError
			if !errors.As(err, &inv) || len(inv.Problems) == 0 || eps != nil {
				t.Fatalf("error %v of type %T with %d endpoints", err, err, len(eps))
			}
			return
		}
		for _, ep := range eps {
			if ep.Interval < endpoint.MinInterval || ep.Interval > endpoint.MaxInterval || ep.Timeout <= 0 || ep.Timeout > ep.Interval {
				t.Fatalf("accepted out-of-range endpoint %+v", ep)
			}
		}
	})
}
