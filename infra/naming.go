package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// Physical names are fixed by the configuration, so every stack can build the
// ARN or URL of a resource in another region from the account it is deployed
// to: the location -> probe ARN map and the record queue need no
// cross-region references (no SSM parameters, no custom resources), and a
// stack can be synthesized and reviewed on its own.

func (c *Config) fanoutName() string               { return c.Prefix + "-fanout" }
func (c *Config) drainName() string                { return c.Prefix + "-drain" }
func (c *Config) migrateName() string              { return c.Prefix + "-migrate" }
func (c *Config) probeName(location string) string { return c.Prefix + "-probe-" + location }
func (c *Config) queueName() string                { return c.Prefix + "-records" }
func (c *Config) deadLetterQueueName() string      { return c.Prefix + "-records-dlq" }

func (c *Config) homeStackName() string { return c.Prefix + "-home" }
func (c *Config) probeStackName(location string) string {
	return c.Prefix + "-probe-" + location
}

// probeArn is the ARN of the probe function of loc, in the account of the
// stack it is used in.
func (c *Config) probeArn(stack awscdk.Stack, loc Location) *string {
	return stack.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("lambda"),
		Region:       jsii.String(loc.Region),
		Resource:     jsii.String("function"),
		ResourceName: jsii.String(c.probeName(loc.Name)),
		ArnFormat:    awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
}

// queueArn is the ARN of the record queue in the home region.
func (c *Config) queueArn(stack awscdk.Stack) *string {
	return stack.FormatArn(&awscdk.ArnComponents{
		Service:   jsii.String("sqs"),
		Region:    jsii.String(c.HomeRegion),
		Resource:  jsii.String(c.queueName()),
		ArnFormat: awscdk.ArnFormat_NO_RESOURCE_NAME,
	})
}

// queueURL is the URL of the record queue in the home region.
func (c *Config) queueURL(stack awscdk.Stack) *string {
	return awscdk.Fn_Join(jsii.String(""), jsii.Strings(
		"https://sqs."+c.HomeRegion+".", *awscdk.Aws_URL_SUFFIX(), "/", *stack.Account(), "/", c.queueName()))
}

// secretArns are the basic-auth secrets a probe in region may read: those
// under the prefix in its own region and in the home region (an endpoint may
// name a secret by its full ARN there). The trailing * matches the random
// suffix Secrets Manager appends to every secret ARN.
func (c *Config) secretArns(stack awscdk.Stack, region string) []*string {
	var out []*string
	for _, r := range c.secretRegions(region) {
		out = append(out, stack.FormatArn(&awscdk.ArnComponents{
			Service:      jsii.String("secretsmanager"),
			Region:       jsii.String(r),
			Resource:     jsii.String("secret"),
			ResourceName: jsii.String(c.SecretPrefix + "*"),
			ArnFormat:    awscdk.ArnFormat_COLON_RESOURCE_NAME,
		}))
	}
	return out
}

func (c *Config) secretRegions(region string) []string {
	if region == c.HomeRegion {
		return []string{region}
	}
	return []string{region, c.HomeRegion}
}
