package app

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// fakeSM serves one secret after failing fails times, and counts reads.
type fakeSM struct {
	value string
	fails int
	reads int
}

func (f *fakeSM) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.reads++
	if f.reads <= f.fails {
		return nil, errors.New("dial tcp: i/o timeout")
	}
	return &secretsmanager.GetSecretValueOutput{ARN: in.SecretId, SecretString: aws.String(f.value)}, nil
}

func TestSecretPassword(t *testing.T) {
	ctx := context.Background()
	sm := &fakeSM{value: `{"username":"watcher_probe","password":"hunter2"}`, fails: 1}
	pw := SecretPassword(sm, "arn:probe")
	if _, err := pw(ctx); err == nil || !strings.Contains(err.Error(), "arn:probe") {
		t.Errorf("first read: %v, want the failure naming the secret", err)
	}
	for range 3 {
		if got, err := pw(ctx); err != nil || got != "hunter2" {
			t.Fatalf("password = %q, %v", got, err)
		}
	}
	if sm.reads != 2 {
		t.Errorf("%d reads, want 2: a failed read is retried, a good one kept", sm.reads)
	}
	for _, bad := range []string{"hunter2", `{"username":"watcher_probe"}`, `{"password":""}`} {
		_, err := SecretPassword(&fakeSM{value: bad}, "arn:probe")(ctx)
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("secret %q: error %v, want one that names the secret only", bad, err)
		}
	}
}
