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
		{"group too long", `{url: "http://a.example/", group: "` + strings.Repeat("é", 101) + `"}`, "group", "101 characters long, more than 100"},
		{"group with newline", `{url: "http://a.example/", group: "a\nb"}`, "group", "control characters"},
		{"group with tab", `{url: "http://a.example/", group: "a\tb"}`, "group", "control characters"},
		{"group list", `{url: "http://a.example/", group: [a]}`, "group", "want a string, got a list"},
		{"alerts string", `{url: "http://a.example/", alerts: yes}`, "alerts", `want a mapping (failures, failure_ratio, window, successes, certificate_days), true or false, got "yes"`},
		{"alerts list", `{url: "http://a.example/", alerts: [3]}`, "alerts", "got a list"},
		{"alerts unknown key", `{url: "http://a.example/", alerts: {failure: 3}}`, "alerts.failure", "unknown field"},
		{"alerts key twice", `{url: "http://a.example/", alerts: {failures: 3, failures: 4}}`, "alerts.failures", "given twice"},
		{"failures zero", `{url: "http://a.example/", alerts: {failures: 0}}`, "alerts.failures", "0 is outside 1..100"},
		{"failures too many", `{url: "http://a.example/", alerts: {failures: 101}}`, "alerts.failures", "101 is outside 1..100"},
		{"failures fraction", `{url: "http://a.example/", alerts: {failures: 2.5}}`, "alerts.failures", `want a whole number, got "2.5"`},
		{"failures quoted", `{url: "http://a.example/", alerts: {failures: "3"}}`, "alerts.failures", `want a whole number, got "3"`},
		{"successes zero", `{url: "http://a.example/", alerts: {successes: 0}}`, "alerts.successes", "0 is outside 1..100"},
		{"successes too many", `{url: "http://a.example/", alerts: {successes: 1000}}`, "alerts.successes", "1000 is outside 1..100"},
		{"successes list", `{url: "http://a.example/", alerts: {successes: [1]}}`, "alerts.successes", "want a whole number, got a list"},
		{"ratio above one", `{url: "http://a.example/", alerts: {failure_ratio: 1.5, window: 5m}}`, "alerts.failure_ratio", "1.5 is outside 0..1"},
		{"ratio negative", `{url: "http://a.example/", alerts: {failure_ratio: -0.1, window: 5m}}`, "alerts.failure_ratio", "-0.1 is outside 0..1"},
		{"ratio nan", `{url: "http://a.example/", alerts: {failure_ratio: .nan, window: 5m}}`, "alerts.failure_ratio", "outside 0..1"},
		{"ratio percent", `{url: "http://a.example/", alerts: {failure_ratio: 50%, window: 5m}}`, "alerts.failure_ratio", `want a number such as 0.5, got "50%"`},
		{"ratio without window", `{url: "http://a.example/", alerts: {failure_ratio: 0.5}}`, "alerts.failure_ratio", "needs a window"},
		{"window without ratio", `{url: "http://a.example/", alerts: {window: 5m}}`, "alerts.window", "used only with failure_ratio"},
		{"window too short", `{url: "http://a.example/", alerts: {failure_ratio: 0.5, window: 30s}}`, "alerts.window", "30s is outside 1m0s..24h0m0s"},
		{"window too long", `{url: "http://a.example/", alerts: {failure_ratio: 0.5, window: 25h}}`, "alerts.window", "25h0m0s is outside 1m0s..24h0m0s"},
		{"window fraction", `{url: "http://a.example/", alerts: {failure_ratio: 0.5, window: 90500ms}}`, "alerts.window", "not a whole number of seconds"},
		{"window garbage", `{url: "http://a.example/", alerts: {failure_ratio: 0.5, window: soon}}`, "alerts.window", "not a duration"},
		{"window below interval", `{url: "http://a.example/", interval: 300, alerts: {failure_ratio: 0.5, window: 2m}}`, "alerts.window", "2m0s is shorter than the interval 5m0s"},
		{"certificate days too many", `{url: "http://a.example/", alerts: {certificate_days: 366}}`, "alerts.certificate_days", "366 is outside 0..365"},
		{"certificate days negative", `{url: "http://a.example/", alerts: {certificate_days: -1}}`, "alerts.certificate_days", "-1 is outside 0..365"},
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
		{"defaults twice", "defaults: {}\ndefaults: {}\nendpoints: []", "defaults: given twice"},
		{"defaults not mapping", "defaults: [alerts]\nendpoints: []", "defaults: want a mapping, got a list"},
		{"defaults unknown key", "defaults: {alert: {failures: 3}}\nendpoints: []", "defaults: alert: unknown field"},
		{"defaults group", "defaults: {group: a}\nendpoints: []", "defaults: group: unknown field"},
		{"defaults failures", "defaults: {alerts: {failures: 0}}\nendpoints: []", "defaults: alerts.failures: 0 is outside 1..100"},
		{"defaults ratio without window", "defaults: {alerts: {failure_ratio: 0.5}}\nendpoints: []", "defaults: alerts.failure_ratio: needs a window"},
		{"defaults window", "defaults: {alerts: {failure_ratio: 0.5, window: 10s}}\nendpoints: []", "defaults: alerts.window: 10s is outside 1m0s..24h0m0s"},
		{"defaults window below interval", "defaults: {alerts: {failure_ratio: 0.5, window: 2m}}\nendpoints: [{name: slow, url: 'http://a.example/', interval: 300}]",
			"endpoints[0] (slow): alerts.window: 2m0s (from defaults) is shorter than the interval 5m0s"},
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

func TestParseGroupAndAlerts(t *testing.T) {
	const file = `
defaults:
  alerts: {failures: 5, failure_ratio: 0.5, window: 10m, certificate_days: 14}
endpoints:
  - {name: inherits, url: 'http://a.example/', group: " Shop "}
  - name: overrides
    url: http://b.example/
    group: "Shop  — EU"
    alerts: {successes: 4, window: 900, failures: 1}
  - {name: silenced, url: 'http://c.example/', alerts: false}
  - {name: consecutive, url: 'http://d.example/', alerts: {failure_ratio: 0, certificate_days: 0}}
  - {name: null alerts, url: 'http://e.example/', alerts: ~}
  - {name: on, url: 'http://f.example/', alerts: true}
`
	eps, err := Parse([]byte(file), fleet)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		group  string
		alerts *endpoint.AlertRules
	}{
		"inherits":    {"Shop", &endpoint.AlertRules{Failures: 5, FailureRatio: 0.5, Window: 10 * time.Minute, Successes: 2, CertificateDays: 14}},
		"overrides":   {"Shop  — EU", &endpoint.AlertRules{Failures: 1, FailureRatio: 0.5, Window: 15 * time.Minute, Successes: 4, CertificateDays: 14}},
		"silenced":    {"", nil},
		"consecutive": {"", &endpoint.AlertRules{Failures: 5, Successes: 2}},
		"null alerts": {"", &endpoint.AlertRules{Failures: 5, FailureRatio: 0.5, Window: 10 * time.Minute, Successes: 2, CertificateDays: 14}},
		"on":          {"", &endpoint.AlertRules{Failures: 5, FailureRatio: 0.5, Window: 10 * time.Minute, Successes: 2, CertificateDays: 14}},
	}
	if len(eps) != len(want) {
		t.Fatalf("%d endpoints, want %d", len(eps), len(want))
	}
	for _, e := range eps {
		w := want[e.Name]
		if e.Group != w.group || !reflect.DeepEqual(e.Alerts, w.alerts) {
			t.Errorf("%s: group %q, alerts %+v; want %q, %+v", e.Name, e.Group, e.Alerts, w.group, w.alerts)
		}
	}
	// Neither travels in shard payloads.
	b, err := json.Marshal(eps[1])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "Shop") || strings.Contains(string(b), "alert") || strings.Contains(string(b), "failures") {
		t.Errorf("shard payload form carries group or alerts: %s", b)
	}
}

func TestParseAlertsWithoutDefaults(t *testing.T) {
	tests := []struct {
		name, file string
		want       *endpoint.AlertRules
	}{
		{"none anywhere", "endpoints: [{url: 'http://a.example/'}]", nil},
		{"empty defaults", "defaults: {}\nendpoints: [{url: 'http://a.example/'}]", nil},
		{"null defaults", "defaults:\nendpoints: [{url: 'http://a.example/'}]", nil},
		{"defaults alerts false", "defaults: {alerts: false}\nendpoints: [{url: 'http://a.example/'}]", nil},
		{"empty mapping", "endpoints: [{url: 'http://a.example/', alerts: {}}]",
			&endpoint.AlertRules{Failures: endpoint.DefaultAlertFailures, Successes: endpoint.DefaultAlertSuccesses}},
		{"true", "endpoints: [{url: 'http://a.example/', alerts: true}]",
			&endpoint.AlertRules{Failures: endpoint.DefaultAlertFailures, Successes: endpoint.DefaultAlertSuccesses}},
		{"defaults true", "defaults: {alerts: true}\nendpoints: [{url: 'http://a.example/'}]",
			&endpoint.AlertRules{Failures: endpoint.DefaultAlertFailures, Successes: endpoint.DefaultAlertSuccesses}},
		{"only certificates", "endpoints: [{url: 'https://a.example/', alerts: {certificate_days: 21}}]",
			&endpoint.AlertRules{Failures: endpoint.DefaultAlertFailures, Successes: endpoint.DefaultAlertSuccesses, CertificateDays: 21}},
		{"ratio", "endpoints: [{url: 'http://a.example/', interval: 30s, alerts: {failure_ratio: 1, window: 1h}}]",
			&endpoint.AlertRules{Failures: endpoint.DefaultAlertFailures, FailureRatio: 1, Window: time.Hour, Successes: endpoint.DefaultAlertSuccesses}},
		{"window of the interval", "endpoints: [{url: 'http://a.example/', interval: 120, alerts: {failure_ratio: 0.3, window: 2m}}]",
			&endpoint.AlertRules{Failures: endpoint.DefaultAlertFailures, FailureRatio: 0.3, Window: 2 * time.Minute, Successes: endpoint.DefaultAlertSuccesses}},
		{"ratio from defaults, window own", "defaults: {alerts: {failure_ratio: 0.2, window: 1m}}\nendpoints: [{url: 'http://a.example/', interval: 300, alerts: {window: 1h}}]",
			&endpoint.AlertRules{Failures: endpoint.DefaultAlertFailures, FailureRatio: 0.2, Window: time.Hour, Successes: endpoint.DefaultAlertSuccesses}},
		{"window from defaults, ratio own", "defaults: {alerts: {window: 30m}}\nendpoints: [{url: 'http://a.example/', alerts: {failure_ratio: 0.4}}]",
			&endpoint.AlertRules{Failures: endpoint.DefaultAlertFailures, FailureRatio: 0.4, Window: 30 * time.Minute, Successes: endpoint.DefaultAlertSuccesses}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eps, err := Parse([]byte(tt.file), fleet)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(eps[0].Alerts, tt.want) {
				t.Errorf("alerts %+v, want %+v", eps[0].Alerts, tt.want)
			}
		})
	}
}

// TestParseAlertsOnePass: problems in the defaults and in entries' alerts
// come in one report, in the file's one format.
func TestParseAlertsOnePass(t *testing.T) {
	file := `
defaults:
  alerts: {failures: 0, window: 2m, failure_ratio: 0.5}
endpoints:
  - {name: shop, url: 'http://a.example/', interval: 300, alerts: {successes: 200}}
  - {url: 'http://b.example/', group: "a\nb", alerts: {failure_ratio: 2, windw: 5m}}
`
	_, err := Parse([]byte(file), fleet)
	want := `invalid endpoints file: 6 problem(s)
  defaults: alerts.failures: 0 is outside 1..100
  endpoints[0] (shop): alerts.successes: 200 is outside 1..100
  endpoints[0] (shop): alerts.window: 2m0s (from defaults) is shorter than the interval 5m0s
  endpoints[1] (http://b.example/): group: must not contain control characters (line breaks, tabs, ...)
  endpoints[1] (http://b.example/): alerts.windw: unknown field
  endpoints[1] (http://b.example/): alerts.failure_ratio: 2 is outside 0..1 (a share of the checks in the window; 0 turns it off)`
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
}

// TestParseAlertsNoCascade: an invalid ratio or window is reported once,
// not again as a ratio without a window or a window without a ratio.
func TestParseAlertsNoCascade(t *testing.T) {
	tests := []struct{ name, file, want string }{
		{"bad ratio", "endpoints: [{url: 'http://a.example/', alerts: {failure_ratio: 2, window: 5m}}]", "alerts.failure_ratio"},
		{"bad window", "endpoints: [{url: 'http://a.example/', alerts: {failure_ratio: 0.5, window: 5s}}]", "alerts.window"},
		{"bad window in defaults", "defaults: {alerts: {window: x}}\nendpoints: [{url: 'http://a.example/', alerts: {failure_ratio: 0.5}}]", "alerts.window"},
		{"bad ratio in defaults", "defaults: {alerts: {failure_ratio: x, window: 5m}}\nendpoints: [{url: 'http://a.example/'}]", "alerts.failure_ratio"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.file), fleet)
			var inv *InvalidError
			if !errors.As(err, &inv) || len(inv.Problems) != 1 || inv.Problems[0].Field != tt.want {
				t.Errorf("err = %v, want one problem in %s", err, tt.want)
			}
		})
	}
}

func TestKey(t *testing.T) {
	a := endpoint.Endpoint{URL: "http://a/", Method: "GET", Location: "home", Interval: time.Minute, Headers: map[string]string{"X": "1", "Y": "2"}}
	b := a
	b.Interval, b.Timeout, b.Enabled = 5*time.Second, time.Second, true
	b.Group, b.Alerts = "Shop", &endpoint.AlertRules{Failures: 1, Successes: 1}
	if a.Key() != b.Key() {
		t.Error("interval, timeout, enabled, group and alerts must not change the key")
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
	f.Add([]byte("defaults: {alerts: {failures: 5, failure_ratio: 0.5, window: 10m}}\nendpoints:\n  - {url: 'http://a/', group: g, alerts: {successes: 4, window: 1h, certificate_days: 7}}\n  - {url: 'http://b/', alerts: false}\n"))
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
			if r := ep.Alerts; r != nil && (r.Failures < 1 || r.Failures > 100 || r.Successes < 1 || r.Successes > 100 ||
				r.CertificateDays < 0 || r.CertificateDays > 365 || !(r.FailureRatio >= 0 && r.FailureRatio <= 1) ||
				(r.FailureRatio == 0) != (r.Window == 0) ||
				r.FailureRatio > 0 && (r.Window < ep.Interval || r.Window > endpoint.MaxAlertWindow || r.Window%time.Second != 0)) {
				t.Fatalf("accepted out-of-range alert rules %+v of %+v", *r, ep)
			}
			if len(ep.Group) > 0 && checkGroup(ep.Group) != "" {
				t.Fatalf("accepted group %q", ep.Group)
			}
		}
	})
}
