package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/watcher-dev/watcher/internal/dev/localpg"
)

// localDatabase is the database name in the local cluster.
const localDatabase = "watcher"

// defaultDataDir is the directory of the local cluster unless --data says
// otherwise.
const defaultDataDir = ".watcher/pg"

// ensureDatabase returns DATABASE_URL when set; otherwise it starts (or
// reuses) the throwaway cluster in dir, and leaves it running so that the
// next run starts at once: local says which.
func ensureDatabase(ctx context.Context, dir string) (u string, local bool, err error) {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u, false, nil
	}
	if u, err = startLocal(ctx, dir); err != nil {
		return "", true, fmt.Errorf("local PostgreSQL: %w", err)
	}
	fmt.Printf("local PostgreSQL in %s: DATABASE_URL=%s\n", dir, u)
	return u, true, nil
}

// startLocal starts (or reuses) the local cluster in dir, keeping its port
// across restarts, tells the person what they should know about it, and
// returns the URL of its database (created if need be).
func startLocal(ctx context.Context, dir string) (string, error) {
	c, err := localpg.Start(ctx, dir, localpg.Options{})
	if err != nil {
		return "", err
	}
	for _, n := range c.Notes() {
		fmt.Fprintln(os.Stderr, "watcher:", n)
	}
	if err := c.CreateDatabase(ctx, localDatabase); err != nil {
		return "", err
	}
	return c.URL(localDatabase), nil
}

func dbCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{Use: "db", Short: "Start or stop the local throwaway PostgreSQL cluster"}
	up := &cobra.Command{
		Use:   "up",
		Short: "Start (or reuse) the local cluster, on the port it had before, and print its DATABASE_URL",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := startLocal(cmd.Context(), dir)
			if err != nil {
				return err
			}
			fmt.Printf("export DATABASE_URL='%s'\n", u)
			return nil
		},
	}
	down := &cobra.Command{
		Use:   "down",
		Short: "Stop the local cluster (its data and port stay in the directory)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stopped, err := localpg.StopRunning(cmd.Context(), dir)
			if err == nil && !stopped {
				fmt.Fprintf(os.Stderr, "no PostgreSQL running in %s\n", dir)
			}
			return err
		},
	}
	cmd.PersistentFlags().StringVar(&dir, "data", defaultDataDir, "directory of the local cluster")
	checkFlag(cmd.PersistentFlags(), "data", func() string {
		if dir == "" {
			return "must not be empty"
		}
		return ""
	})
	cmd.AddCommand(up, down)
	return cmd
}
