package status_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/status"
	"github.com/watcher-dev/watcher/internal/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var now = time.Date(2026, 11, 30, 12, 30, 0, 0, time.UTC)

// endpointAt is an enabled endpoint checked every minute whose every day
// and hour has checks checks, up of them up, 100 ms mean, 150 ms p95; its
// latest check a minute ago, up.
func endpointAt(id int64, name string, checks, up int64) store.EndpointStatus {
	e := store.EndpointStatus{ID: id, Name: name, URL: "https://" + name + ".example/", Location: "home",
		Interval: time.Minute, Days: make([]store.StatusBucket, store.StatusDays), Hours: make([]store.StatusBucket, store.StatusHours)}
	first := now.Truncate(store.Day).Add(-(store.StatusDays - 1) * store.Day)
	for i := range e.Days {
		e.Days[i] = store.StatusBucket{Start: first.Add(time.Duration(i) * store.Day), Checks: checks, Up: up}
	}
	for i := range e.Hours {
		e.Hours[i] = store.StatusBucket{Start: now.Truncate(time.Hour).Add(time.Duration(i-store.StatusHours+1) * time.Hour),
			Checks: checks, Up: up, Mean: 100 * time.Millisecond, P95: 150 * time.Millisecond}
	}
	last := now.Add(-time.Minute)
	e.LastCheck, e.LastUp = &last, true
	return e
}

func TestStateOf(t *testing.T) {
	t.Parallel()
	ago := func(d time.Duration) *time.Time { at := now.Add(-d); return &at }
	tests := []struct {
		name string
		edit func(e *store.EndpointStatus)
		want status.State
	}{
		{"latest check up", func(e *store.EndpointStatus) {}, status.StateUp},
		{"latest check failed, no alert rules", func(e *store.EndpointStatus) { e.LastUp = false }, status.StateDown},
		{"latest check failed, alert rules, no open alert", func(e *store.EndpointStatus) { e.LastUp, e.Alerts = false, true }, status.StateUp},
		{"open down alert", func(e *store.EndpointStatus) { e.Alerts, e.DownSince = true, ago(time.Hour) }, status.StateDown},
		{"open down alert, latest check up", func(e *store.EndpointStatus) { e.DownSince = ago(time.Hour) }, status.StateDown},
		{"no recent check", func(e *store.EndpointStatus) { e.LastCheck = nil }, status.StateUnknown},
		{"latest check older than three intervals", func(e *store.EndpointStatus) {
			e.Interval, e.LastCheck = 5*time.Minute, ago(16*time.Minute)
		}, status.StateUnknown},
		{"latest check within three intervals", func(e *store.EndpointStatus) {
			e.Interval, e.LastCheck = 5*time.Minute, ago(14*time.Minute)
		}, status.StateUp},
		{"short interval: five minutes of grace", func(e *store.EndpointStatus) {
			e.Interval, e.LastCheck = 5*time.Second, ago(4*time.Minute)
		}, status.StateUp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := endpointAt(1, "api", 10, 10)
			tt.edit(&e)
			if got := status.StateOf(e, now); got != tt.want {
				t.Errorf("StateOf = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestSummary(t *testing.T) {
	t.Parallel()
	up, down, unknown := status.StateUp, status.StateDown, status.StateUnknown
	tests := []struct {
		states []status.State
		want   string
	}{
		{nil, "No endpoints"},
		{[]status.State{up, up}, "All systems operational"},
		{[]status.State{up, down, down, up}, "2 of 4 down"},
		{[]status.State{up, unknown}, "1 of 2 without recent checks"},
		{[]status.State{down, unknown, up}, "1 of 3 down, 1 of 3 without recent checks"},
	}
	for _, tt := range tests {
		if got := status.Summary(tt.states); got != tt.want {
			t.Errorf("Summary(%v) = %q, want %q", tt.states, got, tt.want)
		}
	}
}

func TestDisplayName(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, url, want string }{
		{"shop", "https://shop.example/?token=x", "shop"},
		{"", "https://user:secret@api.example/v1/health?key=abc#frag", "https://api.example/v1/health"},
		{"", "http://plain.example/", "http://plain.example/"},
	}
	for _, tt := range tests {
		if got := status.DisplayName(store.EndpointStatus{Name: tt.name, URL: tt.url}); got != tt.want {
			t.Errorf("DisplayName(%q, %q) = %q, want %q", tt.name, tt.url, got, tt.want)
		}
	}
}

// text is the text content of an HTML document, whitespace collapsed.
func text(t *testing.T, doc []byte) string {
	t.Helper()
	root, err := html.Parse(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && (n.Data == "style" || n.Data == "head") {
			return
		}
		if n.Type == html.TextNode {
			b.WriteString(n.Data + " ")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)
	return strings.Join(strings.Fields(b.String()), " ")
}

// wellFormed fails the test unless doc is well-formed XML.
func wellFormed(t *testing.T, name string, doc []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("%s is not well-formed XML: %v\n%s", name, err, doc)
		}
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	hostile := endpointAt(4, `<script>alert("x")</script>`, 10, 10)
	hostile.Group = `Shop & "Co"`
	down := endpointAt(2, "checkout", 1000, 990)
	down.Group = `Shop & "Co"`
	opened := time.Date(2026, 11, 30, 12, 10, 0, 0, time.UTC)
	down.Alerts, down.DownSince = true, &opened
	silent := endpointAt(3, "", 0, 0)
	silent.URL, silent.LastCheck = "https://silent.example/health?key=secret", nil
	api := endpointAt(1, "api", 4, 4)
	api.Group = "API"
	// api: one bad day 40 days ago, one bad hour.
	api.Days[store.StatusDays-40].Up = 1
	api.Hours[0].Up = 3
	st := store.Status{Now: now, Endpoints: []store.EndpointStatus{api, down, silent, hostile}}

	files, err := status.Render(st, status.Options{Title: "Example status"})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, f := range files {
		names = append(names, f.Name)
	}
	if want := "index.html endpoint-1.svg endpoint-2.svg endpoint-3.svg endpoint-4.svg"; strings.Join(names, " ") != want {
		t.Fatalf("files %v, want %s", names, want)
	}
	page := files[0].Body
	if bytes.Contains(page, []byte("<script")) || bytes.Contains(page, []byte("secret")) {
		t.Errorf("the page holds a script element or a URL's secret:\n%s", page)
	}
	got := text(t, page)
	// api: 24 h: 95 of 96 up = 98.95 (98.958 rounded down); 7 d and 30 d
	// all up; 90 d: 357 of 360 = 99.16 (99.166 rounded down).
	for _, want := range []string{
		"Example status", "1 of 4 down, 1 of 4 without recent checks", "Updated 2026-11-30 12:30 UTC",
		"API api Up Uptime 24 h 98.95% Uptime 7 d 100.00% Uptime 30 d 100.00% Uptime 90 d 99.16%",
		`Shop & "Co" <script>alert("x")</script> Up`,
		`</script> Up Uptime 24 h 100.00% Uptime 7 d 100.00% Uptime 30 d 100.00% Uptime 90 d 100.00% checkout Down since 2026-11-30 12:10 UTC Uptime 24 h 99.00%`,
		"Other https://silent.example/health No data Uptime 24 h — Uptime 7 d — Uptime 30 d — Uptime 90 d —",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("page text lacks %q:\n%s", want, got)
		}
	}
	if i, j := strings.Index(got, "API"), strings.Index(got, "Shop &"); i < 0 || j < i || strings.Index(got, "Other") < j {
		t.Errorf("groups not in order API, Shop, then Other:\n%s", got)
	}
	if !bytes.Contains(page, []byte(`src="endpoint-1.svg"`)) || !bytes.Contains(page, []byte(`alt="api: uptime per day over 90 days (99.16%) and response time per hour over 24 hours (mean 100 ms)"`)) {
		t.Errorf("page lacks api's image with its description:\n%s", page)
	}
	for _, f := range files[1:] {
		if f.ContentType != "image/svg+xml" {
			t.Errorf("%s: content type %q", f.Name, f.ContentType)
		}
		wellFormed(t, f.Name, f.Body)
		if n := bytes.Count(f.Body, []byte("<rect ")); n != store.StatusDays {
			t.Errorf("%s: %d bars, want %d", f.Name, n, store.StatusDays)
		}
	}
	svg := string(files[1].Body)
	bad := api.Days[store.StatusDays-40].Start.Format("2006-01-02") + ": 25.00% up (1 of 4 checks)"
	for _, want := range []string{bad, `fill="#dc2626"`, `<path d="M10.0 `, "mean 100 ms, p95 150 ms (4 checks)"} {
		if !strings.Contains(svg, want) {
			t.Errorf("api's SVG lacks %q:\n%s", want, svg)
		}
	}
	if svg := string(files[3].Body); !strings.Contains(svg, "no checks") || strings.Contains(svg, "<path") {
		t.Errorf("the silent endpoint's SVG should have grey bars and no line:\n%s", svg)
	}
	if svg := string(files[4].Body); strings.Contains(svg, "<script") {
		t.Errorf("a name made it into the SVG unescaped:\n%s", svg)
	}

	// No group at all: no heading either.
	files, err = status.Render(store.Status{Now: now, Endpoints: []store.EndpointStatus{endpointAt(1, "api", 1, 1)}}, status.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := text(t, files[0].Body); strings.Contains(got, "Other") || !strings.HasPrefix(got, "Status All systems operational") {
		t.Errorf("a page without groups: %s", got)
	}
}
