// Package secrets resolves basic-auth password references at check time:
// "env:NAME" from the environment (local runs) and "secret:ARN" from AWS
// Secrets Manager. Passwords are kept in memory only, never stored or logged.
package secrets

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/watcher-dev/watcher/internal/endpoint"
)

// SecretsManager is the one call the resolver makes to AWS.
type SecretsManager interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// CacheTTL bounds how long a fetched secret is reused by a warm function,
// so that a rotated password is picked up within minutes.
const CacheTTL = 5 * time.Minute

// Resolver turns references into passwords. Safe for concurrent use.
type Resolver struct {
	env func(string) (string, bool)
	sm  SecretsManager // nil outside AWS
	now func() time.Time

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	value   string
	fetched time.Time
}

// New returns a resolver; sm may be nil where no Secrets Manager is configured.
// An SDK client (*secretsmanager.Client) is taken as the client of its own
// region and wrapped in a Regional, so that a secret named by the ARN of
// another region is read in that region.
func New(env func(string) (string, bool), sm SecretsManager) *Resolver {
	if c, ok := sm.(*secretsmanager.Client); ok && c != nil {
		sm = RegionalFrom(c)
	}
	return &Resolver{env: env, sm: sm, now: time.Now, cache: map[string]cached{}}
}

// Password returns the password ba refers to. The error names the reference,
// never the value.
func (r *Resolver) Password(ctx context.Context, ba *endpoint.BasicAuth) (string, error) {
	switch {
	case ba == nil:
		return "", nil
	case ba.PasswordEnv != "":
		v, ok := r.env(ba.PasswordEnv)
		if !ok {
			return "", fmt.Errorf("password for %q: environment variable %s is not set", ba.Username, ba.PasswordEnv)
		}
		return v, nil
	case ba.PasswordSecret != "":
		return r.secret(ctx, ba.PasswordSecret)
	}
	return "", fmt.Errorf("password for %q: no password_env or password_secret", ba.Username)
}

func (r *Resolver) secret(ctx context.Context, id string) (string, error) {
	r.mu.Lock()
	c, ok := r.cache[id]
	r.mu.Unlock()
	if ok && r.now().Sub(c.fetched) < CacheTTL {
		return c.value, nil
	}
	v, err := String(ctx, r.sm, id)
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	r.cache[id] = cached{value: v, fetched: r.now()}
	r.mu.Unlock()
	return v, nil
}

// String reads the string value of the secret id (a name or an ARN). An SDK
// client is taken as the client of its own region (see New); sm may be nil
// where no Secrets Manager is configured. Errors name the secret, never its
// value.
func String(ctx context.Context, sm SecretsManager, id string) (string, error) {
	if sm == nil {
		return "", fmt.Errorf("secret %s: Secrets Manager is not configured here", id)
	}
	if c, ok := sm.(*secretsmanager.Client); ok && c != nil {
		sm = RegionalFrom(c)
	}
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &id})
	if err != nil {
		return "", fmt.Errorf("get secret %s: %w", id, err)
	}
	if out.SecretString == nil {
		return "", fmt.Errorf("secret %s: has no string value", id)
	}
	return *out.SecretString, nil
}

// DatabasePassword reads the secret at arn, a JSON object with a "password"
// field (as RDS and the stack's generated secrets hold it), and returns the
// password. Errors name the secret, never its value.
func DatabasePassword(ctx context.Context, sm SecretsManager, arn string) (string, error) {
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &arn})
	if err != nil {
		return "", fmt.Errorf("read password secret %s: %w", arn, err)
	}
	var s struct {
		Password string `json:"password"`
	}
	if out.SecretString == nil || json.Unmarshal([]byte(*out.SecretString), &s) != nil || s.Password == "" {
		return "", fmt.Errorf("password secret %s: not a JSON object with a password", arn)
	}
	return s.Password, nil
}
