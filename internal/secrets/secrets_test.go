package secrets

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/watcher-dev/watcher/internal/endpoint"
)

// countingSM answers GetSecretValue from a map and counts the calls, where
// the real service cannot run.
type countingSM struct {
	values map[string]string
	calls  int
}

func (c *countingSM) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	c.calls++
	v, ok := c.values[*in.SecretId]
	if !ok {
		return nil, errors.New("ResourceNotFoundException")
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: &v}, nil
}

func TestPassword(t *testing.T) {
	env := map[string]string{"SITE_PW": "from-env"}
	sm := &countingSM{values: map[string]string{"watcher/site": "from-sm"}}
	r := New(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, sm)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r.now = func() time.Time { return now }
	ctx := context.Background()

	tests := []struct {
		name, want, errHas string
		ba                 *endpoint.BasicAuth
	}{
		{"none", "", "", nil},
		{"env", "from-env", "", &endpoint.BasicAuth{Username: "u", PasswordEnv: "SITE_PW"}},
		{"env unset", "", "SITE_MISSING is not set", &endpoint.BasicAuth{Username: "u", PasswordEnv: "SITE_MISSING"}},
		{"secret", "from-sm", "", &endpoint.BasicAuth{Username: "u", PasswordSecret: "watcher/site"}},
		{"secret missing", "", "get secret watcher/gone", &endpoint.BasicAuth{Username: "u", PasswordSecret: "watcher/gone"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.Password(ctx, tt.ba)
			if got != tt.want || (tt.errHas == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.errHas)) {
				t.Errorf("Password = %q, %v; want %q, error containing %q", got, err, tt.want, tt.errHas)
			}
		})
	}

	// A warm function reuses the secret, and fetches it again after the TTL.
	calls := sm.calls
	if _, err := r.Password(ctx, &endpoint.BasicAuth{Username: "u", PasswordSecret: "watcher/site"}); err != nil || sm.calls != calls {
		t.Errorf("cached secret fetched again: calls %d -> %d, %v", calls, sm.calls, err)
	}
	now = now.Add(CacheTTL + time.Second)
	if _, err := r.Password(ctx, &endpoint.BasicAuth{Username: "u", PasswordSecret: "watcher/site"}); err != nil || sm.calls != calls+1 {
		t.Errorf("expired secret not fetched: calls %d -> %d, %v", calls, sm.calls, err)
	}

	// Outside AWS there is no Secrets Manager; the error says so.
	local := New(func(string) (string, bool) { return "", false }, nil)
	if _, err := local.Password(ctx, &endpoint.BasicAuth{Username: "u", PasswordSecret: "x"}); err == nil || !strings.Contains(err.Error(), "not configured") {
		t.Errorf("err = %v", err)
	}
}
