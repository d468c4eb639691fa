package main

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/store"
)

func TestCollapseSpans(t *testing.T) {
	m := func(i int) time.Time { return time.Date(2026, 11, 27, 12, i, 10, 0, time.UTC) }
	ok := func(i int) store.SpanCount {
		return store.SpanCount{Start: m(i), Status: record.SpanDispatched, Shards: 2, Planned: 10, Stored: 10}
	}
	missed := func(i int) store.SpanCount { return store.SpanCount{Start: m(i), Status: record.SpanMissed} }
	short := func(i int) store.SpanCount {
		return store.SpanCount{Start: m(i), Status: record.SpanDispatched, Shards: 2, Planned: 10, Stored: 7}
	}
	var spans []store.SpanCount
	spans = append(spans, ok(0))
	for i := 1; i <= 46; i++ {
		spans = append(spans, missed(i))
	}
	spans = append(spans, short(47), short(48), ok(49), short(50), missed(51), missed(53))

	got := collapseSpans(spans)
	want := []spanRange{
		{First: m(1), Last: m(46), Status: record.SpanMissed, Spans: 46},
		{First: m(47), Last: m(48), Status: record.SpanDispatched, Spans: 2, Shards: 4, Planned: 20, Stored: 14},
		{First: m(50), Last: m(50), Status: record.SpanDispatched, Spans: 1, Shards: 2, Planned: 10, Stored: 7}, // 49 is as planned
		{First: m(51), Last: m(51), Status: record.SpanMissed, Spans: 1},                                        // not dispatched after a dispatched one
		{First: m(53), Last: m(53), Status: record.SpanMissed, Spans: 1},                                        // 52 is not in the ledger
	}
	if !slices.Equal(got, want) {
		t.Errorf("collapseSpans:\n got %+v\nwant %+v", got, want)
	}
	if got := collapseSpans(nil); len(got) != 0 {
		t.Errorf("collapseSpans(nil) = %v", got)
	}

	var out bytes.Buffer
	if err := writeSpans(&out, m(0), spans); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	first := m(1).Local().Format(time.DateTime) + " - " + m(46).Local().Format(time.TimeOnly)
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, first) {
			if f := strings.Fields(strings.TrimPrefix(line, first)); !slices.Equal(f, []string{"missed", "46", "0", "0", "0", "0"}) {
				t.Errorf("missed range line %q", line)
			}
		}
	}
	if !strings.Contains(text, first) || strings.Count(text, "missed") != 3 {
		t.Errorf("want one line for the 46 missed spans and one for each lone one:\n%s", text)
	}
	if !strings.Contains(text, "53 spans: 50 checks planned, 41 stored") {
		t.Errorf("totals missing:\n%s", text)
	}
}

func TestReportFilter(t *testing.T) {
	eps := []store.EndpointReport{
		{EndpointID: 1, Name: "api-eu", URL: "https://api.example.eu/", Location: "home", Counts: store.Counts{Checks: 10, Up: 10}},
		{EndpointID: 1, Name: "api-eu", URL: "https://api.example.eu/", Location: "vpc", Counts: store.Counts{Checks: 10, Up: 9}},
		{EndpointID: 2, Name: "shop", URL: "https://shop.example.com/", Location: "home", Counts: store.Counts{Checks: 5, Up: 0}},
		{EndpointID: 3, URL: "https://unnamed.example.com/", Location: "home", Counts: store.Counts{Checks: 4, Up: 4}},
		{EndpointID: 4, Name: "silent", URL: "https://silent.example.com/", Location: "home"},
	}
	tests := []struct {
		name   string
		filter reportFilter
		want   []string // name/location of the endpoints kept
	}{
		{"no filter", reportFilter{}, []string{"api-eu/home", "api-eu/vpc", "shop/home", "https://unnamed.example.com//home", "silent/home"}},
		{"failing: one failed check is enough, no checks is not failing", reportFilter{failing: true}, []string{"api-eu/vpc", "shop/home"}},
		{"substring", reportFilter{name: "api"}, []string{"api-eu/home", "api-eu/vpc"}},
		{"substring is case sensitive", reportFilter{name: "API"}, nil},
		{"glob matches the whole name", reportFilter{name: "*-eu"}, []string{"api-eu/home", "api-eu/vpc"}},
		{"glob that matches only part matches nothing", reportFilter{name: "api*x"}, nil},
		{"an unnamed endpoint goes by its URL", reportFilter{name: "unnamed"}, []string{"https://unnamed.example.com//home"}},
		{"glob with a character class", reportFilter{name: "s[hi]*"}, []string{"shop/home", "silent/home"}},
		{"location", reportFilter{location: "vpc"}, []string{"api-eu/vpc"}},
		{"all three", reportFilter{failing: true, name: "*", location: "home"}, []string{"shop/home"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, r := range tt.filter.apply(eps) {
				got = append(got, displayName(r)+"/"+r.Location)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("kept %q, want %q", got, tt.want)
			}
		})
	}
	if len(eps) != 5 || eps[4].Name != "silent" {
		t.Error("apply changed its argument")
	}
}

func TestReportTable(t *testing.T) {
	rep := store.Report{Level: store.LevelMinute, From: time.Now().Add(-time.Hour), Endpoints: []store.EndpointReport{
		{Name: "broken", Location: "home", Counts: store.Counts{Checks: 20, Up: 2, Errors: 3, ErrTimeout: 2, ErrOther: 1,
			Status2xx: 4, Status5xx: 13, RegexFailures: 2, SumMS: 200},
			P50: 8 * time.Millisecond, P95: 30 * time.Millisecond, P99: 40 * time.Millisecond, Max: 45 * time.Millisecond},
		{Name: "silent", Location: "home"},
	}}
	var out bytes.Buffer
	if err := writeEndpoints(&out, rep); err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			rows[f[0]] = f
		}
	}
	header := strings.Join(rows["NAME"], " ")
	if header != "NAME LOCATION CHECKS UP % MEAN ms P50 ms P95 ms P99 ms MAX ms REGEX FAIL FAILURES" {
		t.Errorf("header %q", header)
	}
	if got, want := strings.Join(rows["broken"], " "), "broken home 20 10.0 10.0 8.0 30.0 40.0 45.0 2 5xx 13, timeout 2, other 1"; got != want {
		t.Errorf("row %q\nwant %q", got, want)
	}
	if got, want := strings.Join(rows["silent"], " "), "silent home 0 - - - - - - - -"; got != want {
		t.Errorf("an endpoint without checks: %q, want %q", got, want)
	}
}

// TestReportCommand runs `watcher report` over a database holding a
// failing, a healthy and a silent endpoint and a gap in the ledger, with
// --json and the filters, as a user would.
func TestReportCommand(t *testing.T) {
	ctx := context.Background()
	u := pgtest.New(t)
	t.Setenv("DATABASE_URL", u)
	st, err := store.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var eps []endpoint.Endpoint
	for _, name := range []string{"api-500", "api-ok", "silent"} {
		eps = append(eps, endpoint.Endpoint{Name: name, URL: "https://" + name + ".example/", Method: "GET",
			Interval: time.Minute, Timeout: 5 * time.Second, Location: "home", Enabled: true})
	}
	if _, err := st.ImportEndpoints(ctx, eps, false); err != nil {
		t.Fatal(err)
	}
	eps, err = st.Endpoints(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	at := now.Truncate(time.Minute).Add(-10 * time.Minute)
	var checks []record.Check
	for i, status := range []int{500, 500, 200, 200} {
		checks = append(checks, record.Check{EndpointID: eps[i/2].ID, Location: "home", PlannedAt: at.Add(time.Duration(i) * time.Second),
			Result: record.Result{StartedAt: at, ResponseTime: time.Duration(10*(i+1)) * time.Millisecond, StatusCode: &status}})
	}
	if _, err := st.WriteChecks(ctx, checks); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ClaimSpan(ctx, at, 1, 4); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if err := st.RecordMissed(ctx, at.Add(time.Duration(i)*time.Minute), "no event"); err != nil {
			t.Fatal(err)
		}
	}

	run := func(args ...string) (string, error) {
		output := captureOutput(t)
		cmd := reportCmd()
		cmd.SetArgs(args)
		err := cmd.ExecuteContext(ctx)
		return output(), err
	}
	out, err := run("--json")
	if err != nil {
		t.Fatalf("report --json: %v\n%s", err, out)
	}
	var rep reportJSON
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report --json is not one object: %v\n%s", err, out)
	}
	if rep.Level != store.LevelMinute || rep.Through == nil || len(rep.Endpoints) != 3 {
		t.Fatalf("report --json: %+v", rep)
	}
	bad, silent := rep.Endpoints[0], rep.Endpoints[2]
	if bad.Name != "api-500" || bad.Checks != 2 || bad.Failed != 2 || bad.Status["5xx"] != 2 || bad.UpPercent == nil ||
		*bad.UpPercent != 0 || bad.ResponseMS == nil || bad.ResponseMS.Max != 20 || len(bad.Errors) != 7 {
		t.Errorf("the failing endpoint: %+v", bad)
	}
	if silent.Checks != 0 || silent.UpPercent != nil || silent.ResponseMS != nil {
		t.Errorf("the silent endpoint: %+v, want null figures", silent)
	}
	if want := []spanRangeJSON{{First: at.Add(time.Minute), Last: at.Add(3 * time.Minute), Status: record.SpanMissed, Spans: 3}}; !slices.Equal(rep.Spans.Ranges, want) {
		t.Errorf("spans that differ: %+v, want %+v", rep.Spans.Ranges, want)
	}
	if rep.Spans.Count != 4 || rep.Spans.Planned != 4 || rep.Spans.Stored != 4 {
		t.Errorf("spans: %+v", rep.Spans)
	}

	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"--json", "--failing"}, []string{"api-500"}},
		{[]string{"--json", "--name", "api-*"}, []string{"api-500", "api-ok"}},
		{[]string{"--json", "--name", "ok", "--location", "home"}, []string{"api-ok"}},
		{[]string{"--json", "--location", "mars"}, nil},
	} {
		out, err := run(tt.args...)
		rep := reportJSON{}
		if err == nil {
			err = json.Unmarshal([]byte(out), &rep)
		}
		var got []string
		for _, e := range rep.Endpoints {
			got = append(got, e.Name)
		}
		if err != nil || !slices.Equal(got, tt.want) || rep.Endpoints == nil {
			t.Errorf("report %v: %q, %v; want %q", tt.args, got, err, tt.want)
		}
	}

	out, err = run("--since", "1h")
	if err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	if !strings.Contains(out, "api-500") || strings.Count(out, record.SpanMissed) != 1 {
		t.Errorf("report text: want the endpoints by name and one line for the three missed spans:\n%s", out)
	}
	for _, args := range [][]string{{"--since", "-5m"}, {"--name", "[a-"}} {
		if out, err := run(args...); err == nil {
			t.Errorf("report %v accepted:\n%s", args, out)
		}
	}
}
