// Package rdsauth generates RDS IAM authentication tokens, the passwords of
// database roles that log in with IAM (GRANT rds_iam) directly or through an
// RDS Proxy with IAM authentication. A token is a presigned request signed
// locally with the function's credentials: no network call, valid 15 minutes,
// so one is made for every new connection instead of being cached.
package rdsauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/rds/auth"
)

// PasswordFunc returns the password for a new connection.
type PasswordFunc func(ctx context.Context) (string, error)

// Password returns a PasswordFunc that signs a token for user at endpoint
// ("host:port", the proxy's or the instance's) in region.
func Password(endpoint, region, user string, creds aws.CredentialsProvider) PasswordFunc {
	return func(ctx context.Context) (string, error) {
		tok, err := auth.BuildAuthToken(ctx, endpoint, region, user, creds)
		if err != nil {
			return "", fmt.Errorf("build RDS IAM auth token for %s@%s: %w", user, endpoint, err)
		}
		return tok, nil
	}
}

// FromURL returns a PasswordFunc for the user, host and port of a postgres
// URL such as postgres://watcher_probe@proxy.example:5432/watcher. A URL
// without a port means PostgreSQL's 5432. A URL that carries a password is
// refused: with IAM authentication it would be ignored, a sign of a mistake.
func FromURL(databaseURL, region string, creds aws.CredentialsProvider) (PasswordFunc, error) {
	u, err := url.Parse(databaseURL)
	if err != nil {
		// url.Parse errors repeat the URL; it holds no password here, but
		// keep the message short and stable anyway.
		return nil, errors.New("parse DATABASE_URL: not a URL")
	}
	switch {
	case u.Scheme != "postgres" && u.Scheme != "postgresql":
		return nil, fmt.Errorf("DATABASE_URL: scheme %q is not postgres", u.Scheme)
	case u.User == nil || u.User.Username() == "":
		return nil, errors.New("DATABASE_URL: names no user")
	case u.Hostname() == "":
		return nil, errors.New("DATABASE_URL: names no host")
	case region == "":
		return nil, errors.New("RDS IAM auth: no region (AWS_REGION)")
	}
	if _, set := u.User.Password(); set {
		return nil, errors.New("DATABASE_URL: carries a password, but IAM authentication is on")
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	return Password(net.JoinHostPort(u.Hostname(), port), region, u.User.Username(), creds), nil
}
