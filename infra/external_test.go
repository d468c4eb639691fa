package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// testCA writes a self-signed CA certificate as PEM and returns its path.
func testCA(t *testing.T) (string, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Database CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, b
}

const ownerSecret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tiger/tsdbadmin-AbC123"

func externalContext(t *testing.T) map[string]any {
	ca, _ := testCA(t)
	return map[string]any{"database": map[string]any{
		"mode": "external", "host": "abc123.tsdb.cloud.timescale.com", "port": 33333.0,
		"ownerSecretArn": ownerSecret, "caCertificate": ca,
		"vpcId": "vpc-0a1b2c3d4e5f60718", "subnetIds": []any{"subnet-0a1b2c3d4e5f60718", "subnet-0f1e2d3c4b5a69788"},
		"peerCidr": "10.50.0.0/16", "peeringConnectionId": "pcx-0a1b2c3d4e5f60718",
		"routeTableIds": []any{"rtb-0a1b2c3d4e5f60718", "rtb-0f1e2d3c4b5a69788"},
	}}
}

// TestExternalDatabase synthesizes a fleet on a database of one's own, with
// cdk-nag, and checks what replaces RDS: direct TLS verified against the
// shipped CA, a password secret per role that only its function reads, the
// peering routes, and egress to the database's port only.
func TestExternalDatabase(t *testing.T) {
	ctx := externalContext(t)
	ctx["assetDir"] = fakeAssets(t)
	ctx["retention"] = map[string]any{"raw": "7d", "day": "3650d"}
	out := t.TempDir()
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(out)})
	if _, err := synthesize(app); err != nil {
		t.Fatal(err)
	}
	assertOnlyInfo(t, out)
	home := readTemplate(t, out, "watcher-home", "eu-west-1")

	for typ, want := range map[string]int{
		"AWS::RDS::DBInstance": 0, "AWS::RDS::DBProxy": 0, "AWS::EC2::VPC": 0, "AWS::EC2::Subnet": 0, "AWS::EC2::NatGateway": 0,
		"AWS::EC2::VPCEndpoint": 0, "AWS::EC2::FlowLog": 0, "AWS::SecretsManager::Secret": 2, "AWS::Lambda::LayerVersion": 1,
		"AWS::EC2::Route": 2, "Custom::WatcherMigrations": 1, "AWS::Scheduler::Schedule": 2,
	} {
		if got := len(home.ofType(typ)); got != want {
			t.Errorf("%d %s, want %d", got, typ, want)
		}
	}
	var rtbs []string
	for id, r := range home.ofType("AWS::EC2::Route") {
		p := r.Properties
		if p["DestinationCidrBlock"] != "10.50.0.0/16" || p["VpcPeeringConnectionId"] != "pcx-0a1b2c3d4e5f60718" {
			t.Errorf("route %s: %v", id, p)
		}
		rtbs = append(rtbs, home.resolve(p["RouteTableId"]))
	}
	if slices.Sort(rtbs); !slices.Equal(rtbs, []string{"rtb-0a1b2c3d4e5f60718", "rtb-0f1e2d3c4b5a69788"}) {
		t.Errorf("routes in %v", rtbs)
	}

	// The layer carries the CA certificate, at the path the URLs name.
	var layerID string
	for id := range home.ofType("AWS::Lambda::LayerVersion") {
		layerID = id
	}
	pemBytes := mustRead(t, ctx["database"].(map[string]any)["caCertificate"].(string))
	staged, _ := filepath.Glob(filepath.Join(out, "asset.*", "watcher", "database-ca.pem"))
	if len(staged) != 1 || string(mustRead(t, staged[0])) != string(pemBytes) {
		t.Errorf("staged CA files %v, want one with the given certificate", staged)
	}

	secrets := map[string]string{} // role -> logical id of its secret
	for id, s := range home.ofType("AWS::SecretsManager::Secret") {
		gen := s.Properties["GenerateSecretString"].(map[string]any)
		var tmpl map[string]string
		_ = json.Unmarshal([]byte(gen["SecretStringTemplate"].(string)), &tmpl)
		secrets[tmpl["username"]] = id
		if gen["GenerateStringKey"] != "password" || gen["ExcludePunctuation"] != true {
			t.Errorf("secret %s: %v", id, gen)
		}
	}
	if len(secrets) != 2 || secrets["watcher_fanout"] == "" || secrets["watcher_probe"] == "" {
		t.Fatalf("secrets by role %v, want watcher_fanout and watcher_probe", secrets)
	}
	url := func(role string) string {
		return "postgres://" + role + "@abc123.tsdb.cloud.timescale.com:33333/watcher?sslmode=verify-full&sslrootcert=" + caPath
	}
	for _, c := range []struct {
		name, role string
		secrets    []string // it may read, exactly
	}{
		{"watcher-fanout", "watcher_fanout", []string{"{Ref:" + secrets["watcher_fanout"] + "}"}},
		{"watcher-drain", "watcher_probe", []string{"{Ref:" + secrets["watcher_probe"] + "}"}},
		{"watcher-migrate", "", []string{ownerSecret, "{Ref:" + secrets["watcher_fanout"] + "}", "{Ref:" + secrets["watcher_probe"] + "}"}},
	} {
		_, fn := home.function(t, c.name)
		e := env(fn)
		if c.role != "" {
			if got := home.resolve(e["DATABASE_URL"]); got != url(c.role) {
				t.Errorf("%s DATABASE_URL = %s, want %s", c.name, got, url(c.role))
			}
			if got := home.resolve(e["DATABASE_PASSWORD_SECRET_ARN"]); got != "{Ref:"+secrets[c.role]+"}" {
				t.Errorf("%s DATABASE_PASSWORD_SECRET_ARN = %s, want its role's secret", c.name, got)
			}
		}
		if _, ok := e["DATABASE_IAM_AUTH"]; ok {
			t.Errorf("%s: DATABASE_IAM_AUTH set; the database is not RDS", c.name)
		}
		if got := home.resolveAll(fn.Properties["Layers"]); !slices.Equal(got, []string{"{Ref:" + layerID + "}"}) {
			t.Errorf("%s layers %v, want the CA layer", c.name, got)
		}
		vpc, _ := fn.Properties["VpcConfig"].(map[string]any)
		if got := home.resolveAll(vpc["SubnetIds"]); !slices.Equal(got, []string{"subnet-0a1b2c3d4e5f60718", "subnet-0f1e2d3c4b5a69788"}) {
			t.Errorf("%s in subnets %v", c.name, got)
		}
		var read []string
		for _, st := range home.policyOf(refOf(fn.Properties["Role"])) {
			actions := home.resolveAll(st["Action"])
			if slices.Contains(actions, "rds-db:connect") {
				t.Errorf("%s may rds-db:connect", c.name)
			}
			if slices.Contains(actions, "secretsmanager:GetSecretValue") {
				read = append(read, home.resolveAll(st["Resource"])...)
			}
		}
		slices.Sort(read)
		want := slices.Sorted(slices.Values(c.secrets))
		if !slices.Equal(read, want) {
			t.Errorf("%s may read secrets %v, want %v", c.name, read, want)
		}
	}
	_, migrate := home.function(t, "watcher-migrate")
	e := env(migrate)
	var roleSecrets map[string]string
	if err := json.Unmarshal([]byte(home.resolve(e["WATCHER_ROLE_SECRETS"])), &roleSecrets); err != nil {
		t.Fatalf("WATCHER_ROLE_SECRETS: %v", err)
	}
	if roleSecrets["watcher_fanout"] != "{Ref:"+secrets["watcher_fanout"]+"}" || roleSecrets["watcher_probe"] != "{Ref:"+secrets["watcher_probe"]+"}" || len(roleSecrets) != 2 {
		t.Errorf("WATCHER_ROLE_SECRETS = %v", roleSecrets)
	}
	for k, v := range map[string]string{"WATCHER_DB_SECRET_ARN": ownerSecret, "WATCHER_DB_SSLROOTCERT": caPath,
		"WATCHER_RETENTION_RAW": "7d", "WATCHER_RETENTION_DAY": "3650d"} {
		if got := home.resolve(e[k]); got != v {
			t.Errorf("migrate %s = %q, want %q", k, got, v)
		}
	}
	// Every function prices its checks' storage for the raw retention.
	for _, name := range []string{"watcher-fanout", "watcher-probe-home", "watcher-drain"} {
		_, fn := home.function(t, name)
		if got := home.resolve(env(fn)["WATCHER_RETENTION_RAW"]); got != "7d" {
			t.Errorf("%s WATCHER_RETENTION_RAW = %q, want 7d", name, got)
		}
	}

	// Out of the functions' groups: the database's port to its network,
	// HTTPS to the AWS APIs, nothing else.
	for id, sg := range home.ofType("AWS::EC2::SecurityGroup") {
		for _, r := range sg.Properties["SecurityGroupEgress"].([]any) {
			rule := r.(map[string]any)
			ok := rule["CidrIp"] == "10.50.0.0/16" && rule["FromPort"] == 33333.0 && rule["ToPort"] == 33333.0 ||
				rule["CidrIp"] == "0.0.0.0/0" && rule["FromPort"] == 443.0
			if !ok {
				t.Errorf("%s: egress %v", id, rule)
			}
		}
	}
	var crID string
	for id := range home.ofType("Custom::WatcherMigrations") {
		crID = id
	}
	deps := home.resolveAll(home.Resources[crID].DependsOn)
	for id := range home.ofType("AWS::EC2::Route") {
		if !slices.Contains(deps, id) {
			t.Errorf("the migrations do not wait for the route %s", id)
		}
	}
	report, err := os.ReadFile(filepath.Join(out, "AwsSolutions--watcher-home-NagReport.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(report), `"AwsSolutions-SMG4"`); n != 2 || strings.Contains(string(report), `"AwsSolutions-RDS`) {
		t.Errorf("nag report: %d SMG4 rows (want the 2 role secrets, suppressed), RDS rules %v", n, strings.Contains(string(report), `"AwsSolutions-RDS`))
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
