package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/watcher-dev/watcher/internal/addrpolicy"
	"github.com/watcher-dev/watcher/internal/secrets"
)

// The environment variables LoadConfig reads.
const (
	EnvWebhookURL       = "WATCHER_ALERT_WEBHOOK_URL"
	EnvWebhookSecret    = "WATCHER_ALERT_WEBHOOK_SECRET"
	EnvWebhookSecretARN = "WATCHER_ALERT_WEBHOOK_SECRET_ARN"
	EnvSNSTopicARN      = "WATCHER_ALERT_SNS_TOPIC_ARN"
)

// MinSecret is the shortest webhook secret accepted, in bytes.
const MinSecret = 16

// Variables lists the environment variables LoadConfig reads, for the
// configuration's list of known WATCHER_* variables.
func Variables() []string {
	return []string{EnvWebhookURL, EnvWebhookSecret, EnvWebhookSecretARN, EnvSNSTopicARN}
}

// Config says where notifications go. The zero Config sends nothing.
// Its String and LogValue show neither the secret nor the webhook URL's
// path and query (which often hold a token).
type Config struct {
	WebhookURL    string // WATCHER_ALERT_WEBHOOK_URL
	WebhookSecret string // WATCHER_ALERT_WEBHOOK_SECRET, or the secret WATCHER_ALERT_WEBHOOK_SECRET_ARN names
	SNSTopicARN   string // WATCHER_ALERT_SNS_TOPIC_ARN
}

// LoadConfig reads the configuration from getenv, fetching the webhook
// secret from Secrets Manager (sm, which may be nil outside AWS) when
// WATCHER_ALERT_WEBHOOK_SECRET_ARN names it. Every problem is reported,
// each by its variable; the secret's value never appears in an error.
func LoadConfig(ctx context.Context, getenv func(string) string, sm secrets.SecretsManager) (Config, error) {
	c := Config{
		WebhookURL:    strings.TrimSpace(getenv(EnvWebhookURL)),
		WebhookSecret: getenv(EnvWebhookSecret),
		SNSTopicARN:   strings.TrimSpace(getenv(EnvSNSTopicARN)),
	}
	secretARN := strings.TrimSpace(getenv(EnvWebhookSecretARN))
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if c.WebhookURL != "" {
		u, err := url.Parse(c.WebhookURL)
		switch {
		case err != nil:
			bad("%s: not a URL", EnvWebhookURL) // the parse error would repeat the URL
		case u.Scheme != "http" && u.Scheme != "https":
			bad("%s: scheme %q is not http or https", EnvWebhookURL, u.Scheme)
		case u.Host == "":
			bad("%s: not an absolute URL (no host)", EnvWebhookURL)
		}
	}
	secretFrom := EnvWebhookSecret
	switch {
	case c.WebhookSecret != "" && secretARN != "":
		bad("%s and %s: set only one", EnvWebhookSecret, EnvWebhookSecretARN)
	case c.WebhookURL == "" && (c.WebhookSecret != "" || secretARN != ""):
		bad("%s: a webhook secret is set but no webhook URL", EnvWebhookURL)
	case c.WebhookURL != "" && c.WebhookSecret == "" && secretARN == "":
		bad("%s: is required with %s (or name a Secrets Manager secret in %s)", EnvWebhookSecret, EnvWebhookURL, EnvWebhookSecretARN)
	case secretARN != "":
		secretFrom = EnvWebhookSecretARN
		v, err := secrets.String(ctx, sm, secretARN)
		if err != nil {
			bad("%s: %v", EnvWebhookSecretARN, err)
		}
		c.WebhookSecret = v
	}
	if c.WebhookSecret != "" && len(c.WebhookSecret) < MinSecret {
		bad("%s: the secret is %d bytes; at least %d are required", secretFrom, len(c.WebhookSecret), MinSecret)
	}
	if c.SNSTopicARN != "" {
		a, err := arn.Parse(c.SNSTopicARN)
		if err != nil || a.Service != "sns" || a.Region == "" || a.Resource == "" {
			bad("%s: %q is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)", EnvSNSTopicARN, c.SNSTopicARN)
		}
	}
	if len(problems) > 0 {
		return Config{}, errors.New("alert notification configuration: " + strings.Join(problems, "; "))
	}
	return c, nil
}

// Channels lists the configured channels, webhook first.
func (c Config) Channels() []string {
	var ch []string
	if c.WebhookURL != "" {
		ch = append(ch, ChannelWebhook)
	}
	if c.SNSTopicARN != "" {
		ch = append(ch, ChannelSNS)
	}
	return ch
}

// Senders builds a sender per configured channel: the webhook connecting
// only where policy allows, SNS through a client of awsConfig.
func (c Config) Senders(policy addrpolicy.Policy, awsConfig aws.Config) map[string]Sender {
	s := map[string]Sender{}
	if c.WebhookURL != "" {
		s[ChannelWebhook] = NewWebhook(c.WebhookURL, []byte(c.WebhookSecret), policy)
	}
	if c.SNSTopicARN != "" {
		s[ChannelSNS] = NewSNSFromConfig(awsConfig, c.SNSTopicARN)
	}
	return s
}

// String describes c without its secret, and the webhook URL as its scheme
// and host only.
func (c Config) String() string {
	secret := "unset"
	if c.WebhookSecret != "" {
		secret = "set"
	}
	return fmt.Sprintf("notify.Config{WebhookURL: %q, WebhookSecret: %s, SNSTopicARN: %q}", redactURL(c.WebhookURL), secret, c.SNSTopicARN)
}

// GoString is String, so that %#v redacts too.
func (c Config) GoString() string { return c.String() }

// LogValue logs c as String does.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("webhook_url", redactURL(c.WebhookURL)),
		slog.Bool("webhook_secret_set", c.WebhookSecret != ""),
		slog.String("sns_topic_arn", c.SNSTopicARN),
	)
}

// redactURL keeps a URL's scheme and host: the rest may carry a token.
func redactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(redacted)"
	}
	return u.Scheme + "://" + u.Host + "/..."
}
