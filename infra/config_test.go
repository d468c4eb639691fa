package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	intranet := Intranet{Name: "office", Region: "eu-west-1", VpcID: "vpc-0a1b2c3d4e5f60718",
		SubnetIDs: []string{"subnet-0a1b2c3d4e5f60718"}, SecurityGroupID: "sg-0a1b2c3d4e5f60718"}
	tests := []struct {
		name    string
		ctx     map[string]any
		want    func(*Config) // edits Defaults() into the expected config
		wantErr []string      // substrings of the error, one per problem
	}{
		{name: "empty context is the defaults", ctx: map[string]any{}, want: func(*Config) {}},
		{name: "CDK's own keys are ignored", ctx: map[string]any{
			"@aws-cdk/core:newStyleStackSynthesis":                true,
			"aws:cdk:enable-path-metadata":                        true,
			"availability-zones:account=1:region=eu-west-1":       []any{"eu-west-1a"},
			"acknowledged-issue-numbers":                          []any{1234.0},
			"cdk-nag-ignored-for-this-test-because-it-has-dashes": "x",
		}, want: func(*Config) {}},
		{name: "typed values from cdk.json", ctx: map[string]any{
			"homeRegion": "us-west-2", "probeRegions": []any{"us-east-1", "ap-southeast-2"},
			"probeMemoryMB": 1024.0, "dbMultiAz": true, "spanOffset": "5s", "alarmEmail": "ops@example.com", "natGateways": 1.0,
		}, want: func(c *Config) {
			c.HomeRegion, c.ProbeRegions, c.ProbeMemoryMB, c.DBMultiAZ = "us-west-2", []string{"us-east-1", "ap-southeast-2"}, 1024, true
			c.SpanOffset, c.AlarmEmail, c.NATGateways = Duration(5*time.Second), "ops@example.com", 1
		}},
		{name: "strings from the command line", ctx: map[string]any{
			"probeRegions":         "us-east-1, ap-southeast-2",
			"intranets":            `[{"name":"office","vpcId":"vpc-0a1b2c3d4e5f60718","subnetIds":["subnet-0a1b2c3d4e5f60718"],"securityGroupId":"sg-0a1b2c3d4e5f60718"}]`,
			"probeMemoryMB":        "1024",
			"dbDeletionProtection": "false",
			"maxCheckTimeout":      "60s",
			"natGateways":          "1",
			"endpointZones":        "2",
		}, want: func(c *Config) {
			c.ProbeRegions, c.Intranets, c.ProbeMemoryMB = []string{"us-east-1", "ap-southeast-2"}, []Intranet{intranet}, 1024
			c.DBDeletionProtection, c.MaxCheckTimeout, c.NATGateways, c.EndpointZones = false, Duration(time.Minute), 1, 2
		}},
		{name: "probe regions as a JSON string", ctx: map[string]any{"probeRegions": `["us-east-1"]`, "natGateways": 2.0},
			want: func(c *Config) { c.ProbeRegions, c.NATGateways = []string{"us-east-1"}, 2 }},
		{name: "an intranet in the home region needs no NAT gateway", ctx: map[string]any{"intranets": []any{map[string]any{
			"name": "office", "vpcId": "vpc-0a1b2c3d4e5f60718", "subnetIds": []any{"subnet-0a1b2c3d4e5f60718"}, "securityGroupId": "sg-0a1b2c3d4e5f60718"}}},
			want: func(c *Config) { c.Intranets = []Intranet{intranet} }},
		{name: "probes in other regions need a NAT gateway", ctx: map[string]any{"probeRegions": []any{"us-east-1"}, "intranets": []any{
			map[string]any{"name": "lab", "region": "us-west-2", "vpcId": "vpc-0a1b2c3d4e5f60718", "subnetIds": []any{"subnet-0a1b2c3d4e5f60718"}, "securityGroupId": "sg-0a1b2c3d4e5f60718"},
			map[string]any{"name": "lab2", "region": "us-east-1", "vpcId": "vpc-0a1b2c3d4e5f60718", "subnetIds": []any{"subnet-0a1b2c3d4e5f60718"}, "securityGroupId": "sg-0a1b2c3d4e5f60718"},
		}}, wantErr: []string{"natGateways: 0 leaves the fanout no route to the Lambda API of us-east-1, us-west-2, where probes run"}},
		{name: "unknown key", ctx: map[string]any{"probeRegion": "us-east-1"}, wantErr: []string{"probeRegion: unknown context key"}},
		{name: "wrong types", ctx: map[string]any{"probeMemoryMB": "lots", "dbMultiAz": 1.0, "spanOffset": "soon"},
			wantErr: []string{`probeMemoryMB: "lots" is not valid JSON`, "dbMultiAz: want bool", "spanOffset: want a duration"}},
		{name: "bad regions", ctx: map[string]any{"homeRegion": "Ireland", "probeRegions": []any{"us-east-1", "us-east-1", "mars"}, "natGateways": 1.0},
			wantErr: []string{`homeRegion: "Ireland"`, "us-east-1 is listed twice", `probeRegions: "mars"`}},
		{name: "probe region is home", ctx: map[string]any{"probeRegions": []any{"eu-west-1"}},
			wantErr: []string{"probeRegions: eu-west-1 is the home region"}},
		{name: "intranet problems", ctx: map[string]any{"probeRegions": []any{"us-east-1"}, "natGateways": 1.0, "intranets": []any{
			map[string]any{"name": "us-east-1", "vpcId": "vpc-1", "subnetIds": []any{}, "securityGroupId": "sg"},
			map[string]any{"name": "home", "vpcId": "vpc-0a1b2c3d4e5f60718", "subnetIds": []any{"subnet-x"}, "securityGroupId": "sg-0a1b2c3d4e5f60718"},
		}}, wantErr: []string{
			`intranets[0].name: "us-east-1" is already a location`, `intranets[0].vpcId: "vpc-1"`,
			"intranets[0].subnetIds: at least one subnet", `intranets[0].securityGroupId: "sg"`,
			`intranets[1].name: "home" is already a location`, `intranets[1].subnetIds: "subnet-x"`,
		}},
		{name: "intranet field misspelt", ctx: map[string]any{"intranets": []any{map[string]any{"name": "lab", "vpc_id": "vpc-0a1b2c3d4e5f60718",
			"subnetIds": []any{"subnet-0a1b2c3d4e5f60718"}, "securityGroupId": "sg-0a1b2c3d4e5f60718"}}},
			wantErr: []string{`intranets: unknown field "vpc_id"`, `intranets[0].vpcId: ""`}},
		{name: "limits", ctx: map[string]any{
			"fanoutMemoryMB": 64.0, "shardMaxChecks": 0.0, "spanOffset": "1m", "maxCheckTimeout": "10m",
			"logRetentionDays": 31.0, "alarmEmail": "a@b.c, d@e.f", "secretPrefix": "watcher", "natGateways": 3.0,
			"dbMaxAllocatedStorageGiB": 10.0, "prefix": "Watcher", "endpointZones": 0.0,
		}, wantErr: []string{
			"fanoutMemoryMB: 64 is outside", "shardMaxChecks: 0 is outside", "spanOffset: 1m0s is outside",
			"maxCheckTimeout: 10m0s is outside", "logRetentionDays: 31", "alarmEmail:", "secretPrefix:", "natGateways: 3 is outside 0..2",
			"dbMaxAllocatedStorageGiB: 10", `prefix: "Watcher"`, "endpointZones: 0 is outside 1..2",
		}},
	}
	ca, _ := testCA(t)
	ext := func(kv ...any) map[string]any {
		d := map[string]any{"mode": "external", "host": "db.example.com", "ownerSecretArn": ownerSecret, "caCertificate": ca,
			"vpcId": "vpc-0a1b2c3d4e5f60718", "subnetIds": []any{"subnet-0a1b2c3d4e5f60718"}}
		for i := 0; i < len(kv); i += 2 {
			d[kv[i].(string)] = kv[i+1]
		}
		return map[string]any{"database": d}
	}
	external := Database{Mode: DatabaseExternal, Host: "db.example.com", Port: 5432, Name: "watcher", OwnerSecretArn: ownerSecret,
		CACertificate: ca, VpcID: "vpc-0a1b2c3d4e5f60718", SubnetIDs: []string{"subnet-0a1b2c3d4e5f60718"}}
	notPEM := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(notPEM, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests = append(tests, []struct {
		name    string
		ctx     map[string]any
		want    func(*Config)
		wantErr []string
	}{
		{name: "retention", ctx: map[string]any{"retention": map[string]any{"raw": "7d", "minute": "36h", "day": " 3650 "}},
			want: func(c *Config) { c.Retention = Retention{Raw: "7d", Minute: "36h", Day: " 3650 "} }},
		{name: "bad retention", ctx: map[string]any{"retention": `{"week":"1d"}`},
			wantErr: []string{`retention: unknown field "week"`}},
		{name: "bad retention form", ctx: map[string]any{"retention": `{"raw":"2 weeks","day":"0d"}`},
			wantErr: []string{`retention.raw: "2 weeks": not days (14d) or a duration (36h)`, `retention.day: "0d": must be positive`}},
		{name: "bad retention values", ctx: map[string]any{"retention": `{"minute":"12h","hour":"10d","day":"5d"}`},
			wantErr: []string{"minute retention 12h0m0s is below one day", "day retention 5d is shorter than the hour retention 10d that feeds it"}},
		// The migrate function would refuse it at cold start, with the
		// hourly rollups' default of 395 days: so does synth.
		{name: "raw beyond the default hourly retention", ctx: map[string]any{"retention": `{"raw":"400d"}`},
			wantErr: []string{"hour retention 395d is shorter than the raw retention 400d that feeds it (the levels not given keep their defaults)"}},
		{name: "external database, defaults filled", ctx: ext(), want: func(c *Config) { c.Database = external }},
		{name: "external database with peering", ctx: ext("port", 33333.0, "name", "tsdb", "peerCidr", "10.50.0.0/16",
			"peeringConnectionId", "pcx-0a1b2c3d4e5f60718", "routeTableIds", []any{"rtb-0a1b2c3d4e5f60718"}),
			want: func(c *Config) {
				c.Database = external
				c.Database.Port, c.Database.Name, c.Database.PeerCidr = 33333, "tsdb", "10.50.0.0/16"
				c.Database.PeeringConnectionID, c.Database.RouteTableIDs = "pcx-0a1b2c3d4e5f60718", []string{"rtb-0a1b2c3d4e5f60718"}
			}},
		{name: "RDS takes no external keys", ctx: map[string]any{"database": map[string]any{"host": "db.example.com", "port": 5432.0}},
			wantErr: []string{`database: host, port apply to mode "external" only, not "rds"`}},
		{name: "unknown mode", ctx: map[string]any{"database": `{"mode":"aurora"}`}, wantErr: []string{`database.mode: "aurora"`}},
		{name: "external database problems", ctx: map[string]any{"natGateways": 1.0, "database": map[string]any{
			"mode": "external", "host": "db example", "port": 70000.0, "name": "Watcher-DB",
			"ownerSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:owner-AbC123", "caCertificate": notPEM,
			"vpcId": "vpc-1", "subnetIds": []any{"subnet-x"}, "peerCidr": "10.50.0.1/16", "peeringConnectionId": "pcx-1", "routeTableIds": []any{"rtb-1"},
		}}, wantErr: []string{
			`database.host: "db example"`, "database.port: 70000", `database.name: "Watcher-DB"`,
			"database.ownerSecretArn: the secret is in us-east-1", "holds a PEM PRIVATE KEY", `database.vpcId: "vpc-1"`,
			`database.subnetIds: "subnet-x"`, `database.peerCidr: "10.50.0.1/16"`, `database.peeringConnectionId: "pcx-1"`,
			`database.routeTableIds: "rtb-1"`, "natGateways: 1 shapes the VPC the stack makes",
		}},
		{name: "external database missing", ctx: map[string]any{"database": map[string]any{"mode": "external", "ownerSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:owner",
			"peeringConnectionId": "pcx-0a1b2c3d4e5f60718"}}, wantErr: []string{
			`database.host: ""`, "database.ownerSecretArn: \"arn:aws:secretsmanager:eu-west-1:123456789012:secret:owner\" is not the complete ARN",
			"database.caCertificate: is required", `database.vpcId: ""`, "database.subnetIds: at least one subnet",
			"database.peerCidr: is required with peeringConnectionId", "database.routeTableIds: at least one route table",
		}},
	}...)
	const hookSecret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ops/hook-AbC123"
	tests = append(tests, []struct {
		name    string
		ctx     map[string]any
		want    func(*Config)
		wantErr []string
	}{
		{name: "alerts and status page", ctx: map[string]any{"natGateways": 1.0,
			"alerts": map[string]any{"webhookUrl": "https://hooks.example.com/w?t=1", "webhookSecretArn": hookSecret,
				"snsTopic": true, "emails": []any{"a@example.com", "b@example.com"}},
			"statusPage": `{"enabled":true,"cloudFront":true,"title":"Shop status","prefix":"pages/status"}`,
		}, want: func(c *Config) {
			c.NATGateways = 1
			c.Alerts = Alerts{WebhookURL: "https://hooks.example.com/w?t=1", WebhookSecretArn: hookSecret, SNSTopic: true,
				Emails: []string{"a@example.com", "b@example.com"}}
			c.StatusPage = StatusPage{Enabled: true, CloudFront: true, Title: "Shop status", Prefix: "pages/status"}
		}},
		{name: "an alert topic needs no NAT gateway", ctx: map[string]any{"alerts": `{"snsTopic":true}`},
			want: func(c *Config) { c.Alerts.SNSTopic = true }},
		{name: "a webhook from your own VPC", ctx: func() map[string]any {
			ctx := ext()
			ctx["alerts"] = map[string]any{"webhookUrl": "https://hooks.example.com/w"}
			return ctx
		}(), want: func(c *Config) { c.Database, c.Alerts.WebhookURL = external, "https://hooks.example.com/w" }},
		{name: "a webhook without a NAT gateway", ctx: map[string]any{"alerts": map[string]any{"webhookUrl": "https://hooks.example.com/w"}},
			wantErr: []string{"alerts.webhookUrl: the fanout runs in the home VPC, which with natGateways 0 has no route to the Internet"}},
		{name: "alert problems", ctx: map[string]any{"natGateways": 1.0, "alerts": map[string]any{
			"webhookUrl": "ftp://hooks.example.com/w", "webhookSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:hook",
			"emails": []any{"a@example.com", "a@example.com", "b@example.com, c@example.com"},
		}}, wantErr: []string{
			`alerts.webhookUrl: scheme "ftp"`, `alerts.webhookSecretArn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:hook" is not the complete ARN`,
			"alerts.emails: subscribe to the alert topic, which needs alerts.snsTopic true", "alerts.emails: a@example.com is listed twice",
			`alerts.emails: "b@example.com, c@example.com" is not one e-mail address`,
		}},
		{name: "webhook URL with a password", ctx: map[string]any{"natGateways": 1.0, "alerts": `{"webhookUrl":"https://user:pw@hooks.example.com/w"}`},
			wantErr: []string{"alerts.webhookUrl: carries a user name or password"}},
		{name: "webhook secret without a webhook", ctx: map[string]any{"alerts": map[string]any{"webhookSecretArn": hookSecret, "webhook_url": "x"}},
			wantErr: []string{`alerts: unknown field "webhook_url"`, "alerts.webhookSecretArn: given without alerts.webhookUrl"}},
		{name: "generated webhook secret readable by probes", ctx: map[string]any{"natGateways": 1.0, "secretPrefix": "watcher/",
			"alerts": map[string]any{"webhookUrl": "https://hooks.example.com/w"}},
			wantErr: []string{`alerts.webhookUrl: the generated webhook secret watcher/alerts/webhook would be under secretPrefix "watcher/"`}},
		{name: "generated database role secrets readable by probes", ctx: func() map[string]any {
			c := ext()
			c["secretPrefix"] = "watcher/"
			return c
		}(), wantErr: []string{`secretPrefix: "watcher/" covers the generated secret watcher/database/watcher_fanout`,
			`secretPrefix: "watcher/" covers the generated secret watcher/database/watcher_probe`}},
		{name: "status page keys without enabled", ctx: map[string]any{"statusPage": map[string]any{"cloudFront": true, "title": "x"}},
			wantErr: []string{"statusPage: cloudFront, title given without enabled true"}},
		{name: "status page problems", ctx: map[string]any{"statusPage": map[string]any{"enabled": true, "prefix": "/status/", "title": "Shop\nstatus"}},
			wantErr: []string{`statusPage.prefix: "/status/" is not a folder`, "statusPage.title: contains a control character"}},
		{name: "status page prefix with dots", ctx: map[string]any{"statusPage": map[string]any{"enabled": true, "prefix": "a/../b"}},
			wantErr: []string{`statusPage.prefix: "a/../b" is not a folder`}},
	}...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadConfig(tt.ctx)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("LoadConfig succeeded, want errors %q", tt.wantErr)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error lacks %q:\n%v", w, err)
					}
				}
				if n := strings.Count(err.Error(), "; ") + 1; n != len(tt.wantErr) {
					t.Errorf("error names %d problems, want %d:\n%v", n, len(tt.wantErr), err)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			want := Defaults()
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("config\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// cdk.json documents the defaults; they must be the defaults.
func TestCDKJSONContextIsTheDefaults(t *testing.T) {
	b, err := os.ReadFile("../cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		App     string         `json:"app"`
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("cdk.json: %v", err)
	}
	if f.App != "go run ./infra" {
		t.Errorf("cdk.json app = %q", f.App)
	}
	got, err := LoadConfig(f.Context)
	if err != nil {
		t.Fatalf("cdk.json context: %v", err)
	}
	if want := Defaults(); !reflect.DeepEqual(got, want) {
		t.Errorf("cdk.json context\n got %+v\nwant %+v", got, want)
	}
	if len(f.Context) != len(fieldKinds()) {
		t.Errorf("cdk.json lists %d context keys, Config has %d: document every key", len(f.Context), len(fieldKinds()))
	}
}

func TestProbeTimeout(t *testing.T) {
	tests := []struct {
		name            string
		offset, slowest time.Duration
		want            time.Duration
	}{
		{"defaults", 10 * time.Second, 300 * time.Second, 400 * time.Second},
		{"no offset, short checks", 0, 10 * time.Second, 100 * time.Second},
		{"longest allowed", 50 * time.Second, 300 * time.Second, 440 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults()
			c.SpanOffset, c.MaxCheckTimeout = Duration(tt.offset), Duration(tt.slowest)
			got := c.ProbeTimeout()
			if got != tt.want {
				t.Errorf("ProbeTimeout = %s, want %s", got, tt.want)
			}
			if floor := Span + tt.offset + tt.slowest; got <= floor {
				t.Errorf("ProbeTimeout %s does not outlive span + offset + slowest check (%s)", got, floor)
			}
		})
	}
}
