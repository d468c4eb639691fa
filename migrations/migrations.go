// Package migrations holds the SQL migrations of Watcher's database, applied
// in order by goose (see internal/store.Migrate). Files are embedded so that
// every binary, including a Lambda migrator, carries its own schema.
package migrations

import "embed"

// FS holds the migration files, named NNNNN_what.sql.
//
//go:embed *.sql
var FS embed.FS
