package migrator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/watcher-dev/watcher/internal/status"
	"github.com/watcher-dev/watcher/internal/store"
	"github.com/watcher-dev/watcher/migrations"
)

// Options tune EnsureRoles.
type Options struct {
	// IAM grants rds_iam to the roles: on RDS they then log in with IAM
	// tokens only (directly or through an RDS Proxy with IAM auth).
	IAM bool
	// SSLMode is the owner connection's sslmode when SSLRootCert is empty;
	// "verify-full" against the system roots when empty too. Tests against
	// a local cluster without TLS use "disable".
	SSLMode string
	// SSLRootCert makes the owner connection verify the server's
	// certificate and host name against this CA file (sslmode=verify-full):
	// the RDS CA bundle on RDS, your CA on a database of your own.
	SSLRootCert string
	// Retention is what the scheduled upkeep keeps (store.Maintain); zero
	// fields take store.DefaultRetention.
	Retention store.Retention
	// RoleSecrets maps each application role to the Secrets Manager secret
	// holding its password (a JSON object with a "password" field), for a
	// database without IAM authentication; the handler reads them into
	// Passwords. Empty: the roles have no password.
	RoleSecrets map[string]string
	// Passwords maps application roles to their passwords; EnsureRoles sets
	// each as a SCRAM-SHA-256 verifier computed here. Roles not in it get
	// no password.
	Passwords map[string]string
	// StatusPage, when set, receives the status page after each scheduled
	// upkeep (status.Publish), titled StatusTitle. A page that cannot be
	// published is logged and counted (Summary, and the EMF metric
	// StatusPageFailures on Metrics), never failing the run.
	StatusPage  status.Sink
	StatusTitle string
	// Metrics receives EMF lines (stdout in Lambda); nil: none.
	Metrics io.Writer
}

// grant is one privilege set of one role on one table.
type grant struct {
	role, privileges, table string
}

// grants is the complete list of what the application roles may do.
// Inserting with ON CONFLICT DO NOTHING needs INSERT only.
func grants() []grant {
	return []grant{
		{migrations.RoleFanout, "SELECT", "endpoints"},
		{migrations.RoleFanout, "INSERT", "spans"}, // claims and missed spans are ON CONFLICT DO NOTHING
		// Finding spans whose event never came reads the ledger's starts and
		// statuses (a missed span must not anchor the look-back).
		{migrations.RoleFanout, "SELECT (span_start, status)", "spans"},
		{migrations.RoleFanout, "INSERT", "invocations"},
		// Estimating what endpoints' checks cost reads what recent checks
		// measured.
		{migrations.RoleFanout, "SELECT (endpoint_id, planned_at, response_time_ms, body_bytes, tls_ms, error)", "checks"},
		// Alert evaluation (store.EvaluateAlerts) reads what decides whether
		// a check failed and its certificate, keeps the alert states (and
		// forgets those of endpoints no longer evaluated), the alerts, and
		// the outbox of their notifications, which the fanout also delivers
		// (Due, Sent, Failed).
		{migrations.RoleFanout, "SELECT (location, status_code, regex_match, tls_not_after)", "checks"},
		{migrations.RoleFanout, "SELECT (endpoint_id, location, not_after, issuer)", "certificates"},
		{migrations.RoleFanout, "SELECT, INSERT, UPDATE, DELETE", "alert_state"},
		{migrations.RoleFanout, "SELECT, INSERT, UPDATE", "alerts"},
		{migrations.RoleFanout, "SELECT, INSERT, UPDATE", "alert_notifications"},
		{migrations.RoleProbe, "INSERT", "checks"},
		// A batch of HTTPS checks upserts its certificates (store.WriteChecks):
		// the conflict target and the columns its update reads and moves.
		{migrations.RoleProbe, "INSERT, SELECT (endpoint_id, location, not_after, first_seen, last_seen), UPDATE (first_seen, last_seen)", "certificates"},
		{migrations.RoleProbe, "INSERT", "invocations"},
		{migrations.RoleProbe, "INSERT", "shard_attempts"}, // retries are told apart by ON CONFLICT DO NOTHING
		// A span claim the fanout could not make is recorded when the
		// database answers again: by the fanout itself before it ends, or by
		// the drain (a probe) from the record queue. Both may change the
		// ledger in that one way.
		{migrations.RoleFanout, "EXECUTE", "FUNCTION watcher_record_span(timestamptz, integer, integer)"},
		{migrations.RoleProbe, "EXECUTE", "FUNCTION watcher_record_span(timestamptz, integer, integer)"},
	}
}

// EnsureRoles creates the application roles if missing and resets their
// privileges to exactly grants(): anything granted by hand is revoked. It
// runs as the database owner after the migrations, as one multi-statement
// simple-protocol request, which PostgreSQL runs as one transaction.
func EnsureRoles(ctx context.Context, conn *pgx.Conn, opt Options) error {
	sql, err := rolesSQL(opt)
	if err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol); err != nil {
		return fmt.Errorf("ensure application roles: %w", err)
	}
	return nil
}

// appRoles are the application roles, in the order they are set up.
func appRoles() []string { return []string{migrations.RoleFanout, migrations.RoleProbe} }

func rolesSQL(opt Options) (string, error) {
	roles := appRoles()
	for r := range opt.Passwords {
		if !slices.Contains(roles, r) {
			return "", fmt.Errorf("ensure application roles: a password for %q, which is not an application role (%s)", r, strings.Join(roles, ", "))
		}
	}
	if opt.IAM && len(opt.Passwords) > 0 {
		return "", errors.New("ensure application roles: passwords and IAM authentication together; a role logs in one way")
	}
	list := strings.Join(roles, ", ")
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("DO $roles$ BEGIN")
	for _, r := range roles {
		w("  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%s') THEN CREATE ROLE %s LOGIN; END IF;", r, r)
	}
	// Database-level: connect, but no temporary tables for anyone who is
	// not granted them (PUBLIC has TEMPORARY by default).
	w("  EXECUTE format('REVOKE TEMPORARY ON DATABASE %%I FROM PUBLIC', current_database());")
	w("  EXECUTE format('GRANT CONNECT ON DATABASE %%I TO %s', current_database());", list)
	w("END $roles$;")
	for _, r := range roles {
		// No inherited powers and no password unless one is given: a role
		// that logs in with IAM must not also accept a password. A given
		// password is sent as its verifier only.
		password := "NULL"
		if pw, ok := opt.Passwords[r]; ok {
			v, err := newScramVerifier(pw)
			if err != nil {
				return "", fmt.Errorf("ensure application roles: password of %s: %w", r, err)
			}
			password = "'" + v + "'" // base64, digits, $ and : only
		}
		w("ALTER ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD %s;", r, password)
	}
	w("REVOKE CREATE ON SCHEMA public FROM PUBLIC;")
	w("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM %s;", list)
	w("REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM %s;", list)
	w("REVOKE ALL ON SCHEMA public FROM %s;", list)
	w("GRANT USAGE ON SCHEMA public TO %s;", list)
	// Maintenance functions run as the owner only.
	w("DO $fns$ DECLARE f regprocedure; BEGIN")
	w("  FOR f IN SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace")
	w("           WHERE n.nspname = 'public' AND p.proname LIKE 'watcher\\_%%' LOOP")
	w("    EXECUTE format('REVOKE EXECUTE ON FUNCTION %%s FROM PUBLIC', f);")
	w("  END LOOP;")
	w("END $fns$;")
	for _, g := range grants() {
		w("GRANT %s ON %s TO %s;", g.privileges, g.table, g.role)
		if !strings.Contains(g.privileges, "INSERT") {
			continue
		}
		// A serial column's default calls nextval, which needs USAGE.
		w("DO $seq$ DECLARE s text; BEGIN")
		w("  FOR s IN SELECT pg_get_serial_sequence('%s', a.attname) FROM pg_attribute a", g.table)
		w("           WHERE a.attrelid = '%s'::regclass AND a.attnum > 0 AND NOT a.attisdropped LOOP", g.table)
		w("    IF s IS NOT NULL THEN EXECUTE format('GRANT USAGE ON SEQUENCE %%s TO %s', s); END IF;", g.role)
		w("  END LOOP;")
		w("END $seq$;")
	}
	if opt.IAM {
		w("GRANT rds_iam TO %s;", list)
	} else {
		w("DO $iam$ BEGIN")
		w("  IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_iam') THEN REVOKE rds_iam FROM %s; END IF;", list)
		w("END $iam$;")
	}
	return b.String(), nil
}
