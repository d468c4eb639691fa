package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/watcher-dev/watcher/internal/store"
)

// databaseURL is DATABASE_URL, which every command that needs the database reads.
func databaseURL() (string, error) {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u, nil
	}
	return "", fmt.Errorf("DATABASE_URL is not set: export it, or run `watcher db up` for a local PostgreSQL")
}

func openStore(ctx context.Context) (*store.Store, error) {
	u, err := databaseURL()
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return st, nil
}

// locations are the probe fleets endpoints may name: WATCHER_LOCATIONS, a
// comma-separated list, "home" by default.
func locations() []string {
	v := os.Getenv("WATCHER_LOCATIONS")
	if v == "" {
		return []string{"home"}
	}
	var out []string
	for _, l := range strings.Split(v, ",") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}
