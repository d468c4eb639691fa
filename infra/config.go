package main

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/watcher-dev/watcher/migrations"
)

// Config is the fleet's deployment configuration, read once from the CDK
// context (cdk.json "context", cdk.context.json, or -c key=value on the
// command line). Every key is optional; Defaults lists the values in force
// when a key is absent. infra/DEPLOY.md documents each key.
type Config struct {
	// HomeRegion holds the database, the proxy, the fanout, the home probe,
	// the record queue and its drain.
	HomeRegion string `json:"homeRegion"`
	// Prefix starts every physical name (functions, queues), so that names
	// and ARNs are known before deployment and two fleets can share an account.
	Prefix string `json:"prefix"`
	// AssetDir holds the bootstrap binaries built by `make build`, one
	// directory per function: <AssetDir>/fanout/bootstrap, ...
	AssetDir string `json:"assetDir"`

	// ProbeRegions adds a probe location named after each region.
	ProbeRegions []string `json:"probeRegions"`
	// Intranets adds a VPC-attached probe location per entry.
	Intranets []Intranet `json:"intranets"`

	FanoutMemoryMB int `json:"fanoutMemoryMB"`
	// FanoutReservedConcurrency is reserved for the fanout alone, so that
	// probes filling the account's concurrency cannot throttle it (a
	// throttled fanout plans its span late or never). About two run at once
	// (an invocation lasts its span and then some), so 3 leaves room for a
	// retry. 0 reserves none: an account whose quota is 10, as new accounts'
	// are, may reserve nothing (Lambda keeps a minimum unreserved).
	FanoutReservedConcurrency int `json:"fanoutReservedConcurrency"`
	ProbeMemoryMB             int `json:"probeMemoryMB"`
	DrainMemoryMB             int `json:"drainMemoryMB"`
	MigrateMemoryMB           int `json:"migrateMemoryMB"`

	ShardMaxChecks int      `json:"shardMaxChecks"` // WATCHER_SHARD_MAX_CHECKS
	SpanOffset     Duration `json:"spanOffset"`     // WATCHER_SPAN_OFFSET
	MaxDelay       Duration `json:"maxDelay"`       // WATCHER_MAX_DELAY
	// MaxCheckTimeout is the longest timeout any endpoint may have; a probe
	// must outlive its span plus its slowest check, so it sets the probes'
	// Lambda timeout. Endpoint timeouts never exceed 300 s (their interval).
	MaxCheckTimeout Duration `json:"maxCheckTimeout"`

	LogRetentionDays int    `json:"logRetentionDays"`
	AlarmEmail       string `json:"alarmEmail"`
	// SecretPrefix is the Secrets Manager name prefix of basic-auth
	// passwords; probes may read only secrets under it.
	SecretPrefix string `json:"secretPrefix"`

	DBInstanceClass          string `json:"dbInstanceClass"`
	DBAllocatedStorageGiB    int    `json:"dbAllocatedStorageGiB"`
	DBMaxAllocatedStorageGiB int    `json:"dbMaxAllocatedStorageGiB"`
	DBBackupRetentionDays    int    `json:"dbBackupRetentionDays"`
	DBDeletionProtection     bool   `json:"dbDeletionProtection"`
	DBMultiAZ                bool   `json:"dbMultiAz"`

	// NATGateways gives the home VPC's functions subnets a route to the
	// Internet. Only the fanout needs one, and only to invoke probes in other
	// regions: an interface endpoint serves its own region's API. With 0 the
	// VPC has no egress at all, and endpoints (Lambda and Secrets Manager
	// interface endpoints, an S3 gateway endpoint) serve what stays inside.
	NATGateways int `json:"natGateways"`
	// EndpointZones is how many zones the interface endpoints are placed
	// in when NATGateways is 0 (each zone is billed per endpoint); 2 keeps
	// them through the loss of a zone, as natGateways=2 does.
	EndpointZones int `json:"endpointZones"`
	// AvailabilityZones names the two zones of the home VPC (and so of the
	// database and the RDS Proxy); empty: the region's first two. RDS Proxy
	// is not offered in some zones (rdsProxyMissingZones), and which name is
	// which zone differs per account, which synth cannot look up: in those
	// regions the zones must be named.
	AvailabilityZones []string `json:"availabilityZones"`

	// DrainConcurrency caps concurrent drain invocations, so that replaying a
	// backlog does not crowd the database.
	DrainConcurrency int `json:"drainConcurrency"`
	// QueueMaxReceiveCount is how often a message of the record queue is tried before it
	// moves to the dead-letter queue; with a 6-minute visibility timeout the
	// default 50 rides out a database outage of about five hours.
	QueueMaxReceiveCount int `json:"queueMaxReceiveCount"`

	// Retention is how long the upkeep keeps each level of history; unset
	// levels keep the project's defaults (WATCHER_RETENTION_*).
	Retention Retention `json:"retention"`
	// Database is where the data lives: RDS made by the stack (the default)
	// or a PostgreSQL or TimescaleDB of your own.
	Database Database `json:"database"`

	// Alerts is where the fanout sends alert notifications: a webhook, an
	// SNS topic, or both; empty: alerts are recorded but sent nowhere.
	Alerts Alerts `json:"alerts"`
	// StatusPage is the static status page the migrate function writes to
	// S3 after each upkeep, optionally behind CloudFront.
	StatusPage StatusPage `json:"statusPage"`
}

// Retention levels, each "14d" (whole days) or a Go duration ("36h").
type Retention struct {
	Raw    string `json:"raw,omitempty"`
	Minute string `json:"minute,omitempty"`
	Hour   string `json:"hour,omitempty"`
	Day    string `json:"day,omitempty"`
}

// Database modes.
const (
	DatabaseRDS      = "rds"
	DatabaseExternal = "external"
)

// Database is the database the fleet uses. In mode "external" the stack makes
// no RDS instance and no proxy: the functions that use the database run in
// subnets of your VPC and connect to Host directly, with TLS verified against
// CACertificate, as roles whose passwords the stack generates.
type Database struct {
	Mode string `json:"mode"` // DatabaseRDS or DatabaseExternal

	// The rest is for mode external only.
	Host string `json:"host,omitempty"`
	Port int    `json:"port,omitempty"` // default 5432
	Name string `json:"name,omitempty"` // default watcher
	// OwnerSecretArn is a secret of yours in the home region, shaped as RDS
	// makes them: {"username","password","host","port","dbname"}. The migrate
	// function, and it alone, logs in with it.
	OwnerSecretArn string `json:"ownerSecretArn,omitempty"`
	// CACertificate is the path of the PEM file of the CA that signed the
	// server's certificate, read at synth.
	CACertificate string `json:"caCertificate,omitempty"`
	// VpcID and SubnetIDs are where the functions that use the database
	// run: subnets with a route to the database and to the AWS APIs.
	VpcID     string   `json:"vpcId,omitempty"`
	SubnetIDs []string `json:"subnetIds,omitempty"`
	// PeerCidr is the database's network; the functions may reach it on
	// Port only (without it, any address on Port). With
	// PeeringConnectionID, RouteTableIDs get a route to it.
	PeerCidr            string   `json:"peerCidr,omitempty"`
	PeeringConnectionID string   `json:"peeringConnectionId,omitempty"`
	RouteTableIDs       []string `json:"routeTableIds,omitempty"`
}

// External reports whether the database is one of your own.
func (d *Database) External() bool { return d.Mode == DatabaseExternal }

// Intranet is a probe location inside an existing VPC, for targets only
// reachable from there. Its subnets need outbound HTTPS to SQS in the home
// region (a NAT gateway or other egress) and to Secrets Manager if endpoints
// use basic auth.
type Intranet struct {
	Name            string   `json:"name"`
	Region          string   `json:"region"` // default: HomeRegion
	VpcID           string   `json:"vpcId"`
	SubnetIDs       []string `json:"subnetIds"`
	SecurityGroupID string   `json:"securityGroupId"`
}

// Duration is a time.Duration written as "10s" or "2m" in the context.
type Duration time.Duration

// UnmarshalJSON accepts a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration such as \"10s\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as \"10s\", got %q", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Span is the length of a span: EventBridge fires once a minute.
const Span = time.Minute

// probeMargin is kept beyond span, offset and the slowest check for the last
// batch write (or spill) and the invocation record.
const probeMargin = 30 * time.Second

// Defaults are the values of absent keys.
func Defaults() Config {
	return Config{
		HomeRegion:                "eu-west-1",
		Prefix:                    "watcher",
		AssetDir:                  "bin",
		ProbeRegions:              []string{},
		Intranets:                 []Intranet{},
		FanoutMemoryMB:            256,
		FanoutReservedConcurrency: 3,
		ProbeMemoryMB:             192,
		DrainMemoryMB:             256,
		MigrateMemoryMB:           256,
		ShardMaxChecks:            16000,
		SpanOffset:                Duration(5 * time.Second),
		MaxDelay:                  Duration(2 * time.Minute),
		MaxCheckTimeout:           Duration(300 * time.Second),
		LogRetentionDays:          30,
		AlarmEmail:                "",
		SecretPrefix:              "watcher/basic-auth/",
		DBInstanceClass:           "t4g.micro",
		DBAllocatedStorageGiB:     20,
		DBMaxAllocatedStorageGiB:  100,
		DBBackupRetentionDays:     7,
		DBDeletionProtection:      true,
		DBMultiAZ:                 false,
		NATGateways:               0,
		EndpointZones:             1,
		AvailabilityZones:         []string{},
		DrainConcurrency:          2,
		QueueMaxReceiveCount:      50,
		Retention:                 Retention{},
		Database:                  Database{Mode: DatabaseRDS},
		Alerts:                    Alerts{},
		StatusPage:                StatusPage{},
	}
}

// ProbeTimeout is the probes' Lambda timeout: a probe may start up to the
// span offset before its span, runs checks until the span ends, waits for its
// slowest check, then writes what is left.
func (c *Config) ProbeTimeout() time.Duration {
	return Span + c.SpanOffset.D() + c.MaxCheckTimeout.D() + probeMargin
}

// Location is one probe fleet: a name endpoints refer to, and where its
// function runs.
type Location struct {
	Name     string
	Region   string
	Intranet *Intranet // nil unless VPC-attached in an existing VPC
}

// HomeLocation is the location of the probe next to the database.
const HomeLocation = "home"

// Locations lists every location: home first, then probe regions, then
// intranets, in configuration order.
func (c *Config) Locations() []Location {
	out := []Location{{Name: HomeLocation, Region: c.HomeRegion}}
	for _, r := range c.ProbeRegions {
		out = append(out, Location{Name: r, Region: r})
	}
	for i := range c.Intranets {
		in := &c.Intranets[i]
		out = append(out, Location{Name: in.Name, Region: in.Region, Intranet: in})
	}
	return out
}

// remoteRegions are the regions, other than the home region, that probe
// locations run in, in configuration order without repeats: the fanout
// reaches their Lambda API only through a NAT gateway.
func (c *Config) remoteRegions() []string {
	var out []string
	for _, loc := range c.Locations() {
		if loc.Region != c.HomeRegion && regionRe.MatchString(loc.Region) && !slices.Contains(out, loc.Region) {
			out = append(out, loc.Region)
		}
	}
	return out
}

// ownKey is the shape of this app's context keys; CDK's own keys contain
// ':', '@' or '-', so a key of this shape that Config does not know is a typo.
var ownKey = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9]*$`)

// LoadConfig reads the configuration from context values (as returned by
// Node().GetAllContext()), fills defaults and validates. Values given on the
// command line arrive as strings: a list, object, number or boolean may be
// written as JSON text, and probeRegions also as a comma-separated list.
func LoadConfig(ctx map[string]any) (Config, error) {
	cfg := Defaults()
	kinds := fieldKinds()
	merged := map[string]json.RawMessage{}
	var problems []string
	keys := make([]string, 0, len(ctx))
	for k := range ctx {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := ctx[k]
		kind, known := kinds[k]
		if !known {
			if ownKey.MatchString(k) {
				problems = append(problems, fmt.Sprintf("%s: unknown context key", k))
			}
			continue
		}
		raw, err := rawValue(k, kind, v)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		merged[k] = raw
	}
	for k, raw := range merged {
		// Decode key by key so that each problem names its key.
		one, _ := json.Marshal(map[string]json.RawMessage{k: raw})
		dec := json.NewDecoder(strings.NewReader(string(one)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %s", k, cleanJSONError(err)))
		}
	}
	for i := range cfg.Intranets {
		if cfg.Intranets[i].Region == "" {
			cfg.Intranets[i].Region = cfg.HomeRegion
		}
	}
	if d := &cfg.Database; d.External() {
		if d.Port == 0 {
			d.Port = 5432
		}
		if d.Name == "" {
			d.Name = dbName
		}
	}
	problems = append(problems, cfg.validate()...)
	if len(problems) > 0 {
		sort.Strings(problems)
		return cfg, fmt.Errorf("watcher CDK context: %s", strings.Join(problems, "; "))
	}
	return cfg, nil
}

// fieldKinds maps each context key to the kind of its field.
func fieldKinds() map[string]reflect.Kind {
	out := map[string]reflect.Kind{}
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		k := f.Type.Kind()
		if f.Type == reflect.TypeFor[Duration]() {
			k = reflect.String
		}
		out[name] = k
	}
	return out
}

func rawValue(key string, kind reflect.Kind, v any) (json.RawMessage, error) {
	s, isString := v.(string)
	if !isString || kind == reflect.String {
		return json.Marshal(v)
	}
	s = strings.TrimSpace(s)
	if key == "probeRegions" && !strings.HasPrefix(s, "[") {
		regions := []string{}
		for r := range strings.SplitSeq(s, ",") {
			if r = strings.TrimSpace(r); r != "" {
				regions = append(regions, r)
			}
		}
		return json.Marshal(regions)
	}
	if !json.Valid([]byte(s)) {
		return nil, fmt.Errorf("%s: %q is not valid JSON", key, s)
	}
	return json.RawMessage(s), nil
}

func cleanJSONError(err error) string {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		return fmt.Sprintf("want %s, got a JSON %s", te.Type, te.Value)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

var (
	regionRe   = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$`)
	locationRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,29}[a-z0-9]$`)
	prefixRe   = regexp.MustCompile(`^[a-z][a-z0-9-]{0,15}$`)
	vpcRe      = regexp.MustCompile(`^vpc-[0-9a-f]{8,17}$`)
	subnetRe   = regexp.MustCompile(`^subnet-[0-9a-f]{8,17}$`)
	sgRe       = regexp.MustCompile(`^sg-[0-9a-f]{8,17}$`)
	classRe    = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9]+$`)
	secretRe   = regexp.MustCompile(`^[A-Za-z0-9/_+=.@-]+$`)
	hostRe     = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)
	dbNameRe   = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
	rtbRe      = regexp.MustCompile(`^rtb-[0-9a-f]{8,17}$`)
	pcxRe      = regexp.MustCompile(`^pcx-[0-9a-f]{8,17}$`)
	// A complete secret ARN, with the six characters Secrets Manager
	// appends: IAM grants on a partial ARN match nothing.
	secretArnRe = regexp.MustCompile(`^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$`)
)

// retentionDays are the retention periods CloudWatch Logs accepts.
var retentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

func (c *Config) validate() []string {
	var p []string
	bad := func(format string, a ...any) { p = append(p, fmt.Sprintf(format, a...)) }
	if !regionRe.MatchString(c.HomeRegion) {
		bad("homeRegion: %q is not a region name such as eu-west-1", c.HomeRegion)
	}
	if !prefixRe.MatchString(c.Prefix) {
		bad("prefix: %q must be 1-16 lower-case letters, digits or hyphens, starting with a letter", c.Prefix)
	}
	if c.AssetDir == "" {
		bad("assetDir: is empty")
	}
	seen := map[string]string{HomeLocation: "home"}
	for _, r := range c.ProbeRegions {
		switch {
		case !regionRe.MatchString(r):
			bad("probeRegions: %q is not a region name such as us-east-1", r)
		case r == c.HomeRegion:
			bad("probeRegions: %s is the home region, whose probe is the location %q", r, HomeLocation)
		case seen[r] != "":
			bad("probeRegions: %s is listed twice", r)
		}
		seen[r] = "probeRegions"
	}
	for i, in := range c.Intranets {
		at := fmt.Sprintf("intranets[%d]", i)
		switch {
		case !locationRe.MatchString(in.Name):
			bad("%s.name: %q must be 2-31 lower-case letters, digits or hyphens", at, in.Name)
		case seen[in.Name] != "":
			bad("%s.name: %q is already a location (%s)", at, in.Name, seen[in.Name])
		}
		seen[in.Name] = at
		if !regionRe.MatchString(in.Region) {
			bad("%s.region: %q is not a region name", at, in.Region)
		}
		if !vpcRe.MatchString(in.VpcID) {
			bad("%s.vpcId: %q is not a VPC id such as vpc-0123456789abcdef0", at, in.VpcID)
		}
		if len(in.SubnetIDs) == 0 {
			bad("%s.subnetIds: at least one subnet is required", at)
		}
		for _, s := range in.SubnetIDs {
			if !subnetRe.MatchString(s) {
				bad("%s.subnetIds: %q is not a subnet id", at, s)
			}
		}
		if !sgRe.MatchString(in.SecurityGroupID) {
			bad("%s.securityGroupId: %q is not a security group id", at, in.SecurityGroupID)
		}
	}
	for _, m := range []struct {
		key string
		v   int
	}{{"fanoutMemoryMB", c.FanoutMemoryMB}, {"probeMemoryMB", c.ProbeMemoryMB}, {"drainMemoryMB", c.DrainMemoryMB}, {"migrateMemoryMB", c.MigrateMemoryMB}} {
		if m.v < 128 || m.v > 10240 {
			bad("%s: %d is outside 128..10240", m.key, m.v)
		}
	}
	if c.ShardMaxChecks < 1 || c.ShardMaxChecks > 100_000 {
		bad("shardMaxChecks: %d is outside 1..100000", c.ShardMaxChecks)
	}
	if d := c.SpanOffset.D(); d < 0 || d > 50*time.Second {
		bad("spanOffset: %s is outside 0s..50s", d)
	}
	if d := c.MaxDelay.D(); d < time.Minute || d > time.Hour {
		bad("maxDelay: %s is outside 1m..1h", d)
	}
	if d := c.MaxCheckTimeout.D(); d < time.Second || d > 300*time.Second {
		bad("maxCheckTimeout: %s is outside 1s..300s", d)
	}
	if t := c.ProbeTimeout(); t > 15*time.Minute {
		bad("spanOffset + maxCheckTimeout: the probe timeout %s exceeds Lambda's 15m", t)
	}
	if !slices.Contains(retentionDays, c.LogRetentionDays) {
		bad("logRetentionDays: %d is not one CloudWatch Logs accepts (%v)", c.LogRetentionDays, retentionDays)
	}
	if c.AlarmEmail != "" && !emailOK(c.AlarmEmail) {
		bad("alarmEmail: %q is not one e-mail address", c.AlarmEmail)
	}
	if c.Database.External() {
		// Probes read every secret under secretPrefix; a role's database
		// password is the database's to give, not theirs to read.
		for _, role := range []string{migrations.RoleFanout, migrations.RoleProbe} {
			if name := c.dbRoleSecretName(role); strings.HasPrefix(name, c.SecretPrefix) {
				bad("secretPrefix: %q covers the generated secret %s, which every probe could then read: choose another secretPrefix", c.SecretPrefix, name)
			}
		}
	}
	if !secretRe.MatchString(c.SecretPrefix) || !strings.HasSuffix(c.SecretPrefix, "/") {
		bad("secretPrefix: %q must be a Secrets Manager name prefix ending in /", c.SecretPrefix)
	}
	if !classRe.MatchString(c.DBInstanceClass) {
		bad("dbInstanceClass: %q is not an instance class such as t4g.micro", c.DBInstanceClass)
	}
	if c.DBAllocatedStorageGiB < 20 || c.DBAllocatedStorageGiB > 65536 {
		bad("dbAllocatedStorageGiB: %d is outside 20..65536", c.DBAllocatedStorageGiB)
	}
	if c.DBMaxAllocatedStorageGiB < c.DBAllocatedStorageGiB || c.DBMaxAllocatedStorageGiB > 65536 {
		bad("dbMaxAllocatedStorageGiB: %d is outside dbAllocatedStorageGiB..65536", c.DBMaxAllocatedStorageGiB)
	}
	if c.DBBackupRetentionDays < 1 || c.DBBackupRetentionDays > 35 {
		bad("dbBackupRetentionDays: %d is outside 1..35", c.DBBackupRetentionDays)
	}
	if c.NATGateways < 0 || c.NATGateways > 2 {
		bad("natGateways: %d is outside 0..2", c.NATGateways)
	} else if remote := c.remoteRegions(); c.NATGateways == 0 && len(remote) > 0 && !c.Database.External() {
		bad("natGateways: 0 leaves the fanout no route to the Lambda API of %s, where probes run "+
			"(a VPC endpoint serves its own region only): set natGateways=1", strings.Join(remote, ", "))
	}
	if c.EndpointZones < 1 || c.EndpointZones > 2 {
		bad("endpointZones: %d is outside 1..2", c.EndpointZones)
	}
	if c.FanoutReservedConcurrency < 0 || c.FanoutReservedConcurrency > 100 {
		bad("fanoutReservedConcurrency: %d is outside 0..100 (0: none)", c.FanoutReservedConcurrency)
	}
	p = append(p, c.validateZones()...)
	if c.DrainConcurrency < 2 || c.DrainConcurrency > 1000 {
		bad("drainConcurrency: %d is outside 2..1000", c.DrainConcurrency)
	}
	if c.QueueMaxReceiveCount < 1 || c.QueueMaxReceiveCount > 1000 {
		bad("queueMaxReceiveCount: %d is outside 1..1000", c.QueueMaxReceiveCount)
	}
	p = append(p, c.Retention.validate()...)
	p = append(p, c.validateDatabase()...)
	p = append(p, c.validateAlerts()...)
	p = append(p, c.StatusPage.validate()...)
	return p
}

// rdsProxyMissingZones are the zone ids, per region, where RDS Proxy is not
// offered (AWS documents them under the RDS Proxy's limitations). A zone's
// name (us-east-1a) maps to a different zone id (use1-az3) in every
// account, and synth has no account to ask, so a home VPC in these regions
// needs its zones named.
var rdsProxyMissingZones = map[string][]string{
	"us-east-1": {"use1-az3"},
	"us-west-1": {"usw1-az2"},
}

// validateZones checks availabilityZones: two distinct zones of the home
// region, required where RDS Proxy is missing from some zone, and only
// where the stack makes the VPC.
func (c *Config) validateZones() []string {
	var p []string
	bad := func(format string, a ...any) { p = append(p, fmt.Sprintf(format, a...)) }
	zones := c.AvailabilityZones
	if c.Database.External() {
		if len(zones) > 0 {
			bad("availabilityZones: shapes the VPC the stack makes, and with database mode external it makes none (your subnetIds decide the zones)")
		}
		return p
	}
	if len(zones) == 0 {
		if missing := rdsProxyMissingZones[c.HomeRegion]; len(missing) > 0 {
			bad("availabilityZones: RDS Proxy is not offered in %s of %s, and which zone name that is differs per account: "+
				"name two zones of the home VPC, e.g. -c availabilityZones='[\"%sa\",\"%sb\"]', from "+
				"aws ec2 describe-availability-zones --region %s --query 'AvailabilityZones[?ZoneId!=`%s`].[ZoneName,ZoneId]'",
				strings.Join(missing, ", "), c.HomeRegion, c.HomeRegion, c.HomeRegion, c.HomeRegion, missing[0])
		}
		return p
	}
	if len(zones) != 2 {
		bad("availabilityZones: %d zones, want 2 (the VPC's, the database's and the proxy's)", len(zones))
	}
	zoneRe := regexp.MustCompile(`^` + regexp.QuoteMeta(c.HomeRegion) + `[a-z]$`)
	for i, z := range zones {
		if !zoneRe.MatchString(z) {
			bad("availabilityZones: %q is not a zone name of the home region %s, such as %sa", z, c.HomeRegion, c.HomeRegion)
		}
		if slices.Contains(zones[:i], z) {
			bad("availabilityZones: %s is listed twice", z)
		}
	}
	return p
}

// validate checks each level's form, then the whole with the defaults of
// the levels not given, by the rules the migrate function applies at cold
// start (migrations.Retention): a retention synth accepts is one the upkeep
// runs with.
func (r Retention) validate() []string {
	var (
		p   []string
		got migrations.Retention
	)
	for _, l := range []struct {
		name, v string
		d       *time.Duration
	}{{"raw", r.Raw, &got.Raw}, {"minute", r.Minute, &got.Minute}, {"hour", r.Hour, &got.Hour}, {"day", r.Day, &got.Day}} {
		if l.v == "" {
			continue
		}
		d, err := migrations.ParseDays(l.v)
		if err != nil {
			p = append(p, fmt.Sprintf("retention.%s: %v", l.name, err))
			continue
		}
		*l.d = d
	}
	if len(p) == 0 {
		if err := got.WithDefaults().Validate(); err != nil {
			p = append(p, err.Error()+" (the levels not given keep their defaults)")
		}
	}
	return p
}

// env is the migrate function's WATCHER_RETENTION_* variables, those set.
func (r Retention) env() map[string]string {
	out := map[string]string{}
	for name, v := range map[string]string{"RAW": r.Raw, "MINUTE": r.Minute, "HOUR": r.Hour, "DAY": r.Day} {
		if v != "" {
			out["WATCHER_RETENTION_"+name] = strings.TrimSpace(v)
		}
	}
	return out
}

func (c *Config) validateDatabase() []string {
	var p []string
	bad := func(format string, a ...any) { p = append(p, fmt.Sprintf(format, a...)) }
	d := c.Database
	switch d.Mode {
	case DatabaseRDS:
		var set []string
		for _, f := range []struct {
			key string
			set bool
		}{
			{"host", d.Host != ""}, {"port", d.Port != 0}, {"name", d.Name != ""}, {"ownerSecretArn", d.OwnerSecretArn != ""},
			{"caCertificate", d.CACertificate != ""}, {"vpcId", d.VpcID != ""}, {"subnetIds", len(d.SubnetIDs) > 0},
			{"peerCidr", d.PeerCidr != ""}, {"peeringConnectionId", d.PeeringConnectionID != ""}, {"routeTableIds", len(d.RouteTableIDs) > 0},
		} {
			if f.set {
				set = append(set, f.key)
			}
		}
		if len(set) > 0 {
			bad("database: %s apply to mode %q only, not %q", strings.Join(set, ", "), DatabaseExternal, d.Mode)
		}
		return p
	case DatabaseExternal:
	default:
		bad("database.mode: %q is not %q or %q", d.Mode, DatabaseRDS, DatabaseExternal)
		return p
	}
	if !hostRe.MatchString(d.Host) {
		bad("database.host: %q is not a host name or IPv4 address", d.Host)
	}
	if d.Port < 1 || d.Port > 65535 {
		bad("database.port: %d is outside 1..65535", d.Port)
	}
	if !dbNameRe.MatchString(d.Name) {
		bad("database.name: %q is not a database name such as watcher", d.Name)
	}
	if m := secretArnRe.FindStringSubmatch(d.OwnerSecretArn); m == nil {
		bad("database.ownerSecretArn: %q is not the complete ARN of a secret (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX)", d.OwnerSecretArn)
	} else if m[1] != c.HomeRegion {
		bad("database.ownerSecretArn: the secret is in %s, not in the home region %s, where the migrate function reads it", m[1], c.HomeRegion)
	}
	if _, err := readCACertificate(d.CACertificate); err != nil {
		bad("database.caCertificate: %v", err)
	}
	if !vpcRe.MatchString(d.VpcID) {
		bad("database.vpcId: %q is not a VPC id such as vpc-0123456789abcdef0", d.VpcID)
	}
	if len(d.SubnetIDs) == 0 {
		bad("database.subnetIds: at least one subnet is required (two zones survive the loss of one)")
	}
	for _, s := range d.SubnetIDs {
		if !subnetRe.MatchString(s) {
			bad("database.subnetIds: %q is not a subnet id", s)
		}
	}
	if d.PeerCidr != "" {
		if ip, n, err := net.ParseCIDR(d.PeerCidr); err != nil || ip.To4() == nil || n.String() != d.PeerCidr {
			bad("database.peerCidr: %q is not an IPv4 network such as 10.50.0.0/16", d.PeerCidr)
		}
	}
	switch {
	case d.PeeringConnectionID == "" && len(d.RouteTableIDs) > 0:
		bad("database.routeTableIds: given without peeringConnectionId, which routes lead to")
	case d.PeeringConnectionID != "":
		if !pcxRe.MatchString(d.PeeringConnectionID) {
			bad("database.peeringConnectionId: %q is not a peering connection id such as pcx-0123456789abcdef0", d.PeeringConnectionID)
		}
		if d.PeerCidr == "" {
			bad("database.peerCidr: is required with peeringConnectionId: it is where the routes lead")
		}
		if len(d.RouteTableIDs) == 0 {
			bad("database.routeTableIds: at least one route table is required with peeringConnectionId (those of subnetIds)")
		}
		for _, r := range d.RouteTableIDs {
			if !rtbRe.MatchString(r) {
				bad("database.routeTableIds: %q is not a route table id", r)
			}
		}
	}
	// The VPC is yours: the stack adds no NAT gateway and no endpoints to it.
	if c.NATGateways != 0 {
		bad("natGateways: %d shapes the VPC the stack makes, and with database mode external it makes none (give your subnets egress yourself)", c.NATGateways)
	}
	if c.EndpointZones != 1 {
		bad("endpointZones: %d shapes the VPC the stack makes, and with database mode external it makes none", c.EndpointZones)
	}
	return p
}

// readCACertificate reads a PEM file of one or more CA certificates, as
// libpq's sslrootcert wants it.
func readCACertificate(path string) ([]byte, error) {
	if path == "" {
		return nil, errors.New("is required: the PEM file of the CA that signed the server's certificate")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", path, err)
	}
	rest, n := b, 0
	for {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%q holds a PEM %s, not only certificates", path, block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return nil, fmt.Errorf("%q: certificate %d: %w", path, n+1, err)
		}
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%q holds no PEM certificate", path)
	}
	return b, nil
}
