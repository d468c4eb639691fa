package notify

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/watcher-dev/watcher/internal/addrpolicy"
	"github.com/watcher-dev/watcher/internal/dev/moto"
)

const goodSecret = "s3cret-value-of-32-bytes-0123456"

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfig(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      map[string]string
		want     Config
		channels []string
		errs     []string // each must appear in the error
	}{
		{name: "nothing configured", env: nil, want: Config{}},
		{
			name:     "webhook",
			env:      map[string]string{EnvWebhookURL: "https://hooks.example.com/watcher?token=abc", EnvWebhookSecret: goodSecret},
			want:     Config{WebhookURL: "https://hooks.example.com/watcher?token=abc", WebhookSecret: goodSecret},
			channels: []string{ChannelWebhook},
		},
		{
			name:     "sns",
			env:      map[string]string{EnvSNSTopicARN: "arn:aws:sns:eu-west-1:123456789012:watcher-alerts"},
			want:     Config{SNSTopicARN: "arn:aws:sns:eu-west-1:123456789012:watcher-alerts"},
			channels: []string{ChannelSNS},
		},
		{
			name: "both",
			env: map[string]string{EnvWebhookURL: "http://10.0.0.5:8080/hook", EnvWebhookSecret: goodSecret,
				EnvSNSTopicARN: "arn:aws:sns:eu-west-1:123456789012:watcher-alerts"},
			want: Config{WebhookURL: "http://10.0.0.5:8080/hook", WebhookSecret: goodSecret,
				SNSTopicARN: "arn:aws:sns:eu-west-1:123456789012:watcher-alerts"},
			channels: []string{ChannelWebhook, ChannelSNS},
		},
		{name: "webhook without a secret", env: map[string]string{EnvWebhookURL: "https://h.example.com/"},
			errs: []string{EnvWebhookSecret + ": is required"}},
		{name: "secret too short", env: map[string]string{EnvWebhookURL: "https://h.example.com/", EnvWebhookSecret: "tooshort"},
			errs: []string{EnvWebhookSecret + ": the secret is 8 bytes; at least 16"}},
		{name: "relative URL", env: map[string]string{EnvWebhookURL: "/hook", EnvWebhookSecret: goodSecret},
			errs: []string{EnvWebhookURL + `: scheme "" is not http or https`}},
		{name: "other scheme", env: map[string]string{EnvWebhookURL: "ftp://h.example.com/", EnvWebhookSecret: goodSecret},
			errs: []string{EnvWebhookURL + `: scheme "ftp"`}},
		{name: "no host", env: map[string]string{EnvWebhookURL: "https:///hook", EnvWebhookSecret: goodSecret},
			errs: []string{EnvWebhookURL + ": not an absolute URL"}},
		{name: "secret without a URL", env: map[string]string{EnvWebhookSecret: goodSecret},
			errs: []string{EnvWebhookURL + ": a webhook secret is set but no webhook URL"}},
		{name: "secret twice", env: map[string]string{EnvWebhookURL: "https://h.example.com/", EnvWebhookSecret: goodSecret,
			EnvWebhookSecretARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:hook"},
			errs: []string{EnvWebhookSecret + " and " + EnvWebhookSecretARN + ": set only one"}},
		{name: "secret ARN without Secrets Manager", env: map[string]string{EnvWebhookURL: "https://h.example.com/",
			EnvWebhookSecretARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:hook"},
			errs: []string{EnvWebhookSecretARN + ": secret arn:aws:secretsmanager:eu-west-1:123456789012:secret:hook: Secrets Manager is not configured"}},
		{name: "not a topic ARN", env: map[string]string{EnvSNSTopicARN: "arn:aws:sqs:eu-west-1:123456789012:q"},
			errs: []string{EnvSNSTopicARN + `: "arn:aws:sqs:eu-west-1:123456789012:q" is not an SNS topic ARN`}},
		{name: "every problem at once", env: map[string]string{EnvWebhookURL: "ftp://x/", EnvSNSTopicARN: "topic"},
			errs: []string{EnvWebhookURL + ":", EnvWebhookSecret + ":", EnvSNSTopicARN + ":"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LoadConfig(context.Background(), env(tc.env), nil)
			if len(tc.errs) > 0 {
				if err == nil {
					t.Fatalf("LoadConfig = %v, want an error", got)
				}
				for _, e := range tc.errs {
					if !strings.Contains(err.Error(), e) {
						t.Errorf("error %q lacks %q", err, e)
					}
				}
				if s := tc.env[EnvWebhookSecret]; s != "" && strings.Contains(err.Error(), s) {
					t.Errorf("error %q shows the secret", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("LoadConfig = %#v, want %#v", got, tc.want)
			}
			if fmt.Sprint(got.Channels()) != fmt.Sprint(tc.channels) {
				t.Errorf("Channels = %v, want %v", got.Channels(), tc.channels)
			}
			senders := got.Senders(addrpolicy.Policy{}, moto.ConfigAt("http://127.0.0.1:1", "eu-west-1"))
			if len(senders) != len(tc.channels) {
				t.Errorf("Senders: %d, want one per channel %v", len(senders), tc.channels)
			}
			for _, c := range tc.channels {
				if senders[c] == nil {
					t.Errorf("Senders: none for %s", c)
				}
			}
		})
	}
}

// TestLoadConfigSecretsManager: the webhook secret is read from Secrets
// Manager, in the region its ARN names.
func TestLoadConfigSecretsManager(t *testing.T) {
	ctx := context.Background()
	arn := moto.CreateSecret(t, "eu-central-1", moto.Name(t, "hook"), goodSecret)
	short := moto.CreateSecret(t, "eu-central-1", moto.Name(t, "short"), "tooshort")
	sm := secretsmanager.NewFromConfig(moto.Config(t, "eu-west-1"))

	c, err := LoadConfig(ctx, env(map[string]string{EnvWebhookURL: "https://h.example.com/", EnvWebhookSecretARN: arn}), sm)
	if err != nil {
		t.Fatal(err)
	}
	if c.WebhookSecret != goodSecret {
		t.Error("the secret read from Secrets Manager differs")
	}

	_, err = LoadConfig(ctx, env(map[string]string{EnvWebhookURL: "https://h.example.com/", EnvWebhookSecretARN: short}), sm)
	if err == nil || !strings.Contains(err.Error(), EnvWebhookSecretARN+": the secret is 8 bytes") || strings.Contains(err.Error(), "tooshort") {
		t.Errorf("short secret: %v, want an error naming the variable, not the value", err)
	}

	missing := "arn:aws:secretsmanager:eu-central-1:" + moto.Account + ":secret:no-such-hook-AbCdEf"
	_, err = LoadConfig(ctx, env(map[string]string{EnvWebhookURL: "https://h.example.com/", EnvWebhookSecretARN: missing}), sm)
	if err == nil || !strings.Contains(err.Error(), EnvWebhookSecretARN+": get secret "+missing) {
		t.Errorf("missing secret: %v", err)
	}
}

// TestConfigRedacted: neither the secret nor the webhook URL's token
// reaches a log or a formatted string.
func TestConfigRedacted(t *testing.T) {
	c := Config{WebhookURL: "https://hooks.example.com/T000/B000/tokenXYZ?sig=abc", WebhookSecret: goodSecret,
		SNSTopicARN: "arn:aws:sns:eu-west-1:123456789012:watcher-alerts"}
	var log strings.Builder
	slog.New(slog.NewJSONHandler(&log, nil)).Info("notify", "config", c)
	slog.New(slog.NewTextHandler(&log, nil)).Info("notify", "config", c)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), log.String(), fmt.Sprint(&c)} {
		for _, secret := range []string{goodSecret, "tokenXYZ", "sig=abc"} {
			if strings.Contains(s, secret) {
				t.Errorf("%q shows %q", s, secret)
			}
		}
		if !strings.Contains(s, "hooks.example.com") || !strings.Contains(s, "watcher-alerts") {
			t.Errorf("%q hides what is not secret", s)
		}
	}
}
