// Package migrator is the migrate function's logic: it reads the database
// owner's credentials from the Secrets Manager secret RDS generated (or the
// operator made, for a database of their own), applies the embedded
// migrations, and makes the application roles exist with exactly the
// privileges they need and nothing more. Scheduled, it also does the
// database's upkeep (store.Maintain).
package migrator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5"

	"github.com/watcher-dev/watcher/internal/emf"
	"github.com/watcher-dev/watcher/internal/record"
	smsecrets "github.com/watcher-dev/watcher/internal/secrets"
	"github.com/watcher-dev/watcher/internal/status"
	"github.com/watcher-dev/watcher/internal/store"
)

// SecretsManager is the one call the migrator makes to AWS.
type SecretsManager = smsecrets.SecretsManager

// MigrateFunc applies the migrations to the database at url
// (store.Migrate in production).
type MigrateFunc func(ctx context.Context, url string) error

// Secret is the JSON of an RDS-generated database secret.
type Secret struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Host     string `json:"host"`
	Port     int    `json:"port"`
	DBName   string `json:"dbname"`
}

// ParseSecret decodes and checks a secret. Errors name fields, never values.
func ParseSecret(b []byte) (Secret, error) {
	var raw struct {
		Username string          `json:"username"`
		Password string          `json:"password"`
		Host     string          `json:"host"`
		Port     json.RawMessage `json:"port"` // a number from RDS, a string from some tools
		DBName   string          `json:"dbname"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return Secret{}, errors.New("database secret: not a JSON object with username, password, host, port, dbname")
	}
	s := Secret{Username: raw.Username, Password: raw.Password, Host: raw.Host, Port: 5432, DBName: raw.DBName}
	if len(raw.Port) > 0 {
		p, err := strconv.Atoi(string(trimQuotes(raw.Port)))
		if err != nil || p <= 0 || p > 65535 {
			return Secret{}, errors.New("database secret: port is not a port number")
		}
		s.Port = p
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"username", s.Username}, {"password", s.Password}, {"host", s.Host}, {"dbname", s.DBName}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return Secret{}, fmt.Errorf("database secret: missing %v", missing)
	}
	return s, nil
}

func trimQuotes(b []byte) []byte {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		return b[1 : len(b)-1]
	}
	return b
}

// URL is the owner's connection URL. With a CA file (rootCert: the RDS CA
// bundle on RDS, your CA on a database of your own) the server's
// certificate and name are verified against it (sslmode=verify-full).
// Otherwise sslmode applies (tests against a local cluster say "disable");
// when empty, verify-full against the system roots: never a connection that
// is encrypted but whose server is not verified, which is what the owner's
// password would be sent to.
func (s Secret) URL(sslmode, rootCert string) string {
	q := url.Values{"connect_timeout": {"10"}}
	switch {
	case rootCert != "":
		q.Set("sslmode", "verify-full")
		q.Set("sslrootcert", rootCert)
	case sslmode != "":
		q.Set("sslmode", sslmode)
	default:
		q.Set("sslmode", "verify-full")
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(s.Username, s.Password),
		Host:     net.JoinHostPort(s.Host, strconv.Itoa(s.Port)),
		Path:     "/" + s.DBName,
		RawQuery: q.Encode(),
	}
	return u.String()
}

// Handler is the migrate function: one invocation migrates and ensures the
// roles. Safe to run any number of times, from deploys and schedules alike.
type Handler struct {
	http      *http.Client
	sm        SecretsManager
	secretARN string
	migrate   MigrateFunc
	opt       Options
	log       *slog.Logger
}

// NewHandler returns the handler for the secret at secretARN.
func NewHandler(sm SecretsManager, secretARN string, migrate MigrateFunc, opt Options, log *slog.Logger) *Handler {
	return &Handler{http: http.DefaultClient, sm: sm, secretARN: secretARN, migrate: migrate, opt: opt, log: log}
}

// Summary is what an invocation returns.
type Summary struct {
	Roles []string `json:"roles"`
	IAM   bool     `json:"iam"`
	// Passwords: the roles log in with the passwords of their secrets.
	Passwords bool    `json:"passwords"`
	Duration  float64 `json:"duration_ms"`
	// Upkeep is what store.Maintain did, on scheduled runs only.
	Upkeep *store.MaintainResult `json:"upkeep,omitempty"`
	// StatusPage says whether the status page was published after the
	// upkeep: "published", "failed" (the log says why), or "" when none is
	// configured.
	StatusPage string `json:"status_page,omitempty"`
}

// Invoke runs the migrations. A CloudFormation custom resource event (a
// deploy) is answered through its response URL; any other payload (the
// schedule, a manual invoke) just means "now", and does the upkeep too.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var ev cfn.Event
	if json.Unmarshal(payload, &ev) == nil && ev.RequestType != "" && ev.ResponseURL != "" {
		return nil, h.customResource(ctx, &ev)
	}
	sum, err := h.Run(ctx, true)
	if err != nil {
		return nil, err
	}
	return json.Marshal(sum)
}

// physicalID names the one migrations resource of a stack.
const physicalID = "watcher-migrations"

// respondMargin is kept before the invocation deadline to answer
// CloudFormation even when the migration ran out of time.
const respondMargin = 10 * time.Second

// customResource handles a deploy. Delete does nothing (the schema and its
// data outlive the stack resource), and neither does the update of a
// rollback, because migrations only go forward: a rollback re-runs the
// previous function version's properties, identified by a lower version
// number, while the newer code is still deployed.
func (h *Handler) customResource(ctx context.Context, ev *cfn.Event) error {
	resp := cfn.NewResponse(ev)
	resp.PhysicalResourceID = ev.PhysicalResourceID
	if resp.PhysicalResourceID == "" {
		resp.PhysicalResourceID = physicalID
	}
	resp.Status = cfn.StatusSuccess
	switch {
	case ev.RequestType == cfn.RequestDelete:
		resp.Reason = "migrations are not undone"
	case isRollback(ev):
		resp.Reason = "rollback: migrations only go forward"
	default:
		runCtx := ctx
		if dl, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			runCtx, cancel = context.WithDeadline(ctx, dl.Add(-respondMargin))
			defer cancel()
		}
		// No upkeep: a deploy should not wait for it, and the schedule
		// does it within 15 minutes.
		sum, err := h.Run(runCtx, false)
		if err != nil {
			resp.Status = cfn.StatusFailed
			resp.Reason = truncate(err.Error(), 1024)
			h.log.Error("migrate", "request", ev.RequestType, "err", err)
		} else {
			resp.Data = map[string]any{"Roles": strings.Join(sum.Roles, ",")}
		}
	}
	h.log.Info("custom resource", "request", ev.RequestType, "status", resp.Status, "reason", resp.Reason)
	return h.respond(context.WithoutCancel(ctx), ev.ResponseURL, resp)
}

func isRollback(ev *cfn.Event) bool {
	if ev.RequestType != cfn.RequestUpdate {
		return false
	}
	version := func(props map[string]any) (int, bool) {
		v, err := strconv.Atoi(fmt.Sprint(props["FunctionVersion"]))
		return v, err == nil
	}
	now, ok1 := version(ev.ResourceProperties)
	before, ok2 := version(ev.OldResourceProperties)
	return ok1 && ok2 && now < before
}

// respond uploads the answer to the presigned S3 URL CloudFormation waits on.
func (h *Handler) respond(ctx context.Context, responseURL string, resp *cfn.Response) error {
	body, err := json.Marshal(resp)
	if err != nil {
		return fmt.Errorf("encode custom resource response: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, responseURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("custom resource response: %w", err)
	}
	res, err := h.http.Do(req)
	if err != nil {
		return fmt.Errorf("send custom resource response: %w", err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("send custom resource response: status %s", res.Status)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// Run fetches the owner's credentials (and the roles' passwords, where they
// have any), migrates and ensures the roles; with upkeep it then does the
// database's upkeep.
func (h *Handler) Run(ctx context.Context, upkeep bool) (Summary, error) {
	start := time.Now()
	out, err := h.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(h.secretARN)})
	if err != nil {
		return Summary{}, fmt.Errorf("read database secret %s: %w", h.secretARN, err)
	}
	sec, err := ParseSecret([]byte(aws.ToString(out.SecretString)))
	if err != nil {
		return Summary{}, err
	}
	opt := h.opt
	if opt.Passwords, err = h.rolePasswords(ctx); err != nil {
		return Summary{}, err
	}
	dbURL := sec.URL(opt.SSLMode, opt.SSLRootCert)
	if err := h.migrate(ctx, dbURL); err != nil {
		return Summary{}, fmt.Errorf("apply migrations: %w", err)
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return Summary{}, fmt.Errorf("connect as database owner: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := EnsureRoles(ctx, conn, opt); err != nil {
		return Summary{}, err
	}
	sum := Summary{Roles: appRoles(), IAM: opt.IAM, Passwords: len(opt.Passwords) > 0}
	if upkeep {
		u, err := h.upkeep(ctx, dbURL)
		if err != nil {
			return Summary{}, err
		}
		sum.Upkeep = u
		if h.opt.StatusPage != nil {
			sum.StatusPage = h.publishStatus(ctx, dbURL)
		}
	}
	sum.Duration = record.MS(time.Since(start))
	h.log.Info("migrated", "roles", sum.Roles, "iam", sum.IAM, "passwords", sum.Passwords, "upkeep", sum.Upkeep, "duration_ms", sum.Duration)
	return sum, nil
}

// rolePasswords reads the password of every application role from its
// secret, or returns nil when the roles have no secrets. Errors name the
// role and the secret, never a value.
func (h *Handler) rolePasswords(ctx context.Context) (map[string]string, error) {
	if len(h.opt.RoleSecrets) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, role := range appRoles() {
		arn, ok := h.opt.RoleSecrets[role]
		if !ok {
			return nil, fmt.Errorf("role secrets: none for %s; every application role needs one", role)
		}
		pw, err := smsecrets.DatabasePassword(ctx, h.sm, arn)
		if err != nil {
			return nil, fmt.Errorf("role %s: %w", role, err)
		}
		out[role] = pw
	}
	return out, nil
}

// upkeep does the database's upkeep once, as the owner: partitions ahead,
// rollups up to date, retention applied.
func (h *Handler) upkeep(ctx context.Context, dbURL string) (*store.MaintainResult, error) {
	st, err := store.Open(ctx, dbURL, store.WithLogger(h.log))
	if err != nil {
		return nil, fmt.Errorf("upkeep: %w", err)
	}
	defer st.Close()
	r, err := st.Maintain(ctx, h.opt.Retention.WithDefaults(), time.Now())
	if err != nil {
		return nil, fmt.Errorf("upkeep: %w", err)
	}
	return &r, nil
}

// publishStatus publishes the status page as the owner (status.Publish
// brings the rollups up to date) and returns "published" or "failed". A
// failure is logged and counted, never returned: the page is secondary to
// the migrations and the upkeep, and the next run tries again.
func (h *Handler) publishStatus(ctx context.Context, dbURL string) string {
	err := func() error {
		st, err := store.Open(ctx, dbURL, store.WithLogger(h.log))
		if err != nil {
			return err
		}
		defer st.Close()
		return status.Publish(ctx, st, h.opt.StatusPage, time.Now(), status.Options{Title: h.opt.StatusTitle})
	}()
	failures, result := 0.0, "published"
	if err != nil {
		failures, result = 1, "failed"
		h.log.Error("status page not published", "err", err)
	}
	if h.opt.Metrics != nil {
		if err := emf.Write(h.opt.Metrics, time.Now(), map[string]string{"function": "migrate"},
			[]emf.Metric{{Name: "StatusPageFailures", Unit: "Count", Value: failures}}); err != nil {
			h.log.Warn("write metrics line", "err", err)
		}
	}
	return result
}
