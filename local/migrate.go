package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/watcher-dev/watcher/internal/migrator"
	"github.com/watcher-dev/watcher/internal/store"
	"github.com/watcher-dev/watcher/migrations"
)

func migrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply the embedded SQL migrations to DATABASE_URL, create partitions ahead and the application roles",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u, err := databaseURL(cmd.Context())
			if err != nil {
				return err
			}
			res, err := store.MigrateReport(cmd.Context(), u)
			if err != nil {
				return err
			}
			fmt.Printf("migrations applied (schema version %d); storage: %s\n", res.Version, storageName(res.Storage))
			// The same least-privilege roles as in AWS, where the user may
			// create them: tests and people can then connect as the probe.
			ensured, err := migrator.EnsureRolesAt(cmd.Context(), u, migrator.Options{})
			switch {
			case err != nil:
				return err
			case ensured:
				fmt.Printf("roles %s and %s ensured\n", migrations.RoleFanout, migrations.RoleProbe)
			default:
				fmt.Printf("roles %s and %s not ensured: this database user may not create roles\n", migrations.RoleFanout, migrations.RoleProbe)
			}
			return nil
		},
	}
}

// storageName says what a storage path means to a person.
func storageName(path string) string {
	if path == store.StorageTimescaleDB {
		return "TimescaleDB (hypertable, compression, continuous aggregates)"
	}
	return "native PostgreSQL partitions (TimescaleDB absent or not preloaded)"
}
