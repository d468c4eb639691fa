package main

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/store"
	"github.com/watcher-dev/watcher/migrations"
)

// asRole is dbURL with another user; the test cluster trusts loopback.
func asRole(t *testing.T, dbURL, role string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	return u.String()
}

// TestMigrateCreatesRoles runs `watcher migrate` on an empty database, as a
// person would on a local cluster, then connects as the probe's role, both
// directly and through pgbouncer in transaction mode, and proves that it
// can insert metrics and invocations through the store and do nothing else:
// no reading endpoints or metrics, no deleting, updating or truncating. The
// fanout's role reads endpoints and the ledger's starts. (migrator's
// TestRolePrivileges goes through every privilege of both roles.)
func TestMigrateCreatesRoles(t *testing.T) {
	ctx := context.Background()
	u := pgtest.Empty(t)
	t.Setenv("DATABASE_URL", u)
	cmd := migrateCmd()
	cmd.SetArgs([]string{})
	if err := cmd.ExecuteContext(ctx); err != nil {
		t.Fatalf("watcher migrate: %v", err)
	}
	owner, err := store.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	ep := endpoint.Endpoint{URL: "https://example.com/", Method: "GET", Interval: time.Minute, Timeout: 5 * time.Second, Location: "home", Enabled: true}
	if _, err := owner.ImportEndpoints(ctx, []endpoint.Endpoint{ep}, false); err != nil {
		t.Fatal(err)
	}

	probeURL := asRole(t, u, migrations.RoleProbe)
	bouncer := pgtest.StartBouncer(t, probeURL)
	at := time.Now().UTC().Truncate(time.Second)
	for i, c := range []struct{ name, url string }{{"direct", probeURL}, {"through pgbouncer", bouncer.URL()}} {
		t.Run(c.name, func(t *testing.T) {
			dbURL := c.url
			st, err := store.Open(ctx, dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			code := 200
			m := record.Check{EndpointID: 1, Location: "home", PlannedAt: at, Result: record.Result{StartedAt: at, StatusCode: &code}}
			if n, err := st.WriteChecks(ctx, []record.Check{m, m}); err != nil || n != 1-i {
				t.Errorf("WriteChecks = %d, %v; want one new row the first time, then none", n, err)
			}
			if err := st.RecordInvocation(ctx, record.Invocation{Function: "probe", Location: "home", StartedAt: at, Duration: time.Second}); err != nil {
				t.Errorf("RecordInvocation: %v", err)
			}
			if _, err := st.Endpoints(ctx, true); !denied(err) {
				t.Errorf("Endpoints: %v, want permission denied", err)
			}
			conn, err := pgx.Connect(ctx, dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			for _, sql := range []string{
				"SELECT url FROM endpoints", "SELECT password_ref FROM endpoints", "SELECT * FROM checks",
				"DELETE FROM checks", "UPDATE checks SET error = 'x'", "TRUNCATE checks",
				"DELETE FROM invocations", "UPDATE invocations SET error = 'x'", "TRUNCATE invocations",
				"DELETE FROM endpoints", "DELETE FROM spans",
			} {
				if _, err := conn.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol); !denied(err) {
					t.Errorf("%s: %v, want permission denied (42501)", sql, err)
				}
			}
		})
	}

	fanoutStore, err := store.Open(ctx, asRole(t, u, migrations.RoleFanout))
	if err != nil {
		t.Fatal(err)
	}
	defer fanoutStore.Close()
	if eps, err := fanoutStore.Endpoints(ctx, true); err != nil || len(eps) != 1 {
		t.Errorf("fanout Endpoints = %d, %v", len(eps), err)
	}
	if _, err := fanoutStore.LedgerSpans(ctx, at.Add(-time.Hour), at); err != nil {
		t.Errorf("fanout LedgerSpans: %v", err)
	}

	// What the probe role wrote is there, once, and nothing was removed.
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var metrics, invocations, endpoints int
	if err := conn.QueryRow(ctx, "SELECT (SELECT count(*) FROM checks), (SELECT count(*) FROM invocations), (SELECT count(*) FROM endpoints)").
		Scan(&metrics, &invocations, &endpoints); err != nil {
		t.Fatal(err)
	}
	// The same invocation recorded directly and through the bouncer is
	// one invocation (a redelivered record must not double it).
	if metrics != 1 || invocations != 1 || endpoints != 1 {
		t.Errorf("%d metrics, %d invocations, %d endpoints; want 1, 1, 1", metrics, invocations, endpoints)
	}
}

func denied(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42501"
}
