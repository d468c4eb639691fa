package migrator

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// EnsureRolesAt makes the application roles exist on the database at dbURL
// with exactly their privileges, as the migrate function does in AWS, when
// the user of dbURL may create roles (a superuser, or CREATEROLE as the RDS
// master user has). Otherwise it changes nothing and returns false, so that
// a database the user may only migrate still can be; the caller says so.
func EnsureRolesAt(ctx context.Context, dbURL string, opt Options) (ensured bool, err error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return false, fmt.Errorf("connect to ensure application roles: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var may bool
	if err := conn.QueryRow(ctx, "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user").Scan(&may); err != nil {
		return false, fmt.Errorf("read the privileges of the database user: %w", err)
	}
	if !may {
		return false, nil
	}
	if err := EnsureRoles(ctx, conn, opt); err != nil {
		return false, err
	}
	return true, nil
}
