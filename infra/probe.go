package main

import (
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// probeStack is a probe location away from the database: a region of its
// own, or an intranet VPC. It has no route to the RDS Proxy, so its probe
// sends check batches to the record queue in the home region, over HTTPS
// with its IAM role, and the drain there writes them. Nothing in the home
// stack refers to this stack: the fanout knows its probe's ARN by name.
type probeStack struct {
	Stack    awscdk.Stack
	Location Location
	Probe    *watcherFunction
}

func newProbeStack(scope constructs.Construct, cfg *Config, loc Location) *probeStack {
	desc := "Watcher probe for location " + loc.Name
	if loc.Intranet != nil {
		desc += " in " + loc.Intranet.VpcID
	}
	stack := awscdk.NewStack(scope, jsii.String(cfg.probeStackName(loc.Name)), &awscdk.StackProps{
		Env:         &awscdk.Environment{Region: jsii.String(loc.Region)},
		Description: jsii.String(desc),
	})
	env := map[string]*string{
		"WATCHER_LOCATION":         jsii.String(loc.Name),
		"WATCHER_RECORD_QUEUE_URL": cfg.queueURL(stack),
	}
	spec := fnSpec{
		Asset: "probe", Name: cfg.probeName(loc.Name), MemoryMB: cfg.ProbeMemoryMB, Timeout: cfg.ProbeTimeout(),
		Env:          env,
		AsyncRetries: jsii.Number(probeAsyncRetries), MaxEventAge: probeMaxEventAge,
	}
	if in := loc.Intranet; in != nil {
		// Targets in private ranges are what this location is for.
		env["WATCHER_ALLOW_PRIVATE"] = jsii.String("true")
		// Imported by id, not looked up: synth needs no AWS account. The
		// zones do not matter because the subnets are named explicitly.
		vpc := awsec2.Vpc_FromVpcAttributes(stack, jsii.String("Vpc"), &awsec2.VpcAttributes{
			VpcId:             jsii.String(in.VpcID),
			AvailabilityZones: stack.AvailabilityZones(),
		})
		var subnets []awsec2.ISubnet
		for i, id := range in.SubnetIDs {
			sn := awsec2.Subnet_FromSubnetId(stack, jsii.String("Subnet"+strconv.Itoa(i)), jsii.String(id))
			// Only the Lambda function uses these subnets; nothing here
			// adds routes, so their route tables need not be known.
			awscdk.Annotations_Of(sn).AcknowledgeWarning(jsii.String("@aws-cdk/aws-ec2:noSubnetRouteTableId"),
				jsii.String("the probe only places network interfaces in the subnet"))
			subnets = append(subnets, sn)
		}
		spec.Vpc = vpc
		spec.Subnets = &awsec2.SubnetSelection{Subnets: &subnets}
		spec.SecurityGroups = []awsec2.ISecurityGroup{
			awsec2.SecurityGroup_FromSecurityGroupId(stack, jsii.String("SecurityGroup"), jsii.String(in.SecurityGroupID),
				&awsec2.SecurityGroupImportOptions{Mutable: jsii.Bool(false)}),
		}
	}
	w := newFunction(stack, "Probe", cfg, spec)
	grantSendRecords(w.Role, cfg.queueArn(stack))
	grantSecrets(stack, cfg, w.Role, loc.Region)

	al := newAlarms(stack, cfg)
	al.function("Probe", w, true)
	al.checksUnwritten("ProbeChecksUnwritten", loc.Name)
	al.checksNoSocket("ProbeChecksNoSocket", loc.Name)
	al.recordsLost("ProbeRecordsLost", "probe", loc.Name)
	awscdk.NewCfnOutput(stack, jsii.String("ProbeFunctionArn"), &awscdk.CfnOutputProps{Value: w.Fn.FunctionArn()})
	return &probeStack{Stack: stack, Location: loc, Probe: w}
}
