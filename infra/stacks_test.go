package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// The account the tests resolve AWS::AccountId to.
const testAccount = "123456789012"

// fakeAssets makes an asset directory with a bootstrap per function, so
// that the tests need no `make build`.
func fakeAssets(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"fanout", "probe", "drain", "migrate"} {
		if err := os.MkdirAll(filepath.Join(dir, f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f, "bootstrap"), []byte("#!/bin/sh\n# "+f+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// exampleContext is the configuration `make synth` uses: a home region, one
// probe region and one intranet location.
func exampleContext(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("example.context.json")
	if err != nil {
		t.Fatal(err)
	}
	var ctx map[string]any
	if err := json.Unmarshal(b, &ctx); err != nil {
		t.Fatalf("example.context.json: %v", err)
	}
	return ctx
}

func newApp(t *testing.T, ctx map[string]any) (awscdk.App, *fleet) {
	t.Helper()
	ctx["assetDir"] = fakeAssets(t)
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(t.TempDir())})
	f, err := build(app)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return app, f
}

// template is a synthesized stack as plain JSON, so that assertions can be
// ordinary Go with messages that say what was wrong.
type template struct {
	region    string
	Resources map[string]resource `json:"Resources"`
}

type resource struct {
	Type       string         `json:"Type"`
	Properties map[string]any `json:"Properties"`
	DependsOn  any            `json:"DependsOn"`
}

func templateOf(t *testing.T, stack awscdk.Stack) *template {
	t.Helper()
	raw := assertions.Template_FromStack(stack, nil).ToJSON()
	b, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	var tpl template
	if err := json.Unmarshal(b, &tpl); err != nil {
		t.Fatal(err)
	}
	tpl.region = *stack.Region()
	return &tpl
}

func (tp *template) ofType(typ string) map[string]resource {
	out := map[string]resource{}
	for id, r := range tp.Resources {
		if r.Type == typ {
			out[id] = r
		}
	}
	return out
}

// schedulesOf is the schedules whose target is the function of logical id
// fnID.
func (tp *template) schedulesOf(fnID string) map[string]resource {
	out := map[string]resource{}
	for id, s := range tp.ofType("AWS::Scheduler::Schedule") {
		if target := s.Properties["Target"].(map[string]any); tp.resolve(target["Arn"]) == "{"+fnID+".Arn}" {
			out[id] = s
		}
	}
	return out
}

// readTemplate reads the template of stack from the cloud assembly in dir.
func readTemplate(t *testing.T, dir, stack, region string) *template {
	t.Helper()
	tp := &template{region: region}
	if err := json.Unmarshal(mustRead(t, filepath.Join(dir, stack+".template.json")), tp); err != nil {
		t.Fatal(err)
	}
	return tp
}

// assertOnlyInfo fails the test on every warning or error the synth of the
// cloud assembly in dir left (cdk-nag's findings among them).
func assertOnlyInfo(t *testing.T, dir string) {
	t.Helper()
	msgs, err := assemblyMessages(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.Level != "info" {
			t.Errorf("%s: %s", m.Level, m)
		}
	}
}

// function returns the Lambda function with the given name.
func (tp *template) function(t *testing.T, name string) (string, resource) {
	t.Helper()
	for id, r := range tp.ofType("AWS::Lambda::Function") {
		if r.Properties["FunctionName"] == name {
			return id, r
		}
	}
	t.Fatalf("no function %s", name)
	return "", resource{}
}

// policyOf returns the statements of the policies attached to the role
// with logical id roleID.
func (tp *template) policyOf(roleID string) []map[string]any {
	var out []map[string]any
	for _, r := range tp.ofType("AWS::IAM::Policy") {
		roles, _ := r.Properties["Roles"].([]any)
		for _, ro := range roles {
			if ref, _ := ro.(map[string]any)["Ref"].(string); ref == roleID {
				doc := r.Properties["PolicyDocument"].(map[string]any)
				for _, s := range doc["Statement"].([]any) {
					out = append(out, s.(map[string]any))
				}
			}
		}
	}
	return out
}

// resolve evaluates the intrinsic functions the templates use for names and
// ARNs, with the pseudo parameters of testAccount in the stack's region.
func (tp *template) resolve(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if j, ok := x["Fn::Join"].([]any); ok {
			var parts []string
			for _, p := range j[1].([]any) {
				parts = append(parts, tp.resolve(p))
			}
			return strings.Join(parts, j[0].(string))
		}
		if ref, ok := x["Ref"].(string); ok {
			switch ref {
			case "AWS::Partition":
				return "aws"
			case "AWS::AccountId":
				return testAccount
			case "AWS::URLSuffix":
				return "amazonaws.com"
			case "AWS::Region":
				return tp.region
			}
			return "{Ref:" + ref + "}"
		}
		if ga, ok := x["Fn::GetAtt"].([]any); ok {
			return fmt.Sprintf("{%s.%s}", ga[0], ga[1])
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func (tp *template) resolveAll(v any) []string {
	if list, ok := v.([]any); ok {
		var out []string
		for _, x := range list {
			out = append(out, tp.resolve(x))
		}
		return out
	}
	return []string{tp.resolve(v)}
}

func env(r resource) map[string]any {
	e, _ := r.Properties["Environment"].(map[string]any)
	vars, _ := e["Variables"].(map[string]any)
	return vars
}

func TestExampleFleet(t *testing.T) {
	_, f := newApp(t, exampleContext(t))
	cfg := f.Config
	home := templateOf(t, f.Home.Stack)
	stacks := map[string]*template{cfg.homeStackName(): home}
	for _, p := range f.Probes {
		stacks[*p.Stack.StackName()] = templateOf(t, p.Stack)
	}
	probeRegion, intranet := stacks["watcher-probe-us-east-1"], stacks["watcher-probe-intranet-a"]
	if probeRegion == nil || intranet == nil || len(stacks) != 3 {
		t.Fatalf("stacks = %v, want watcher-home, watcher-probe-us-east-1, watcher-probe-intranet-a", keys(stacks))
	}
	wantRegion := map[string]string{"watcher-home": "eu-west-1", "watcher-probe-us-east-1": "us-east-1", "watcher-probe-intranet-a": "eu-west-1"}
	for name, tp := range stacks {
		if tp.region != wantRegion[name] {
			t.Errorf("%s region = %s, want %s", name, tp.region, wantRegion[name])
		}
	}
	probeArn := func(region, loc string) string {
		return "arn:aws:lambda:" + region + ":" + testAccount + ":function:watcher-probe-" + loc
	}
	wantProbes := map[string]string{
		"home":       probeArn("eu-west-1", "home"),
		"us-east-1":  probeArn("us-east-1", "us-east-1"),
		"intranet-a": probeArn("eu-west-1", "intranet-a"),
	}
	queueArn := "arn:aws:sqs:eu-west-1:" + testAccount + ":watcher-records"
	queueURL := "https://sqs.eu-west-1.amazonaws.com/" + testAccount + "/watcher-records"

	t.Run("resource counts", func(t *testing.T) {
		counts := []struct {
			stack, typ string
			want       int
		}{
			{"watcher-home", "AWS::Lambda::Function", 4},
			{"watcher-home", "AWS::RDS::DBInstance", 1},
			{"watcher-home", "AWS::RDS::DBProxy", 1},
			{"watcher-home", "AWS::SecretsManager::Secret", 1},
			{"watcher-home", "AWS::Scheduler::Schedule", 2},
			{"watcher-home", "AWS::SQS::Queue", 2},
			{"watcher-home", "AWS::Lambda::EventSourceMapping", 1},
			{"watcher-home", "Custom::WatcherMigrations", 1},
			{"watcher-home", "AWS::EC2::VPC", 1},
			{"watcher-home", "AWS::EC2::NatGateway", 1}, // the example has a probe in another region
			{"watcher-home", "AWS::EC2::VPCEndpoint", 0},
			{"watcher-home", "AWS::EC2::SecurityGroup", 6}, // fanout, drain, migrate, operator, database, proxy
			{"watcher-home", "AWS::EC2::FlowLog", 1},
			{"watcher-home", "AWS::Logs::LogGroup", 5}, // four functions and the flow log
			{"watcher-home", "AWS::SNS::Topic", 1},
			{"watcher-home", "AWS::SNS::Subscription", 1},
			{"watcher-home", "AWS::CloudWatch::Alarm", 17},   // errors and throttles of 4 functions, 2 async drops, unwritten, missed spans, 2 records lost, dead letters, backlog, proxy pinning
			{"watcher-home", "AWS::Lambda::LayerVersion", 1}, // the RDS CA bundle, for the migrate function
			{"watcher-probe-us-east-1", "AWS::Lambda::Function", 1},
			{"watcher-probe-us-east-1", "AWS::Logs::LogGroup", 1},
			{"watcher-probe-us-east-1", "AWS::CloudWatch::Alarm", 5},
			{"watcher-probe-us-east-1", "AWS::EC2::VPC", 0},
			{"watcher-probe-intranet-a", "AWS::Lambda::Function", 1},
			{"watcher-probe-intranet-a", "AWS::EC2::VPC", 0}, // the existing VPC is imported
			{"watcher-probe-intranet-a", "AWS::EC2::SecurityGroup", 0},
		}
		for _, c := range counts {
			if got := len(stacks[c.stack].ofType(c.typ)); got != c.want {
				t.Errorf("%s: %d %s, want %d", c.stack, got, c.typ, c.want)
			}
		}
		// The same through the CDK assertion API.
		assertions.Template_FromStack(f.Probes[0].Stack, nil).ResourceCountIs(jsii.String("AWS::Lambda::Function"), jsii.Number(1))
	})

	t.Run("every function is a provided.al2023 arm64 bootstrap with its own log group", func(t *testing.T) {
		for name, tp := range stacks {
			groups := tp.ofType("AWS::Logs::LogGroup")
			for id, fn := range tp.ofType("AWS::Lambda::Function") {
				p := fn.Properties
				if p["Runtime"] != "provided.al2023" || p["Handler"] != "bootstrap" || !slices.Equal(tp.resolveAll(p["Architectures"]), []string{"arm64"}) {
					t.Errorf("%s/%s: runtime %v, handler %v, architectures %v", name, id, p["Runtime"], p["Handler"], p["Architectures"])
				}
				lc, _ := p["LoggingConfig"].(map[string]any)
				ref, _ := lc["LogGroup"].(map[string]any)
				if _, ok := groups[fmt.Sprint(ref["Ref"])]; !ok {
					t.Errorf("%s/%s: logs to %v, not to a log group of this stack", name, id, lc)
				}
			}
		}
	})

	t.Run("log groups keep logs for the configured retention", func(t *testing.T) {
		for name, tp := range stacks {
			for id, g := range tp.ofType("AWS::Logs::LogGroup") {
				if got := g.Properties["RetentionInDays"]; got != float64(cfg.LogRetentionDays) {
					t.Errorf("%s/%s: RetentionInDays = %v, want %d", name, id, got, cfg.LogRetentionDays)
				}
			}
		}
	})

	t.Run("probes outlive their span plus the slowest check", func(t *testing.T) {
		floor := Span + cfg.SpanOffset.D() + cfg.MaxCheckTimeout.D()
		for _, c := range []struct {
			tp  *template
			loc string
		}{{home, "home"}, {probeRegion, "us-east-1"}, {intranet, "intranet-a"}} {
			_, fn := c.tp.function(t, "watcher-probe-"+c.loc)
			timeout := time.Duration(fn.Properties["Timeout"].(float64)) * time.Second
			if timeout <= floor || timeout > 15*time.Minute {
				t.Errorf("probe %s timeout %s, want above %s (span %s + offset %s + check %s) and at most 15m",
					c.loc, timeout, floor, Span, cfg.SpanOffset.D(), cfg.MaxCheckTimeout.D())
			}
			if got := env(fn)["WATCHER_LOCATION"]; got != c.loc {
				t.Errorf("probe %s: WATCHER_LOCATION = %v", c.loc, got)
			}
		}
	})

	t.Run("the fanout runs every minute with the scheduled time", func(t *testing.T) {
		fanoutID, _ := home.function(t, "watcher-fanout")
		var found bool
		for id, s := range home.schedulesOf(fanoutID) {
			target := s.Properties["Target"].(map[string]any)
			found = true
			if s.Properties["ScheduleExpression"] != "rate(1 minute)" {
				t.Errorf("%s: ScheduleExpression = %v", id, s.Properties["ScheduleExpression"])
			}
			if w := s.Properties["FlexibleTimeWindow"].(map[string]any); w["Mode"] != "OFF" {
				t.Errorf("%s: FlexibleTimeWindow = %v, want OFF (the scheduled time names the span)", id, w)
			}
			var input map[string]any
			if err := json.Unmarshal([]byte(target["Input"].(string)), &input); err != nil {
				t.Fatalf("%s input: %v", id, err)
			}
			if input["time"] != "<aws.scheduler.scheduled-time>" || input["detail-type"] != "Scheduled Event" {
				t.Errorf("%s input = %v, want a scheduled event with the scheduled time", id, input)
			}
		}
		if !found {
			t.Fatal("no schedule targets the fanout")
		}
	})

	t.Run("the fanout knows every probe and may invoke only those", func(t *testing.T) {
		id, fn := home.function(t, "watcher-fanout")
		var probes map[string]string
		if err := json.Unmarshal([]byte(home.resolve(env(fn)["WATCHER_PROBES"])), &probes); err != nil {
			t.Fatalf("WATCHER_PROBES: %v", err)
		}
		if !mapsEqual(probes, wantProbes) {
			t.Errorf("WATCHER_PROBES = %v, want %v", probes, wantProbes)
		}
		// The fanout waits to invoke each shard just before its first
		// check: it must outlive the span offset and the span.
		if timeout, floor := time.Duration(fn.Properties["Timeout"].(float64))*time.Second, cfg.SpanOffset.D()+Span+30*time.Second; timeout < floor {
			t.Errorf("fanout timeout %s, want at least %s (offset, span and 30 s to plan)", timeout, floor)
		}
		role := refOf(fn.Properties["Role"])
		var invoke []string
		for _, s := range home.policyOf(role) {
			actions := home.resolveAll(s["Action"])
			if slices.Contains(actions, "lambda:InvokeFunction") {
				if len(actions) != 1 {
					t.Errorf("invoke statement also allows %v", actions)
				}
				invoke = append(invoke, home.resolveAll(s["Resource"])...)
			}
		}
		sort.Strings(invoke)
		want := values(wantProbes)
		if !slices.Equal(invoke, want) {
			t.Errorf("%s may invoke %v, want exactly %v", id, invoke, want)
		}
		want2 := map[string]string{
			"DATABASE_IAM_AUTH": "true", "WATCHER_SPAN_OFFSET": "10s", "WATCHER_MAX_DELAY": "2m0s", "WATCHER_SHARD_MAX_CHECKS": "5000",
			"WATCHER_PROBE_MEMORY_MB": "512", "WATCHER_VPC": "true", // the example fleet has probes in another region: a NAT gateway
			"DATABASE_URL": "postgres://watcher_fanout@{ProxyCB0DFB71.Endpoint}:5432/watcher?sslmode=verify-full",
		}
		for k, v := range want2 {
			if got := home.resolve(env(fn)[k]); got != v {
				t.Errorf("fanout %s = %q, want %q", k, got, v)
			}
		}
	})

	t.Run("no wildcard where the resource is known", func(t *testing.T) {
		// The only "*" allowed is Lambda's VPC networking, whose actions
		// take no narrower resource; prefixes end in /* or :* by design.
		eni := []string{"ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
			"ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"}
		for name, tp := range stacks {
			for id, p := range tp.ofType("AWS::IAM::Policy") {
				for _, s := range p.Properties["PolicyDocument"].(map[string]any)["Statement"].([]any) {
					st := s.(map[string]any)
					actions := tp.resolveAll(st["Action"])
					for _, a := range actions {
						if strings.Contains(a, "*") {
							t.Errorf("%s/%s: wildcard action %s", name, id, a)
						}
					}
					for _, r := range tp.resolveAll(st["Resource"]) {
						if r == "*" && !slices.Equal(actions, eni) {
							t.Errorf("%s/%s: %v on every resource", name, id, actions)
						}
					}
				}
			}
		}
	})

	t.Run("every probe sends to the record queue and nowhere else", func(t *testing.T) {
		// The home probe names the queue of its own stack; the others build
		// its URL and ARN from the configuration.
		var queueID string
		for id, q := range home.ofType("AWS::SQS::Queue") {
			if q.Properties["QueueName"] == "watcher-records" {
				queueID = id
			}
		}
		for _, c := range []struct {
			tp                 *template
			loc                string
			region             string
			queueURL, queueArn string
		}{
			{home, "home", "eu-west-1", "{Ref:" + queueID + "}", "{" + queueID + ".Arn}"},
			{probeRegion, "us-east-1", "us-east-1", queueURL, queueArn},
			{intranet, "intranet-a", "eu-west-1", queueURL, queueArn},
		} {
			_, fn := c.tp.function(t, "watcher-probe-"+c.loc)
			if got := c.tp.resolve(env(fn)["WATCHER_RECORD_QUEUE_URL"]); got != c.queueURL {
				t.Errorf("%s: WATCHER_RECORD_QUEUE_URL = %s, want %s", c.loc, got, c.queueURL)
			}
			for _, k := range []string{"DATABASE_URL", "DATABASE_IAM_AUTH"} {
				if v, ok := env(fn)[k]; ok {
					t.Errorf("%s: %s = %v; a probe has no route to the proxy, the drain writes its checks", c.loc, k, c.tp.resolve(v))
				}
			}
			grants := map[string][]string{}
			for _, st := range c.tp.policyOf(refOf(fn.Properties["Role"])) {
				for _, a := range c.tp.resolveAll(st["Action"]) {
					grants[a] = append(grants[a], c.tp.resolveAll(st["Resource"])...)
				}
			}
			if got := grants["sqs:SendMessage"]; !slices.Equal(got, []string{c.queueArn}) {
				t.Errorf("%s: sqs:SendMessage on %v, want %s", c.loc, got, c.queueArn)
			}
			wantSecrets := []string{"arn:aws:secretsmanager:" + c.region + ":" + testAccount + ":secret:watcher/basic-auth/*"}
			if c.region != cfg.HomeRegion {
				wantSecrets = append(wantSecrets, "arn:aws:secretsmanager:eu-west-1:"+testAccount+":secret:watcher/basic-auth/*")
			}
			if got := grants["secretsmanager:GetSecretValue"]; !slices.Equal(got, wantSecrets) {
				t.Errorf("%s: secretsmanager:GetSecretValue on %v, want %v", c.loc, got, wantSecrets)
			}
			inVPC := c.loc == "intranet-a"
			for a := range grants {
				if strings.HasPrefix(a, "logs:") || a == "sqs:SendMessage" || a == "secretsmanager:GetSecretValue" || strings.HasPrefix(a, "ec2:") && inVPC {
					continue
				}
				t.Errorf("%s: unexpected permission %s", c.loc, a) // rds-db:connect above all
			}
		}
	})

	t.Run("the queue is drained with partial batch failures and has a dead-letter queue", func(t *testing.T) {
		queues := home.ofType("AWS::SQS::Queue")
		var dlqID string
		for id, q := range queues {
			if q.Properties["SqsManagedSseEnabled"] != true {
				t.Errorf("%s is not encrypted", id)
			}
			if q.Properties["QueueName"] == "watcher-records-dlq" {
				dlqID = id
			}
		}
		for id, q := range queues {
			if q.Properties["QueueName"] != "watcher-records" {
				continue
			}
			rp, _ := q.Properties["RedrivePolicy"].(map[string]any)
			if refOf(rp["deadLetterTargetArn"]) != dlqID || rp["maxReceiveCount"] != float64(cfg.QueueMaxReceiveCount) {
				t.Errorf("%s redrive = %v, want %s after %d receives", id, rp, dlqID, cfg.QueueMaxReceiveCount)
			}
			if vt := q.Properties["VisibilityTimeout"]; vt != 6*drainTimeout.Seconds() {
				t.Errorf("%s visibility timeout %v, want 6 x the drain timeout", id, vt)
			}
		}
		drainID, _ := home.function(t, "watcher-drain")
		for id, m := range home.ofType("AWS::Lambda::EventSourceMapping") {
			p := m.Properties
			if refOf(p["FunctionName"]) != drainID || !slices.Equal(home.resolveAll(p["FunctionResponseTypes"]), []string{"ReportBatchItemFailures"}) {
				t.Errorf("%s: %v", id, p)
			}
		}
		// Every policy statement within a queue policy denies plain HTTP.
		for id, qp := range home.ofType("AWS::SQS::QueuePolicy") {
			b, _ := json.Marshal(qp.Properties)
			if !strings.Contains(string(b), `"aws:SecureTransport":"false"`) {
				t.Errorf("%s does not deny insecure transport", id)
			}
		}
	})

	t.Run("alarms reach the topic", func(t *testing.T) {
		for name, tp := range stacks {
			topics := tp.ofType("AWS::SNS::Topic")
			var unwritten, lost int
			for id, a := range tp.ofType("AWS::CloudWatch::Alarm") {
				actions := a.Properties["AlarmActions"].([]any)
				if len(actions) != 1 {
					t.Errorf("%s/%s: actions %v", name, id, actions)
					continue
				}
				if _, ok := topics[refOf(actions[0])]; !ok {
					t.Errorf("%s/%s: notifies %v, not the stack's topic", name, id, actions[0])
				}
				if a.Properties["MetricName"] == "RecordsLost" {
					lost++
				}
				if a.Properties["MetricName"] == "ChecksUnwritten" {
					unwritten++
					if a.Properties["Namespace"] != "Watcher" {
						t.Errorf("%s/%s: namespace %v", name, id, a.Properties["Namespace"])
					}
				}
			}
			if unwritten != 1 {
				t.Errorf("%s: %d ChecksUnwritten alarms, want 1", name, unwritten)
			}
			if lost < 1 {
				t.Errorf("%s: no RecordsLost alarm", name)
			}
			for id, sub := range tp.ofType("AWS::SNS::Subscription") {
				if sub.Properties["Endpoint"] != "ops@example.com" || sub.Properties["Protocol"] != "email" {
					t.Errorf("%s/%s: %v", name, id, sub.Properties)
				}
			}
		}
		home := assertions.Template_FromStack(f.Home.Stack, nil)
		for _, m := range [][3]string{{"SpansMissed", "fanout", "all"}, {"ChecksUnwritten", "probe", "home"},
			{"RecordsLost", "fanout", "all"}, {"RecordsLost", "probe", "home"}} {
			home.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), &map[string]any{
				"Namespace":  "Watcher",
				"MetricName": m[0],
				"Dimensions": assertions.Match_ArrayWith(&[]any{
					map[string]any{"Name": "function", "Value": m[1]},
					map[string]any{"Name": "location", "Value": m[2]},
				}),
			})
		}
	})

	t.Run("migrations run on deploy before the schedule starts", func(t *testing.T) {
		migrateID, _ := home.function(t, "watcher-migrate")
		var crID string
		for id, cr := range home.ofType("Custom::WatcherMigrations") {
			crID = id
			if home.resolve(cr.Properties["ServiceToken"]) != "{"+migrateID+".Arn}" {
				t.Errorf("%s: ServiceToken %v", id, cr.Properties["ServiceToken"])
			}
			if !strings.HasSuffix(home.resolve(cr.Properties["FunctionVersion"]), ".Version}") {
				t.Errorf("%s: FunctionVersion %v does not follow the function's code", id, cr.Properties["FunctionVersion"])
			}
		}
		// The migrate function must reach the database when it runs.
		deps := home.resolveAll(home.Resources[crID].DependsOn)
		var ingress int
		for id, in := range home.ofType("AWS::EC2::SecurityGroupIngress") {
			if strings.HasPrefix(refOf(in.Properties["SourceSecurityGroupId"]), "MigrateSG") {
				ingress++
				if !slices.Contains(deps, id) {
					t.Errorf("%s does not wait for %s", crID, id)
				}
			}
		}
		if ingress != 1 {
			t.Errorf("%d ingress rules from the migrate function, want 1", ingress)
		}
		for id, s := range home.ofType("AWS::Scheduler::Schedule") {
			if s.Properties["ScheduleExpression"] == "rate(1 minute)" && !slices.Contains(home.resolveAll(s.DependsOn), crID) {
				t.Errorf("%s does not depend on %s", id, crID)
			}
		}
	})

	t.Run("the migrate function runs every 15 minutes, with time for the upkeep", func(t *testing.T) {
		migrateID, fn := home.function(t, "watcher-migrate")
		var found int
		for id, s := range home.schedulesOf(migrateID) {
			target := s.Properties["Target"].(map[string]any)
			found++
			if s.Properties["ScheduleExpression"] != "rate(15 minutes)" {
				t.Errorf("%s: ScheduleExpression = %v, want rate(15 minutes)", id, s.Properties["ScheduleExpression"])
			}
			// A CloudFormation event is answered, anything else means a
			// scheduled run, which does the upkeep.
			if strings.Contains(target["Input"].(string), "ResponseURL") {
				t.Errorf("%s input %v looks like a custom resource event", id, target["Input"])
			}
		}
		if found != 1 {
			t.Errorf("%d schedules invoke the migrate function, want 1", found)
		}
		if timeout := time.Duration(fn.Properties["Timeout"].(float64)) * time.Second; timeout < 10*time.Minute {
			t.Errorf("migrate timeout %s, want at least 10m for the upkeep", timeout)
		}
		for k := range env(fn) {
			if strings.HasPrefix(k, "WATCHER_RETENTION_") {
				t.Errorf("migrate: %s set without a retention in the context; the defaults are the function's", k)
			}
		}
	})

	t.Run("the proxy requires TLS and IAM end to end", func(t *testing.T) {
		for id, p := range home.ofType("AWS::RDS::DBProxy") {
			pp := p.Properties
			if pp["RequireTLS"] != true || pp["DefaultAuthScheme"] != "IAM_AUTH" || pp["EngineFamily"] != "POSTGRESQL" {
				t.Errorf("%s: RequireTLS %v, DefaultAuthScheme %v, EngineFamily %v", id, pp["RequireTLS"], pp["DefaultAuthScheme"], pp["EngineFamily"])
			}
			if _, ok := pp["Auth"]; ok {
				t.Errorf("%s: has secrets-based Auth %v; the application roles have no passwords", id, pp["Auth"])
			}
			// The proxy's role may log in as the application users only.
			var users []string
			for _, s := range home.policyOf(refOf(pp["RoleArn"])) {
				users = append(users, home.resolveAll(s["Resource"])...)
			}
			want := []string{
				"arn:aws:rds-db:eu-west-1:" + testAccount + ":dbuser:{DatabaseB269D8BB.DbiResourceId}/watcher_fanout",
				"arn:aws:rds-db:eu-west-1:" + testAccount + ":dbuser:{DatabaseB269D8BB.DbiResourceId}/watcher_probe",
			}
			if !slices.Equal(users, want) {
				t.Errorf("proxy role may connect as %v, want %v", users, want)
			}
		}
		for id, db := range home.ofType("AWS::RDS::DBInstance") {
			p := db.Properties
			if p["StorageEncrypted"] != true || p["EnableIAMDatabaseAuthentication"] != true || p["PubliclyAccessible"] != false ||
				p["DeletionProtection"] != true || p["BackupRetentionPeriod"] != 7.0 || p["Engine"] != "postgres" {
				t.Errorf("%s: %v", id, p)
			}
		}
		params := home.ofType("AWS::RDS::DBParameterGroup")
		for id, pg := range params {
			if got := pg.Properties["Parameters"].(map[string]any)["rds.force_ssl"]; got != "1" {
				t.Errorf("%s: rds.force_ssl = %v, want 1", id, got)
			}
		}
	})

	t.Run("the intranet probe runs in its VPC with private targets allowed", func(t *testing.T) {
		_, fn := intranet.function(t, "watcher-probe-intranet-a")
		vpc, _ := fn.Properties["VpcConfig"].(map[string]any)
		in := cfg.Intranets[0]
		if got := intranet.resolveAll(vpc["SubnetIds"]); !slices.Equal(got, in.SubnetIDs) {
			t.Errorf("subnets = %v, want %v", got, in.SubnetIDs)
		}
		if got := intranet.resolveAll(vpc["SecurityGroupIds"]); !slices.Equal(got, []string{in.SecurityGroupID}) {
			t.Errorf("security groups = %v, want %s", got, in.SecurityGroupID)
		}
		if env(fn)["WATCHER_ALLOW_PRIVATE"] != "true" {
			t.Errorf("WATCHER_ALLOW_PRIVATE = %v", env(fn)["WATCHER_ALLOW_PRIVATE"])
		}
	})

	t.Run("Internet probes run outside any VPC, the database's clients inside the home VPC", func(t *testing.T) {
		for _, c := range []struct {
			tp  *template
			loc string
		}{{home, "home"}, {probeRegion, "us-east-1"}} {
			_, fn := c.tp.function(t, "watcher-probe-"+c.loc)
			if _, ok := fn.Properties["VpcConfig"]; ok || env(fn)["WATCHER_ALLOW_PRIVATE"] != nil {
				t.Errorf("probe %s: VpcConfig %v, WATCHER_ALLOW_PRIVATE %v; want neither (its responses would cross a NAT gateway)",
					c.loc, fn.Properties["VpcConfig"], env(fn)["WATCHER_ALLOW_PRIVATE"])
			}
		}
		functions := map[string]bool{}
		for id, sn := range home.ofType("AWS::EC2::Subnet") {
			if strings.HasPrefix(id, "Vpcfunctions") {
				functions[id] = true
				if sn.Properties["MapPublicIpOnLaunch"] == true {
					t.Errorf("%s maps public addresses", id)
				}
			}
		}
		for _, name := range []string{"watcher-fanout", "watcher-drain", "watcher-migrate"} {
			_, fn := home.function(t, name)
			vpc, _ := fn.Properties["VpcConfig"].(map[string]any)
			subnets := vpc["SubnetIds"].([]any)
			if len(subnets) != len(functions) {
				t.Errorf("%s in subnets %v, want the %d functions subnets", name, subnets, len(functions))
			}
			for _, sn := range subnets {
				if !functions[refOf(sn)] {
					t.Errorf("%s in subnet %v, not a functions subnet", name, sn)
				}
			}
		}
		// Only the fanout and the drain reach the proxy; no security group
		// is left for the home probe.
		var proxySG string
		for _, p := range home.ofType("AWS::RDS::DBProxy") {
			proxySG = refOf(p.Properties["VpcSecurityGroupIds"].([]any)[0])
		}
		var from []string
		for _, in := range home.ofType("AWS::EC2::SecurityGroupIngress") {
			if refOf(in.Properties["GroupId"]) == proxySG {
				from = append(from, refOf(in.Properties["SourceSecurityGroupId"]))
			}
		}
		sort.Strings(from)
		if len(from) != 2 || !strings.HasPrefix(from[0], "DrainSG") || !strings.HasPrefix(from[1], "FanoutSG") {
			t.Errorf("proxy open to %v, want the drain and the fanout only", from)
		}
		for id := range home.ofType("AWS::EC2::SecurityGroup") {
			if strings.HasPrefix(id, "Probe") {
				t.Errorf("security group %s: the home probe is not in the VPC", id)
			}
		}
	})

	t.Run("with a NAT gateway for the remote probes, no VPC endpoints", func(t *testing.T) {
		if n := len(home.ofType("AWS::EC2::NatGateway")); n != cfg.NATGateways || n != 1 {
			t.Errorf("%d NAT gateways, want %d", n, cfg.NATGateways)
		}
		if n := len(home.ofType("AWS::EC2::VPCEndpoint")); n != 0 {
			t.Errorf("%d VPC endpoints beside the NAT gateway, want none", n)
		}
	})
}

func refOf(v any) string {
	m, _ := v.(map[string]any)
	if r, ok := m["Ref"].(string); ok {
		return r
	}
	if ga, ok := m["Fn::GetAtt"].([]any); ok {
		return fmt.Sprint(ga[0])
	}
	return ""
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func values(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestSynthExample runs the synth `make synth` runs, in process: the example
// configuration with two regions and an intranet, cdk-nag's AwsSolutions
// checks included, and fails on any unsuppressed finding.
func TestSynthExample(t *testing.T) {
	ctx := exampleContext(t)
	ctx["assetDir"] = fakeAssets(t)
	out := t.TempDir()
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(out)})
	dir, err := synthesize(app)
	if err != nil {
		t.Fatal(err)
	}
	if dir != out {
		t.Errorf("assembly in %s, want %s", dir, out)
	}
	assertOnlyInfo(t, dir)
	// The manifest, as `cdk deploy` reads it: the stacks, their regions, and
	// the home stack deployed after the probes.
	var manifest struct {
		Artifacts map[string]struct {
			Type         string   `json:"type"`
			Environment  string   `json:"environment"`
			Dependencies []string `json:"dependencies"`
			Properties   struct {
				TemplateFile string `json:"templateFile"`
			} `json:"properties"`
		} `json:"artifacts"`
	}
	if err := readJSON(filepath.Join(dir, "manifest.json"), &manifest); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"watcher-home": "eu-west-1", "watcher-probe-us-east-1": "us-east-1", "watcher-probe-intranet-a": "eu-west-1"}
	got := map[string]string{}
	for id, a := range manifest.Artifacts {
		if a.Type != "aws:cloudformation:stack" {
			continue
		}
		got[id] = strings.TrimPrefix(a.Environment, "aws://unknown-account/")
		if _, err := os.Stat(filepath.Join(dir, a.Properties.TemplateFile)); err != nil {
			t.Errorf("template of %s: %v", id, err)
		}
		if id == "watcher-home" {
			var deps []string
			for _, d := range a.Dependencies {
				if !strings.HasSuffix(d, ".assets") {
					deps = append(deps, d)
				}
			}
			sort.Strings(deps)
			if !slices.Equal(deps, []string{"watcher-probe-intranet-a", "watcher-probe-us-east-1"}) {
				t.Errorf("watcher-home depends on %v, want both probe stacks", deps)
			}
		}
	}
	if !mapsEqual(got, want) {
		t.Errorf("stacks = %v, want %v (the account is left to cdk deploy)", got, want)
	}
	// cdk-nag writes a report per stack; every rule is compliant, not
	// applicable, or suppressed with a reason.
	reports, _ := filepath.Glob(filepath.Join(out, "AwsSolutions-*-NagReport.csv"))
	if len(reports) != len(want) {
		t.Fatalf("%d cdk-nag reports, want %d", len(reports), len(want))
	}
	for _, r := range reports {
		b, err := os.ReadFile(r)
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			if strings.Contains(line, `"Non-Compliant"`) {
				t.Errorf("%s: %s", filepath.Base(r), line)
			}
			if strings.Contains(line, `"Suppressed"`) && strings.Contains(line, `"Suppressed",""`) {
				t.Errorf("%s: suppression without a reason: %s", filepath.Base(r), line)
			}
		}
	}
}

// TestHomeOnly is the smallest fleet, with the database options turned the
// other way (suppressions follow the configuration) and the default network:
// no NAT gateway, VPC endpoints instead.
func TestHomeOnly(t *testing.T) {
	out := t.TempDir()
	ctx := map[string]any{"assetDir": fakeAssets(t), "dbMultiAz": true, "dbDeletionProtection": false, "homeRegion": "us-west-2",
		"retention": `{"hour":"800d","minute":"36h"}`} // as the command line gives it
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(out)})
	if _, err := synthesize(app); err != nil {
		t.Fatal(err)
	}
	tp := readTemplate(t, out, "watcher-home", "us-west-2")
	if others, _ := filepath.Glob(filepath.Join(out, "watcher-probe-*.template.json")); len(others) != 0 {
		t.Errorf("probe stacks %v, want the home stack only", others)
	}
	_, fn := tp.function(t, "watcher-fanout")
	if got := tp.resolve(env(fn)["WATCHER_PROBES"]); got != `{"home":"arn:aws:lambda:us-west-2:`+testAccount+`:function:watcher-probe-home"}` {
		t.Errorf("WATCHER_PROBES = %s", got)
	}
	_, migrate := tp.function(t, "watcher-migrate")
	retention := map[string]string{}
	for k, v := range env(migrate) {
		if strings.HasPrefix(k, "WATCHER_RETENTION_") {
			retention[k] = tp.resolve(v)
		}
	}
	if want := map[string]string{"WATCHER_RETENTION_HOUR": "800d", "WATCHER_RETENTION_MINUTE": "36h"}; !mapsEqual(retention, want) {
		t.Errorf("migrate retention %v, want %v (the levels given, no others)", retention, want)
	}
	if n := len(tp.ofType("AWS::SNS::Subscription")); n != 0 {
		t.Errorf("%d alarm subscriptions without alarmEmail", n)
	}
	for id, db := range tp.ofType("AWS::RDS::DBInstance") {
		if db.Properties["MultiAZ"] != true || db.Properties["DeletionProtection"] != false {
			t.Errorf("%s: MultiAZ %v, DeletionProtection %v", id, db.Properties["MultiAZ"], db.Properties["DeletionProtection"])
		}
	}
	assertNoNAT(t, tp, 1)
	assertOnlyInfo(t, out)
	report, err := os.ReadFile(filepath.Join(out, "AwsSolutions--watcher-home-NagReport.csv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"AwsSolutions-RDS3","watcher-home/Database/Resource","Compliant"`,
		`"AwsSolutions-RDS10","watcher-home/Database/Resource","Suppressed","Deletion protection is configurable`,
	} {
		if !strings.Contains(string(report), want) {
			t.Errorf("nag report lacks %s", want)
		}
	}
}

// TestEndpointsInTwoZones: with endpointZones=2 the interface endpoints
// survive the loss of a zone, and an intranet in the home region needs no
// NAT gateway either (the fanout reaches its probe through the endpoint).
func TestEndpointsInTwoZones(t *testing.T) {
	_, f := newApp(t, map[string]any{"endpointZones": 2.0, "intranets": []any{map[string]any{
		"name": "office", "vpcId": "vpc-0a1b2c3d4e5f60718", "subnetIds": []any{"subnet-0a1b2c3d4e5f60718"}, "securityGroupId": "sg-0a1b2c3d4e5f60718"}}})
	home := templateOf(t, f.Home.Stack)
	assertNoNAT(t, home, 2)
	_, probe := templateOf(t, f.Probes[0].Stack).function(t, "watcher-probe-office")
	if _, ok := probe.Properties["VpcConfig"]; !ok {
		t.Error("the intranet probe is not in its VPC")
	}
}

// assertNoNAT checks the home VPC of a fleet whose probes are all in the home
// region, with the default natGateways=0: nothing in it reaches the Internet,
// and what the functions left in it call besides the database goes through
// VPC endpoints open to exactly their callers, in zones zones.
func assertNoNAT(t *testing.T, home *template, zones int) {
	t.Helper()
	for _, typ := range []string{"AWS::EC2::NatGateway", "AWS::EC2::EIP"} {
		if n := len(home.ofType(typ)); n != 0 {
			t.Errorf("%d %s, want none", n, typ)
		}
	}
	// Only the (empty) public subnets have a default route.
	for id, r := range home.ofType("AWS::EC2::Route") {
		if !strings.HasPrefix(refOf(r.Properties["RouteTableId"]), "Vpcpublic") {
			t.Errorf("route %s: %v", id, r.Properties)
		}
	}
	for id := range home.ofType("AWS::EC2::Subnet") {
		if strings.HasPrefix(id, "Vpcfunctions") {
			if tags, _ := json.Marshal(home.Resources[id].Properties["Tags"]); !strings.Contains(string(tags), `"Isolated"`) {
				t.Errorf("functions subnet %s is not isolated: %s", id, tags)
			}
		}
	}
	ingress := func(sg string) []string {
		var from []string
		for _, in := range home.ofType("AWS::EC2::SecurityGroupIngress") {
			if refOf(in.Properties["GroupId"]) == sg && in.Properties["FromPort"] == 443.0 {
				from = append(from, strings.TrimRight(refOf(in.Properties["SourceSecurityGroupId"]), "0123456789ABCDEF"))
			}
		}
		sort.Strings(from)
		return from
	}
	var crID string
	for id := range home.ofType("Custom::WatcherMigrations") {
		crID = id
	}
	deps := home.resolveAll(home.Resources[crID].DependsOn)
	region := strings.ReplaceAll(home.region, "-", "")
	thisAccount := `"aws:PrincipalAccount":{"Ref":"AWS::AccountId"}`
	type allow struct{ action, resource, condition string }
	want := map[string]struct {
		typ    string
		policy []allow // one statement each: the action, a prefix of every resource, a substring of the condition
		from   []string
	}{
		"lambda": {"Interface", []allow{{"lambda:InvokeFunction", "arn:aws:lambda:" + home.region + ":" + testAccount + ":function:watcher-probe-", thisAccount}},
			[]string{"FanoutSG"}},
		"secretsmanager": {"Interface", []allow{{"secretsmanager:GetSecretValue", "{Ref:DatabaseSecretAttachment", thisAccount}},
			[]string{"MigrateSG", "OperatorSG"}},
		"sqs": {"Interface", []allow{{"sqs:SendMessage", "{Records", thisAccount}},
			[]string{"FanoutSG"}},
		"s3": {"Gateway", []allow{
			{"s3:PutObject", "arn:aws:s3:::cloudformation-custom-resource-response-" + region + "/*", "null"},
			{"s3:GetObject,s3:ListBucket", "*", `{"StringEquals":{` + thisAccount + `,"aws:ResourceAccount":{"Ref":"AWS::AccountId"}}}`},
		}, nil},
	}
	seen := map[string]bool{}
	for id, ep := range home.ofType("AWS::EC2::VPCEndpoint") {
		p := ep.Properties
		svc := home.resolve(p["ServiceName"])
		name := svc[strings.LastIndex(svc, ".")+1:]
		w, ok := want[name]
		if !ok || svc != "com.amazonaws."+home.region+"."+name {
			t.Errorf("%s: endpoint of %s", id, svc)
			continue
		}
		seen[name] = true
		if p["VpcEndpointType"] != w.typ {
			t.Errorf("%s: type %v, want %s", id, p["VpcEndpointType"], w.typ)
		}
		if !slices.Contains(deps, id) {
			t.Errorf("the migrations (and so the schedule) do not wait for %s", id)
		}
		st := p["PolicyDocument"].(map[string]any)["Statement"].([]any)
		if len(st) != len(w.policy) {
			t.Fatalf("%s: policy %v, want %d statements", id, st, len(w.policy))
		}
		for i, s := range st {
			stmt, w := s.(map[string]any), w.policy[i]
			if a := strings.Join(home.resolveAll(stmt["Action"]), ","); stmt["Effect"] != "Allow" || a != w.action {
				t.Errorf("%s: statement %d: %v %s, want Allow %s", id, i, stmt["Effect"], a, w.action)
			}
			for _, r := range home.resolveAll(stmt["Resource"]) {
				if !strings.HasPrefix(r, w.resource) {
					t.Errorf("%s: statement %d on %s, want %s...", id, i, r, w.resource)
				}
			}
			if cond, _ := json.Marshal(stmt["Condition"]); !strings.Contains(string(cond), w.condition) {
				t.Errorf("%s: statement %d: condition %s, want %s", id, i, cond, w.condition)
			}
		}
		if w.typ == "Gateway" {
			if n := len(p["RouteTableIds"].([]any)); n != 2 {
				t.Errorf("%s: %d route tables, want the 2 of the functions subnets", id, n)
			}
			continue
		}
		if p["PrivateDnsEnabled"] != true {
			t.Errorf("%s: private DNS off; the SDK would call the public endpoint", id)
		}
		if n := len(p["SubnetIds"].([]any)); n != zones {
			t.Errorf("%s in %d zones, want %d", id, n, zones)
		}
		sgs := p["SecurityGroupIds"].([]any)
		if got := ingress(refOf(sgs[0])); len(sgs) != 1 || !slices.Equal(got, w.from) {
			t.Errorf("%s: open to %v, want %v", id, got, w.from)
		}
		if !slices.Contains(deps, refOf(sgs[0])) {
			t.Errorf("the migrations do not wait for %s", refOf(sgs[0]))
		}
	}
	if len(seen) != len(want) {
		t.Errorf("endpoints %v, want %v", keys(seen), keys(want))
	}
}
