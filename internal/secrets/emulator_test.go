package secrets

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/watcher-dev/watcher/internal/dev/moto"
	"github.com/watcher-dev/watcher/internal/endpoint"
)

func TestMain(m *testing.M) { moto.Main(m) }

// TestResolverAcrossRegions reads basic-auth passwords from Secrets Manager
// on the emulator, by name and by ARN, from a probe in the home region and
// from one in another region. One secret name exists in both regions with
// different values, so a read from the wrong region shows. The probe is
// given a plain SDK client of its own region, as functions/probe builds it.
func TestResolverAcrossRegions(t *testing.T) {
	ctx := context.Background()
	const home, away = "eu-west-1", "us-east-1"
	name := "watcher/basic-auth/" + moto.Name(t, "site")
	arns := map[string]string{}
	for _, region := range []string{home, away} {
		arns[region] = moto.CreateSecret(t, region, name, "password-in-"+region)
		if ARNRegion(arns[region]) != region {
			t.Fatalf("ARN %s: region %q, want %s", arns[region], ARNRegion(arns[region]), region)
		}
	}
	onlyHome := "watcher/basic-auth/" + moto.Name(t, "home-only")
	onlyHomeARN := moto.CreateSecret(t, home, onlyHome, "home-only")

	noEnv := func(string) (string, bool) { return "", false }
	for _, probe := range []string{home, away} {
		other := map[string]string{home: away, away: home}[probe]
		r := New(noEnv, secretsmanager.NewFromConfig(moto.Config(t, probe)))
		tests := []struct {
			ref, want string
		}{
			{name, "password-in-" + probe},        // a name: the probe's own region
			{arns[probe], "password-in-" + probe}, // its own region's ARN
			{arns[other], "password-in-" + other}, // the other region's ARN
			{onlyHomeARN, "home-only"},            // a secret that exists in the home region only
			{arns[other], "password-in-" + other}, // again, from the cache
		}
		for _, tt := range tests {
			got, err := r.Password(ctx, &endpoint.BasicAuth{Username: "u", PasswordSecret: tt.ref})
			if err != nil || got != tt.want {
				t.Errorf("probe in %s, secret %s: %q, %v; want %q", probe, tt.ref, got, err, tt.want)
			}
		}
		if _, err := r.Password(ctx, &endpoint.BasicAuth{Username: "u", PasswordSecret: onlyHome}); probe == away && err == nil {
			t.Errorf("probe in %s read home-only secret %s by name: a name means the probe's own region", probe, onlyHome)
		}
	}
}

func TestARNRegion(t *testing.T) {
	for id, want := range map[string]string{
		"arn:aws:secretsmanager:us-east-1:123456789012:secret:watcher/basic-auth/a-AbCdEf": "us-east-1",
		"arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:x-AbCdEf":                "cn-north-1",
		"watcher/basic-auth/a":                             "",
		"arn:aws:lambda:us-east-1:123456789012:function:f": "",
		"arn:aws:secretsmanager:us-east-1":                 "",
	} {
		if got := ARNRegion(id); got != want {
			t.Errorf("ARNRegion(%q) = %q, want %q", id, got, want)
		}
	}
}
