package rdsauth

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/watcher-dev/watcher/internal/dev/moto"
)

// TestTokenForm checks the IAM auth token RDS and RDS Proxy expect, signed
// with the emulator's dummy credentials (the AWS CLI prints HOST:PORT/?...,
// the Go SDK HOST:PORT?...; both sign the path "/"; a token is signed locally: no
// emulator or account can verify one short of a real proxy, so this holds
// the token to its documented form and to an independent SigV4 presign):
//
//	HOST:PORT?Action=connect&DBUser=USER&X-Amz-Algorithm=AWS4-HMAC-SHA256
//	  &X-Amz-Credential=KEY/DATE/REGION/rds-db/aws4_request&X-Amz-Date=...
//	  &X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=HEX
func TestTokenForm(t *testing.T) {
	const region = "us-east-1"
	pw, err := FromURL("postgres://watcher_probe@watcher-proxy.proxy-abc.us-east-1.rds.amazonaws.com/watcher?sslmode=verify-full",
		region, moto.Credentials())
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().UTC().Truncate(time.Second)
	tok, err := pw(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const host = "watcher-proxy.proxy-abc.us-east-1.rds.amazonaws.com:5432"
	rest, ok := strings.CutPrefix(tok, host+"?")
	if !ok {
		rest, ok = strings.CutPrefix(tok, host+"/?")
	}
	if !ok {
		t.Fatalf("token %q does not start with %s? or %s/? (no scheme)", tok, host, host)
	}
	q, err := url.ParseQuery(rest)
	if err != nil {
		t.Fatal(err)
	}
	date, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil || date.Before(before) || date.After(time.Now().Add(time.Second)) {
		t.Fatalf("X-Amz-Date %q: not the signing instant (%v)", q.Get("X-Amz-Date"), err)
	}
	want := map[string]string{
		"Action":              "connect",
		"DBUser":              "watcher_probe",
		"X-Amz-Algorithm":     "AWS4-HMAC-SHA256",
		"X-Amz-Credential":    moto.AccessKey + "/" + date.Format("20060102") + "/" + region + "/rds-db/aws4_request",
		"X-Amz-Expires":       "900",
		"X-Amz-SignedHeaders": "host",
	}
	for k, v := range want {
		if got := q.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if len(q) != len(want)+2 {
		t.Errorf("token has parameters %v, want exactly %d", q, len(want)+2)
	}
	sig := q.Get("X-Amz-Signature")
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(sig) {
		t.Fatalf("X-Amz-Signature %q is not 64 hex digits", sig)
	}
	if strings.Contains(tok, moto.SecretKey) {
		t.Error("token contains the secret key")
	}

	// The same request presigned independently at the same instant: a
	// GET of https://HOST:PORT/?Action=connect&DBUser=USER for rds-db.
	req, _ := http.NewRequest(http.MethodGet, "https://"+host+"/?Action=connect&DBUser=watcher_probe&X-Amz-Expires=900", nil)
	creds, _ := moto.Credentials().Retrieve(context.Background())
	const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, emptySHA256, "rds-db", region, date)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(signed)
	if got := u.Query().Get("X-Amz-Signature"); got != sig {
		t.Errorf("signature %s, an independent SigV4 presign gives %s", sig, got)
	}
}
