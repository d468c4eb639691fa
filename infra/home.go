package main

import (
	"fmt"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsrds"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsschedulertargets"
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

// Function timeouts other than the probes' (see Config.ProbeTimeout).
const (
	fanoutTimeout  = time.Minute
	drainTimeout   = time.Minute
	migrateTimeout = 5 * time.Minute
)

// homeStack is the home region: network, database, proxy, the fanout and its
// schedule, the home probe, the record queue and its drain, the migrations.
type homeStack struct {
	Stack    awscdk.Stack
	Vpc      awsec2.Vpc
	DB       awsrds.DatabaseInstance
	DBSG     awsec2.SecurityGroup
	Proxy    awsrds.DatabaseProxy
	Queue    awssqs.Queue
	DLQ      awssqs.Queue
	Fanout   *watcherFunction
	Probe    *watcherFunction
	Drain    *watcherFunction
	Migrate  *watcherFunction
	Schedule awsscheduler.Schedule
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

	h.network(cfg)
	h.database(cfg)

	sg := func(id, desc string, allOutbound bool) awsec2.SecurityGroup {
		return awsec2.NewSecurityGroup(stack, jsii.String(id), &awsec2.SecurityGroupProps{
			Vpc: h.Vpc, Description: jsii.String(desc), AllowAllOutbound: jsii.Bool(allOutbound),
		})
	}
	// Egress is as narrow as each function allows: only the probe talks to
	// arbitrary hosts and ports (its targets).
	fanoutSG := sg("FanoutSG", "Watcher fanout: proxy and AWS APIs", false)
	probeSG := sg("ProbeSG", "Watcher home probe: targets anywhere, proxy, AWS APIs", true)
	drainSG := sg("DrainSG", "Watcher drain: proxy only", false)
	migrateSG := sg("MigrateSG", "Watcher migrate: database and Secrets Manager", false)
	for _, s := range []awsec2.SecurityGroup{fanoutSG, drainSG, probeSG} {
		h.Proxy.Connections().AllowFrom(s, awsec2.Port_Tcp(jsii.Number(dbPort)), jsii.String("Watcher function to proxy"))
	}
	// The operator's way in (endpoint imports, reports): a CloudShell VPC
	// environment in the functions subnets with this group, as the owner.
	operatorSG := sg("OperatorSG", "Watcher operator: database and AWS APIs", false)
	for _, s := range []awsec2.SecurityGroup{migrateSG, operatorSG} {
		h.DB.Connections().AllowFrom(s, awsec2.Port_Tcp(jsii.Number(dbPort)), jsii.String("owner access to database"))
	}
	for _, s := range []awsec2.SecurityGroup{fanoutSG, migrateSG, operatorSG} {
		// AWS APIs (Lambda Invoke, Secrets Manager) through the NAT gateway.
		s.AddEgressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(443)), jsii.String("HTTPS to AWS APIs"), nil)
	}

	h.queues(cfg)

	private := &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS}
	proxyURL := func(user string) *string {
		// RDS Proxy presents a certificate from ACM, trusted by the system
		// roots, so the host name is verified, not only encrypted.
		return jsii.String(fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=verify-full", user, *h.Proxy.Endpoint(), dbPort, dbName))
	}

	// Probes first: the fanout's environment names all of them.
	h.Probe = newFunction(stack, "ProbeHome", cfg, fnSpec{
		Asset: "probe", Name: cfg.probeName(HomeLocation), MemoryMB: cfg.ProbeMemoryMB, Timeout: cfg.ProbeTimeout(),
		Env: map[string]*string{
			"DATABASE_URL":             proxyURL(migrations.RoleProbe),
			"DATABASE_IAM_AUTH":        jsii.String("true"),
			"WATCHER_LOCATION":         jsii.String(HomeLocation),
			"WATCHER_RECORD_QUEUE_URL": h.Queue.QueueUrl(), // spill when the database is unreachable
		},
		Vpc: h.Vpc, Subnets: private, SecurityGroups: []awsec2.ISecurityGroup{probeSG},
		AsyncRetries: jsii.Number(probeAsyncRetries), MaxEventAge: probeMaxEventAge,
	})
	h.Proxy.GrantConnect(h.Probe.Role, jsii.String(migrations.RoleProbe))
	h.Queue.GrantSendMessages(h.Probe.Role)
	grantSecrets(stack, cfg, h.Probe.Role, cfg.HomeRegion)

	probes := map[string]*string{}
	var probeArns []*string
	for _, loc := range cfg.Locations() {
		arn := cfg.probeArn(stack, loc)
		probes[loc.Name] = arn
		probeArns = append(probeArns, arn)
	}
	h.Fanout = newFunction(stack, "Fanout", cfg, fnSpec{
		Asset: "fanout", Name: cfg.fanoutName(), MemoryMB: cfg.FanoutMemoryMB, Timeout: fanoutTimeout,
		Env: map[string]*string{
			"DATABASE_URL":             proxyURL(migrations.RoleFanout),
			"DATABASE_IAM_AUTH":        jsii.String("true"),
			"WATCHER_PROBES":           stack.ToJsonString(probes, nil),
			"WATCHER_SPAN_OFFSET":      jsii.String(cfg.SpanOffset.D().String()),
			"WATCHER_MAX_DELAY":        jsii.String(cfg.MaxDelay.D().String()),
			"WATCHER_SHARD_MAX_CHECKS": jsii.String(fmt.Sprint(cfg.ShardMaxChecks)),
		},
		Vpc: h.Vpc, Subnets: private, SecurityGroups: []awsec2.ISecurityGroup{fanoutSG},
		// Spans whose events arrive too late are recorded as missed by the
		// fanout itself, so Lambda should deliver rather than drop them.
		AsyncRetries: jsii.Number(2), MaxEventAge: time.Hour,
	})
	h.Proxy.GrantConnect(h.Fanout.Role, jsii.String(migrations.RoleFanout))
	h.Fanout.Role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("lambda:InvokeFunction"),
		Resources: &probeArns,
	}))

	h.Drain = newFunction(stack, "Drain", cfg, fnSpec{
		Asset: "drain", Name: cfg.drainName(), MemoryMB: cfg.DrainMemoryMB, Timeout: drainTimeout,
		Env: map[string]*string{
			// The drain writes exactly what probes write, so it is a probe.
			"DATABASE_URL":      proxyURL(migrations.RoleProbe),
			"DATABASE_IAM_AUTH": jsii.String("true"),
		},
		Vpc: h.Vpc, Subnets: private, SecurityGroups: []awsec2.ISecurityGroup{drainSG},
	})
	h.Proxy.GrantConnect(h.Drain.Role, jsii.String(migrations.RoleProbe))
	h.Drain.Fn.AddEventSource(awslambdaeventsources.NewSqsEventSource(h.Queue, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(10),
		ReportBatchItemFailures: jsii.Bool(true),
		MaxConcurrency:          jsii.Number(float64(cfg.DrainConcurrency)),
	}))

	h.Migrate = newFunction(stack, "Migrate", cfg, fnSpec{
		Asset: "migrate", Name: cfg.migrateName(), MemoryMB: cfg.MigrateMemoryMB, Timeout: migrateTimeout,
		Env: map[string]*string{
			"WATCHER_DB_SECRET_ARN": h.DB.Secret().SecretArn(),
			"DATABASE_IAM_AUTH":     jsii.String("true"), // app roles log in with IAM: GRANT rds_iam
		},
		Vpc: h.Vpc, Subnets: private, SecurityGroups: []awsec2.ISecurityGroup{migrateSG},
		// CloudFormation and the schedule invoke it asynchronously; a retry
		// would answer CloudFormation twice.
		AsyncRetries: jsii.Number(0), MaxEventAge: time.Hour,
	})
	h.DB.Secret().GrantRead(h.Migrate.Role, nil)

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
	// and daily, to keep the checks table's partitions created ahead. The
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
	// Its ingress rule lives under the database's security group.
	migrationsCR.Node().AddDependency(h.DB, h.DBSG, h.Vpc, migrateSG)
	h.Schedule.Node().AddDependency(migrationsCR)
	h.Drain.Fn.Node().AddDependency(migrationsCR)
	migrateSchedRole := schedulerRole(stack, "MigrateScheduleRole", "Migrate")
	awsscheduler.NewSchedule(stack, jsii.String("MigrateDaily"), &awsscheduler.ScheduleProps{
		Description: jsii.String("Watcher: apply migrations and create checks partitions ahead"),
		Schedule:    awsscheduler.ScheduleExpression_Rate(awscdk.Duration_Days(jsii.Number(1))),
		Target: awsschedulertargets.NewLambdaInvoke(h.Migrate.Fn, &awsschedulertargets.ScheduleTargetBaseProps{
			Input:         awsscheduler.ScheduleTargetInput_FromObject(map[string]any{"source": "schedule"}),
			Role:          migrateSchedRole,
			RetryAttempts: jsii.Number(2),
			MaxEventAge:   awscdk.Duration_Hours(jsii.Number(1)),
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
	al.spansMissed("FanoutSpansMissed")
	al.add("RecordDeadLetters", "record queue messages the drain could not write moved to the dead-letter queue: redrive them once the cause is fixed",
		h.DLQ.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: fiveMinutes(), Statistic: jsii.String("Maximum")}), 1)
	al.add("RecordBacklog", "record queue not drained for 15 minutes: database or drain down",
		h.Queue.MetricApproximateAgeOfOldestMessage(&awscloudwatch.MetricOptions{Period: fiveMinutes(), Statistic: jsii.String("Maximum")}), 15*60)

	awscdk.NewCfnOutput(stack, jsii.String("ProxyEndpoint"), &awscdk.CfnOutputProps{Value: h.Proxy.Endpoint()})
	awscdk.NewCfnOutput(stack, jsii.String("DatabaseEndpoint"), &awscdk.CfnOutputProps{Value: h.DB.DbInstanceEndpointAddress()})
	awscdk.NewCfnOutput(stack, jsii.String("VpcId"), &awscdk.CfnOutputProps{Value: h.Vpc.VpcId()})
	awscdk.NewCfnOutput(stack, jsii.String("OperatorSubnetIds"), &awscdk.CfnOutputProps{
		Value: awscdk.Fn_Join(jsii.String(","), h.Vpc.SelectSubnets(private).SubnetIds),
	})
	awscdk.NewCfnOutput(stack, jsii.String("OperatorSecurityGroupId"), &awscdk.CfnOutputProps{Value: operatorSG.SecurityGroupId()})
	awscdk.NewCfnOutput(stack, jsii.String("DatabaseSecretArn"), &awscdk.CfnOutputProps{Value: h.DB.Secret().SecretArn()})
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

func (h *homeStack) network(cfg *Config) {
	stack := h.Stack
	flowLogs := awslogs.NewLogGroup(stack, jsii.String("FlowLogs"), &awslogs.LogGroupProps{
		Retention:     retention(cfg.LogRetentionDays),
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	h.Vpc = awsec2.NewVpc(stack, jsii.String("Vpc"), &awsec2.VpcProps{
		IpAddresses: awsec2.IpAddresses_Cidr(jsii.String("10.64.0.0/16")),
		MaxAzs:      jsii.Number(2), // an RDS subnet group needs two zones
		NatGateways: jsii.Number(float64(cfg.NATGateways)),
		SubnetConfiguration: &[]*awsec2.SubnetConfiguration{
			{Name: jsii.String("public"), SubnetType: awsec2.SubnetType_PUBLIC, CidrMask: jsii.Number(24)},
			{Name: jsii.String("functions"), SubnetType: awsec2.SubnetType_PRIVATE_WITH_EGRESS, CidrMask: jsii.Number(20)},
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
}

func (h *homeStack) database(cfg *Config) {
	stack := h.Stack
	isolated := &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED}
	engine := awsrds.DatabaseInstanceEngine_Postgres(&awsrds.PostgresInstanceEngineProps{
		Version: awsrds.PostgresEngineVersion_VER_17_9(),
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
	if !cfg.DBMultiAZ {
		suppress(h.DB, "AwsSolutions-RDS3", "Multi-AZ is configurable (context dbMultiAz) and off by default: it doubles the database's fixed cost, and probes spill checks to SQS while the database is down.")
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
