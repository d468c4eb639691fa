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
	Outputs   map[string]struct {
		Value any `json:"Value"`
	} `json:"Outputs"`
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
			{"watcher-home", "AWS::SecretsManager::Secret", 2},
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
			{"watcher-home", "AWS::SNS::Topic", 2},
			{"watcher-home", "AWS::SNS::Subscription", 2},
			{"watcher-home", "AWS::CloudWatch::Alarm", 19},   // errors and throttles of 4 functions, 2 async drops, unwritten, no socket, missed spans, 2 records lost, notifications failed, dead letters, backlog, proxy pinning
			{"watcher-home", "AWS::Lambda::LayerVersion", 1}, // the RDS CA bundle, for the migrate function

			// Alerts: a topic (beside the alarms') with a mail subscription, the webhook's secret.
			// The status page: its bucket, the log bucket, the distribution.
			{"watcher-home", "AWS::S3::Bucket", 2},
			{"watcher-home", "AWS::CloudFront::Distribution", 1},
			{"watcher-home", "AWS::CloudFront::OriginAccessControl", 1},
			{"watcher-probe-us-east-1", "AWS::S3::Bucket", 0},
			{"watcher-probe-us-east-1", "AWS::SNS::Topic", 1},

			{"watcher-probe-us-east-1", "AWS::Lambda::Function", 1},
			{"watcher-probe-us-east-1", "AWS::Logs::LogGroup", 1},
			{"watcher-probe-us-east-1", "AWS::CloudWatch::Alarm", 6},
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
			"DATABASE_IAM_AUTH": "true", "WATCHER_SPAN_OFFSET": "5s", "WATCHER_MAX_DELAY": "2m0s", "WATCHER_SHARD_MAX_CHECKS": "16000",
			"WATCHER_PROBE_MEMORY_MB": "192", "WATCHER_VPC": "true", // the example fleet has probes in another region: a NAT gateway
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
				if !strings.HasPrefix(refOf(sub.Properties["TopicArn"]), "Alarms") {
					continue // the alert topic's, below
				}
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

// grantsOf maps each action the role with logical id roleID is allowed to
// the resources it is allowed on, resolved.
func (tp *template) grantsOf(roleID string) map[string][]string {
	out := map[string][]string{}
	for _, st := range tp.policyOf(roleID) {
		for _, a := range tp.resolveAll(st["Action"]) {
			out[a] = append(out[a], tp.resolveAll(st["Resource"])...)
		}
	}
	return out
}

// oneOf returns the logical id and resource of the only resource of typ.
func (tp *template) oneOf(t *testing.T, typ string) (string, resource) {
	t.Helper()
	all := tp.ofType(typ)
	if len(all) != 1 {
		t.Fatalf("%d %s, want 1", len(all), typ)
	}
	for id, r := range all {
		return id, r
	}
	return "", resource{}
}

// TestExampleAlertsAndStatusPage: the example configures a webhook (with a
// generated secret), an alert topic with a mail subscription, and a status
// page under a prefix behind CloudFront. Each function gets the variables
// and grants of its part, on exactly those resources.
func TestExampleAlertsAndStatusPage(t *testing.T) {
	_, f := newApp(t, exampleContext(t))
	home := templateOf(t, f.Home.Stack)
	_, fanout := home.function(t, "watcher-fanout")
	_, migrate := home.function(t, "watcher-migrate")
	var topicID string
	var topic resource
	for id, tp := range home.ofType("AWS::SNS::Topic") {
		if strings.HasPrefix(id, "AlertTopic") {
			topicID, topic = id, tp
		}
	}
	var secretID string
	for id := range home.ofType("AWS::SecretsManager::Secret") {
		if strings.HasPrefix(id, "AlertWebhookSecret") {
			secretID = id
		}
	}
	bucketID, bucket := "", resource{}
	for id, b := range home.ofType("AWS::S3::Bucket") {
		if strings.HasPrefix(id, "StatusBucket") {
			bucketID, bucket = id, b
		}
	}
	distID, dist := home.oneOf(t, "AWS::CloudFront::Distribution")
	oacID, _ := home.oneOf(t, "AWS::CloudFront::OriginAccessControl")
	if !strings.HasPrefix(topicID, "AlertTopic") || secretID == "" || bucketID == "" {
		t.Fatalf("alert topic %q, webhook secret %q, status bucket %q", topicID, secretID, bucketID)
	}

	t.Run("the fanout sends alerts: the webhook with its secret's ARN, the topic", func(t *testing.T) {
		want := map[string]string{
			"WATCHER_ALERT_WEBHOOK_URL":        "https://hooks.example.com/watcher",
			"WATCHER_ALERT_WEBHOOK_SECRET_ARN": "{Ref:" + secretID + "}",
			"WATCHER_ALERT_SNS_TOPIC_ARN":      "{Ref:" + topicID + "}",
		}
		got := map[string]string{}
		for k, v := range env(fanout) {
			if strings.HasPrefix(k, "WATCHER_ALERT_") {
				got[k] = home.resolve(v)
			}
		}
		if !mapsEqual(got, want) {
			t.Errorf("fanout alert variables %v, want %v (never the secret's value)", got, want)
		}
		grants := home.grantsOf(refOf(fanout.Properties["Role"]))
		if got := grants["sns:Publish"]; !slices.Equal(got, []string{"{Ref:" + topicID + "}"}) {
			t.Errorf("fanout sns:Publish on %v, want the alert topic", got)
		}
		if got := grants["secretsmanager:GetSecretValue"]; !slices.Equal(got, []string{"{Ref:" + secretID + "}"}) {
			t.Errorf("fanout secretsmanager:GetSecretValue on %v, want the webhook secret", got)
		}
		for _, name := range []string{"watcher-migrate", "watcher-drain", "watcher-probe-home"} {
			_, r := home.function(t, name)
			for k := range env(r) {
				if strings.HasPrefix(k, "WATCHER_ALERT_") {
					t.Errorf("%s has %s", name, k)
				}
			}
			g := home.grantsOf(refOf(r.Properties["Role"]))
			if g["sns:Publish"] != nil || slices.ContainsFunc(g["secretsmanager:GetSecretValue"], func(s string) bool { return strings.Contains(s, secretID) }) {
				t.Errorf("%s may publish alerts or read the webhook secret: %v", name, g)
			}
		}
		// The generated secret is a plain string, the key itself.
		gen := home.Resources[secretID].Properties["GenerateSecretString"].(map[string]any)
		if gen["SecretStringTemplate"] != nil || gen["PasswordLength"].(float64) < 32 {
			t.Errorf("webhook secret generated as %v, want a plain string of at least 32 characters", gen)
		}
		if got := home.Resources[secretID].Properties["Name"]; got != "watcher/alerts/webhook" {
			t.Errorf("webhook secret name %v", got)
		}
	})

	t.Run("the alert topic is encrypted, mails its subscribers and refuses plain HTTP", func(t *testing.T) {
		if got := home.resolve(topic.Properties["KmsMasterKeyId"]); got != "arn:aws:kms:eu-west-1:"+testAccount+":alias/aws/sns" {
			t.Errorf("KmsMasterKeyId = %s, want the AWS managed SNS key", got)
		}
		if topic.Properties["TopicName"] != "watcher-alerts" {
			t.Errorf("TopicName = %v", topic.Properties["TopicName"])
		}
		var mails []string
		for _, sub := range home.ofType("AWS::SNS::Subscription") {
			if refOf(sub.Properties["TopicArn"]) == topicID {
				mails = append(mails, fmt.Sprint(sub.Properties["Protocol"], ":", sub.Properties["Endpoint"]))
			}
		}
		if !slices.Equal(mails, []string{"email:oncall@example.com"}) {
			t.Errorf("alert topic subscriptions %v, want oncall@example.com by mail", mails)
		}
		var ssl bool
		for _, tp := range home.ofType("AWS::SNS::TopicPolicy") {
			b, _ := json.Marshal(tp.Properties)
			if strings.Contains(string(b), topicID) && strings.Contains(string(b), `"aws:SecureTransport":"false"`) {
				ssl = true
			}
		}
		if !ssl {
			t.Error("no topic policy of the alert topic denies insecure transport")
		}
	})

	t.Run("the migrate function writes the page's files and nothing else", func(t *testing.T) {
		want := map[string]string{
			"WATCHER_STATUS_BUCKET": "{Ref:" + bucketID + "}",
			"WATCHER_STATUS_PREFIX": "status",
			"WATCHER_STATUS_TITLE":  "Example status",
		}
		got := map[string]string{}
		for k, v := range env(migrate) {
			if strings.HasPrefix(k, "WATCHER_STATUS_") {
				got[k] = home.resolve(v)
			}
		}
		if !mapsEqual(got, want) {
			t.Errorf("migrate status variables %v, want %v", got, want)
		}
		arn := "{" + bucketID + ".Arn}"
		grants := map[string][]string{}
		var listCondition string
		for _, st := range home.policyOf(refOf(migrate.Properties["Role"])) {
			for _, a := range home.resolveAll(st["Action"]) {
				if strings.HasPrefix(a, "s3:") {
					grants[a] = append(grants[a], home.resolveAll(st["Resource"])...)
					if a == "s3:ListBucket" {
						b, _ := json.Marshal(st["Condition"])
						listCondition = string(b)
					}
				}
			}
		}
		wantGrants := map[string][]string{
			"s3:PutObject":    {arn + "/status/index.html", arn + "/status/endpoint-*.svg"},
			"s3:DeleteObject": {arn + "/status/endpoint-*.svg"},
			"s3:ListBucket":   {arn},
		}
		if len(grants) != len(wantGrants) {
			t.Errorf("migrate S3 grants %v, want %v", grants, wantGrants)
		}
		for a, w := range wantGrants {
			if !slices.Equal(grants[a], w) {
				t.Errorf("migrate %s on %v, want %v", a, grants[a], w)
			}
		}
		if listCondition != `{"StringEquals":{"s3:prefix":"status/endpoint-"}}` {
			t.Errorf("migrate s3:ListBucket condition %s, want the SVGs' prefix only", listCondition)
		}
		for _, name := range []string{"watcher-fanout", "watcher-drain", "watcher-probe-home"} {
			_, fn := home.function(t, name)
			for k := range env(fn) {
				if strings.HasPrefix(k, "WATCHER_STATUS_") {
					t.Errorf("%s has %s", name, k)
				}
			}
			for a, r := range home.grantsOf(refOf(fn.Properties["Role"])) {
				if strings.HasPrefix(a, "s3:") {
					t.Errorf("%s may %s on %v: only the migrate function writes the page", name, a, r)
				}
			}
		}
	})

	t.Run("the bucket is private, encrypted, logged, and read by the distribution only", func(t *testing.T) {
		p := bucket.Properties
		pab, _ := p["PublicAccessBlockConfiguration"].(map[string]any)
		for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
			if pab[k] != true {
				t.Errorf("status bucket %s = %v", k, pab[k])
			}
		}
		enc, _ := json.Marshal(p["BucketEncryption"])
		if !strings.Contains(string(enc), `"SSEAlgorithm":"AES256"`) {
			t.Errorf("status bucket encryption %s", enc)
		}
		logging, _ := p["LoggingConfiguration"].(map[string]any)
		if !strings.HasPrefix(refOf(logging["DestinationBucketName"]), "StatusLogs") {
			t.Errorf("status bucket logs to %v", logging)
		}
		var policy map[string]any
		for _, bp := range home.ofType("AWS::S3::BucketPolicy") {
			if refOf(bp.Properties["Bucket"]) == bucketID {
				policy = bp.Properties["PolicyDocument"].(map[string]any)
			}
		}
		var denySSL, oacRead int
		for _, s := range policy["Statement"].([]any) {
			st := s.(map[string]any)
			b, _ := json.Marshal(st)
			switch {
			case st["Effect"] == "Deny" && strings.Contains(string(b), `"aws:SecureTransport":"false"`):
				denySSL++
			case st["Effect"] == "Allow":
				principal, _ := json.Marshal(st["Principal"])
				if string(principal) != `{"Service":"cloudfront.amazonaws.com"}` || home.resolve(st["Action"]) != "s3:GetObject" ||
					!strings.Contains(home.resolve(st["Condition"].(map[string]any)["StringEquals"].(map[string]any)["AWS:SourceArn"]), "{Ref:"+distID+"}") {
					t.Errorf("status bucket policy allows %s", b)
				}
				oacRead++
			}
		}
		if denySSL != 1 || oacRead != 1 {
			t.Errorf("status bucket policy: %d SSL denials, %d reads by the distribution; want 1 each", denySSL, oacRead)
		}
	})

	t.Run("the distribution serves index.html over HTTPS through OAC", func(t *testing.T) {
		dc := dist.Properties["DistributionConfig"].(map[string]any)
		if dc["DefaultRootObject"] != "index.html" {
			t.Errorf("DefaultRootObject = %v", dc["DefaultRootObject"])
		}
		beh := dc["DefaultCacheBehavior"].(map[string]any)
		if beh["ViewerProtocolPolicy"] != "https-only" {
			t.Errorf("ViewerProtocolPolicy = %v", beh["ViewerProtocolPolicy"])
		}
		origins := dc["Origins"].([]any)
		o := origins[0].(map[string]any)
		if len(origins) != 1 || refOf(o["OriginAccessControlId"]) != oacID || o["OriginPath"] != "/status" ||
			home.resolve(o["DomainName"]) != "{"+bucketID+".RegionalDomainName}" {
			t.Errorf("origins %v, want the status bucket at /status through %s", origins, oacID)
		}
		if logging, _ := dc["Logging"].(map[string]any); logging == nil || !strings.HasPrefix(refOf(logging["Bucket"]), "StatusLogs") {
			t.Errorf("distribution logging %v", dc["Logging"])
		}
		for _, out := range []string{"StatusPageDomainName", "StatusBucketName", "AlertTopicArn", "AlertWebhookSecretArn"} {
			if _, ok := home.Outputs[out]; !ok {
				t.Errorf("no output %s", out)
			}
		}
		if got := home.resolve(home.Outputs["StatusPageDomainName"].Value); got != "{"+distID+".DomainName}" {
			t.Errorf("StatusPageDomainName = %s", got)
		}
	})
}

// TestAlertsAndStatusPageAbsent: without the keys, nothing of either.
func TestAlertsAndStatusPageAbsent(t *testing.T) {
	home, _, _ := homeOnly(t, map[string]any{})
	for typ, want := range map[string]int{"AWS::SNS::Topic": 1, "AWS::SecretsManager::Secret": 1, "AWS::S3::Bucket": 0,
		"AWS::CloudFront::Distribution": 0, "AWS::CloudFront::OriginAccessControl": 0} {
		if got := len(home.ofType(typ)); got != want {
			t.Errorf("%d %s, want %d", got, typ, want)
		}
	}
	for id, ep := range home.ofType("AWS::EC2::VPCEndpoint") {
		if strings.HasSuffix(home.resolve(ep.Properties["ServiceName"]), ".sns") {
			t.Errorf("%s: an SNS endpoint without an alert topic", id)
		}
	}
	for id, fn := range home.ofType("AWS::Lambda::Function") {
		for k := range env(fn) {
			if strings.HasPrefix(k, "WATCHER_ALERT_") || strings.HasPrefix(k, "WATCHER_STATUS_") {
				t.Errorf("%s has %s", id, k)
			}
		}
		for a := range home.grantsOf(refOf(fn.Properties["Role"])) {
			if strings.HasPrefix(a, "s3:") || a == "sns:Publish" {
				t.Errorf("%s may %s", id, a)
			}
		}
	}
	for _, out := range []string{"StatusPageDomainName", "StatusBucketName", "AlertTopicArn", "AlertWebhookSecretArn"} {
		if _, ok := home.Outputs[out]; ok {
			t.Errorf("output %s without its key", out)
		}
	}
}

// TestAlertTopicWithoutNAT: with natGateways=0 the fanout publishes through
// an SNS interface endpoint open to it alone, and the migrate function
// writes the page through the S3 gateway endpoint; a bucket without
// CloudFront is just the bucket. cdk-nag stays clean.
func TestAlertTopicWithoutNAT(t *testing.T) {
	out := t.TempDir()
	ctx := map[string]any{"assetDir": fakeAssets(t), "alerts": `{"snsTopic":true}`, "statusPage": map[string]any{"enabled": true}}
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(out)})
	if _, err := synthesize(app); err != nil {
		t.Fatal(err)
	}
	assertOnlyInfo(t, out)
	home := readTemplate(t, out, "watcher-home", "eu-west-1")
	var topicID, bucketID string
	for id := range home.ofType("AWS::SNS::Topic") {
		if strings.HasPrefix(id, "AlertTopic") {
			topicID = id
		}
	}
	for id := range home.ofType("AWS::S3::Bucket") {
		if strings.HasPrefix(id, "StatusBucket") {
			bucketID = id
		}
	}
	var crID string
	for id := range home.ofType("Custom::WatcherMigrations") {
		crID = id
	}
	deps := home.resolveAll(home.Resources[crID].DependsOn)
	var sns, s3 int
	for id, ep := range home.ofType("AWS::EC2::VPCEndpoint") {
		p := ep.Properties
		doc, _ := json.Marshal(p["PolicyDocument"])
		switch home.resolve(p["ServiceName"]) {
		case "com.amazonaws.eu-west-1.sns":
			sns++
			st := p["PolicyDocument"].(map[string]any)["Statement"].([]any)
			s := st[0].(map[string]any)
			if len(st) != 1 || home.resolve(s["Action"]) != "sns:Publish" || home.resolve(s["Resource"]) != "{Ref:"+topicID+"}" {
				t.Errorf("%s: policy %s, want sns:Publish on the alert topic", id, doc)
			}
			sg := refOf(p["SecurityGroupIds"].([]any)[0])
			var from []string
			for _, in := range home.ofType("AWS::EC2::SecurityGroupIngress") {
				if refOf(in.Properties["GroupId"]) == sg {
					from = append(from, refOf(in.Properties["SourceSecurityGroupId"]))
				}
			}
			if len(from) != 1 || !strings.HasPrefix(from[0], "FanoutSG") {
				t.Errorf("%s: open to %v, want the fanout only", id, from)
			}
			if !slices.Contains(deps, id) {
				t.Errorf("the migrations (and so the fanout's schedule) do not wait for %s", id)
			}
		default:
			if p["VpcEndpointType"] != "Gateway" {
				continue
			}
			s3++
			if !strings.Contains(string(doc), `"Action":["s3:PutObject","s3:DeleteObject"]`) || !strings.Contains(string(doc), `"Fn::GetAtt":["`+bucketID+`","Arn"]},"/*"`) {
				t.Errorf("%s: policy %s lets no one write the status page", id, doc)
			}
		}
	}
	if sns != 1 || s3 != 1 {
		t.Errorf("%d SNS and %d S3 endpoints, want 1 each", sns, s3)
	}
	if n := len(home.ofType("AWS::CloudFront::Distribution")); n != 0 {
		t.Errorf("%d distributions without cloudFront", n)
	}
	if _, ok := home.Outputs["StatusBucketName"]; !ok {
		t.Error("no output StatusBucketName")
	}
	if _, ok := home.Outputs["StatusPageDomainName"]; ok {
		t.Error("output StatusPageDomainName without a distribution")
	}
	_, migrate := home.function(t, "watcher-migrate")
	if got := env(migrate); got["WATCHER_STATUS_PREFIX"] != nil || got["WATCHER_STATUS_TITLE"] != nil {
		t.Errorf("migrate has WATCHER_STATUS_PREFIX %v, WATCHER_STATUS_TITLE %v; want neither when not configured",
			got["WATCHER_STATUS_PREFIX"], got["WATCHER_STATUS_TITLE"])
	}
	_, fanout := home.function(t, "watcher-fanout")
	for _, k := range []string{"WATCHER_ALERT_WEBHOOK_URL", "WATCHER_ALERT_WEBHOOK_SECRET_ARN"} {
		if v, ok := env(fanout)[k]; ok {
			t.Errorf("fanout %s = %v without a webhook", k, v)
		}
	}
}

// TestWebhookOwnSecretAndPort: a secret of one's own is granted, not
// generated, and a webhook on another port than 443 gets its egress rule.
func TestWebhookOwnSecretAndPort(t *testing.T) {
	const secret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ops/watcher-hook-AbC123"
	home, _, _ := homeOnly(t, map[string]any{"natGateways": 1.0,
		"alerts": map[string]any{"webhookUrl": "http://alerts.example.net:8080/in", "webhookSecretArn": secret}})
	if n := len(home.ofType("AWS::SecretsManager::Secret")); n != 1 {
		t.Errorf("%d secrets, want the database's only", n)
	}
	_, fanout := home.function(t, "watcher-fanout")
	if got := env(fanout)["WATCHER_ALERT_WEBHOOK_SECRET_ARN"]; got != secret {
		t.Errorf("WATCHER_ALERT_WEBHOOK_SECRET_ARN = %v", got)
	}
	if got := home.grantsOf(refOf(fanout.Properties["Role"]))["secretsmanager:GetSecretValue"]; !slices.Equal(got, []string{secret}) {
		t.Errorf("fanout reads %v, want %s", got, secret)
	}
	sg := refOf(fanout.Properties["VpcConfig"].(map[string]any)["SecurityGroupIds"].([]any)[0])
	var ports []float64
	for _, e := range home.Resources[sg].Properties["SecurityGroupEgress"].([]any) {
		ports = append(ports, e.(map[string]any)["FromPort"].(float64))
	}
	slices.Sort(ports)
	if !slices.Equal(ports, []float64{443, 8080}) {
		t.Errorf("fanout egress ports %v, want 443 (AWS APIs) and 8080 (the webhook)", ports)
	}
	if got := home.resolve(home.Outputs["AlertWebhookSecretArn"].Value); got != secret {
		t.Errorf("AlertWebhookSecretArn = %s", got)
	}
}

// TestAlertsAndStatusPageInYourVPC: with a database of one's own the
// functions run in your subnets, which reach SNS, S3 and the webhook your
// way: no endpoints are added, and cdk-nag stays clean.
func TestAlertsAndStatusPageInYourVPC(t *testing.T) {
	ctx := externalContext(t)
	ctx["assetDir"] = fakeAssets(t)
	ctx["alerts"] = map[string]any{"webhookUrl": "https://hooks.example.com/w", "snsTopic": true}
	ctx["statusPage"] = map[string]any{"enabled": true, "cloudFront": true}
	out := t.TempDir()
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(out)})
	if _, err := synthesize(app); err != nil {
		t.Fatal(err)
	}
	assertOnlyInfo(t, out)
	home := readTemplate(t, out, "watcher-home", "eu-west-1")
	for typ, want := range map[string]int{"AWS::EC2::VPCEndpoint": 0, "AWS::CloudFront::Distribution": 1, "AWS::SecretsManager::Secret": 3} {
		if got := len(home.ofType(typ)); got != want {
			t.Errorf("%d %s, want %d", got, typ, want)
		}
	}
	_, fanout := home.function(t, "watcher-fanout")
	for _, k := range []string{"WATCHER_ALERT_WEBHOOK_URL", "WATCHER_ALERT_WEBHOOK_SECRET_ARN", "WATCHER_ALERT_SNS_TOPIC_ARN"} {
		if env(fanout)[k] == nil {
			t.Errorf("fanout lacks %s", k)
		}
	}
	_, migrate := home.function(t, "watcher-migrate")
	if env(migrate)["WATCHER_STATUS_BUCKET"] == nil {
		t.Error("migrate lacks WATCHER_STATUS_BUCKET")
	}
}
