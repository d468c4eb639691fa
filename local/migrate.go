package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/watcher-dev/watcher/internal/store"
)

func migrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply the embedded SQL migrations to DATABASE_URL and create partitions ahead",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := databaseURL()
			if err != nil {
				return err
			}
			if err := store.Migrate(cmd.Context(), u); err != nil {
				return err
			}
			fmt.Println("migrations applied")
			return nil
		},
	}
}
