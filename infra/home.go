package main

import (
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsrds"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsschedulertargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/watcher-dev/watcher/migrations"
)

// Database facts shared by the stack and the functions' configuration.
const (
	dbName      = "watcher"
	dbAdminUser = "watcher_admin"
	dbPort      = 5432
)

// Function timeouts other than the probes' (see Config.ProbeTimeout). The
// fanout invokes each shard just before its first check, so it lasts until
// the last shard of its span: the span offset and the span itself.
const (
	fanoutTimeout = 2 * time.Minute
	drainTimeout  = time.Minute
	// The scheduled migrate run also does the upkeep: partitions, rollups
	// of everything since the last run, retention.
	migrateTimeout = 10 * time.Minute
	// upkeepEvery is how often the schedule runs migrations and upkeep.
	upkeepEvery = 15 * time.Minute
)

// homeStack is the home region: network, database, proxy, the fanout and its
// schedule, the home probe, the record queue and its drain, the migrations.
//
// Only what must reach the database runs in the VPC: the fanout, the drain
// and the migrate function. The home probe runs outside it, like every other
// region's probe, and sends its checks to the record queue: its targets'
// responses never cross a NAT gateway.
type homeStack struct {
	Stack awscdk.Stack
	Vpc   awsec2.IVpc
	// functions are the subnets of the functions that use the database
	// (and of the operator's CloudShell).
	functions *awsec2.SubnetSelection
	// The database, its security group and the proxy; nil with a database
	// of your own (Config.Database external), which ext describes.
	DB       awsrds.DatabaseInstance
	DBSG     awsec2.SecurityGroup
	Proxy    awsrds.DatabaseProxy
	ext      *externalDB
	Queue    awssqs.Queue
	DLQ      awssqs.Queue
	Fanout   *watcherFunction
	Probe    *watcherFunction
	Drain    *watcherFunction
	Migrate  *watcherFunction
	Schedule awsscheduler.Schedule

	// AlertTopic is the topic of alert notifications (Config.Alerts), nil
	// without one; webhookSecretArn is the webhook's signing key, nil
	// without a webhook.
	AlertTopic       awssns.Topic
	webhookSecretArn *string
	// StatusBucket holds the status page (Config.StatusPage), nil without
	// one; Distribution serves it, nil without CloudFront.
	StatusBucket awss3.Bucket
	Distribution awscloudfront.Distribution

	// Endpoints are the VPC endpoints that stand in for a NAT gateway (none
	// when the VPC has one): Lambda and Secrets Manager, and S3.
	Endpoints []awsec2.IVpcEndpoint
	// endpointDeps is what must exist before a function uses an endpoint:
	// the endpoints and their security groups with their ingress rules.
	endpointDeps []constructs.IDependable
}

func newHomeStack(scope constructs.Construct, cfg *Config) *homeStack {
	stack := awscdk.NewStack(scope, jsii.String(cfg.homeStackName()), &awscdk.StackProps{
		// Region only: the account is the one `cdk deploy` runs with, and
		// synth needs no AWS account (no lookups).
		Env:         &awscdk.Environment{Region: jsii.String(cfg.HomeRegion)},
		Description: jsii.String("Watcher home: database, proxy, fanout, home probe, record queue"),
	})
	h := &homeStack{Stack: stack}
	al := newAlarms(stack, cfg)

	if cfg.Database.External() {
		h.importNetwork(cfg)
		h.externalDatabase(cfg)
	} else {
		h.network(cfg)
		h.database(cfg)
	}

	// Egress is as narrow as each function allows. No function in the VPC
	// talks to the Internet but the fanout to an alert webhook, if one is
	// configured (grantAlerts): the probes, which do, run outside it.
	sg := func(id, desc string) awsec2.SecurityGroup {
		return awsec2.NewSecurityGroup(stack, jsii.String(id), &awsec2.SecurityGroupProps{
			Vpc: h.Vpc, Description: jsii.String(desc), AllowAllOutbound: jsii.Bool(false),
		})
	}
	fanoutSG := sg("FanoutSG", "Watcher fanout: proxy and AWS APIs")
	drainSG := sg("DrainSG", "Watcher drain: proxy only")
	migrateSG := sg("MigrateSG", "Watcher migrate: database and Secrets Manager")
	// The operator's way in (endpoint imports, reports): a CloudShell VPC
	// environment in the functions subnets with this group, as the owner.
	operatorSG := sg("OperatorSG", "Watcher operator: database and AWS APIs")
	https := []awsec2.SecurityGroup{fanoutSG, migrateSG, operatorSG}
	if h.ext != nil {
		// The drain reads its password from Secrets Manager too.
		https = append(https, drainSG)
		for _, s := range []awsec2.SecurityGroup{fanoutSG, drainSG, migrateSG, operatorSG} {
			s.AddEgressRule(h.ext.peer, awsec2.Port_Tcp(jsii.Number(float64(cfg.Database.Port))), jsii.String("Watcher database"), nil)
		}
	} else {
		for _, s := range []awsec2.SecurityGroup{fanoutSG, drainSG} {
			h.Proxy.Connections().AllowFrom(s, awsec2.Port_Tcp(jsii.Number(dbPort)), jsii.String("Watcher function to proxy"))
		}
		for _, s := range []awsec2.SecurityGroup{migrateSG, operatorSG} {
			h.DB.Connections().AllowFrom(s, awsec2.Port_Tcp(jsii.Number(dbPort)), jsii.String("owner access to database"))
		}
	}
	for _, s := range https {
		// AWS APIs (Lambda Invoke, Secrets Manager, the CloudFormation
		// response to S3): the route tables decide where 443 leads, to the
		// NAT gateway or, without one, only to the VPC endpoints.
		s.AddEgressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(443)), jsii.String("HTTPS to AWS APIs"), nil)
	}

	h.queues(cfg)

	functions := h.functions
	// dbEnv is how a function reaches the database as role: through the
	// proxy with IAM tokens, or directly with the password of its secret.
	dbEnv := func(role string, env map[string]*string) map[string]*string {
		if h.ext != nil {
			env["DATABASE_URL"] = jsii.String(h.ext.url(cfg, role))
			env["DATABASE_PASSWORD_SECRET_ARN"] = h.ext.secrets[role].SecretArn()
			return env
		}
		// RDS Proxy presents a certificate from ACM, trusted by the system
		// roots, so the host name is verified, not only encrypted.
		env["DATABASE_URL"] = jsii.String(fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=verify-full", role, *h.Proxy.Endpoint(), dbPort, dbName))
		env["DATABASE_IAM_AUTH"] = jsii.String("true")
		return env
	}
	grantDB := func(w *watcherFunction, role string) {
		if h.ext != nil {
			h.ext.secrets[role].GrantRead(w.Role, nil)
			return
		}
		h.Proxy.GrantConnect(w.Role, jsii.String(role))
	}
	var layers []awslambda.ILayerVersion
	if h.ext != nil {
		layers = append(layers, h.ext.caLayer)
	}

	// Probes first: the fanout's environment names all of them. The home
	// probe is configured as every other region's: outside the VPC, no
	// database, everything to the record queue, which the drain empties.
	h.Probe = newFunction(stack, "ProbeHome", cfg, fnSpec{
		Asset: "probe", Name: cfg.probeName(HomeLocation), MemoryMB: cfg.ProbeMemoryMB, Timeout: cfg.ProbeTimeout(),
		Env: map[string]*string{
			"WATCHER_LOCATION":         jsii.String(HomeLocation),
			"WATCHER_RECORD_QUEUE_URL": h.Queue.QueueUrl(),
		},
		AsyncRetries: jsii.Number(probeAsyncRetries), MaxEventAge: probeMaxEventAge,
	})
	grantSendRecords(h.Probe.Role, h.Queue.QueueArn())
	grantSecrets(stack, cfg, h.Probe.Role, cfg.HomeRegion)

	probes := map[string]*string{}
	var probeArns []*string
	for _, loc := range cfg.Locations() {
		arn := cfg.probeArn(stack, loc)
		probes[loc.Name] = arn
		probeArns = append(probeArns, arn)
	}
	fanoutEnv := h.alerts(cfg) // WATCHER_ALERT_*: it evaluates alerts and sends their notifications
	maps.Copy(fanoutEnv, map[string]*string{
		"WATCHER_PROBES":           stack.ToJsonString(probes, nil),
		"WATCHER_SPAN_OFFSET":      jsii.String(cfg.SpanOffset.D().String()),
		"WATCHER_MAX_DELAY":        jsii.String(cfg.MaxDelay.D().String()),
		"WATCHER_SHARD_MAX_CHECKS": jsii.String(fmt.Sprint(cfg.ShardMaxChecks)),
		"WATCHER_PROBE_MEMORY_MB":  jsii.String(fmt.Sprint(cfg.ProbeMemoryMB)),
		// The spill of its span claim and invocation record when the
		// database refuses them; the drain replays them.
		"WATCHER_RECORD_QUEUE_URL": h.Queue.QueueUrl(),
		// Its Invoke calls pass the NAT gateway when there is one
		// (probes in other regions), else a VPC endpoint. Your own VPC
		// is taken to reach AWS through a NAT gateway.
		"WATCHER_VPC": jsii.String(fmt.Sprint(cfg.NATGateways > 0 || h.ext != nil)),
	})
	h.Fanout = newFunction(stack, "Fanout", cfg, fnSpec{
		Asset: "fanout", Name: cfg.fanoutName(), MemoryMB: cfg.FanoutMemoryMB, Timeout: fanoutTimeout,
		Env: dbEnv(migrations.RoleFanout, fanoutEnv),
		Vpc: h.Vpc, Subnets: functions, SecurityGroups: []awsec2.ISecurityGroup{fanoutSG}, Layers: layers,
		// Spans whose events arrive too late are recorded as missed by the
		// fanout itself, so Lambda should deliver rather than drop them.
		AsyncRetries: jsii.Number(2), MaxEventAge: time.Hour,
		// Probes may fill the account's concurrency; the fanout plans
		// every span even then.
		ReservedConcurrency: cfg.FanoutReservedConcurrency,
	})
	grantDB(h.Fanout, migrations.RoleFanout)
	grantSendRecords(h.Fanout.Role, h.Queue.QueueArn())
	h.grantAlerts(cfg, fanoutSG)
	h.Fanout.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("lambda:InvokeFunction"),
		Resources: &probeArns,
	}))

	h.Drain = newFunction(stack, "Drain", cfg, fnSpec{
		Asset: "drain", Name: cfg.drainName(), MemoryMB: cfg.DrainMemoryMB, Timeout: drainTimeout,
		// The drain writes exactly what probes write, so it is a probe.
		Env: dbEnv(migrations.RoleProbe, map[string]*string{}),
		Vpc: h.Vpc, Subnets: functions, SecurityGroups: []awsec2.ISecurityGroup{drainSG}, Layers: layers,
	})
	grantDB(h.Drain, migrations.RoleProbe)
	h.Drain.Fn.AddEventSource(awslambdaeventsources.NewSqsEventSource(h.Queue, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(10),
		ReportBatchItemFailures: jsii.Bool(true),
		MaxConcurrency:          jsii.Number(float64(cfg.DrainConcurrency)),
	}))

	// The owner's connection is verified against the CA at caPath: your
	// database's CA, or the RDS CA bundle.
	migrateEnv := map[string]*string{"WATCHER_DB_SSLROOTCERT": jsii.String(caPath)}
	migrateLayers := layers
	for k, v := range cfg.Retention.env() {
		migrateEnv[k] = jsii.String(v)
	}
	if cfg.StatusPage.Enabled {
		maps.Copy(migrateEnv, h.statusPage(cfg))
	}
	if h.ext != nil {
		roleSecrets := map[string]*string{}
		for role, sec := range h.ext.secrets {
			roleSecrets[role] = sec.SecretArn()
		}
		migrateEnv["WATCHER_DB_SECRET_ARN"] = h.ext.owner.SecretArn()
		migrateEnv["WATCHER_ROLE_SECRETS"] = stack.ToJsonString(roleSecrets, nil)
	} else {
		migrateEnv["WATCHER_DB_SECRET_ARN"] = h.DB.Secret().SecretArn()
		migrateEnv["DATABASE_IAM_AUTH"] = jsii.String("true") // app roles log in with IAM: GRANT rds_iam
		// The owner connects to the instance itself, not the proxy: its
		// certificate is verified (verify-full) against the RDS CA bundle,
		// at the same place as a database of your own's CA.
		migrateLayers = []awslambda.ILayerVersion{caLayer(stack, rdsCABundle, "Watcher: the RDS CA bundle (global), at "+caPath)}
	}
	h.Migrate = newFunction(stack, "Migrate", cfg, fnSpec{
		Asset: "migrate", Name: cfg.migrateName(), MemoryMB: cfg.MigrateMemoryMB, Timeout: migrateTimeout,
		Env: migrateEnv,
		Vpc: h.Vpc, Subnets: functions, SecurityGroups: []awsec2.ISecurityGroup{migrateSG}, Layers: migrateLayers,
		// CloudFormation and the schedule invoke it asynchronously; a retry
		// would answer CloudFormation twice.
		AsyncRetries: jsii.Number(0), MaxEventAge: time.Hour,
	})
	if h.ext != nil {
		h.ext.owner.GrantRead(h.Migrate.Role, nil)
		for _, sec := range h.ext.secrets {
			sec.GrantRead(h.Migrate.Role, nil)
		}
	} else {
		h.DB.Secret().GrantRead(h.Migrate.Role, nil)
	}
	if h.StatusBucket != nil {
		h.grantStatusPage(cfg)
	}

	// Your own VPC gets no endpoints from the stack: it reaches AWS its way.
	if cfg.NATGateways == 0 && h.ext == nil {
		h.endpoints(cfg, probeArns, fanoutSG, migrateSG, operatorSG)
	}

	// The schedule: every minute, an event shaped like an EventBridge
	// scheduled event whose "time" is the scheduled (not the delivery) time,
	// which names the span.
	fanoutSchedRole := schedulerRole(stack, "FanoutScheduleRole", "Fanout")
	h.Schedule = awsscheduler.NewSchedule(stack, jsii.String("EveryMinute"), &awsscheduler.ScheduleProps{
		Description: jsii.String("Watcher: one fanout per span"),
		Schedule:    awsscheduler.ScheduleExpression_Rate(awscdk.Duration_Minutes(jsii.Number(1))),
		Target: awsschedulertargets.NewLambdaInvoke(h.Fanout.Fn, &awsschedulertargets.ScheduleTargetBaseProps{
			Input: awsscheduler.ScheduleTargetInput_FromObject(map[string]any{
				"version":     "0",
				"id":          awsscheduler.ContextAttribute_ExecutionId(),
				"detail-type": "Scheduled Event",
				"source":      "aws.scheduler",
				"time":        awsscheduler.ContextAttribute_ScheduledTime(),
				"region":      cfg.HomeRegion,
				"resources":   []any{awsscheduler.ContextAttribute_ScheduleArn()},
				"detail":      map[string]any{},
			}),
			RetryAttempts: jsii.Number(3),
			MaxEventAge:   awscdk.Duration_Seconds(jsii.Number(cfg.MaxDelay.D().Seconds())),
			Role:          fanoutSchedRole,
		}),
	})

	// Migrations run whenever the migrate function changes, which is every
	// deploy that ships new migrations (they are embedded in its binary),
	// and every 15 minutes with the upkeep: partitions created ahead,
	// rollups brought up to date, retention applied. The
	// function is its own custom resource provider (no extra provider
	// function with a log group of its own); the version number lets it
	// tell an update from a rollback.
	migrationsCR := awscdk.NewCustomResource(stack, jsii.String("Migrations"), &awscdk.CustomResourceProps{
		ServiceToken: h.Migrate.Fn.FunctionArn(),
		ResourceType: jsii.String("Custom::WatcherMigrations"),
		Properties: &map[string]any{
			"FunctionVersion": h.Migrate.Fn.CurrentVersion().Version(),
		},
		// A provider that dies without answering would otherwise hold the
		// deploy for an hour.
		ServiceTimeout: awscdk.Duration_Seconds(jsii.Number(migrateTimeout.Seconds() + 60)),
	})
	// Its ingress rule lives under the database's security group. Without
	// a NAT gateway it answers CloudFormation through the S3 endpoint and
	// reads the secret through the Secrets Manager endpoint; the schedule,
	// which waits for it, needs the Lambda endpoint.
	if h.ext != nil {
		migrationsCR.Node().AddDependency(migrateSG)
		for _, r := range h.ext.routes {
			migrationsCR.Node().AddDependency(r)
		}
	} else {
		migrationsCR.Node().AddDependency(h.DB, h.DBSG, h.Vpc, migrateSG)
	}
	for _, d := range h.endpointDeps {
		migrationsCR.Node().AddDependency(d)
	}
	// Until its invoke configuration exists Lambda retries a failed event
	// twice, and CloudFormation's event must be answered once.
	migrationsCR.Node().AddDependency(h.Migrate.InvokeConfig)
	h.Schedule.Node().AddDependency(migrationsCR)
	h.Drain.Fn.Node().AddDependency(migrationsCR)
	migrateSchedRole := schedulerRole(stack, "MigrateScheduleRole", "Migrate")
	awsscheduler.NewSchedule(stack, jsii.String("Upkeep"), &awsscheduler.ScheduleProps{
		Description: jsii.String("Watcher: apply migrations, then the upkeep: partitions ahead, rollups, retention"),
		Schedule:    awsscheduler.ScheduleExpression_Rate(awscdk.Duration_Minutes(jsii.Number(upkeepEvery.Minutes()))),
		Target: awsschedulertargets.NewLambdaInvoke(h.Migrate.Fn, &awsschedulertargets.ScheduleTargetBaseProps{
			Input:         awsscheduler.ScheduleTargetInput_FromObject(map[string]any{"source": "schedule"}),
			Role:          migrateSchedRole,
			RetryAttempts: jsii.Number(2),
			// An event older than the next run's is not worth delivering.
			MaxEventAge: awscdk.Duration_Minutes(jsii.Number(upkeepEvery.Minutes())),
		}),
	})

	// After the targets added their statements: a suppression covers the
	// children that exist when it is made.
	suppressSchedulerWildcard(fanoutSchedRole, "Fanout")
	suppressSchedulerWildcard(migrateSchedRole, "Migrate")

	al.function("Fanout", h.Fanout, true)
	al.function("ProbeHome", h.Probe, true)
	al.function("Drain", h.Drain, false)
	al.function("Migrate", h.Migrate, false)
	al.checksUnwritten("ProbeHomeChecksUnwritten", HomeLocation)
	al.checksNoSocket("ProbeHomeChecksNoSocket", HomeLocation)
	al.notificationsFailed("FanoutNotificationsFailed")
	al.spansMissed("FanoutSpansMissed")
	al.recordsLost("FanoutRecordsLost", "fanout", "all")
	al.recordsLost("ProbeHomeRecordsLost", "probe", HomeLocation)
	al.add("RecordDeadLetters", "record queue messages the drain could not write moved to the dead-letter queue: redrive them once the cause is fixed",
		h.DLQ.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: fiveMinutes(), Statistic: jsii.String("Maximum")}), 1)
	if h.Proxy != nil {
		// A pinned session keeps a database connection to one client: the
		// proxy stops multiplexing it. The functions send nothing that
		// pins (SET, advisory locks, temporary tables); if one starts to,
		// the proxy's connections to the database run out.
		al.add("ProxySessionsPinned", "RDS Proxy sessions pinned to a database connection: a function sends something that pins (SET, advisory lock, temporary table); see the proxy's metric and the function's SQL",
			awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
				Namespace:     jsii.String("AWS/RDS"),
				MetricName:    jsii.String("DatabaseConnectionsCurrentlySessionPinned"),
				DimensionsMap: &map[string]*string{"ProxyName": h.Proxy.DbProxyName()},
				Statistic:     jsii.String("Maximum"),
				Period:        fiveMinutes(),
			}), 1)
	}
	al.add("RecordBacklog", "record queue not drained for 15 minutes: database or drain down",
		h.Queue.MetricApproximateAgeOfOldestMessage(&awscloudwatch.MetricOptions{Period: fiveMinutes(), Statistic: jsii.String("Maximum")}), 15*60)

	dbEndpoint, dbSecret := jsii.String(cfg.Database.Host), jsii.String(cfg.Database.OwnerSecretArn)
	if h.ext == nil {
		awscdk.NewCfnOutput(stack, jsii.String("ProxyEndpoint"), &awscdk.CfnOutputProps{Value: h.Proxy.Endpoint()})
		dbEndpoint, dbSecret = h.DB.DbInstanceEndpointAddress(), h.DB.Secret().SecretArn()
	}
	awscdk.NewCfnOutput(stack, jsii.String("DatabaseEndpoint"), &awscdk.CfnOutputProps{Value: dbEndpoint})
	awscdk.NewCfnOutput(stack, jsii.String("VpcId"), &awscdk.CfnOutputProps{Value: h.Vpc.VpcId()})
	operatorSubnets := jsii.String(strings.Join(cfg.Database.SubnetIDs, ","))
	if h.ext == nil {
		// An imported subnet has no zone to select it by.
		operatorSubnets = awscdk.Fn_Join(jsii.String(","), h.Vpc.SelectSubnets(functions).SubnetIds)
	}
	awscdk.NewCfnOutput(stack, jsii.String("OperatorSubnetIds"), &awscdk.CfnOutputProps{Value: operatorSubnets})
	awscdk.NewCfnOutput(stack, jsii.String("OperatorSecurityGroupId"), &awscdk.CfnOutputProps{Value: operatorSG.SecurityGroupId()})
	awscdk.NewCfnOutput(stack, jsii.String("DatabaseSecretArn"), &awscdk.CfnOutputProps{Value: dbSecret})
	awscdk.NewCfnOutput(stack, jsii.String("RecordQueueUrl"), &awscdk.CfnOutputProps{Value: h.Queue.QueueUrl()})
	awscdk.NewCfnOutput(stack, jsii.String("AlarmTopicArn"), &awscdk.CfnOutputProps{Value: al.topic.TopicArn()})
	h.suppressions(cfg)
	return h
}

// Asynchronous invocation of probes: one retry of a failed shard (checks
// whose instant has passed run at once and record their lateness); older
// events are dropped and raise the AsyncEventsDropped alarm.
const (
	probeAsyncRetries = 1
	probeMaxEventAge  = 15 * time.Minute
)

// functionsSubnets are the subnets of the functions left in the VPC (and of
// the operator's CloudShell): private with a NAT gateway, isolated without.
func functionsSubnets() *awsec2.SubnetSelection {
	return &awsec2.SubnetSelection{SubnetGroupName: jsii.String("functions")}
}

func (h *homeStack) network(cfg *Config) {
	stack := h.Stack
	// Without a NAT gateway the functions subnets have no route out at all.
	// The public subnets stay either way: they cost nothing, and keeping them
	// keeps every subnet's address (the database's above all) when
	// natGateways changes.
	functions := awsec2.SubnetType_PRIVATE_WITH_EGRESS
	if cfg.NATGateways == 0 {
		functions = awsec2.SubnetType_PRIVATE_ISOLATED
	}
	flowLogs := awslogs.NewLogGroup(stack, jsii.String("FlowLogs"), &awslogs.LogGroupProps{
		Retention:     logRetention(cfg.LogRetentionDays),
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	// Named zones, where RDS Proxy is offered (Config.validateZones);
	// otherwise the region's first two: an RDS subnet group needs two.
	maxAzs, zones := jsii.Number(2), (*[]*string)(nil)
	if len(cfg.AvailabilityZones) > 0 {
		maxAzs, zones = nil, jsii.Strings(cfg.AvailabilityZones...)
	}
	h.Vpc = awsec2.NewVpc(stack, jsii.String("Vpc"), &awsec2.VpcProps{
		IpAddresses:       awsec2.IpAddresses_Cidr(jsii.String("10.64.0.0/16")),
		MaxAzs:            maxAzs,
		AvailabilityZones: zones,
		NatGateways:       jsii.Number(float64(cfg.NATGateways)),
		SubnetConfiguration: &[]*awsec2.SubnetConfiguration{
			{Name: jsii.String("public"), SubnetType: awsec2.SubnetType_PUBLIC, CidrMask: jsii.Number(24)},
			{Name: jsii.String("functions"), SubnetType: functions, CidrMask: jsii.Number(20)},
			{Name: jsii.String("database"), SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED, CidrMask: jsii.Number(24)},
		},
		// Rejected traffic only: accepted flows of thousands of checks a
		// minute would cost more in log ingestion than they tell.
		FlowLogs: &map[string]*awsec2.FlowLogOptions{
			"Rejected": {
				Destination: awsec2.FlowLogDestination_ToCloudWatchLogs(flowLogs, nil),
				TrafficType: awsec2.FlowLogTrafficType_REJECT,
			},
		},
		RestrictDefaultSecurityGroup: jsii.Bool(false),
	})
	h.functions = functionsSubnets()
}

func (h *homeStack) database(cfg *Config) {
	stack := h.Stack
	isolated := &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED}
	// The major version only: with automatic minor upgrades on, RDS picks
	// the current minor at creation and upgrades it after. A pinned minor
	// fails fresh deploys once RDS retires it.
	engine := awsrds.DatabaseInstanceEngine_Postgres(&awsrds.PostgresInstanceEngineProps{
		Version: awsrds.PostgresEngineVersion_VER_17(),
	})
	params := awsrds.NewParameterGroup(stack, jsii.String("DatabaseParams"), &awsrds.ParameterGroupProps{
		Engine:      engine,
		Description: jsii.String("Watcher: TLS only"),
		Parameters:  &map[string]*string{"rds.force_ssl": jsii.String("1")},
	})
	dbSG := awsec2.NewSecurityGroup(stack, jsii.String("DatabaseSG"), &awsec2.SecurityGroupProps{
		Vpc: h.Vpc, Description: jsii.String("Watcher database: from proxy, migrate and operator only"), AllowAllOutbound: jsii.Bool(false),
	})
	h.DBSG = dbSG
	removal := awscdk.RemovalPolicy_SNAPSHOT
	h.DB = awsrds.NewDatabaseInstance(stack, jsii.String("Database"), &awsrds.DatabaseInstanceProps{
		Engine:                  engine,
		InstanceType:            awsec2.NewInstanceType(jsii.String(cfg.DBInstanceClass)),
		Vpc:                     h.Vpc,
		VpcSubnets:              isolated,
		SecurityGroups:          &[]awsec2.ISecurityGroup{dbSG},
		Credentials:             awsrds.Credentials_FromGeneratedSecret(jsii.String(dbAdminUser), nil),
		DatabaseName:            jsii.String(dbName),
		Port:                    jsii.Number(dbPort),
		ParameterGroup:          params,
		AllocatedStorage:        jsii.Number(float64(cfg.DBAllocatedStorageGiB)),
		MaxAllocatedStorage:     jsii.Number(float64(cfg.DBMaxAllocatedStorageGiB)),
		StorageType:             awsrds.StorageType_GP3,
		StorageEncrypted:        jsii.Bool(true),
		BackupRetention:         awscdk.Duration_Days(jsii.Number(float64(cfg.DBBackupRetentionDays))),
		DeletionProtection:      jsii.Bool(cfg.DBDeletionProtection),
		MultiAz:                 jsii.Bool(cfg.DBMultiAZ),
		IamAuthentication:       jsii.Bool(true),
		PubliclyAccessible:      jsii.Bool(false),
		AutoMinorVersionUpgrade: jsii.Bool(true),
		CaCertificate:           awsrds.CaCertificate_RDS_CA_RSA2048_G1(),
		RemovalPolicy:           removal,
	})

	// End-to-end IAM: clients log in to the proxy with IAM tokens and the
	// proxy logs in to the database with IAM as the same user, so the
	// application roles have no password anywhere. The proxy's role may
	// connect as exactly those users.
	proxyRole := awsiam.NewRole(stack, jsii.String("ProxyRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("rds.amazonaws.com"), nil),
		Description: jsii.String("Watcher RDS Proxy: IAM login to the database as the application roles"),
	})
	var users []*string
	for _, u := range []string{migrations.RoleFanout, migrations.RoleProbe} {
		users = append(users, stack.FormatArn(&awscdk.ArnComponents{
			Service:      jsii.String("rds-db"),
			Resource:     jsii.String("dbuser"),
			ResourceName: jsii.String(*h.DB.InstanceResourceId() + "/" + u),
			ArnFormat:    awscdk.ArnFormat_COLON_RESOURCE_NAME,
		}))
	}
	proxyRole.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("rds-db:connect"),
		Resources: &users,
	}))
	proxySG := awsec2.NewSecurityGroup(stack, jsii.String("ProxySG"), &awsec2.SecurityGroupProps{
		Vpc: h.Vpc, Description: jsii.String("Watcher RDS Proxy"), AllowAllOutbound: jsii.Bool(false),
	})
	h.Proxy = awsrds.NewDatabaseProxy(stack, jsii.String("Proxy"), &awsrds.DatabaseProxyProps{
		ProxyTarget:       awsrds.ProxyTarget_FromInstance(h.DB),
		DbProxyName:       jsii.String(cfg.Prefix),
		Vpc:               h.Vpc,
		VpcSubnets:        isolated,
		SecurityGroups:    &[]awsec2.ISecurityGroup{proxySG},
		DefaultAuthScheme: awsrds.DefaultAuthScheme_IAM_AUTH,
		IamAuth:           jsii.Bool(true),
		RequireTLS:        jsii.Bool(true),
		Role:              proxyRole,
		DebugLogging:      jsii.Bool(false),
	})
	// ProxyTarget_FromInstance already opens the database to the proxy.
}

func (h *homeStack) queues(cfg *Config) {
	stack := h.Stack
	retention := awscdk.Duration_Days(jsii.Number(14)) // the SQS maximum
	h.DLQ = awssqs.NewQueue(stack, jsii.String("RecordsDLQ"), &awssqs.QueueProps{
		QueueName:       jsii.String(cfg.deadLetterQueueName()),
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: retention,
	})
	suppress(h.DLQ, "AwsSolutions-SQS3", "This is the dead-letter queue of the record queue; its depth raises the RecordDeadLetters alarm.")
	h.Queue = awssqs.NewQueue(stack, jsii.String("Records"), &awssqs.QueueProps{
		QueueName:       jsii.String(cfg.queueName()),
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: retention,
		// Six times the drain's timeout, as Lambda recommends for SQS sources.
		VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(6 * drainTimeout.Seconds())),
		DeadLetterQueue: &awssqs.DeadLetterQueue{
			Queue:           h.DLQ,
			MaxReceiveCount: jsii.Number(float64(cfg.QueueMaxReceiveCount)),
		},
	})
}

// endpoints stands in for the NAT gateway: what the functions left in the VPC
// call besides the database, each endpoint open to exactly its callers and
// its policy limited to what they do with it.
//   - Lambda (interface): the fanout invokes the probes. Every probe is in
//     the home region here (Config.validate).
//   - Secrets Manager (interface): the migrate function, and the operator
//     in CloudShell, read the owner's secret.
//   - SQS (interface): the fanout spills its span claim and invocation
//     record to the record queue when the database refuses them.
//   - SNS (interface, with an alert topic only): the fanout publishes
//     alert notifications.
//   - S3 (gateway, free): the migrate function, a custom resource, answers
//     CloudFormation by a PUT to a presigned URL in CloudFormation's bucket,
//     and writes the status page; the operator's CloudShell, which has no
//     upload in a VPC, fetches the watcher binary from a bucket of the
//     account.
//
// The drain needs nothing: the Lambda service polls the queue for it. The
// interface endpoints sit in cfg.EndpointZones zones; a function in the
// other zone reaches them across zones.
func (h *homeStack) endpoints(cfg *Config, probeArns []*string, fanoutSG, migrateSG, operatorSG awsec2.ISecurityGroup) {
	stack := h.Stack
	subnets := *h.Vpc.SelectSubnets(functionsSubnets()).Subnets
	zones := &awsec2.SubnetSelection{Subnets: &[]awsec2.ISubnet{}}
	for i := 0; i < cfg.EndpointZones && i < len(subnets); i++ {
		*zones.Subnets = append(*zones.Subnets, subnets[i])
	}
	sameAccount := &map[string]any{"StringEquals": map[string]any{"aws:PrincipalAccount": stack.Account()}}
	iface := func(id, desc string, service awsec2.IInterfaceVpcEndpointService, from []awsec2.ISecurityGroup, policy *awsiam.PolicyStatementProps) {
		sg := awsec2.NewSecurityGroup(stack, jsii.String(id+"SG"), &awsec2.SecurityGroupProps{
			Vpc: h.Vpc, Description: jsii.String(desc), AllowAllOutbound: jsii.Bool(false),
		})
		ep := awsec2.NewInterfaceVpcEndpoint(stack, jsii.String(id), &awsec2.InterfaceVpcEndpointProps{
			Vpc: h.Vpc, Service: service, Subnets: zones, SecurityGroups: &[]awsec2.ISecurityGroup{sg},
			PrivateDnsEnabled: jsii.Bool(true), // the SDK's own host names resolve to the endpoint
			Open:              jsii.Bool(false),
		})
		for _, s := range from {
			ep.Connections().AllowDefaultPortFrom(s, jsii.String("HTTPS to the endpoint"))
		}
		policy.Principals = &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()}
		policy.Conditions = sameAccount
		ep.AddToPolicy(awsiam.NewPolicyStatement(policy))
		h.Endpoints = append(h.Endpoints, ep)
		h.endpointDeps = append(h.endpointDeps, ep, sg)
	}
	iface("LambdaEndpoint", "Watcher Lambda API endpoint: from the fanout", awsec2.InterfaceVpcEndpointAwsService_LAMBDA(),
		[]awsec2.ISecurityGroup{fanoutSG}, &awsiam.PolicyStatementProps{
			Actions: jsii.Strings("lambda:InvokeFunction"), Resources: &probeArns,
		})
	iface("SecretsManagerEndpoint", "Watcher Secrets Manager endpoint: from migrate and the operator", awsec2.InterfaceVpcEndpointAwsService_SECRETS_MANAGER(),
		[]awsec2.ISecurityGroup{migrateSG, operatorSG}, &awsiam.PolicyStatementProps{
			Actions: jsii.Strings("secretsmanager:GetSecretValue"), Resources: &[]*string{h.DB.Secret().SecretArn()},
		})
	// The fanout spills what it could not record about itself (its span
	// claim and invocation record) to the record queue during an outage.
	iface("SqsEndpoint", "Watcher SQS endpoint: from the fanout, spilling to the record queue", awsec2.InterfaceVpcEndpointAwsService_SQS(),
		[]awsec2.ISecurityGroup{fanoutSG}, &awsiam.PolicyStatementProps{
			Actions: jsii.Strings("sqs:SendMessage"), Resources: &[]*string{h.Queue.QueueArn()},
		})
	if h.AlertTopic != nil {
		// The fanout publishes alert notifications. (A webhook needs a NAT
		// gateway, and so no endpoints: Config.validateAlerts.)
		iface("SnsEndpoint", "Watcher SNS endpoint: from the fanout, publishing alerts", awsec2.InterfaceVpcEndpointAwsService_SNS(),
			[]awsec2.ISecurityGroup{fanoutSG}, &awsiam.PolicyStatementProps{
				Actions: jsii.Strings("sns:Publish"), Resources: &[]*string{h.AlertTopic.TopicArn()},
			})
	}
	s3 := awsec2.NewGatewayVpcEndpoint(stack, jsii.String("S3Endpoint"), &awsec2.GatewayVpcEndpointProps{
		Vpc: h.Vpc, Service: awsec2.GatewayVpcEndpointAwsService_S3(), Subnets: &[]*awsec2.SubnetSelection{functionsSubnets()},
	})
	// Writes only to CloudFormation's response bucket of the region (its
	// name has no dashes: cloudformation-custom-resource-response-euwest1);
	// the presigned URL is CloudFormation's, so any principal. Reads only
	// from this account's buckets, by this account's principals.
	s3.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings("s3:PutObject"),
		Resources: &[]*string{awscdk.Fn_Join(jsii.String(""), jsii.Strings(
			"arn:", *awscdk.Aws_PARTITION(), ":s3:::cloudformation-custom-resource-response-"+strings.ReplaceAll(cfg.HomeRegion, "-", "")+"/*"))},
	}))
	s3.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings("s3:GetObject", "s3:ListBucket"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"StringEquals": map[string]any{
			"aws:PrincipalAccount": stack.Account(),
			"aws:ResourceAccount":  stack.Account(),
		}},
	}))
	if h.StatusBucket != nil {
		// The migrate function writes the status page and prunes its SVGs
		// (its role narrows this to the page's files).
		s3.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
			Actions:    jsii.Strings("s3:PutObject", "s3:DeleteObject"),
			Resources:  jsii.Strings(*h.StatusBucket.BucketArn() + "/" + cfg.StatusPage.keyPrefix() + "*"),
			Conditions: sameAccount,
		}))
	}
	h.Endpoints = append(h.Endpoints, s3)
	h.endpointDeps = append(h.endpointDeps, s3)
}

// grantSendRecords lets a probe send its checks and invocation records (and
// the fanout what it spills) to the record queue, and do nothing else with it.
func grantSendRecords(role awsiam.Role, queueArn *string) {
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("sqs:SendMessage"),
		Resources: &[]*string{queueArn},
	}))
}

// grantSecrets lets a probe read basic-auth passwords under the prefix.
func grantSecrets(stack awscdk.Stack, cfg *Config, role awsiam.Role, region string) {
	arns := cfg.secretArns(stack, region)
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("secretsmanager:GetSecretValue"),
		Resources: &arns,
	}))
	// cdk-nag names a finding by the ARN with pseudo parameters in <>.
	var appliesTo []string
	for _, r := range cfg.secretRegions(region) {
		appliesTo = append(appliesTo, "Resource::arn:<AWS::Partition>:secretsmanager:"+r+":<AWS::AccountId>:secret:"+cfg.SecretPrefix+"*")
	}
	suppress(role, "AwsSolutions-IAM5",
		"Basic-auth passwords are secrets the operator creates under the configured name prefix (secretPrefix); the probe may read those and no other secret.",
		appliesTo...)
}

func (h *homeStack) suppressions(cfg *Config) {
	if h.ext != nil {
		for _, sec := range h.ext.secrets {
			suppress(sec, "AwsSolutions-SMG4", "The migrate function sets the role's password from this secret every 15 minutes; rotation would need a rotation function that does the same, for a password that only the fleet's functions read.")
		}
		return
	}
	if !cfg.DBMultiAZ {
		suppress(h.DB, "AwsSolutions-RDS3", "Multi-AZ is configurable (context dbMultiAz) and off by default: it doubles the database's fixed cost, and every probe sends its checks to SQS, which holds them while the database is down.")
	}
	if !cfg.DBDeletionProtection {
		suppress(h.DB, "AwsSolutions-RDS10", "Deletion protection is configurable (context dbDeletionProtection) and was turned off for this deployment.")
	}
	suppress(h.DB, "AwsSolutions-RDS11", "Port 5432 is reachable only from the proxy's and the migrate function's security groups in isolated subnets; a non-default port adds no protection.")
	suppress(h.DB, "AwsSolutions-SMG4", "The generated admin secret is read only by the migrate function; the application roles log in with IAM tokens and have no password. Rotation would add a rotation function for a credential no client holds.")
}

// schedulerRole is the role EventBridge Scheduler invokes a function with.
func schedulerRole(stack awscdk.Stack, id, fnID string) awsiam.Role {
	return awsiam.NewRole(stack, jsii.String(id), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("scheduler.amazonaws.com"), &awsiam.ServicePrincipalOpts{
			Conditions: &map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": stack.Account()}},
		}),
		Description: jsii.String("EventBridge Scheduler: invoke the " + fnID + " function"),
	})
}

// suppressSchedulerWildcard accepts the one wildcard of a scheduler role:
// the CDK target grants lambda:InvokeFunction on the function and on its
// versions and aliases (ARN:*). fnID is the function's construct id, which
// starts its logical id.
func suppressSchedulerWildcard(role awsiam.Role, fnID string) {
	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id:        jsii.String("AwsSolutions-IAM5"),
		Reason:    jsii.String("The scheduler may invoke this one function; the CDK target also allows its versions and aliases (ARN:*), all of which are this function's code."),
		AppliesTo: &[]any{&cdknag.RegexAppliesTo{Regex: jsii.String("/^Resource::<" + fnID + "[0-9A-F]{8}\\.Arn>:\\*$/g")}},
	}}, jsii.Bool(true))
}
