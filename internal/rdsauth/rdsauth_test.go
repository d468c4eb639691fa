package rdsauth

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"
)

func TestFromURL(t *testing.T) {
	creds := credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret-example", "")
	tests := []struct {
		name     string
		url      string
		region   string
		wantHost string // host:port the token is signed for
		wantUser string
		wantErr  string
	}{
		{name: "proxy URL", url: "postgres://watcher_probe@proxy.example:5432/watcher?sslmode=require", region: "eu-west-1",
			wantHost: "proxy.example:5432", wantUser: "watcher_probe"},
		{name: "default port", url: "postgresql://watcher_fanout@db.example/watcher", region: "us-east-1",
			wantHost: "db.example:5432", wantUser: "watcher_fanout"},
		{name: "other port", url: "postgres://u@db.example:6543/w", region: "us-east-1", wantHost: "db.example:6543", wantUser: "u"},
		{name: "password present", url: "postgres://u:pw@db.example/w", region: "eu-west-1", wantErr: "carries a password"},
		{name: "no user", url: "postgres://db.example/w", region: "eu-west-1", wantErr: "no user"},
		{name: "no host", url: "postgres://u@/w", region: "eu-west-1", wantErr: "no host"},
		{name: "wrong scheme", url: "mysql://u@db.example/w", region: "eu-west-1", wantErr: "not postgres"},
		{name: "no region", url: "postgres://u@db.example/w", region: "", wantErr: "no region"},
		{name: "not a URL", url: "postgres://u@db example:x/w", region: "eu-west-1", wantErr: "not a URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pw, err := FromURL(tt.url, tt.region, creds)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("FromURL error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("FromURL: %v", err)
			}
			tok, err := pw(context.Background())
			if err != nil {
				t.Fatalf("password: %v", err)
			}
			// The token is host:port/?<presigned query>, valid 15 minutes.
			u, err := url.Parse("https://" + tok)
			if err != nil {
				t.Fatalf("token is not a presigned URL: %v", err)
			}
			q := u.Query()
			checks := map[string]string{
				"host":          u.Host,
				"Action":        q.Get("Action"),
				"DBUser":        q.Get("DBUser"),
				"X-Amz-Expires": q.Get("X-Amz-Expires"),
			}
			want := map[string]string{"host": tt.wantHost, "Action": "connect", "DBUser": tt.wantUser, "X-Amz-Expires": "900"}
			for k, v := range want {
				if checks[k] != v {
					t.Errorf("%s = %q, want %q", k, checks[k], v)
				}
			}
			if cred := q.Get("X-Amz-Credential"); !strings.Contains(cred, "/"+tt.region+"/rds-db/aws4_request") {
				t.Errorf("credential scope %q is not for %s/rds-db", cred, tt.region)
			}
			if strings.Contains(tok, "secret-example") {
				t.Error("token contains the secret key")
			}
		})
	}
}
