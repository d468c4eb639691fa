package migrator

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/store"
	"github.com/watcher-dev/watcher/migrations"
)

// Roles are cluster-wide, so these tests share them and do not run in
// parallel.
func TestMain(m *testing.M) { pgtest.Main(m) }

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestParseSecret(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		want    Secret
		wantErr string
	}{
		{name: "RDS generated", json: `{"dbInstanceIdentifier":"db1","engine":"postgres","host":"db.example","port":5432,"username":"watcher_admin","password":"p@ss:w/rd","dbname":"watcher"}`,
			want: Secret{Username: "watcher_admin", Password: "p@ss:w/rd", Host: "db.example", Port: 5432, DBName: "watcher"}},
		{name: "port as a string", json: `{"host":"h","port":"6543","username":"u","password":"p","dbname":"d"}`,
			want: Secret{Username: "u", Password: "p", Host: "h", Port: 6543, DBName: "d"}},
		{name: "port absent", json: `{"host":"h","username":"u","password":"p","dbname":"d"}`,
			want: Secret{Username: "u", Password: "p", Host: "h", Port: 5432, DBName: "d"}},
		{name: "missing fields", json: `{"host":"h","password":"hunter2"}`, wantErr: "missing [username dbname]"},
		{name: "bad port", json: `{"host":"h","port":"x","username":"u","password":"hunter2","dbname":"d"}`, wantErr: "port is not a port number"},
		{name: "not JSON", json: `hunter2`, wantErr: "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSecret([]byte(tt.json))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Error("error reveals the password")
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSecret = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	s := Secret{Username: "watcher_admin", Password: "p@ss:w/rd", Host: "db.example", Port: 5432, DBName: "watcher"}
	u, err := url.Parse(s.URL("", ""))
	if err != nil {
		t.Fatal(err)
	}
	if pw, _ := u.User.Password(); pw != s.Password || u.Host != "db.example:5432" {
		t.Errorf("URL %s does not carry the secret faithfully", u.Redacted())
	}
	// Without a CA file the server is still verified (against the system
	// roots): the owner's password never goes to an unverified server.
	if q := u.Query(); q.Get("sslmode") != "verify-full" || q.Has("sslrootcert") {
		t.Errorf("URL %s without a CA file: want sslmode=verify-full against the system roots", u.Redacted())
	}
	// RDS (its CA bundle) and a database of one's own (its CA) are
	// verified against the CA file, whatever sslmode says.
	u, err = url.Parse(s.URL("require", "/opt/watcher/database-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if q := u.Query(); q.Get("sslmode") != "verify-full" || q.Get("sslrootcert") != "/opt/watcher/database-ca.pem" {
		t.Errorf("URL %s with a CA file: want sslmode=verify-full and the file as sslrootcert", u.Redacted())
	}
	// Only an explicit sslmode (tests against a local cluster) lowers it.
	if u, _ := url.Parse(s.URL("disable", "")); u.Query().Get("sslmode") != "disable" {
		t.Errorf("URL %s: an explicit sslmode is not kept", u.Redacted())
	}
}

// as returns dbURL with another user (loopback is trusted locally).
func as(t *testing.T, dbURL, user string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(user)
	return u.String()
}

func connect(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func isDenied(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42501" // insufficient_privilege
}

// TestRolePrivileges connects as each application role, through the same
// store methods the functions use, and proves each can do its job and
// nothing else.
func TestRolePrivileges(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.New(t)
	owner := connect(t, dbURL)
	if err := EnsureRoles(ctx, owner, Options{}); err != nil {
		t.Fatal(err)
	}
	// Something granted by hand is taken back by the next run.
	if _, err := owner.Exec(ctx, "GRANT DELETE, SELECT ON checks, endpoints TO watcher_probe"); err != nil {
		t.Fatal(err)
	}
	if err := EnsureRoles(ctx, owner, Options{}); err != nil {
		t.Fatalf("second run: %v", err)
	}
	ownerStore, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer ownerStore.Close()
	ep := endpoint.Endpoint{URL: "https://example.com/", Method: "GET", Interval: time.Minute, Timeout: 5 * time.Second, Location: "home", Enabled: true}
	if _, err := ownerStore.ImportEndpoints(ctx, []endpoint.Endpoint{ep}, false); err != nil {
		t.Fatal(err)
	}

	at := time.Now().UTC().Truncate(time.Minute)
	code := 200
	metric := record.Check{EndpointID: 1, Location: "home", PlannedAt: at, Result: record.Result{StartedAt: at, ResponseTime: time.Millisecond, StatusCode: &code}}
	inv := record.Invocation{Function: "probe", Location: "home", StartedAt: at, Duration: time.Second}

	t.Run("probe", func(t *testing.T) {
		st, err := store.Open(ctx, as(t, dbURL, migrations.RoleProbe))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if n, err := st.WriteChecks(ctx, []record.Check{metric, metric}); err != nil || n != 1 {
			t.Errorf("WriteChecks = %d, %v; want 1 row%s", n, err, conflictHint(err))
		}
		// An HTTPS check records its certificate too; seen again two
		// hours later, the certificate's last_seen moves.
		secure := metric
		secure.PlannedAt, secure.StartedAt = at.Add(3*time.Hour), at.Add(3*time.Hour)
		secure.TLSNotAfter, secure.TLSIssuer = &at, "Watcher Test CA"
		later := secure
		later.PlannedAt, later.StartedAt = at.Add(5*time.Hour), at.Add(5*time.Hour)
		for _, c := range []record.Check{secure, secure, later} {
			if _, err := st.WriteChecks(ctx, []record.Check{c}); err != nil {
				t.Errorf("WriteChecks of an HTTPS check: %v", err)
			}
		}
		var lastSeen time.Time
		if err := owner.QueryRow(ctx, "SELECT last_seen FROM certificates").Scan(&lastSeen); err != nil || !lastSeen.Equal(later.StartedAt) {
			t.Errorf("certificate last seen %v, %v; want %v", lastSeen, err, later.StartedAt)
		}
		if err := st.RecordInvocation(ctx, inv); err != nil {
			t.Errorf("RecordInvocation: %v", err)
		}
		// The drain (a probe) replays span claims the fanout spilled.
		if err := st.RecordSpan(ctx, record.SpanClaim{Start: at.Add(2 * time.Hour), Shards: 1, Checks: 1}); err != nil {
			t.Errorf("RecordSpan: %v", err)
		}
		conn := connect(t, as(t, dbURL, migrations.RoleProbe))
		for _, sql := range []string{
			"SELECT * FROM endpoints", "SELECT * FROM checks", "SELECT * FROM invocations",
			"DELETE FROM checks", "UPDATE checks SET error = 'x'", "TRUNCATE checks", "DELETE FROM invocations",
			"INSERT INTO spans (span_start, status) VALUES (now(), 'missed')", "INSERT INTO endpoints (key, url, interval_ms, timeout_ms, location) VALUES ('k', 'u', 5000, 5000, 'home')",
			"CREATE TABLE mine (x int)", "CREATE TEMPORARY TABLE mine (x int)", "SELECT watcher_ensure_partitions(1)",
			"UPDATE spans SET status = 'dispatched'", "DELETE FROM spans",
			"SELECT issuer FROM certificates", "UPDATE certificates SET issuer = 'x'", "DELETE FROM certificates",
		} {
			if _, err := conn.Exec(ctx, sql); !isDenied(err) {
				t.Errorf("probe %q: %v, want permission denied", sql, err)
			}
		}
	})
	t.Run("fanout", func(t *testing.T) {
		st, err := store.Open(ctx, as(t, dbURL, migrations.RoleFanout))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		eps, err := st.Endpoints(ctx, true)
		if err != nil || len(eps) != 1 {
			t.Errorf("Endpoints = %d, %v", len(eps), err)
		}
		if ok, err := st.ClaimSpan(ctx, at, 1, 1); err != nil || !ok {
			t.Errorf("ClaimSpan = %v, %v%s", ok, err, conflictHint(err))
		}
		if ok, err := st.ClaimSpan(ctx, at, 1, 1); err != nil || ok {
			t.Errorf("second ClaimSpan = %v, %v; want a refused claim", ok, err)
		}
		if err := st.RecordMissed(ctx, at.Add(time.Minute), "late"); err != nil {
			t.Errorf("RecordMissed: %v", err)
		}
		// A claim it could not make, recorded before it ends.
		if err := st.RecordSpan(ctx, record.SpanClaim{Start: at.Add(3 * time.Hour), Shards: 1, Checks: 1}); err != nil {
			t.Errorf("RecordSpan: %v", err)
		}
		// Looking for missed spans reads span_start and status, and only those columns.
		if starts, err := st.LedgerSpans(ctx, at, at.Add(time.Hour)); err != nil || len(starts) != 2 {
			t.Errorf("LedgerSpans = %v, %v; want the claim and the gap", starts, err)
		}
		// Estimating costs reads what the probe's check measured.
		if hist, err := st.EndpointHistory(ctx, at, at.Add(time.Minute)); err != nil || len(hist) != 1 || hist[0].Checks != 1 {
			t.Errorf("EndpointHistory = %+v, %v; want the probe's one check", hist, err)
		}
		fanoutInv := inv
		fanoutInv.Function = "fanout"
		if err := st.RecordInvocation(ctx, fanoutInv); err != nil {
			t.Errorf("RecordInvocation: %v", err)
		}
		if _, err := st.WriteChecks(ctx, []record.Check{metric}); !isDenied(errors.Unwrap(err)) && !isDenied(err) {
			t.Errorf("fanout WriteChecks: %v, want permission denied", err)
		}
		// Alerts: evaluated from the checks (the probe's HTTPS check five
		// hours on saw an expired certificate), delivered from the outbox.
		if _, err := owner.Exec(ctx, `UPDATE endpoints SET alert_rules = '{"failures": 3, "successes": 2, "certificate_days": 14}'`); err != nil {
			t.Fatal(err)
		}
		if sum, err := st.EvaluateAlerts(ctx, at.Add(5*time.Hour+time.Minute), []string{"webhook"}); err != nil || sum.Opened != 1 {
			t.Errorf("EvaluateAlerts = %+v, %v; want a certificate alert opened", sum, err)
		}
		if ms, err := st.Due(ctx, at.Add(6*time.Hour), 10); err != nil || len(ms) != 1 {
			t.Errorf("Due = %d messages, %v; want 1", len(ms), err)
		} else if err := st.Sent(ctx, ms[0].ID, time.Now()); err != nil {
			t.Errorf("Sent: %v", err)
		}
		conn := connect(t, as(t, dbURL, migrations.RoleFanout))
		for _, sql := range []string{
			"SELECT * FROM spans", "SELECT * FROM invocations", "UPDATE endpoints SET enabled = false",
			"DELETE FROM spans", "UPDATE spans SET status = 'missed'", "SELECT password_ref FROM endpoints WHERE false AND now() IS NULL FOR UPDATE",
			"SELECT * FROM checks", "SELECT started_at FROM checks", "DELETE FROM checks", "UPDATE checks SET error = 'x'",
			"DELETE FROM alerts", "DELETE FROM alert_notifications", "TRUNCATE alert_state", "SELECT first_seen FROM certificates",
		} {
			if _, err := conn.Exec(ctx, sql); !isDenied(err) {
				t.Errorf("fanout %q: %v, want permission denied", sql, err)
			}
		}
	})
}

// conflictHint explains the one way an INSERT-only role fails an
// idempotent insert: ON CONFLICT with a conflict target needs SELECT on the
// target's columns; a bare ON CONFLICT DO NOTHING needs INSERT only.
func conflictHint(err error) string {
	if isDenied(errors.Unwrap(err)) || isDenied(err) {
		return " (an INSERT-only role needs ON CONFLICT DO NOTHING without a conflict target: a target needs SELECT on its columns)"
	}
	return ""
}

func TestRolesIAM(t *testing.T) {
	ctx := context.Background()
	owner := connect(t, pgtest.New(t))
	member := func() bool {
		var ok bool
		if err := owner.QueryRow(ctx, "SELECT pg_has_role('watcher_probe', 'rds_iam', 'MEMBER') AND pg_has_role('watcher_fanout', 'rds_iam', 'MEMBER')").Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if err := EnsureRoles(ctx, owner, Options{IAM: true}); err == nil {
		t.Error("IAM on a server without rds_iam succeeded; want an error")
	}
	// RDS has this role; a local cluster gets one for the test.
	if _, err := owner.Exec(ctx, "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_iam') THEN CREATE ROLE rds_iam; END IF; END $$"); err != nil {
		t.Fatal(err)
	}
	if err := EnsureRoles(ctx, owner, Options{IAM: true}); err != nil || !member() {
		t.Fatalf("IAM: %v, members %v", err, member())
	}
	if err := EnsureRoles(ctx, owner, Options{}); err != nil || member() {
		t.Fatalf("IAM off: %v, members %v", err, member())
	}
}

// secrets is Secrets Manager for the tests: it serves one secret and counts
// reads.
type secrets struct {
	mu    sync.Mutex
	value string
	err   error
	reads int
}

func (s *secrets) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	if s.err != nil {
		return nil, s.err
	}
	return &secretsmanager.GetSecretValueOutput{ARN: in.SecretId, SecretString: aws.String(s.value)}, nil
}

// secretFor is the RDS-style secret of a local database.
func secretFor(t *testing.T, dbURL string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	b, _ := json.Marshal(map[string]any{"username": u.User.Username(), "password": "unused-locally", "host": u.Hostname(),
		"port": port, "dbname": strings.TrimPrefix(u.Path, "/"), "engine": "postgres"})
	return string(b)
}

// cloudFormation stands in for the presigned S3 URL a custom resource
// answers on.
type cloudFormation struct {
	mu        sync.Mutex
	responses []cfn.Response
	status    int
}

func (c *cloudFormation) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var resp cfn.Response
	_ = json.Unmarshal(b, &resp)
	c.mu.Lock()
	c.responses = append(c.responses, resp)
	status := c.status
	c.mu.Unlock()
	if r.Method != http.MethodPut {
		status = http.StatusMethodNotAllowed
	}
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
}

func TestHandlerCustomResource(t *testing.T) {
	migrate := func(ctx context.Context, url string) error {
		return store.Migrate(ctx, url, store.WithLogger(quiet()))
	}
	event := func(typ cfn.RequestType, responseURL string, version, oldVersion string) []byte {
		ev := cfn.Event{RequestType: typ, RequestID: "req-1", ResponseURL: responseURL, ResourceType: "Custom::WatcherMigrations",
			LogicalResourceID: "Migrations", StackID: "arn:aws:cloudformation:eu-west-1:123456789012:stack/watcher-home/1",
			ResourceProperties: map[string]any{"ServiceToken": "arn:fn", "FunctionVersion": version}}
		if typ != cfn.RequestCreate {
			ev.PhysicalResourceID = physicalID
			if oldVersion != "" {
				ev.OldResourceProperties = map[string]any{"ServiceToken": "arn:fn", "FunctionVersion": oldVersion}
			}
		}
		b, _ := json.Marshal(ev)
		return b
	}
	tests := []struct {
		name        string
		payload     func(responseURL string) []byte
		secretErr   error
		wantStatus  cfn.StatusType
		wantReason  string
		wantMigrate bool
	}{
		{name: "create migrates", payload: func(u string) []byte { return event(cfn.RequestCreate, u, "1", "") },
			wantStatus: cfn.StatusSuccess, wantMigrate: true},
		{name: "update to a newer version migrates", payload: func(u string) []byte { return event(cfn.RequestUpdate, u, "5", "4") },
			wantStatus: cfn.StatusSuccess, wantMigrate: true},
		{name: "rollback leaves the schema", payload: func(u string) []byte { return event(cfn.RequestUpdate, u, "4", "5") },
			wantStatus: cfn.StatusSuccess, wantReason: "rollback"},
		{name: "delete leaves the schema", payload: func(u string) []byte { return event(cfn.RequestDelete, u, "5", "") },
			wantStatus: cfn.StatusSuccess, wantReason: "not undone"},
		{name: "a failure is reported, not retried", payload: func(u string) []byte { return event(cfn.RequestCreate, u, "1", "") },
			secretErr: errors.New("AccessDeniedException: no"), wantStatus: cfn.StatusFailed, wantReason: "AccessDeniedException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dbURL := pgtest.Empty(t)
			sm := &secrets{value: secretFor(t, dbURL), err: tt.secretErr}
			cf := &cloudFormation{}
			srv := httptest.NewServer(cf)
			defer srv.Close()
			h := NewHandler(sm, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-abc", migrate, Options{SSLMode: "disable"}, quiet())
			out, err := h.Invoke(context.Background(), tt.payload(srv.URL+"/cfn-response?X-Amz-Signature=abc"))
			if err != nil || out != nil {
				t.Fatalf("Invoke = %s, %v; want no output and no error once answered", out, err)
			}
			if len(cf.responses) != 1 {
				t.Fatalf("%d responses, want 1", len(cf.responses))
			}
			r := cf.responses[0]
			if r.Status != tt.wantStatus || !strings.Contains(r.Reason, tt.wantReason) || r.PhysicalResourceID != physicalID ||
				r.RequestID != "req-1" || r.LogicalResourceID != "Migrations" {
				t.Errorf("response %+v, want %s with reason %q", r, tt.wantStatus, tt.wantReason)
			}
			var migrated bool
			if err := connect(t, dbURL).QueryRow(context.Background(), "SELECT to_regclass('checks') IS NOT NULL").Scan(&migrated); err != nil {
				t.Fatal(err)
			}
			if migrated != tt.wantMigrate || (sm.reads > 0) != tt.wantMigrate && tt.secretErr == nil {
				t.Errorf("migrated %v after %d secret reads, want %v", migrated, sm.reads, tt.wantMigrate)
			}
		})
	}
	t.Run("an answer CloudFormation refuses is an error", func(t *testing.T) {
		cf := &cloudFormation{status: http.StatusForbidden}
		srv := httptest.NewServer(cf)
		defer srv.Close()
		h := NewHandler(&secrets{}, "arn", migrate, Options{}, quiet())
		if _, err := h.Invoke(context.Background(), event(cfn.RequestDelete, srv.URL, "1", "")); err == nil {
			t.Error("Invoke succeeded although the response upload failed")
		}
	})
	t.Run("a scheduled run returns a summary", func(t *testing.T) {
		dbURL := pgtest.New(t)
		h := NewHandler(&secrets{value: secretFor(t, dbURL)}, "arn", migrate, Options{SSLMode: "disable"}, quiet())
		out, err := h.Invoke(context.Background(), []byte(`{"source":"schedule"}`))
		if err != nil {
			t.Fatal(err)
		}
		var sum Summary
		if err := json.Unmarshal(out, &sum); err != nil || len(sum.Roles) != 2 {
			t.Errorf("summary %s, %v", out, err)
		}
		// The schedule also does the upkeep; a deploy does not wait for it.
		if sum.Upkeep == nil || sum.Upkeep.Storage != store.StoragePartitions {
			t.Errorf("summary %s: want the upkeep's result, on native partitions", out)
		}
	})
	t.Run("a scheduled run with a bad retention fails", func(t *testing.T) {
		dbURL := pgtest.New(t)
		opt := Options{SSLMode: "disable", Retention: store.Retention{Raw: store.Day}}
		h := NewHandler(&secrets{value: secretFor(t, dbURL)}, "arn", migrate, opt, quiet())
		if _, err := h.Invoke(context.Background(), []byte(`{"source":"schedule"}`)); err == nil || !strings.Contains(err.Error(), "upkeep") {
			t.Errorf("Invoke: %v, want an upkeep error", err)
		}
	})
}
