package store_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/store"
	"github.com/watcher-dev/watcher/migrations"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// open returns a store on url, closed when the test ends.
func open(t testing.TB, url string, opts ...store.Option) *store.Store {
	t.Helper()
	s, err := store.Open(testContext(t), url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// connect returns a connection to url, closed when the test ends, for
// looking behind the store.
func connect(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(testContext(t), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// query runs one query returning one value, for looking behind the store.
func query[T any](t testing.TB, url, sql string, args ...any) T {
	t.Helper()
	ctx := testContext(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v T
	if err := conn.QueryRow(ctx, sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// TestMigrate migrates an empty database on each storage path. On the
// plain server TimescaleDB is installed (.ci/run installs it) but not
// preloaded, where CREATE EXTENSION would end the session with FATAL: the
// migration must see that and take native partitions.
func TestMigrate(t *testing.T) {
	t.Parallel()
	entries, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(entries) == 0 {
		t.Fatalf("embedded migrations: %v, %v", entries, err)
	}
	for _, f := range pgtest.Flavours {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			url := pgtest.EmptyOn(t, f)
			ctx := testContext(t)
			first, err := store.MigrateReport(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(first.Applied) != fmt.Sprint(entries) {
				t.Errorf("first run applied %v, want %v", first.Applied, entries)
			}
			wantStorage, wantParts := store.StoragePartitions, store.PartitionDaysAhead+1
			if f == pgtest.Timescale {
				wantStorage, wantParts = store.StorageTimescaleDB, 0
			}
			if first.Storage != wantStorage || first.PartitionsCreated != wantParts {
				t.Errorf("first run: storage %q with %d partitions created, want %q with %d (today and %d days ahead)",
					first.Storage, first.PartitionsCreated, wantStorage, wantParts, store.PartitionDaysAhead)
			}

			second, err := store.MigrateReport(ctx, url)
			if err != nil {
				t.Fatalf("second run: %v", err)
			}
			if len(second.Applied) != 0 || second.PartitionsCreated != 0 || second.Version != first.Version {
				t.Errorf("second run = %+v, want nothing applied or created at version %d", second, first.Version)
			}
			if err := store.Migrate(ctx, url); err != nil {
				t.Fatalf("third run: %v", err)
			}
		})
	}
}

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	url := pgtest.Empty(t)
	ctx := testContext(t)
	errs := make(chan error, 2)
	for range cap(errs) {
		go func() { errs <- store.Migrate(ctx, url) }()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Errorf("concurrent migrate: %v", err)
		}
	}
}

func TestPartitions(t *testing.T) {
	t.Parallel()
	url := pgtest.New(t)
	s := open(t, url)
	ctx := testContext(t)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	partition := func(day time.Time) string { return "checks_p" + day.Format("20060102") }
	if !query[bool](t, url, `SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = 'checks'::regclass)`) {
		t.Skip("checks is a TimescaleDB hypertable here: no native partitions to check")
	}

	if n := query[int](t, url, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'checks'::regclass`); n != store.PartitionDaysAhead+2 {
		t.Errorf("checks has %d partitions, want %d daily and the default", n, store.PartitionDaysAhead+1)
	}

	tests := []struct {
		name      string
		at        time.Time
		daysAhead int // EnsurePartitions before checking, 0 for none
		want      string
	}{
		{"today lands in its day", today.Add(90 * time.Minute), 0, partition(today)},
		{"last day ahead", today.AddDate(0, 0, store.PartitionDaysAhead).Add(time.Hour), 0, partition(today.AddDate(0, 0, store.PartitionDaysAhead))},
		{"far future lands in the default", time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), 0, "checks_default"},
		{"far past lands in the default", time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC), 0, "checks_default"},
		{"early row moves into its new partition", today.AddDate(0, 0, 10).Add(time.Hour), 12, partition(today.AddDate(0, 0, 10))},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := metric(int64(1000+i), tt.at)
			if n, err := s.WriteChecks(ctx, []record.Check{m}); err != nil || n != 1 {
				t.Fatalf("WriteChecks = %d, %v", n, err)
			}
			if tt.daysAhead > 0 {
				if err := s.EnsurePartitions(ctx, tt.daysAhead); err != nil {
					t.Fatal(err)
				}
			}
			got := query[string](t, url, `SELECT tableoid::regclass::text FROM checks WHERE endpoint_id = $1`, m.EndpointID)
			if got != tt.want {
				t.Errorf("row at %s is in %s, want %s", tt.at.Format(time.RFC3339), got, tt.want)
			}
			if n := query[int](t, url, `SELECT count(*) FROM checks WHERE endpoint_id = $1`, m.EndpointID); n != 1 {
				t.Errorf("%d rows for the endpoint, want 1", n)
			}
		})
	}
	if err := s.EnsurePartitions(ctx, 12); err != nil {
		t.Fatalf("EnsurePartitions again: %v", err)
	}
}

func TestOpenPassword(t *testing.T) {
	t.Parallel()
	url := pgtest.New(t)
	tests := []struct {
		name    string
		pw      func(context.Context) (string, error)
		wantErr string
	}{
		{"called before connecting", func(context.Context) (string, error) { return "token", nil }, ""},
		{"its failure is the connect's", func(context.Context) (string, error) { return "", errors.New("no token today") }, "no token today"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			s := open(t, url, store.WithPassword(func(ctx context.Context) (string, error) {
				calls.Add(1)
				return tt.pw(ctx)
			}))
			err := s.Ping(testContext(t))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatal(err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Ping error = %v, want %q", err, tt.wantErr)
			}
			if calls.Load() == 0 {
				t.Error("password function never called")
			}
		})
	}
}

// TestInsertOnlyRole holds the contract the probes' role relies on: writing
// checks (retries included), invocations and the ledger needs INSERT and
// nothing more. (The roles themselves come with the migrations of a later
// issue; here the test makes one.)
func TestInsertOnlyRole(t *testing.T) {
	t.Parallel()
	url := pgtest.New(t)
	ctx := testContext(t)
	role := fmt.Sprintf("insert_only_%d", time.Now().UnixNano())
	conn := connect(t, url)
	for _, sql := range []string{
		"CREATE ROLE " + role + " LOGIN",
		"GRANT INSERT ON checks, invocations, spans TO " + role,
		"GRANT USAGE ON SEQUENCE invocations_id_seq TO " + role,
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	// The role outlives the test database; the cluster is thrown away.
	s := open(t, strings.Replace(url, "postgres@", role+"@", 1))
	at := time.Now().UTC().Truncate(time.Minute)

	tests := []struct {
		name    string
		do      func() error
		allowed bool
	}{
		{"write a batch", func() error { _, err := s.WriteChecks(ctx, batch(1, 3, at)); return err }, true},
		{"retry the batch", func() error { _, err := s.WriteChecks(ctx, batch(1, 3, at)); return err }, true},
		{"record an invocation", func() error { return s.RecordInvocation(ctx, record.Invocation{Function: "probe", StartedAt: at}) }, true},
		{"claim a span twice", func() error {
			if _, err := s.ClaimSpan(ctx, at, 1, 3); err != nil {
				return err
			}
			_, err := s.ClaimSpan(ctx, at, 1, 3)
			return err
		}, true},
		{"read endpoints", func() error { _, err := s.Endpoints(ctx, false); return err }, false},
		{"read metrics", func() error { _, err := s.Checks(ctx, at, at.Add(time.Minute)); return err }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if tt.allowed && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.allowed && (err == nil || !strings.Contains(err.Error(), "permission denied")) {
				t.Fatalf("error = %v, want permission denied", err)
			}
		})
	}
}
