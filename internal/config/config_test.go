package config

import (
	"strings"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/cost"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/store"
)

func envOf(m map[string]string) (Env, []string) {
	var environ []string
	for k, v := range m {
		environ = append(environ, k+"="+v)
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }, environ
}

func TestLoadFanout(t *testing.T) {
	c, err := LoadFanout(envOf(map[string]string{
		"DATABASE_URL":             "postgres://fanout@proxy:5432/watcher",
		"DATABASE_IAM_AUTH":        "true",
		"WATCHER_PROBES":           `{"home":"arn:aws:lambda:eu-west-1:1:function:p","us":"arn:aws:lambda:us-east-1:1:function:p"}`,
		"WATCHER_SHARD_MAX_CHECKS": "500",
		"AWS_REGION":               "eu-west-1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.DatabaseIAMAuth || len(c.Probes) != 2 || c.Plan.MaxChecks != 500 || c.SpanOffset != DefaultSpanOffset || c.MaxDelay != DefaultMaxDelay || c.Region != "eu-west-1" {
		t.Errorf("config %+v", c)
	}
}

// TestFanoutWeighsTheProbesMemory: the probes' memory sets the CPU budget
// shards are packed to and the lead and waiting rules; unset, the defaults.
func TestFanoutWeighsTheProbesMemory(t *testing.T) {
	base := map[string]string{"DATABASE_URL": "x", "WATCHER_PROBES": `{"home":"p"}`}
	c, err := LoadFanout(envOf(base))
	if err != nil {
		t.Fatal(err)
	}
	if c.ProbeMemoryMB != cost.NominalProbeMemoryMB || c.Plan.CPUBudget != plan.DefaultOptions.CPUBudget || c.DispatchLead != DefaultDispatchLead {
		t.Errorf("defaults: probe memory %d, CPU budget %s, lead %s", c.ProbeMemoryMB, c.Plan.CPUBudget, c.DispatchLead)
	}
	base["WATCHER_PROBE_MEMORY_MB"], base["WATCHER_DISPATCH_LEAD"] = "128", "1s"
	if c, err = LoadFanout(envOf(base)); err != nil {
		t.Fatal(err)
	}
	if want := plan.CPUBudget(128, plan.CPUShare); c.ProbeMemoryMB != 128 || c.Plan.CPUBudget != want || c.DispatchLead != time.Second {
		t.Errorf("128 MB: probe memory %d, CPU budget %s (want %s), lead %s", c.ProbeMemoryMB, c.Plan.CPUBudget, want, c.DispatchLead)
	}
	base["WATCHER_PROBE_MEMORY_MB"] = "lots"
	if _, err := LoadFanout(envOf(base)); err == nil || !strings.Contains(err.Error(), "WATCHER_PROBE_MEMORY_MB") {
		t.Errorf("a bad probe memory: error %v, want one naming WATCHER_PROBE_MEMORY_MB", err)
	}
}

func TestLoadProbeDefaults(t *testing.T) {
	c, err := LoadProbe(envOf(map[string]string{"DATABASE_URL": "postgres://x@h/db", "WATCHER_LOCATION": "home"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.BatchSize != DefaultBatchSize || c.FlushEvery != DefaultFlushEvery || c.AllowPrivate || c.AllowLoopback || c.Region != "local" {
		t.Errorf("config %+v", c)
	}
	// A probe without a route to the database needs only its queue.
	if _, err := LoadProbe(envOf(map[string]string{"WATCHER_LOCATION": "us", "WATCHER_RECORD_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/1/q"})); err != nil {
		t.Errorf("queue probe: %v", err)
	}
}

// TestProbeBatchesBySink: a probe whose sink is the record queue writes
// larger batches less often than one writing to the database (with the
// queue as its spill or not); WATCHER_BATCH_SIZE overrides either.
func TestProbeBatchesBySink(t *testing.T) {
	const db, queue = "postgres://x@h/db", "https://sqs.eu-west-1.amazonaws.com/1/q"
	tests := []struct {
		name      string
		env       map[string]string
		wantBatch int
		wantFlush time.Duration
	}{
		{"database", map[string]string{"DATABASE_URL": db}, DefaultBatchSize, DefaultFlushEvery},
		{"database, queue as spill", map[string]string{"DATABASE_URL": db, "WATCHER_RECORD_QUEUE_URL": queue}, DefaultBatchSize, DefaultFlushEvery},
		{"queue", map[string]string{"WATCHER_RECORD_QUEUE_URL": queue}, DefaultQueueBatchSize, DefaultQueueFlushEvery},
		{"queue, batch size set", map[string]string{"WATCHER_RECORD_QUEUE_URL": queue, "WATCHER_BATCH_SIZE": "300"}, 300, DefaultQueueFlushEvery},
		{"database, batch size set", map[string]string{"DATABASE_URL": db, "WATCHER_BATCH_SIZE": "300"}, 300, DefaultFlushEvery},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.env["WATCHER_LOCATION"] = "us"
			c, err := LoadProbe(envOf(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if c.BatchSize != tt.wantBatch || c.FlushEvery != tt.wantFlush {
				t.Errorf("batch %d every %s; want %d every %s", c.BatchSize, c.FlushEvery, tt.wantBatch, tt.wantFlush)
			}
		})
	}
	if DefaultQueueFlushEvery <= DefaultFlushEvery || DefaultQueueBatchSize < 20_000*int(DefaultQueueFlushEvery/time.Second)/60 {
		t.Errorf("queue batches of %d every %s: want a longer flush than %s, and room for one of a 20,000-check-a-minute shard",
			DefaultQueueBatchSize, DefaultQueueFlushEvery, DefaultFlushEvery)
	}
}

func TestLoadNamesEveryProblem(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		load func(Env, []string) error
		want []string
	}{
		{"fanout", map[string]string{
			"WATCHER_PROBES": `["home"]`, "WATCHER_SPAN_OFFSET": "ten", "WATCHER_MAX_DELAY": "10s",
			"WATCHER_SHARD_MAX_CHECKS": "0", "WATCHER_PROBE": "typo", "DATABASE_IAM_AUTH": "yes please",
		}, func(e Env, env []string) error { _, err := LoadFanout(e, env); return err },
			[]string{"DATABASE_URL: is required", "WATCHER_PROBES: not a JSON object", "WATCHER_SPAN_OFFSET", "WATCHER_MAX_DELAY: 10s is outside", "WATCHER_SHARD_MAX_CHECKS: 0 is outside", "WATCHER_PROBE: unknown variable", "DATABASE_IAM_AUTH"}},
		{"fanout empty probe map", map[string]string{"DATABASE_URL": "x", "WATCHER_PROBES": `{"home":""}`},
			func(e Env, env []string) error { _, err := LoadFanout(e, env); return err },
			[]string{`location "home" maps to function ""`}},
		{"probe", map[string]string{"WATCHER_BATCH_SIZE": "lots", "WATCHER_ALLOW_PRIVATE": "sometimes"},
			func(e Env, env []string) error { _, err := LoadProbe(e, env); return err },
			[]string{"WATCHER_LOCATION: is required", "DATABASE_URL: is required", "WATCHER_BATCH_SIZE", "WATCHER_ALLOW_PRIVATE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.load(envOf(tt.env))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestDurationsParse(t *testing.T) {
	c, err := LoadFanout(envOf(map[string]string{"DATABASE_URL": "x", "WATCHER_PROBES": `{"home":"p"}`, "WATCHER_SPAN_OFFSET": "15s", "WATCHER_MAX_DELAY": "3m"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.SpanOffset != 15*time.Second || c.MaxDelay != 3*time.Minute {
		t.Errorf("config %+v", c)
	}
}

func TestLoadMigrateRetention(t *testing.T) {
	base := func(kv ...string) map[string]string {
		m := map[string]string{"WATCHER_DB_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:1:secret:db-abc"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    store.Retention
		wantErr []string
	}{
		{name: "unset: the store's defaults apply later", env: base()},
		{name: "days and durations", env: base("WATCHER_RETENTION_RAW", "7d", "WATCHER_RETENTION_MINUTE", "36h", "WATCHER_RETENTION_HOUR", "90", "WATCHER_RETENTION_DAY", "730d"),
			want: store.Retention{Raw: 7 * store.Day, Minute: 36 * time.Hour, Hour: 90 * store.Day, Day: 730 * store.Day}},
		{name: "not a retention", env: base("WATCHER_RETENTION_RAW", "two weeks", "WATCHER_RETENTION_DAY", "-3d"),
			wantErr: []string{`WATCHER_RETENTION_RAW: `, `"two weeks"`, `WATCHER_RETENTION_DAY: `, `"-3d"`}},
		{name: "below a day", env: base("WATCHER_RETENTION_MINUTE", "12h"), wantErr: []string{"WATCHER_RETENTION_*", "minute retention 12h0m0s is below one day"}},
		// The hourly rollups are computed from raw checks: raw checks kept
		// longer than the default hourly rollups leaves a gap in them.
		{name: "a rollup shorter than what feeds it, with defaults filled", env: base("WATCHER_RETENTION_RAW", "400d"),
			wantErr: []string{"WATCHER_RETENTION_*", "hour retention 395d is shorter than the raw retention 400d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadMigrate(envOf(tt.env))
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("LoadMigrate succeeded with %+v, want errors %q", c.Retention, tt.wantErr)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error lacks %q:\n%v", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Retention != tt.want {
				t.Errorf("retention %+v, want %+v", c.Retention, tt.want)
			}
		})
	}
}

func TestLoadMigrateRoleSecrets(t *testing.T) {
	env := map[string]string{
		"WATCHER_DB_SECRET_ARN":  "arn:owner",
		"WATCHER_ROLE_SECRETS":   `{"watcher_fanout":"arn:fanout","watcher_probe":"arn:probe"}`,
		"WATCHER_DB_SSLROOTCERT": "/opt/watcher-ca/ca.pem",
	}
	c, err := LoadMigrate(envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.RoleSecrets) != 2 || c.RoleSecrets["watcher_probe"] != "arn:probe" || c.SSLRootCert != "/opt/watcher-ca/ca.pem" {
		t.Errorf("config %+v", c)
	}
	env["DATABASE_IAM_AUTH"] = "true"
	if _, err := LoadMigrate(envOf(env)); err == nil || !strings.Contains(err.Error(), "WATCHER_ROLE_SECRETS: set together with DATABASE_IAM_AUTH") {
		t.Errorf("IAM and passwords: error %v", err)
	}
	env["WATCHER_ROLE_SECRETS"] = `["arn:fanout"]`
	if _, err := LoadMigrate(envOf(env)); err == nil || !strings.Contains(err.Error(), "WATCHER_ROLE_SECRETS: not a JSON object") {
		t.Errorf("a list: error %v", err)
	}
}

func TestPasswordSecretIsNotIAM(t *testing.T) {
	env := map[string]string{"DATABASE_URL": "postgres://watcher_probe@db:5432/watcher", "DATABASE_PASSWORD_SECRET_ARN": "arn:probe"}
	c, err := LoadDrain(envOf(env))
	if err != nil || c.DatabasePasswordSecretARN != "arn:probe" {
		t.Fatalf("LoadDrain = %+v, %v", c, err)
	}
	env["DATABASE_IAM_AUTH"] = "true"
	if _, err := LoadDrain(envOf(env)); err == nil || !strings.Contains(err.Error(), "DATABASE_PASSWORD_SECRET_ARN") {
		t.Errorf("IAM and a password secret: error %v", err)
	}
}

// TestLoadMigrateRDSNeedsTheCABundle: on RDS (IAM authentication) the owner
// connects to the instance itself, so the migrate function refuses to start
// without the RDS CA bundle to verify it against (issue 14).
func TestLoadMigrateRDSNeedsTheCABundle(t *testing.T) {
	env := map[string]string{"WATCHER_DB_SECRET_ARN": "arn:owner", "DATABASE_IAM_AUTH": "true"}
	if _, err := LoadMigrate(envOf(env)); err == nil || !strings.Contains(err.Error(), "WATCHER_DB_SSLROOTCERT: is required with DATABASE_IAM_AUTH") {
		t.Errorf("IAM without a CA file: error %v", err)
	}
	env["WATCHER_DB_SSLROOTCERT"] = "/opt/watcher/database-ca.pem"
	c, err := LoadMigrate(envOf(env))
	if err != nil || !c.IAMAuth || c.SSLRootCert != "/opt/watcher/database-ca.pem" {
		t.Errorf("LoadMigrate = %+v, %v", c, err)
	}
}

func TestLoadMigrateStatusPage(t *testing.T) {
	arn := "arn:aws:secretsmanager:eu-west-1:1:secret:db-abc"
	c, err := LoadMigrate(envOf(map[string]string{"WATCHER_DB_SECRET_ARN": arn, "WATCHER_STATUS_BUCKET": "status-site",
		"WATCHER_STATUS_PREFIX": "status", "WATCHER_STATUS_TITLE": "Example status"}))
	if err != nil || c.StatusBucket != "status-site" || c.StatusPrefix != "status" || c.StatusTitle != "Example status" {
		t.Errorf("LoadMigrate = %+v, %v", c, err)
	}
	if c, err := LoadMigrate(envOf(map[string]string{"WATCHER_DB_SECRET_ARN": arn})); err != nil || c.StatusBucket != "" {
		t.Errorf("without a bucket: %+v, %v; want no status page", c, err)
	}
	_, err = LoadMigrate(envOf(map[string]string{"WATCHER_DB_SECRET_ARN": arn, "WATCHER_STATUS_PREFIX": "status"}))
	if err == nil || !strings.Contains(err.Error(), "WATCHER_STATUS_BUCKET: is required") {
		t.Errorf("a prefix without a bucket: %v, want an error naming WATCHER_STATUS_BUCKET", err)
	}
}
