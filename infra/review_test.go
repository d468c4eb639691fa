package main

import (
	"crypto/x509"
	"encoding/pem"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The faults of a deploy review (issue 14), each checked on the
// synthesized templates.

// homeOnly synthesizes the home stack of the default configuration with
// the given context added.
func homeOnly(t *testing.T, ctx map[string]any) (*template, *fleet, string) {
	t.Helper()
	app, f := newApp(t, ctx)
	return templateOf(t, f.Home.Stack), f, *app.Outdir()
}

// TestEnginePinnedByMajorVersion: a pinned minor version fails fresh
// deploys once RDS retires it; with automatic minor upgrades RDS picks and
// keeps the minor.
func TestEnginePinnedByMajorVersion(t *testing.T) {
	home, _, _ := homeOnly(t, map[string]any{})
	dbs := home.ofType("AWS::RDS::DBInstance")
	if len(dbs) != 1 {
		t.Fatalf("%d database instances", len(dbs))
	}
	for id, db := range dbs {
		p := db.Properties
		if p["EngineVersion"] != "17" || p["AutoMinorVersionUpgrade"] != true {
			t.Errorf("%s: EngineVersion %v, AutoMinorVersionUpgrade %v; want 17 (the major only) and true", id, p["EngineVersion"], p["AutoMinorVersionUpgrade"])
		}
	}
	for id, pg := range home.ofType("AWS::RDS::DBParameterGroup") {
		if pg.Properties["Family"] != "postgres17" {
			t.Errorf("%s: family %v", id, pg.Properties["Family"])
		}
	}
}

// TestFanoutReservedConcurrency: probes filling the account's concurrency
// must not throttle the fanout; 0 reserves none, for accounts that cannot.
func TestFanoutReservedConcurrency(t *testing.T) {
	reserved := func(home *template) map[string]any {
		out := map[string]any{}
		for _, fn := range home.ofType("AWS::Lambda::Function") {
			if v, ok := fn.Properties["ReservedConcurrentExecutions"]; ok {
				out[fn.Properties["FunctionName"].(string)] = v
			}
		}
		return out
	}
	home, f, _ := homeOnly(t, map[string]any{})
	if got := reserved(home); len(got) != 1 || got["watcher-fanout"] != 3.0 || f.Config.FanoutReservedConcurrency != 3 {
		t.Errorf("reserved concurrency %v, want the fanout's 3 only", got)
	}
	home, _, _ = homeOnly(t, map[string]any{"fanoutReservedConcurrency": "0"})
	if got := reserved(home); len(got) != 0 {
		t.Errorf("fanoutReservedConcurrency=0: reserved %v, want none", got)
	}
	home, _, _ = homeOnly(t, map[string]any{"fanoutReservedConcurrency": 5.0})
	if got := reserved(home); got["watcher-fanout"] != 5.0 {
		t.Errorf("fanoutReservedConcurrency=5: reserved %v", got)
	}
	if _, err := LoadConfig(map[string]any{"fanoutReservedConcurrency": -1.0}); err == nil || !strings.Contains(err.Error(), "fanoutReservedConcurrency: -1 is outside 0..100") {
		t.Errorf("-1: error %v", err)
	}
}

// TestMigrateVerifiesTheRDSCertificate: the owner's password goes to the
// instance only over TLS verified against the RDS CA bundle, shipped as the
// same layer a database of one's own gets its CA from.
func TestMigrateVerifiesTheRDSCertificate(t *testing.T) {
	home, _, out := homeOnly(t, map[string]any{})
	_, migrate := home.function(t, "watcher-migrate")
	if got := env(migrate)["WATCHER_DB_SSLROOTCERT"]; got != caPath {
		t.Errorf("migrate WATCHER_DB_SSLROOTCERT = %v, want %s", got, caPath)
	}
	layers := home.ofType("AWS::Lambda::LayerVersion")
	if len(layers) != 1 {
		t.Fatalf("%d layers, want the RDS CA bundle's", len(layers))
	}
	var layerID string
	for id := range layers {
		layerID = id
	}
	if got := home.resolveAll(migrate.Properties["Layers"]); !slices.Equal(got, []string{"{Ref:" + layerID + "}"}) {
		t.Errorf("migrate layers %v, want %s", got, layerID)
	}
	// Through the proxy the fanout and the drain verify its ACM certificate
	// against the system roots: no layer.
	for _, name := range []string{"watcher-fanout", "watcher-drain"} {
		if _, fn := home.function(t, name); fn.Properties["Layers"] != nil {
			t.Errorf("%s has layers %v", name, fn.Properties["Layers"])
		}
	}
	staged, _ := filepath.Glob(filepath.Join(out, "asset.*", "watcher", "database-ca.pem"))
	if len(staged) != 1 || string(mustRead(t, staged[0])) != string(rdsCABundle) {
		t.Errorf("staged CA files %v, want one holding the RDS CA bundle", staged)
	}
}

// TestRDSCABundle: the embedded bundle is AWS's: well-formed, its roots
// self-signed and valid for decades, one RSA2048 G1 root (the CA the
// instance uses) for each region, the default home region among them.
func TestRDSCABundle(t *testing.T) {
	if _, err := readCACertificate(filepath.Join(".", "rds-global-bundle.pem")); err != nil {
		t.Fatal(err)
	}
	rest := rdsCABundle
	var g1 []string
	for {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(c.Subject.CommonName, "Amazon RDS ") || c.Subject.Organization[0] != "Amazon Web Services, Inc." {
			t.Errorf("not an RDS CA: %s", c.Subject)
		}
		if !strings.HasSuffix(c.Subject.CommonName, " Root CA RSA2048 G1") || strings.Contains(c.Subject.CommonName, "Beta") || strings.Contains(c.Subject.CommonName, "Preview") {
			continue
		}
		if err := c.CheckSignatureFrom(c); err != nil || !c.IsCA {
			t.Errorf("%s: not a self-signed CA: %v", c.Subject.CommonName, err)
		}
		if c.NotAfter.Before(time.Date(2060, 1, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("%s expires %s", c.Subject.CommonName, c.NotAfter)
		}
		g1 = append(g1, strings.Fields(c.Subject.CommonName)[2])
	}
	for _, region := range []string{Defaults().HomeRegion, "us-east-1", "us-west-2", "eu-central-1", "ap-southeast-2"} {
		if !slices.Contains(g1, region) {
			t.Errorf("no RSA2048 G1 root for %s among %v", region, g1)
		}
	}
}

// TestMigrationsWaitForTheirInvokeConfig: until the migrate function's
// invoke configuration (no retries) exists, Lambda retries a failed event
// twice, and CloudFormation's must be answered once.
func TestMigrationsWaitForTheirInvokeConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		ctx  map[string]any
	}{{"rds", map[string]any{}}, {"external", externalContext(t)}} {
		t.Run(c.name, func(t *testing.T) {
			home, _, _ := homeOnly(t, c.ctx)
			migrateID, _ := home.function(t, "watcher-migrate")
			var configID string
			for id, ic := range home.ofType("AWS::Lambda::EventInvokeConfig") {
				if refOf(ic.Properties["FunctionName"]) == migrateID {
					configID = id
					if ic.Properties["MaximumRetryAttempts"] != 0.0 {
						t.Errorf("%s: MaximumRetryAttempts %v", id, ic.Properties["MaximumRetryAttempts"])
					}
				}
			}
			if configID == "" {
				t.Fatal("no invoke configuration of the migrate function")
			}
			for id := range home.ofType("Custom::WatcherMigrations") {
				if !slices.Contains(home.resolveAll(home.Resources[id].DependsOn), configID) {
					t.Errorf("%s does not wait for %s", id, configID)
				}
			}
		})
	}
}

// TestAvailabilityZones: RDS Proxy is not offered in every zone, and synth
// cannot tell which zone name is which id: where it matters the zones must
// be named, and named zones are the VPC's.
func TestAvailabilityZones(t *testing.T) {
	for _, region := range []string{"us-east-1", "us-west-1"} {
		_, err := LoadConfig(map[string]any{"homeRegion": region})
		if err == nil || !strings.Contains(err.Error(), "availabilityZones: RDS Proxy is not offered in "+rdsProxyMissingZones[region][0]+" of "+region) ||
			!strings.Contains(err.Error(), "describe-availability-zones --region "+region) {
			t.Errorf("%s without zones: error %v", region, err)
		}
	}
	bad := []struct {
		ctx  map[string]any
		want string
	}{
		{map[string]any{"homeRegion": "us-east-1", "availabilityZones": []any{"us-east-1a"}}, "availabilityZones: 1 zones, want 2"},
		{map[string]any{"homeRegion": "us-east-1", "availabilityZones": []any{"us-east-1a", "eu-west-1b"}}, `"eu-west-1b" is not a zone name of the home region us-east-1`},
		{map[string]any{"homeRegion": "us-east-1", "availabilityZones": []any{"us-east-1a", "us-east-1a"}}, "us-east-1a is listed twice"},
		{map[string]any{"homeRegion": "us-east-1", "availabilityZones": "us-east-1a,us-east-1b"}, "availabilityZones: "},
	}
	for _, b := range bad {
		if _, err := LoadConfig(b.ctx); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%v: error %v, want %q", b.ctx, err, b.want)
		}
	}
	ext := externalContext(t)
	ext["availabilityZones"] = []any{"eu-west-1a", "eu-west-1b"}
	if _, err := LoadConfig(ext); err == nil || !strings.Contains(err.Error(), "availabilityZones: shapes the VPC the stack makes") {
		t.Errorf("external with zones: error %v", err)
	}

	zonesOf := func(home *template) []string {
		var out []string
		for _, sn := range home.ofType("AWS::EC2::Subnet") {
			if z := home.resolve(sn.Properties["AvailabilityZone"]); !slices.Contains(out, z) {
				out = append(out, z)
			}
		}
		slices.Sort(out)
		return out
	}
	home, _, _ := homeOnly(t, map[string]any{"homeRegion": "us-east-1", "availabilityZones": `["us-east-1b","us-east-1d"]`})
	if got := zonesOf(home); !slices.Equal(got, []string{"us-east-1b", "us-east-1d"}) {
		t.Errorf("subnets in %v, want us-east-1b and us-east-1d", got)
	}
	// Elsewhere the region's first two, as before.
	home, _, _ = homeOnly(t, map[string]any{})
	if got := zonesOf(home); len(got) != 2 || !strings.Contains(got[0], "Fn::GetAZs") {
		t.Errorf("default subnets in %v, want the region's first two", got)
	}
}

// TestProxySessionPinningAlarm: pinned sessions stop the proxy from
// multiplexing; the alarm reaches the topic like every other.
func TestProxySessionPinningAlarm(t *testing.T) {
	home, _, _ := homeOnly(t, map[string]any{})
	var proxyID string
	for id := range home.ofType("AWS::RDS::DBProxy") {
		proxyID = id
	}
	var found int
	for id, a := range home.ofType("AWS::CloudWatch::Alarm") {
		p := a.Properties
		if p["MetricName"] != "DatabaseConnectionsCurrentlySessionPinned" {
			continue
		}
		found++
		dims := p["Dimensions"].([]any)
		d, _ := dims[0].(map[string]any)
		if p["Namespace"] != "AWS/RDS" || len(dims) != 1 || d["Name"] != "ProxyName" || home.resolve(d["Value"]) != "{Ref:"+proxyID+"}" && d["Value"] != "watcher" {
			t.Errorf("%s: %v %v", id, p["Namespace"], dims)
		}
		if p["Threshold"] != 1.0 || p["ComparisonOperator"] != "GreaterThanOrEqualToThreshold" || p["Statistic"] != "Maximum" {
			t.Errorf("%s: %v %v %v", id, p["Statistic"], p["ComparisonOperator"], p["Threshold"])
		}
		if actions := home.resolveAll(p["AlarmActions"]); len(actions) != 1 || !strings.HasPrefix(actions[0], "{Ref:Alarms") {
			t.Errorf("%s: actions %v, want the alarm topic", id, actions)
		}
	}
	if found != 1 {
		t.Errorf("%d pinning alarms, want 1", found)
	}
	home, _, _ = homeOnly(t, externalContext(t))
	for id, a := range home.ofType("AWS::CloudWatch::Alarm") {
		if a.Properties["MetricName"] == "DatabaseConnectionsCurrentlySessionPinned" {
			t.Errorf("%s: a pinning alarm without a proxy", id)
		}
	}
}
