package migrator

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/watcher-dev/watcher/internal/dev/localpg"
	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/migrations"
)

func TestScramVerifierRefuses(t *testing.T) {
	for _, pw := range []string{"", "pässword", "tab\there"} {
		if v, err := newScramVerifier(pw); err == nil {
			t.Errorf("verifier of %q = %s, want an error (PostgreSQL would SASLprep it)", pw, v)
		} else if pw != "" && strings.Contains(err.Error(), pw) {
			t.Errorf("error %q reveals the password", err)
		}
	}
	a, _ := newScramVerifier("same password")
	b, _ := newScramVerifier("same password")
	if a == b {
		t.Error("two verifiers of one password are equal: the salt is not random")
	}
}

func TestRolesSQLHasNoPlaintext(t *testing.T) {
	pw := map[string]string{migrations.RoleFanout: "fanout-Secret-123", migrations.RoleProbe: "probe-Secret-456"}
	sql, err := rolesSQL(Options{Passwords: pw})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pw {
		if strings.Contains(sql, p) {
			t.Errorf("roles SQL carries the plaintext password %q", p)
		}
	}
	if n := strings.Count(sql, "PASSWORD 'SCRAM-SHA-256$4096:"); n != 2 {
		t.Errorf("%d SCRAM verifiers in the roles SQL, want 2", n)
	}
	if _, err := rolesSQL(Options{Passwords: map[string]string{"postgres": "x"}}); err == nil {
		t.Error("a password for a role that is not an application role was accepted")
	}
	if _, err := rolesSQL(Options{IAM: true, Passwords: pw}); err == nil {
		t.Error("passwords with IAM authentication were accepted")
	}
}

// TestRolePasswordsLogIn sets the roles' passwords as verifiers on a server
// that demands SCRAM-SHA-256 of them and logs every statement: each role
// logs in with its password and not with another, the server stores the
// verifier computed here as it is, and the plaintext is nowhere in its log.
func TestRolePasswordsLogIn(t *testing.T) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "watcher-migrator-scram-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // the server runs as postgres
		t.Fatal(err)
	}
	hba := filepath.Join(dir, "pg_hba.conf")
	rules := "local all all trust\nhost all " + localpg.Superuser + " 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
	if err := os.WriteFile(hba, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := localpg.Start(ctx, filepath.Join(dir, "cluster"), localpg.Options{DieWithProcess: true,
		Settings: map[string]string{"hba_file": hba, "log_statement": "all"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = c.Stop(sctx)
	})
	dbURL := pgtest.NewDatabase(t, c)
	owner := connect(t, dbURL)
	pw := map[string]string{migrations.RoleFanout: "Fanout0pen5esame", migrations.RoleProbe: "Pr0be 0pen sesame"}
	if err := EnsureRoles(ctx, owner, Options{Passwords: pw}); err != nil {
		t.Fatal(err)
	}
	login := func(role, password string) error {
		cfg, err := pgx.ParseConfig(as(t, dbURL, role))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Password = password
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		var who string
		if err := conn.QueryRow(ctx, "SELECT current_user").Scan(&who); err != nil || who != role {
			t.Errorf("logged in as %q (%v), want %s", who, err, role)
		}
		return nil
	}
	badPassword := func(err error) bool {
		var pgErr *pgconn.PgError
		return errors.As(err, &pgErr) && pgErr.Code == "28P01" // invalid_password
	}
	for role, p := range pw {
		if err := login(role, p); err != nil {
			t.Errorf("%s with its password: %v", role, err)
		}
		if err := login(role, p+"x"); !badPassword(err) {
			t.Errorf("%s with a wrong password: %v, want invalid_password", role, err)
		}
		// What the server holds is this package's verifier, unchanged.
		var stored string
		if err := owner.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", role).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		_, rest, _ := strings.Cut(stored, ":")
		salt, err := base64.StdEncoding.DecodeString(strings.Split(rest, "$")[0])
		if err != nil {
			t.Fatalf("%s: stored %q is not a SCRAM verifier", role, stored)
		}
		if want, _ := scramVerifier(p, salt, scramIterations); stored != want {
			t.Errorf("%s: server holds %s, want %s", role, stored, want)
		}
	}
	log, err := os.ReadFile(c.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "PASSWORD 'SCRAM-SHA-256$") {
		t.Error("the server log has no ALTER ROLE: the statement log this test relies on is off")
	}
	for _, p := range pw {
		if strings.Contains(string(log), p) {
			t.Errorf("the server log holds the plaintext password %q", p)
		}
	}
	// Without passwords the roles have none again.
	if err := EnsureRoles(ctx, owner, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := login(migrations.RoleProbe, pw[migrations.RoleProbe]); !badPassword(err) {
		t.Errorf("probe after its password was removed: %v, want invalid_password", err)
	}
}

// secretMap is Secrets Manager with a secret per ARN.
type secretMap map[string]string

func (m secretMap) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	v, ok := m[aws.ToString(in.SecretId)]
	if !ok {
		return nil, errors.New("ResourceNotFoundException")
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(v)}, nil
}

// TestHandlerSetsRolePasswords: with role secrets, the handler gives every
// application role the password of its secret; a role without one is an
// error, not a role that cannot log in.
func TestHandlerSetsRolePasswords(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.New(t)
	migrate := func(ctx context.Context, url string) error { return nil }
	sm := secretMap{
		"arn:owner":  secretFor(t, dbURL),
		"arn:fanout": `{"username":"watcher_fanout","password":"FanoutPassw0rd"}`,
		"arn:probe":  `{"username":"watcher_probe","password":"ProbePassw0rd"}`,
	}
	opt := Options{SSLMode: "disable", RoleSecrets: map[string]string{migrations.RoleFanout: "arn:fanout", migrations.RoleProbe: "arn:probe"}}
	sum, err := NewHandler(sm, "arn:owner", migrate, opt, quiet()).Run(ctx, false)
	if err != nil || !sum.Passwords || sum.Upkeep != nil {
		t.Fatalf("Run = %+v, %v; want passwords set and no upkeep", sum, err)
	}
	owner := connect(t, dbURL)
	for role, want := range map[string]string{migrations.RoleFanout: "FanoutPassw0rd", migrations.RoleProbe: "ProbePassw0rd"} {
		var stored string
		if err := owner.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", role).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		_, rest, _ := strings.Cut(stored, ":")
		salt, _ := base64.StdEncoding.DecodeString(strings.Split(rest, "$")[0])
		if v, _ := scramVerifier(want, salt, scramIterations); v != stored {
			t.Errorf("%s holds %q, not the verifier of its secret's password", role, stored)
		}
	}
	delete(opt.RoleSecrets, migrations.RoleProbe)
	if _, err := NewHandler(sm, "arn:owner", migrate, opt, quiet()).Run(ctx, false); err == nil || !strings.Contains(err.Error(), "none for watcher_probe") {
		t.Errorf("a role without a secret: %v", err)
	}
	opt.RoleSecrets[migrations.RoleProbe] = "arn:owner-typo"
	if _, err := NewHandler(sm, "arn:owner", migrate, opt, quiet()).Run(ctx, false); err == nil || !strings.Contains(err.Error(), "arn:owner-typo") {
		t.Errorf("an unreadable secret: %v", err)
	}
}
