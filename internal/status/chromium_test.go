package status_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/status"
	"github.com/watcher-dev/watcher/internal/store"
)

// chromium returns the path of a Chromium binary, or skips the test
// (fails it with WATCHER_REQUIRE_CHROMIUM=1) when there is none.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	msg := "no chromium on PATH: install Debian's chromium package (apt-get install chromium) to render the status page"
	if os.Getenv("WATCHER_REQUIRE_CHROMIUM") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// check is a check of endpoint id planned at at: up, or failed with a 503.
func check(id int64, at time.Time, up bool) record.Check {
	code := 200
	if !up {
		code = 503
	}
	return record.Check{EndpointID: id, Location: "home", PlannedAt: at, Result: record.Result{
		StartedAt: at, ResponseTime: 80 * time.Millisecond, StatusCode: &code}}
}

// TestPageInChromium renders the page of a real database in headless
// Chromium and reads it as a person would: the names, the groups, the up
// and down states, the uptime figures, and every endpoint's SVG drawn.
//
// The recent checks all fall in the last ten minutes, inside every window,
// so each endpoint's figures are known whatever the time of day: api 9 of
// 10 up (90.00 %, up: its latest check passed); shop 8 of 8 up, plus a
// failed check 40 days ago that only the 90-day figure sees (8 of 9:
// 88.88 %); payments 2 of 4, its two latest failed, and an open down alert
// (down, since then).
func TestPageInChromium(t *testing.T) {
	t.Parallel()
	browser := chromium(t)
	ctx := testContext(t)
	url := pgtest.New(t)
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	eps := []endpoint.Endpoint{
		{Name: "api", URL: "https://api.example/"},
		{Name: "shop", URL: "https://shop.example/", Group: "Storefront"},
		{Name: "payments", URL: "https://pay.example/", Group: "Storefront",
			Alerts: &endpoint.AlertRules{Failures: 2, Successes: 2}},
	}
	for i := range eps {
		eps[i].Method, eps[i].Interval, eps[i].Timeout, eps[i].Location, eps[i].Enabled = "GET", time.Minute, 10*time.Second, "home", true
	}
	if _, err := st.ImportEndpoints(ctx, eps, false); err != nil {
		t.Fatal(err)
	}
	stored, err := st.Endpoints(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	api, shop, payments := stored[0].ID, stored[1].ID, stored[2].ID

	now := time.Now().UTC()
	var checks []record.Check
	for i := range 10 {
		checks = append(checks, check(api, now.Add(-time.Duration(10-i)*time.Minute), i != 3))
	}
	for i := range 8 {
		checks = append(checks, check(shop, now.Add(-time.Duration(8-i)*time.Minute), true))
	}
	checks = append(checks, check(shop, now.Add(-40*store.Day), false))
	for i := range 4 {
		checks = append(checks, check(payments, now.Add(-time.Duration(4-i)*time.Minute), i < 2))
	}
	if _, err := st.WriteChecks(ctx, checks); err != nil {
		t.Fatal(err)
	}
	opened := now.Add(-2 * time.Minute)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// The alert the engine (internal/alert) would have opened after the
	// second failed check.
	if _, err := conn.Exec(ctx, `INSERT INTO alerts (endpoint_id, location, kind, opened_at, cause, detail)
		VALUES ($1, 'home', 'down', $2, '[]', '2 failed checks')`, payments, opened); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	sink, err := status.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := status.Publish(ctx, st, sink, now, status.Options{Title: "Example Corp status"}); err != nil {
		t.Fatal(err)
	}

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		// Nothing but the page's own files: no update checks, no reports.
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true))...)
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	err = chromedp.Do(browserCtx,
		chromedp.Navigate("file://"+filepath.Join(dir, status.IndexFile)),
		chromedp.WaitReady("body"))
	if err != nil {
		t.Fatalf("load the page in %s: %v", browser, err)
	}
	text, err := chromedp.Run(browserCtx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	// Each image's naturalWidth once loaded (0: not drawn), and its alt.
	images, err := chromedp.Run(browserCtx, chromedp.Evaluate[[]float64](`Array.from(document.images, i => i.complete ? i.naturalWidth : 0)`))
	if err != nil {
		t.Fatal(err)
	}
	alts, err := chromedp.Run(browserCtx, chromedp.Evaluate[[]string](`Array.from(document.images, i => i.alt)`))
	if err != nil {
		t.Fatal(err)
	}
	seen := strings.Join(strings.Fields(text), " ")
	t.Logf("what a person sees:\n%s", text)
	opens := opened.Truncate(time.Microsecond).Format("2006-01-02 15:04 UTC")
	for _, want := range []string{
		"Example Corp status", "1 of 3 down",
		"Storefront payments Down since " + opens + " Uptime 24 h 50.00% Uptime 7 d 50.00% Uptime 30 d 50.00% Uptime 90 d 50.00%",
		"shop Up Uptime 24 h 100.00% Uptime 7 d 100.00% Uptime 30 d 100.00% Uptime 90 d 88.88%",
		"Other api Up Uptime 24 h 90.00% Uptime 7 d 90.00% Uptime 30 d 90.00% Uptime 90 d 90.00%",
	} {
		if !strings.Contains(seen, want) {
			t.Errorf("the page does not show %q", want)
		}
	}
	if len(images) != 3 {
		t.Fatalf("%d images, want one per endpoint (3)", len(images))
	}
	for i, w := range images {
		if w <= 0 {
			t.Errorf("image %d (%q) did not load: naturalWidth %v", i, alts[i], w)
		}
	}
	if !strings.HasPrefix(alts[0], "payments: uptime per day over 90 days (50.00%)") {
		t.Errorf("first image's alt text %q", alts[0])
	}
}
