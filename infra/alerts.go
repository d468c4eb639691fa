package main

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/jsii-runtime-go"
)

// Alerts is where the fanout sends the notifications of alert transitions
// (internal/notify reads them from WATCHER_ALERT_*). Every field is
// optional; without any, alerts are still evaluated and recorded, and their
// notifications wait in the outbox until a channel is configured.
type Alerts struct {
	// WebhookURL receives every notification as a JSON POST signed with
	// the webhook secret (WATCHER_ALERT_WEBHOOK_URL). Its host is on the
	// Internet: the fanout in the home VPC reaches it through a NAT gateway.
	WebhookURL string `json:"webhookUrl,omitempty"`
	// WebhookSecretArn is the complete ARN of a secret of yours whose
	// string value is the signing key, at least 16 bytes
	// (WATCHER_ALERT_WEBHOOK_SECRET_ARN). Without it the stack generates
	// one and outputs its ARN, so that the receiver can be given its value.
	WebhookSecretArn string `json:"webhookSecretArn,omitempty"`
	// SNSTopic makes an SNS topic for alerts, encrypted with the AWS
	// managed SNS key, that the fanout publishes every notification to
	// (WATCHER_ALERT_SNS_TOPIC_ARN): for mail, and chat through AWS Chatbot.
	SNSTopic bool `json:"snsTopic,omitempty"`
	// Emails are subscribed to that topic; each confirms its subscription.
	Emails []string `json:"emails,omitempty"`
}

// webhook reports whether a webhook is configured.
func (a *Alerts) webhook() bool { return a.WebhookURL != "" }

// webhookPort is the TCP port of the webhook URL (validated).
func (a *Alerts) webhookPort() int {
	u, err := url.Parse(a.WebhookURL)
	if err != nil {
		return 443
	}
	if p, err := strconv.Atoi(u.Port()); err == nil {
		return p
	}
	if u.Scheme == "http" {
		return 80
	}
	return 443
}

// webhookSecretName is the name of the generated webhook secret.
func (c *Config) webhookSecretName() string { return c.Prefix + "/alerts/webhook" }

// emailOK is the check alarmEmail gets: one address, no list.
func emailOK(s string) bool {
	return strings.Contains(s, "@") && !strings.ContainsAny(s, " ,;")
}

func (c *Config) validateAlerts() []string {
	var p []string
	bad := func(format string, a ...any) { p = append(p, fmt.Sprintf(format, a...)) }
	a := c.Alerts
	if a.WebhookURL != "" {
		u, err := url.Parse(a.WebhookURL)
		switch {
		case err != nil:
			bad("alerts.webhookUrl: %q is not a URL", a.WebhookURL)
		case u.Scheme != "http" && u.Scheme != "https":
			bad("alerts.webhookUrl: scheme %q is not http or https", u.Scheme)
		case u.Host == "" || u.Hostname() == "":
			bad("alerts.webhookUrl: %q is not an absolute URL (no host)", a.WebhookURL)
		case u.User != nil:
			bad("alerts.webhookUrl: carries a user name or password, which would sit in the fanout's environment (the webhook secret signs each request instead)")
		default:
			if port := u.Port(); port != "" {
				if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
					bad("alerts.webhookUrl: port %q is outside 1..65535", port)
				}
			}
		}
		// The fanout runs in the home VPC; the webhook's host is on the
		// Internet. Your own VPC is taken to have a way out.
		if c.NATGateways == 0 && !c.Database.External() {
			bad("alerts.webhookUrl: the fanout runs in the home VPC, which with natGateways 0 has no route to the Internet, " +
				"where the webhook's host is: set natGateways=1, or leave alerts.webhookUrl out and use alerts.snsTopic (reached through a VPC endpoint)")
		}
	}
	if a.WebhookSecretArn != "" {
		switch {
		case a.WebhookURL == "":
			bad("alerts.webhookSecretArn: given without alerts.webhookUrl, the webhook it signs for")
		case !secretArnRe.MatchString(a.WebhookSecretArn):
			bad("alerts.webhookSecretArn: %q is not the complete ARN of a secret (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX)", a.WebhookSecretArn)
		}
	} else if a.WebhookURL != "" && strings.HasPrefix(c.webhookSecretName(), c.SecretPrefix) {
		// Probes read every secret under secretPrefix; the signing key is
		// the fanout's alone.
		bad("alerts.webhookUrl: the generated webhook secret %s would be under secretPrefix %q, which every probe may read: choose another secretPrefix",
			c.webhookSecretName(), c.SecretPrefix)
	}
	if len(a.Emails) > 0 && !a.SNSTopic {
		bad("alerts.emails: subscribe to the alert topic, which needs alerts.snsTopic true")
	}
	for i, e := range a.Emails {
		switch {
		case !emailOK(e):
			bad("alerts.emails: %q is not one e-mail address", e)
		case slices.Contains(a.Emails[:i], e):
			bad("alerts.emails: %s is listed twice", e)
		}
	}
	return p
}

// alerts adds the alert topic and the webhook secret, as configured, and
// returns the fanout's WATCHER_ALERT_* variables. The webhook's URL and
// the secret's ARN go into the environment, never the secret's value.
func (h *homeStack) alerts(cfg *Config) map[string]*string {
	stack, a := h.Stack, cfg.Alerts
	env := map[string]*string{}
	if a.SNSTopic {
		h.AlertTopic = awssns.NewTopic(stack, jsii.String("AlertTopic"), &awssns.TopicProps{
			TopicName:   jsii.String(cfg.alertTopicName()),
			DisplayName: jsii.String("Watcher alerts"),
			// The AWS managed key: the fanout, a principal of the account
			// publishing through SNS, may use it without a grant, and it
			// costs nothing a month.
			MasterKey:  awskms.Alias_FromAliasName(stack, jsii.String("AlertTopicKey"), jsii.String("alias/aws/sns")),
			EnforceSSL: jsii.Bool(true),
		})
		for _, e := range a.Emails {
			h.AlertTopic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(e), nil))
		}
		env["WATCHER_ALERT_SNS_TOPIC_ARN"] = h.AlertTopic.TopicArn()
		awscdk.NewCfnOutput(stack, jsii.String("AlertTopicArn"), &awscdk.CfnOutputProps{
			Value:       h.AlertTopic.TopicArn(),
			Description: jsii.String("Alert notifications: subscribe e-mail, or a Slack or Teams channel through AWS Chatbot"),
		})
	}
	if a.webhook() {
		if a.WebhookSecretArn != "" {
			h.webhookSecretArn = jsii.String(a.WebhookSecretArn)
		} else {
			sec := awssecretsmanager.NewSecret(stack, jsii.String("AlertWebhookSecret"), &awssecretsmanager.SecretProps{
				SecretName:  jsii.String(cfg.webhookSecretName()),
				Description: jsii.String("Watcher: the key that signs alert webhook requests (HMAC-SHA256); give its value to the receiver"),
				// A plain string, the key itself: 48 letters and digits.
				GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
					PasswordLength:     jsii.Number(48),
					ExcludePunctuation: jsii.Bool(true),
				},
			})
			suppress(sec, "AwsSolutions-SMG4",
				"The webhook's receiver holds a copy of this signing key, given to it by hand; an automatic rotation would make it reject every notification until it is given the new one. Rotate by hand (DEPLOY.md).")
			h.webhookSecretArn = sec.SecretArn()
		}
		env["WATCHER_ALERT_WEBHOOK_URL"] = jsii.String(a.WebhookURL)
		env["WATCHER_ALERT_WEBHOOK_SECRET_ARN"] = h.webhookSecretArn
		awscdk.NewCfnOutput(stack, jsii.String("AlertWebhookSecretArn"), &awscdk.CfnOutputProps{
			Value:       h.webhookSecretArn,
			Description: jsii.String("The secret whose value signs alert webhook requests: configure the receiver with it"),
		})
	}
	return env
}

// grantAlerts lets the fanout publish to the alert topic and read the
// webhook secret, those two resources only, and reach the webhook's port.
func (h *homeStack) grantAlerts(cfg *Config, fanoutSG awsec2.SecurityGroup) {
	role := h.Fanout.Role
	if h.AlertTopic != nil {
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("sns:Publish"),
			Resources: &[]*string{h.AlertTopic.TopicArn()},
		}))
	}
	if h.webhookSecretArn != nil {
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("secretsmanager:GetSecretValue"),
			Resources: &[]*string{h.webhookSecretArn},
		}))
		// The fanout's group allows 443 already (the AWS APIs).
		if port := cfg.Alerts.webhookPort(); port != 443 {
			fanoutSG.AddEgressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(float64(port))),
				jsii.String("the alert webhook"), nil)
		}
	}
}

// alertTopicName is the physical name of the alert topic.
func (c *Config) alertTopicName() string { return c.Prefix + "-alerts" }
