package targets

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/endpointfile"
	"github.com/watcher-dev/watcher/internal/regex"
)

func TestEndpointFiles(t *testing.T) {
	const base = "http://127.0.0.1:8080/"
	cases := []struct {
		name  string
		file  []byte
		n     int
		check func(t *testing.T, eps []endpoint.Endpoint)
	}{
		{name: "demo", file: DemoEndpoints(base, 400, 1), n: 400, check: checkDemo},
		{name: "demo, small n still has every kind", file: DemoEndpoints(base, 7, 3), n: 7, check: checkDemo},
		{name: "demo, empty", file: DemoEndpoints(base, 0, 1), n: 0},
		{name: "reference", file: ReferenceEndpoints(base, 2000, 2), n: 2000,
			check: func(t *testing.T, eps []endpoint.Endpoint) {
				lo, hi := spread(eps)
				if lo < 5*time.Second || hi > 30*time.Second || lo > 6*time.Second || hi < 29*time.Second {
					t.Errorf("intervals span %s..%s, want 5s..30s", lo, hi)
				}
				for _, ep := range eps {
					if ep.Regex != ".*welcome" || ep.Method != http.MethodGet || !strings.HasPrefix(ep.URL, "http://127.0.0.1:8080/site/") {
						t.Fatalf("endpoint %+v", ep)
					}
				}
			}},
		{name: "fixed", file: FixedEndpoints(base, 1000), n: 1000,
			check: func(t *testing.T, eps []endpoint.Endpoint) {
				for _, ep := range eps {
					r, err := Options{}.Expect(ep.URL)
					if err != nil || r != FixedReply() || ep.Interval != 5*time.Second || ep.Regex != "welcome" {
						t.Fatalf("endpoint %+v expects %+v, %v", ep, r, err)
					}
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eps, err := endpointfile.Parse(tc.file, []string{"home"})
			if err != nil {
				t.Fatalf("parse: %v\n%s", err, head(tc.file))
			}
			if len(eps) != tc.n {
				t.Fatalf("%d endpoints, want %d", len(eps), tc.n)
			}
			urls := map[string]bool{}
			for _, ep := range eps {
				if ep.Location != "home" || !ep.Enabled {
					t.Errorf("%s: location %q, enabled %v", ep.Name, ep.Location, ep.Enabled)
				}
				if urls[ep.URL] {
					t.Errorf("URL %s appears twice", ep.URL)
				}
				urls[ep.URL] = true
			}
			if tc.check != nil {
				tc.check(t, eps)
			}
		})
	}
}

func checkDemo(t *testing.T, eps []endpoint.Endpoint) {
	t.Helper()
	seen := map[string]int{}
	for _, ep := range eps {
		if ep.Interval < endpoint.MinInterval || ep.Interval > endpoint.MaxInterval {
			t.Errorf("%s: interval %s", ep.Name, ep.Interval)
		}
		switch {
		case ep.Method == http.MethodPost:
			if ep.Body == "" || ep.Headers["Content-Type"] != "application/json" || !strings.Contains(ep.URL, "/echo/") {
				t.Errorf("%s: POST without body, headers or echo: %+v", ep.Name, ep)
			}
			seen["post"]++
		case ep.Method == http.MethodHead:
			seen["head"]++
		case ep.Regex == "(?i)WELCOME":
			seen["fold"]++
		case strings.Contains(ep.URL, "?"):
			seen["fixed"]++
		case ep.Regex != "":
			re, err := regex.Compile(ep.Regex, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			seen[ep.Regex+" "+re.Engine()]++
		default:
			seen["none"]++
		}
	}
	for _, kind := range []string{"post", "head", "fold", "fixed", "welcome re2", "(?<=always )welcome regexp2"} {
		if seen[kind] == 0 {
			t.Errorf("no %s endpoint among %d: %v", kind, len(eps), seen)
		}
	}
	if len(eps) >= 400 {
		if lo, hi := spread(eps); lo > 15*time.Second || hi < 285*time.Second {
			t.Errorf("intervals span only %s..%s, want 5s..300s", lo, hi)
		}
	}
}

func spread(eps []endpoint.Endpoint) (lo, hi time.Duration) {
	lo = time.Hour
	for _, ep := range eps {
		lo, hi = min(lo, ep.Interval), max(hi, ep.Interval)
	}
	return lo, hi
}

func head(b []byte) []byte { return b[:min(len(b), 600)] }

func TestEndpointFilesAreDeterministic(t *testing.T) {
	const base = "http://127.0.0.1:1"
	cases := []struct {
		name       string
		a, b       []byte
		wantEquals bool
	}{
		{"demo same seed", DemoEndpoints(base, 100, 5), DemoEndpoints(base, 100, 5), true},
		{"demo other seed", DemoEndpoints(base, 100, 5), DemoEndpoints(base, 100, 6), false},
		{"reference same seed", ReferenceEndpoints(base, 100, 5), ReferenceEndpoints(base, 100, 5), true},
		{"reference other seed", ReferenceEndpoints(base, 100, 5), ReferenceEndpoints(base, 100, 6), false},
		{"fixed", FixedEndpoints(base, 100), FixedEndpoints(base, 100), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := bytes.Equal(tc.a, tc.b); got != tc.wantEquals {
				t.Errorf("equal = %v, want %v", got, tc.wantEquals)
			}
		})
	}
}

// TestDemoAgainstFarm sends every demo endpoint's request to a real farm and
// checks its regex matches exactly where the farm's reply says it should.
func TestDemoAgainstFarm(t *testing.T) {
	farm := startFarm(t, fast)
	eps, err := endpointfile.Parse(DemoEndpoints(farm.URL(), 120, 9), []string{"home"})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	for _, ep := range eps {
		req, err := http.NewRequestWithContext(t.Context(), ep.Method, ep.URL, strings.NewReader(ep.Body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range ep.Headers {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if ep.Regex == "" {
			continue
		}
		re, err := regex.Compile(ep.Regex, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got, err := re.Match(body)
		if err != nil {
			t.Fatal(err)
		}
		want := resp.StatusCode == http.StatusOK // every 200 of the demo carries what its regex looks for
		if got != want {
			t.Errorf("%s %s: status %d, regex %q matched %v; body %.80q", ep.Method, ep.URL, resp.StatusCode, ep.Regex, got, body)
		}
	}
}
