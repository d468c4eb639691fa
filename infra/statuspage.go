package main

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfrontorigins"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// StatusPage is the static status page (internal/status): after each
// scheduled upkeep the migrate function writes index.html and an SVG per
// endpoint to a bucket of the stack (WATCHER_STATUS_*).
type StatusPage struct {
	// Enabled makes the bucket and has the migrate function write to it.
	Enabled bool `json:"enabled,omitempty"`
	// CloudFront puts a distribution in front of the bucket, the page's
	// public address; without it the bucket is private and the page is
	// yours to serve.
	CloudFront bool `json:"cloudFront,omitempty"`
	// Title heads the page (WATCHER_STATUS_TITLE); empty: the default.
	Title string `json:"title,omitempty"`
	// Prefix is the folder of the bucket the page is written to, such as
	// "status" (WATCHER_STATUS_PREFIX); empty: the bucket's root.
	Prefix string `json:"prefix,omitempty"`
}

// statusPrefixRe is a folder path of S3 keys in characters that need no
// escaping in a URL: "status", "pages/status".
var statusPrefixRe = regexp.MustCompile(`^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$`)

// maxStatusTitle bounds the title, which travels in the environment.
const maxStatusTitle = 200

func (s StatusPage) validate() []string {
	var p []string
	bad := func(format string, a ...any) { p = append(p, fmt.Sprintf(format, a...)) }
	if !s.Enabled {
		var set []string
		for _, f := range []struct {
			key string
			set bool
		}{{"cloudFront", s.CloudFront}, {"title", s.Title != ""}, {"prefix", s.Prefix != ""}} {
			if f.set {
				set = append(set, f.key)
			}
		}
		if len(set) > 0 {
			bad("statusPage: %s given without enabled true", strings.Join(set, ", "))
		}
		return p
	}
	if s.Prefix != "" && (len(s.Prefix) > 200 || !statusPrefixRe.MatchString(s.Prefix) || strings.Contains("/"+s.Prefix+"/", "/../") || strings.Contains("/"+s.Prefix+"/", "/./")) {
		bad("statusPage.prefix: %q is not a folder such as \"status\" (letters, digits, . _ - and inner /, at most 200)", s.Prefix)
	}
	if len(s.Title) > maxStatusTitle {
		bad("statusPage.title: %d bytes, at most %d", len(s.Title), maxStatusTitle)
	}
	if strings.IndexFunc(s.Title, unicode.IsControl) >= 0 {
		bad("statusPage.title: contains a control character")
	}
	return p
}

// keyPrefix is the prefix of the page's S3 keys: "" or "status/".
func (s StatusPage) keyPrefix() string {
	if s.Prefix == "" {
		return ""
	}
	return s.Prefix + "/"
}

// statusPage adds the bucket of the status page, its log bucket and, with
// CloudFront, the distribution, and returns the migrate function's
// WATCHER_STATUS_* variables.
func (h *homeStack) statusPage(cfg *Config) map[string]*string {
	stack, sp := h.Stack, cfg.StatusPage
	// S3 delivers server access logs as a bucket policy allows it, not
	// through an ACL, which a bucket whose owner enforces ownership refuses;
	// the CDK does so under this feature flag, set here for these buckets.
	scope := constructs.NewConstruct(stack, jsii.String("Status"))
	scope.Node().SetContext(jsii.String("@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"), true)
	// Server access logs of the page's bucket and, with CloudFront, the
	// distribution's standard logs, which CloudFront writes with an ACL
	// grant: so ACLs stay on, the bucket owner owning every object.
	ownership := awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED
	if sp.CloudFront {
		ownership = awss3.ObjectOwnership_BUCKET_OWNER_PREFERRED
	}
	logs := awss3.NewBucket(scope, jsii.String("Logs"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		ObjectOwnership:   ownership,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Expiration: awscdk.Duration_Days(jsii.Number(float64(cfg.LogRetentionDays))),
		}},
		// Kept on delete, as every bucket with data: delete it by hand.
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	h.StatusBucket = awss3.NewBucket(scope, jsii.String("Bucket"), &awss3.BucketProps{
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:             jsii.Bool(true),
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		ServerAccessLogsBucket: logs,
		ServerAccessLogsPrefix: jsii.String("s3/"),
		// The page is rewritten every 15 minutes; what a delete leaves is
		// the buckets, emptied and deleted by hand.
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	env := map[string]*string{"WATCHER_STATUS_BUCKET": h.StatusBucket.BucketName()}
	if sp.Prefix != "" {
		env["WATCHER_STATUS_PREFIX"] = jsii.String(sp.Prefix)
	}
	if sp.Title != "" {
		env["WATCHER_STATUS_TITLE"] = jsii.String(sp.Title)
	}
	awscdk.NewCfnOutput(stack, jsii.String("StatusBucketName"), &awscdk.CfnOutputProps{
		Value:       h.StatusBucket.BucketName(),
		Description: jsii.String("The bucket the migrate function writes the status page to, under the prefix " + fmt.Sprintf("%q", sp.Prefix)),
	})
	if !sp.CloudFront {
		return env
	}

	originProps := &awscloudfrontorigins.S3BucketOriginWithOACProps{}
	if sp.Prefix != "" {
		originProps.OriginPath = jsii.String("/" + sp.Prefix)
	}
	h.Distribution = awscloudfront.NewDistribution(scope, jsii.String("Distribution"), &awscloudfront.DistributionProps{
		Comment: jsii.String("Watcher status page"),
		DefaultBehavior: &awscloudfront.BehaviorOptions{
			// Origin Access Control: CloudFront signs its requests, and the
			// bucket policy lets this distribution read, nobody else.
			Origin:               awscloudfrontorigins.S3BucketOrigin_WithOriginAccessControl(h.StatusBucket, originProps),
			ViewerProtocolPolicy: awscloudfront.ViewerProtocolPolicy_HTTPS_ONLY,
			AllowedMethods:       awscloudfront.AllowedMethods_ALLOW_GET_HEAD(),
			// Follows the objects' Cache-Control (max-age=60).
			CachePolicy: awscloudfront.CachePolicy_CACHING_OPTIMIZED(),
			Compress:    jsii.Bool(true),
		},
		DefaultRootObject: jsii.String("index.html"),
		PriceClass:        awscloudfront.PriceClass_PRICE_CLASS_100,
		HttpVersion:       awscloudfront.HttpVersion_HTTP2_AND_3,
		EnableLogging:     jsii.Bool(true),
		LogBucket:         logs,
		LogFilePrefix:     jsii.String("cloudfront/"),
	})
	cdknag.NagSuppressions_AddResourceSuppressions(h.Distribution, &[]*cdknag.NagPackSuppression{
		{Id: jsii.String("AwsSolutions-CFR1"), Reason: jsii.String("The status page is for everyone, wherever they are: no geo restriction.")},
		{Id: jsii.String("AwsSolutions-CFR2"), Reason: jsii.String("A static, cached, read-only page with no forms or API behind it; a WAF web ACL would cost more a month than the page, and CloudFront has AWS Shield Standard.")},
		{Id: jsii.String("AwsSolutions-CFR4"), Reason: jsii.String("The distribution uses CloudFront's default domain and certificate (*.cloudfront.net), with which the minimum viewer protocol cannot be raised; a custom domain with an ACM certificate is outside the stack. The page is public and read-only.")},
	}, jsii.Bool(true))
	awscdk.NewCfnOutput(stack, jsii.String("StatusPageDomainName"), &awscdk.CfnOutputProps{
		Value:       h.Distribution.DistributionDomainName(),
		Description: jsii.String("The status page: https://<this>/"),
	})
	return env
}

// grantStatusPage lets the migrate function write the page's files under
// the prefix (index.html, endpoint-*.svg), list and delete the SVGs, and
// nothing else of the bucket.
func (h *homeStack) grantStatusPage(cfg *Config) {
	role, arn, p := h.Migrate.Role, *h.StatusBucket.BucketArn(), cfg.StatusPage.keyPrefix()
	svgs := arn + "/" + p + "endpoint-*.svg"
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("s3:PutObject"),
		Resources: jsii.Strings(arn+"/"+p+"index.html", svgs),
	}))
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("s3:DeleteObject"),
		Resources: jsii.Strings(svgs),
	}))
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings("s3:ListBucket"),
		Resources:  jsii.Strings(arn),
		Conditions: &map[string]any{"StringEquals": map[string]any{"s3:prefix": p + "endpoint-"}},
	}))
	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("The status page has one SVG per endpoint, endpoint-<id>.svg, the ids unknown at deploy: the migrate function may write and delete those under the page's prefix, and nothing else of the bucket."),
		AppliesTo: &[]any{&cdknag.RegexAppliesTo{Regex: jsii.String(
			"/^Resource::<StatusBucket[0-9A-F]{8}\\.Arn>\\/" + regexp.QuoteMeta(p) + "endpoint-\\*\\.svg$/g")}},
	}}, jsii.Bool(true))
}
