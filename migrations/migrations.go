// Package migrations holds the SQL migrations of Watcher's database, applied
// in order by goose (see internal/store.Migrate). Files are embedded so that
// every binary, including a Lambda migrator, carries its own schema.
package migrations

import "embed"

// FS holds the migration files, named NNNNN_what.sql.
//
//go:embed *.sql
var FS embed.FS

// The application roles, created and granted their privileges by
// internal/migrator. The CDK app grants IAM rds-db:connect as these users and
// puts them in the functions' DATABASE_URL, so the names are shared from
// here: this package is outside internal/ and imports only the standard
// library, so the CDK app does not link the migrator (nor pgx) to know them.
const (
	// RoleFanout reads endpoints, claims spans and records invocations.
	RoleFanout = "watcher_fanout"
	// RoleProbe inserts metrics and invocations and nothing more. The drain
	// writes what probes write, so it logs in as this role too.
	RoleProbe = "watcher_probe"
)
