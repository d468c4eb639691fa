package main

import (
	"maps"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// fnSpec describes one Watcher function.
type fnSpec struct {
	Asset    string // directory under Config.AssetDir: fanout, probe, drain, migrate
	Name     string // physical function name, known before deployment
	MemoryMB int
	Timeout  time.Duration
	Env      map[string]*string

	// VPC attachment; nil Vpc means the Lambda-managed network.
	Vpc            awsec2.IVpc
	Subnets        *awsec2.SubnetSelection
	SecurityGroups []awsec2.ISecurityGroup
	// Layers add files under /opt: the database's CA certificate.
	Layers []awslambda.ILayerVersion

	// Asynchronous invocation (fanout, probes): how often Lambda retries a
	// failed event and how old an event may get before it is dropped.
	AsyncRetries *float64
	MaxEventAge  time.Duration

	// ReservedConcurrency is kept for this function alone; 0: none.
	ReservedConcurrency int
}

// watcherFunction is a function with its own role and log group, so that
// each gets exactly its own permissions and the retention is ours.
type watcherFunction struct {
	Name     string
	Fn       awslambda.Function
	Role     awsiam.Role
	LogGroup awslogs.LogGroup
	// InvokeConfig is the asynchronous invocation configuration (retries,
	// event age), nil without one. Lambda applies the function's defaults
	// (two retries) to events that arrive before it exists.
	InvokeConfig constructs.IConstruct
}

func newFunction(scope constructs.Construct, id string, cfg *Config, s fnSpec) *watcherFunction {
	lg := awslogs.NewLogGroup(scope, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String("/aws/lambda/" + s.Name),
		Retention:     logRetention(cfg.LogRetentionDays),
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	// Not the AWS managed execution roles: they allow writing to any log
	// group. This role may write to its own group only.
	role := awsiam.NewRole(scope, jsii.String(id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("Watcher " + s.Name + " function"),
	})
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
		Resources: jsii.Strings(*lg.LogGroupArn()),
	}))
	if s.Vpc != nil {
		// What AWSLambdaVPCAccessExecutionRole grants, minus logs: Lambda
		// manages the function's network interfaces with the function's
		// role. These actions take no resource narrower than "*".
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: jsii.Strings(
				"ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
				"ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"),
			Resources: jsii.Strings("*"),
		}))
		suppress(role, "AwsSolutions-IAM5",
			"Lambda's VPC network interface actions (ec2:CreateNetworkInterface, ec2:Describe*) do not support resource-level permissions; this is exactly what AWSLambdaVPCAccessExecutionRole grants.",
			"Resource::*")
	}
	if raw := strings.TrimSpace(cfg.Retention.Raw); raw != "" {
		// Every function prices the checks it writes for as long as the
		// upkeep keeps them (the storage line item).
		s.Env = maps.Clone(s.Env)
		if s.Env == nil {
			s.Env = map[string]*string{}
		}
		s.Env["WATCHER_RETENTION_RAW"] = jsii.String(raw)
	}
	props := &awslambda.FunctionProps{
		FunctionName: jsii.String(s.Name),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code:         awslambda.Code_FromAsset(jsii.String(filepath.Join(cfg.AssetDir, s.Asset)), nil),
		MemorySize:   jsii.Number(float64(s.MemoryMB)),
		Timeout:      awscdk.Duration_Seconds(jsii.Number(s.Timeout.Seconds())),
		Environment:  &s.Env,
		Role:         role,
		LogGroup:     lg,
		Description:  jsii.String("Watcher " + s.Asset),
	}
	if s.Vpc != nil {
		props.Vpc = s.Vpc
		props.VpcSubnets = s.Subnets
		props.SecurityGroups = &s.SecurityGroups
	}
	if len(s.Layers) > 0 {
		props.Layers = &s.Layers
	}
	if s.AsyncRetries != nil {
		props.RetryAttempts = s.AsyncRetries
		props.MaxEventAge = awscdk.Duration_Seconds(jsii.Number(s.MaxEventAge.Seconds()))
	}
	if s.ReservedConcurrency > 0 {
		props.ReservedConcurrentExecutions = jsii.Number(float64(s.ReservedConcurrency))
	}
	fn := awslambda.NewFunction(scope, jsii.String(id), props)
	w := &watcherFunction{Name: s.Name, Fn: fn, Role: role, LogGroup: lg}
	if s.AsyncRetries != nil {
		// The CDK adds it as the function's child of this id.
		w.InvokeConfig = fn.Node().FindChild(jsii.String("EventInvokeConfig"))
	}
	return w
}

// logRetention maps days to the CDK enum; Config.validate admits only these.
func logRetention(days int) awslogs.RetentionDays {
	return map[int]awslogs.RetentionDays{
		1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS, 5: awslogs.RetentionDays_FIVE_DAYS,
		7: awslogs.RetentionDays_ONE_WEEK, 14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
		60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS, 120: awslogs.RetentionDays_FOUR_MONTHS,
		150: awslogs.RetentionDays_FIVE_MONTHS, 180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
		400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS, 731: awslogs.RetentionDays_TWO_YEARS,
		1096: awslogs.RetentionDays_THREE_YEARS, 1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
		2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS, 3288: awslogs.RetentionDays_NINE_YEARS,
		3653: awslogs.RetentionDays_TEN_YEARS,
	}[days]
}

// alarms is one stack's alarm topic. CloudWatch alarms can notify only a
// topic in their own region, so every stack has one.
type alarms struct {
	scope constructs.Construct
	topic awssns.Topic
}

func newAlarms(scope constructs.Construct, cfg *Config) *alarms {
	topic := awssns.NewTopic(scope, jsii.String("Alarms"), &awssns.TopicProps{
		DisplayName: jsii.String("Watcher alarms"),
		EnforceSSL:  jsii.Bool(true),
	})
	suppress(topic, "AwsSolutions-SNS2",
		"Alarm notifications carry alarm names and metric values, nothing confidential; CloudWatch cannot publish to a topic encrypted with the AWS managed SNS key, and a customer managed key would add a fixed monthly cost per region.")
	if cfg.AlarmEmail != "" {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(cfg.AlarmEmail), nil))
	}
	return &alarms{scope: scope, topic: topic}
}

// add raises an alarm when metric reaches threshold within one period.
func (a *alarms) add(id, description string, metric awscloudwatch.IMetric, threshold float64) {
	al := awscloudwatch.NewAlarm(a.scope, jsii.String(id), &awscloudwatch.AlarmProps{
		AlarmDescription:   jsii.String(description),
		Metric:             metric,
		Threshold:          jsii.Number(threshold),
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	al.AddAlarmAction(awscloudwatchactions.NewSnsAction(a.topic))
}

func fiveMinutes() awscdk.Duration { return awscdk.Duration_Minutes(jsii.Number(5)) }

func sum(period awscdk.Duration) *awscloudwatch.MetricOptions {
	return &awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Sum")}
}

// function alarms on errors and throttles, and for asynchronously invoked
// functions on events Lambda dropped after its retries: a dropped probe
// event is a shard whose checks never ran.
func (a *alarms) function(id string, w *watcherFunction, async bool) {
	name := w.Name
	a.add(id+"Errors", name+" returned errors or timed out", w.Fn.MetricErrors(sum(fiveMinutes())), 1)
	a.add(id+"Throttles", name+" was throttled", w.Fn.MetricThrottles(sum(fiveMinutes())), 1)
	if async {
		a.add(id+"AsyncEventsDropped", name+": Lambda dropped invocation events after retries",
			w.Fn.Metric(jsii.String("AsyncEventsDropped"), sum(fiveMinutes())), 1)
	}
}

// checksUnwritten alarms on the probe metric of checks measured but neither
// written to the database nor spilled to the queue.
func (a *alarms) checksUnwritten(id, location string) {
	a.embedded(id, "checks of location "+location+" could not be written or spilled", "ChecksUnwritten", "probe", location)
}

// checksNoSocket alarms on the probe metric of checks that never started
// because the probe's descriptor budget stayed in use (recorded as
// no_socket): its shards hold more hanging connections than it has sockets.
func (a *alarms) checksNoSocket(id, location string) {
	a.embedded(id, "checks of location "+location+" found no socket in time (no_socket)", "ChecksNoSocket", "probe", location)
}

// recordsLost alarms on the metric of the records a function made about
// itself (invocation records, span claims) that could be neither recorded
// nor spilled: the record queue or the database refused them.
func (a *alarms) recordsLost(id, function, location string) {
	a.embedded(id, function+" records of location "+location+" could be neither recorded nor spilled", "RecordsLost", function, location)
}

// spansMissed alarms on the fanout metric of spans recorded as missed: their
// scheduled event came too late or never, so their checks did not run.
func (a *alarms) spansMissed(id string) {
	a.embedded(id, "spans not planned: the schedule's event came too late or never", "SpansMissed", "fanout", "all")
}

// notificationsFailed alarms on the fanout metric of alert notifications
// that could not be sent (kept in the outbox and retried).
func (a *alarms) notificationsFailed(id string) {
	a.embedded(id, "alert notifications could not be sent; they are kept and retried", "NotificationsFailed", "fanout", "all")
}

// embedded alarms when a metric the functions emit as embedded metric
// format lines (namespace Watcher, dimensions function and location) sums
// to one or more in five minutes.
func (a *alarms) embedded(id, description, metric, function, location string) {
	m := awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:     jsii.String("Watcher"),
		MetricName:    jsii.String(metric),
		DimensionsMap: &map[string]*string{"function": jsii.String(function), "location": jsii.String(location)},
		Statistic:     jsii.String("Sum"),
		Period:        fiveMinutes(),
	})
	a.add(id, description, m, 1)
}
