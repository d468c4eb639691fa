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

// ensureDatabase returns DATABASE_URL when set; otherwise it starts (or
// reuses) the throwaway cluster in dir, and leaves it running so that the
// next run starts at once.
func ensureDatabase(ctx context.Context, dir string) (string, error) {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u, nil
	}
	c, err := localpg.Start(ctx, dir, localpg.Options{})
	if err != nil {
		return "", fmt.Errorf("local PostgreSQL: %w", err)
	}
	if err := c.CreateDatabase(ctx, localDatabase); err != nil {
		return "", fmt.Errorf("local PostgreSQL: %w", err)
	}
	u := c.URL(localDatabase)
	fmt.Printf("local PostgreSQL in %s: DATABASE_URL=%s\n", dir, u)
	return u, nil
}

func dbCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{Use: "db", Short: "Start or stop the local throwaway PostgreSQL cluster"}
	up := &cobra.Command{
		Use:   "up",
		Short: "Start (or reuse) the local cluster and print its DATABASE_URL",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := localpg.Start(cmd.Context(), dir, localpg.Options{})
			if err != nil {
				return err
			}
			if err := c.CreateDatabase(cmd.Context(), localDatabase); err != nil {
				return err
			}
			fmt.Printf("export DATABASE_URL='%s'\n", c.URL(localDatabase))
			return nil
		},
	}
	down := &cobra.Command{
		Use:   "down",
		Short: "Stop the local cluster (its data stays in the directory)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := localpg.Start(cmd.Context(), dir, localpg.Options{})
			if err != nil {
				return err
			}
			return c.Stop(cmd.Context())
		},
	}
	cmd.PersistentFlags().StringVar(&dir, "data", ".watcher/pg", "directory of the local cluster")
	cmd.AddCommand(up, down)
	return cmd
}
