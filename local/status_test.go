package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/store"
)

// TestStatusCommand runs `watcher status` as a person would: a page of the
// database's endpoints into a new directory, its exit codes for a missing
// --out and for a directory that cannot be made.
func TestStatusCommand(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	eps := []endpoint.Endpoint{
		{Name: "shop", URL: "https://shop.example/", Group: "Storefront"},
		{Name: "blog", URL: "https://blog.example/"},
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
	at := time.Now().Add(-time.Minute)
	ok, failed := 200, 500
	if _, err := st.WriteChecks(ctx, []record.Check{
		{EndpointID: stored[0].ID, Location: "home", PlannedAt: at, Result: record.Result{StartedAt: at, ResponseTime: time.Millisecond, StatusCode: &ok}},
		{EndpointID: stored[1].ID, Location: "home", PlannedAt: at, Result: record.Result{StartedAt: at, ResponseTime: time.Millisecond, StatusCode: &failed}},
	}); err != nil {
		t.Fatal(err)
	}

	env := []string{"DATABASE_URL=" + dbURL}
	dir := filepath.Join(t.TempDir(), "page")
	res := runWatcher(t, time.Minute, "", env, nil, "status", "--out", dir, "--title", "Example status")
	if res.Code != 0 || !strings.Contains(res.Stdout, filepath.Join(dir, "index.html")) {
		t.Fatalf("watcher status: exit %d\nstdout: %s\nstderr: %s", res.Code, res.Stdout, res.Stderr)
	}
	page, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<title>Example status</title>", "Storefront", "shop", "blog", "1 of 2 down", "100.00%", "0.00%"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	for _, ep := range stored {
		if _, err := os.Stat(filepath.Join(dir, "endpoint-"+strconv.FormatInt(ep.ID, 10)+".svg")); err != nil {
			t.Errorf("endpoint %d's SVG: %v", ep.ID, err)
		}
	}

	if res := runWatcher(t, time.Minute, "", env, nil, "status"); res.Code != exitUsage || !strings.Contains(res.Stderr, "--out") {
		t.Errorf("watcher status without --out: exit %d, stderr %q; want %d naming --out", res.Code, res.Stderr, exitUsage)
	}
	file := filepath.Join(dir, "index.html", "sub")
	if res := runWatcher(t, time.Minute, "", env, nil, "status", "--out", file); res.Code != exitError || !strings.Contains(res.Stderr, "status page directory") {
		t.Errorf("watcher status --out under a file: exit %d, stderr %q; want %d", res.Code, res.Stderr, exitError)
	}
}
