package main

import (
	"context"
	"log/slog"
	"testing"

	"github.com/watcher-dev/watcher/internal/dev/targets"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/endpointfile"
	"github.com/watcher-dev/watcher/internal/store"
)

// farmFleet opens the database at u, starts the target farm and imports the
// endpoints that gen writes against it (targets.DemoEndpoints and the like),
// replacing the configured set. It returns the store and the endpoints as
// stored, with their ids.
func farmFleet(t *testing.T, u string, gen func(base string) []byte) (*store.Store, []endpoint.Endpoint) {
	t.Helper()
	ctx := context.Background()
	t.Setenv("WATCHER_LOCATIONS", "home")
	st, err := store.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	farm, err := targets.Start(ctx, "127.0.0.1:0", targets.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = farm.Close() })
	parsed, err := endpointfile.Parse(gen(farm.URL()), locations())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.ImportEndpoints(ctx, parsed, true); err != nil {
		t.Fatal(err)
	}
	eps, err := st.Endpoints(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	return st, eps
}
