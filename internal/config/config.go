// Package config reads the functions' configuration from the environment
// once, at cold start: defaults filled, values validated, unknown WATCHER_*
// variables rejected, every problem named by its variable.
package config

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/watcher-dev/watcher/internal/cost"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/store"
	"github.com/watcher-dev/watcher/migrations"
)

// Env looks a variable up; os.LookupEnv in production, a map in tests.
type Env func(string) (string, bool)

// Common is what every function reads.
type Common struct {
	DatabaseURL     string // DATABASE_URL
	DatabaseIAMAuth bool   // DATABASE_IAM_AUTH: password is an RDS IAM token
	// DatabasePasswordSecretARN is DATABASE_PASSWORD_SECRET_ARN: the
	// password is the "password" field of this Secrets Manager secret (a
	// database of your own, where no IAM token is accepted).
	DatabasePasswordSecretARN string
	Region                    string // AWS_REGION, "local" outside AWS
	// VPC is WATCHER_VPC: the function's traffic passes a NAT gateway,
	// which bills it (the meter's NAT line).
	VPC     bool
	Pricing Pricing
}

// Pricing is how a function prices its own invocations (internal/cost).
type Pricing struct {
	// Arch is WATCHER_ARCH (arm64 or x86_64); empty: the running
	// architecture inside Lambda, arm64 (what infra deploys) elsewhere.
	Arch string
	// Price overrides the price table's for this function's region and
	// architecture, field by field: WATCHER_PRICE_GB_SECOND and
	// WATCHER_PRICE_REQUEST, in USD.
	Price cost.Price
	// StorageKept is how long raw checks are kept (WATCHER_RETENTION_RAW,
	// as the upkeep reads it; store.DefaultRetention.Raw when unset): the
	// storage line prices a check's bytes for that long.
	StorageKept time.Duration
}

// Fanout configures the fanout function.
type Fanout struct {
	Common
	Probes     map[string]string // WATCHER_PROBES: location -> probe function name or ARN
	SpanOffset time.Duration     // WATCHER_SPAN_OFFSET
	MaxDelay   time.Duration     // WATCHER_MAX_DELAY: later events are recorded as missed spans
	// WATCHER_DISPATCH_LEAD: a probe is invoked this long before its
	// shard's first check
	DispatchLead time.Duration
	// WATCHER_PROBE_MEMORY_MB: the probes' memory, which shards are packed
	// to (its CPU budget) and the fanout weighs its own waiting against;
	// default infra's probeMemoryMB (cost.NominalProbeMemoryMB), at which
	// local runs price their probes too
	ProbeMemoryMB int
	Plan          plan.Options // WATCHER_SHARD_MAX_CHECKS
	// WATCHER_RECORD_QUEUE_URL: the spill of the span claim and invocation
	// record the database refused; empty: none
	RecordQueueURL string
}

// Probe configures a probe function.
type Probe struct {
	Common
	Location       string // WATCHER_LOCATION
	AllowPrivate   bool   // WATCHER_ALLOW_PRIVATE: intranet probes
	AllowLoopback  bool   // WATCHER_ALLOW_LOOPBACK: local target farm only
	BatchSize      int    // WATCHER_BATCH_SIZE: checks a write takes at most (default: see FlushEvery)
	RecordQueueURL string // WATCHER_RECORD_QUEUE_URL: probes without a route to the database
	ReuseConns     bool   // WATCHER_REUSE_CONNECTIONS: measure the warm path instead
	FreshDNS       bool   // WATCHER_FRESH_DNS: look every check's host up afresh, past the probe's DNS cache

	// FlushEvery is the longest a check waits for its batch to be written.
	// With the record queue as the sink it and BatchSize default to
	// DefaultQueueFlushEvery and DefaultQueueBatchSize, else to
	// DefaultFlushEvery and DefaultBatchSize.
	FlushEvery time.Duration
}

// Defaults.
const (
	// DefaultSpanOffset absorbs the usual delay of the scheduled event
	// (EventBridge Scheduler without a flexible window; not measured here)
	// and the fanout's work before its first dispatch (0.1 to 0.2 s of
	// planning and invoking in a local run of 10,000 endpoints), with the
	// dispatch lead on top. Whoever waits out the rest each minute is billed for it, the
	// fanout or the first probe: at 10 s that was 8 s of a 192 MB probe a
	// minute, 11 % of what a fleet of 10,000 URLs at 60 s paid for compute.
	// An event or a fanout later than this starts the first checks late,
	// with their lateness recorded.
	DefaultSpanOffset = 5 * time.Second
	DefaultMaxDelay   = 2 * time.Minute
	// DefaultDispatchLead covers an asynchronous Invoke and a probe's cold
	// start (a Go function on provided.al2023 starts in a few hundred ms).
	DefaultDispatchLead = 2 * time.Second
	DefaultBatchSize    = 500
	DefaultFlushEvery   = time.Second
	// A probe whose sink is the record queue sends fewer, fuller messages:
	// SQS bills a request per 64 KiB of a message sent and again received,
	// and one to delete it (cost.QueueChunks, cost.QueueDrainRequests), so a
	// flush of 1 s sends a message per second however few checks it holds.
	// 15 s of a full 16,000-check shard, 4,000 checks at about 40 bytes
	// compressed, is one message of three chunks, seven requests in all;
	// the batch holds 15 s of 40,000 checks a minute, about 400 KB
	// compressed, in two messages. The checks reach the database up to 15 s
	// later.
	DefaultQueueBatchSize  = 10_000
	DefaultQueueFlushEvery = 15 * time.Second
)

// known lists every WATCHER_* variable any function reads.
var known = []string{
	"WATCHER_PROBES", "WATCHER_SPAN_OFFSET", "WATCHER_MAX_DELAY", "WATCHER_DISPATCH_LEAD", "WATCHER_PROBE_MEMORY_MB",
	"WATCHER_SHARD_MAX_CHECKS",
	"WATCHER_LOCATION", "WATCHER_ALLOW_PRIVATE", "WATCHER_ALLOW_LOOPBACK", "WATCHER_BATCH_SIZE",
	"WATCHER_RECORD_QUEUE_URL", "WATCHER_REUSE_CONNECTIONS", "WATCHER_FRESH_DNS", "WATCHER_DB_SECRET_ARN",
	"WATCHER_LOCATIONS", "WATCHER_ARCH", "WATCHER_PRICE_GB_SECOND", "WATCHER_PRICE_REQUEST",
	"WATCHER_PRICE_FIXED", "WATCHER_VPC",
	"WATCHER_RETENTION_RAW", "WATCHER_RETENTION_MINUTE", "WATCHER_RETENTION_HOUR", "WATCHER_RETENTION_DAY",
	"WATCHER_ROLE_SECRETS", "WATCHER_DB_SSLROOTCERT",
	"WATCHER_STATUS_BUCKET", "WATCHER_STATUS_PREFIX", "WATCHER_STATUS_TITLE", // the status page, published by the migrate function
	// Alert notifications, read by internal/notify (LoadConfig).
	"WATCHER_ALERT_WEBHOOK_URL", "WATCHER_ALERT_WEBHOOK_SECRET", "WATCHER_ALERT_WEBHOOK_SECRET_ARN",
	"WATCHER_ALERT_SNS_TOPIC_ARN",
}

// reader accumulates problems so that one run reports all of them.
type reader struct {
	env      Env
	problems []string
}

func (r *reader) str(name, def string) string {
	if v, ok := r.env(name); ok && v != "" {
		return v
	}
	return def
}

func (r *reader) bool(name string) bool {
	v, ok := r.env(name)
	if !ok || v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.problems = append(r.problems, fmt.Sprintf("%s: %q is not true or false", name, v))
	}
	return b
}

func (r *reader) duration(name string, def time.Duration, lo, hi time.Duration) time.Duration {
	v, ok := r.env(name)
	if !ok || v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		r.problems = append(r.problems, fmt.Sprintf("%s: %q is not a duration such as 10s", name, v))
		return def
	}
	if d < lo || d > hi {
		r.problems = append(r.problems, fmt.Sprintf("%s: %s is outside %s..%s", name, d, lo, hi))
	}
	return d
}

func (r *reader) int(name string, def, lo, hi int) int {
	v, ok := r.env(name)
	if !ok || v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		r.problems = append(r.problems, fmt.Sprintf("%s: %q is not a whole number", name, v))
		return def
	}
	if n < lo || n > hi {
		r.problems = append(r.problems, fmt.Sprintf("%s: %d is outside %d..%d", name, n, lo, hi))
	}
	return n
}

// usd reads a price in USD; zero when unset. hi bounds it, so that a price
// per million requests given as a price per request is caught.
func (r *reader) usd(name string, hi float64) float64 {
	v, ok := r.env(name)
	if !ok || v == "" {
		return 0
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		r.problems = append(r.problems, fmt.Sprintf("%s: %q is not an amount of USD such as 0.0000133334", name, v))
		return 0
	}
	if !(f > 0 && f <= hi) {
		r.problems = append(r.problems, fmt.Sprintf("%s: %v is outside (0, %v]", name, f, hi))
	}
	return f
}

func (r *reader) pricing() Pricing {
	p := Pricing{
		Arch: r.str("WATCHER_ARCH", ""),
		Price: cost.Price{
			GBSecond: r.usd("WATCHER_PRICE_GB_SECOND", 0.001),
			Request:  r.usd("WATCHER_PRICE_REQUEST", 0.0001),
		},
		StorageKept: store.DefaultRetention.Raw,
	}
	if v, ok := r.env("WATCHER_RETENTION_RAW"); ok && v != "" {
		d, err := migrations.ParseDays(v)
		if err != nil {
			r.problems = append(r.problems, fmt.Sprintf("WATCHER_RETENTION_RAW: %v", err))
		}
		p.StorageKept = d
	}
	if p.Arch != "" && !cost.ValidArch(p.Arch) {
		r.problems = append(r.problems, fmt.Sprintf("WATCHER_ARCH: %q is not %s or %s", p.Arch, cost.ARM64, cost.X86))
	}
	return p
}

// LoadPricing reads the pricing variables alone, for the `watcher cost`
// command.
func LoadPricing(env Env) (Pricing, error) {
	r := &reader{env: env}
	p := r.pricing()
	return p, r.err("pricing")
}

func (r *reader) common(needDB bool) Common {
	c := Common{
		DatabaseURL:               r.str("DATABASE_URL", ""),
		DatabaseIAMAuth:           r.bool("DATABASE_IAM_AUTH"),
		DatabasePasswordSecretARN: r.str("DATABASE_PASSWORD_SECRET_ARN", ""),
		Region:                    r.str("AWS_REGION", "local"),
		VPC:                       r.bool("WATCHER_VPC"),
		Pricing:                   r.pricing(),
	}
	if needDB && c.DatabaseURL == "" {
		r.problems = append(r.problems, "DATABASE_URL: is required")
	}
	if c.DatabaseIAMAuth && c.DatabasePasswordSecretARN != "" {
		r.problems = append(r.problems, "DATABASE_PASSWORD_SECRET_ARN: set together with DATABASE_IAM_AUTH; the password is an IAM token or a secret, not both")
	}
	return c
}

func (r *reader) err(what string) error {
	if len(r.problems) == 0 {
		return nil
	}
	return fmt.Errorf("%s configuration: %s", what, strings.Join(r.problems, "; "))
}

// UnknownVariables names WATCHER_* variables in environ that no function reads:
// a typo there would otherwise silently leave a default in force.
func UnknownVariables(environ []string) []string {
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "WATCHER_") && !slices.Contains(known, name) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func (r *reader) rejectUnknown(environ []string) {
	for _, name := range UnknownVariables(environ) {
		r.problems = append(r.problems, name+": unknown variable")
	}
}

// LoadFanout reads the fanout's configuration.
func LoadFanout(env Env, environ []string) (Fanout, error) {
	r := &reader{env: env}
	r.rejectUnknown(environ)
	c := Fanout{
		Common:         r.common(true),
		SpanOffset:     r.duration("WATCHER_SPAN_OFFSET", DefaultSpanOffset, 0, 50*time.Second),
		MaxDelay:       r.duration("WATCHER_MAX_DELAY", DefaultMaxDelay, time.Minute, time.Hour),
		DispatchLead:   r.duration("WATCHER_DISPATCH_LEAD", DefaultDispatchLead, 0, time.Minute),
		ProbeMemoryMB:  r.int("WATCHER_PROBE_MEMORY_MB", cost.NominalProbeMemoryMB, 128, 10_240),
		Plan:           plan.DefaultOptions,
		RecordQueueURL: r.str("WATCHER_RECORD_QUEUE_URL", ""),
	}
	c.Plan.MaxChecks = r.int("WATCHER_SHARD_MAX_CHECKS", plan.DefaultOptions.MaxChecks, 1, 100_000)
	c.Plan.CPUBudget = plan.CPUBudget(c.ProbeMemoryMB, plan.CPUShare)
	raw := r.str("WATCHER_PROBES", "")
	switch raw {
	case "":
		r.problems = append(r.problems, `WATCHER_PROBES: is required, e.g. {"home":"watcher-probe-home"}`)
	default:
		if err := json.Unmarshal([]byte(raw), &c.Probes); err != nil {
			r.problems = append(r.problems, fmt.Sprintf("WATCHER_PROBES: not a JSON object of location to function: %v", err))
		} else if len(c.Probes) == 0 {
			r.problems = append(r.problems, "WATCHER_PROBES: names no location")
		}
		for loc, fn := range c.Probes {
			if loc == "" || fn == "" {
				r.problems = append(r.problems, fmt.Sprintf("WATCHER_PROBES: location %q maps to function %q; both must be set", loc, fn))
			}
		}
	}
	return c, r.err("fanout")
}

// QueueSink reports whether the probe writes its checks to the record queue:
// when it has no database (a probe outside the home VPC). With a database
// the database is the sink and the queue, if any, only the spill. The one
// place that choice is made; probe.OutputsFromConfig follows it.
func (c Probe) QueueSink() bool { return c.DatabaseURL == "" && c.RecordQueueURL != "" }

// LoadProbe reads a probe's configuration.
func LoadProbe(env Env, environ []string) (Probe, error) {
	r := &reader{env: env}
	r.rejectUnknown(environ)
	c := Probe{
		Location:       r.str("WATCHER_LOCATION", ""),
		AllowPrivate:   r.bool("WATCHER_ALLOW_PRIVATE"),
		AllowLoopback:  r.bool("WATCHER_ALLOW_LOOPBACK"),
		RecordQueueURL: r.str("WATCHER_RECORD_QUEUE_URL", ""),
		ReuseConns:     r.bool("WATCHER_REUSE_CONNECTIONS"),
		FreshDNS:       r.bool("WATCHER_FRESH_DNS"),
	}
	c.Common = r.common(c.RecordQueueURL == "")
	batch, flush := DefaultBatchSize, DefaultFlushEvery
	if c.QueueSink() {
		batch, flush = DefaultQueueBatchSize, DefaultQueueFlushEvery
	}
	c.BatchSize = r.int("WATCHER_BATCH_SIZE", batch, 1, 10_000)
	c.FlushEvery = flush
	if c.Location == "" {
		r.problems = append(r.problems, "WATCHER_LOCATION: is required")
	}
	return c, r.err("probe")
}

// LoadDrain reads the drain function's configuration: just the database.
func LoadDrain(env Env, environ []string) (Common, error) {
	r := &reader{env: env}
	r.rejectUnknown(environ)
	c := r.common(true)
	return c, r.err("drain")
}

// Migrate configures the migrate function.
type Migrate struct {
	SecretARN string // WATCHER_DB_SECRET_ARN: the owner's credentials, as RDS generates them
	IAMAuth   bool   // DATABASE_IAM_AUTH: the application roles log in with IAM tokens
	// RoleSecrets is WATCHER_ROLE_SECRETS, a JSON object of application role
	// to the ARN of the secret holding its password: on a database of your
	// own the roles log in with passwords, which the migrate function sets.
	RoleSecrets map[string]string
	// SSLRootCert is WATCHER_DB_SSLROOTCERT: the owner connection verifies
	// the server's certificate and host name against this CA file
	// (sslmode=verify-full): the RDS CA bundle on RDS (required with
	// DATABASE_IAM_AUTH), your CA on a database of your own; empty: the
	// system roots.
	SSLRootCert string
	// Retention is what the scheduled upkeep keeps, from
	// WATCHER_RETENTION_RAW, _MINUTE, _HOUR and _DAY ("14d" or "36h"); unset
	// levels take store.DefaultRetention.
	Retention store.Retention
	// StatusBucket is WATCHER_STATUS_BUCKET: after each scheduled upkeep
	// the status page is written to this S3 bucket, under
	// WATCHER_STATUS_PREFIX ("" for the bucket's root) and titled
	// WATCHER_STATUS_TITLE; empty: no status page.
	StatusBucket, StatusPrefix, StatusTitle string
}

// LoadMigrate reads the migrate function's configuration.
func LoadMigrate(env Env, environ []string) (Migrate, error) {
	r := &reader{env: env}
	r.rejectUnknown(environ)
	c := Migrate{
		SecretARN:    r.str("WATCHER_DB_SECRET_ARN", ""),
		IAMAuth:      r.bool("DATABASE_IAM_AUTH"),
		SSLRootCert:  r.str("WATCHER_DB_SSLROOTCERT", ""),
		Retention:    r.retention(),
		StatusBucket: r.str("WATCHER_STATUS_BUCKET", ""),
		StatusPrefix: r.str("WATCHER_STATUS_PREFIX", ""),
		StatusTitle:  r.str("WATCHER_STATUS_TITLE", ""),
	}
	if c.StatusBucket == "" && (c.StatusPrefix != "" || c.StatusTitle != "") {
		r.problems = append(r.problems, "WATCHER_STATUS_BUCKET: is required with WATCHER_STATUS_PREFIX or WATCHER_STATUS_TITLE")
	}
	if c.SecretARN == "" {
		r.problems = append(r.problems, "WATCHER_DB_SECRET_ARN: is required")
	}
	if c.IAMAuth && c.SSLRootCert == "" {
		// On RDS the owner connects to the instance itself, whose
		// certificate only the RDS CA bundle verifies.
		r.problems = append(r.problems, "WATCHER_DB_SSLROOTCERT: is required with DATABASE_IAM_AUTH: the RDS CA bundle, against which the instance's certificate is verified")
	}
	if raw := r.str("WATCHER_ROLE_SECRETS", ""); raw != "" {
		if err := json.Unmarshal([]byte(raw), &c.RoleSecrets); err != nil {
			r.problems = append(r.problems, fmt.Sprintf("WATCHER_ROLE_SECRETS: not a JSON object of role to secret ARN: %v", err))
		}
		for role, arn := range c.RoleSecrets {
			if role == "" || arn == "" {
				r.problems = append(r.problems, fmt.Sprintf("WATCHER_ROLE_SECRETS: role %q maps to secret %q; both must be set", role, arn))
			}
		}
		if c.IAMAuth && len(c.RoleSecrets) > 0 {
			r.problems = append(r.problems, "WATCHER_ROLE_SECRETS: set together with DATABASE_IAM_AUTH; roles log in with IAM tokens or passwords, not both")
		}
	}
	return c, r.err("migrate")
}

// retention reads the four retention variables and checks the whole, with
// defaults filled, so that a bad retention stops the cold start rather than
// the upkeep.
func (r *reader) retention() store.Retention {
	var ret store.Retention
	var bad bool
	for _, l := range []struct {
		name string
		v    *time.Duration
	}{
		{"WATCHER_RETENTION_RAW", &ret.Raw}, {"WATCHER_RETENTION_MINUTE", &ret.Minute},
		{"WATCHER_RETENTION_HOUR", &ret.Hour}, {"WATCHER_RETENTION_DAY", &ret.Day},
	} {
		v, ok := r.env(l.name)
		if !ok || v == "" {
			continue
		}
		d, err := migrations.ParseDays(v)
		if err != nil {
			r.problems = append(r.problems, fmt.Sprintf("%s: %v", l.name, err))
			bad = true
			continue
		}
		*l.v = d
	}
	if !bad {
		if err := ret.WithDefaults().Validate(); err != nil {
			r.problems = append(r.problems, fmt.Sprintf("WATCHER_RETENTION_*: %v", err))
		}
	}
	return ret
}

// LoadRetention reads the four retention variables alone, for the upkeep
// of `watcher run`: the levels set, checked as a whole with the defaults.
func LoadRetention(env Env) (store.Retention, error) {
	r := &reader{env: env}
	ret := r.retention()
	return ret, r.err("retention")
}

// OS is the process environment.
func OS() (Env, []string) { return os.LookupEnv, os.Environ() }
