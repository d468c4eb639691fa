package migrator

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/watcher-dev/watcher/internal/dev/moto"
	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/store"
)

// TestCustomResourceRespondsToS3 runs the migrate function's answer to a
// deploy the way CloudFormation receives it, on the emulator: the database
// secret is read from Secrets Manager, the response is PUT to a presigned
// S3 URL (as CloudFormation hands out), and the object is read back from
// S3. A create that migrates answers SUCCESS; a create whose secret cannot
// be read answers FAILED with the reason. Either way the answer carries the
// fields CloudFormation matches it by. An upload S3 refuses is reported by
// the invocation.
func TestCustomResourceRespondsToS3(t *testing.T) {
	ctx := context.Background()
	const region = "eu-west-1"
	sm := secretsmanager.NewFromConfig(moto.Config(t, region))
	bucket := moto.Name(t, "cfn")
	if status, body := moto.Do(t, http.MethodPut, "s3", "us-east-1", "/"+bucket, nil, nil); status != http.StatusOK {
		t.Fatalf("create bucket: %d %s", status, body)
	}
	migrate := func(ctx context.Context, url string) error {
		return store.Migrate(ctx, url, store.WithLogger(quiet()))
	}
	const stack = "arn:aws:cloudformation:eu-west-1:123456789012:stack/watcher-home/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
	tests := []struct {
		name       string
		secret     bool // the secret exists
		wantStatus cfn.StatusType
		wantReason string
	}{
		{name: "success", secret: true, wantStatus: cfn.StatusSuccess},
		{name: "failure", secret: false, wantStatus: cfn.StatusFailed, wantReason: "ResourceNotFoundException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dbURL := pgtest.Empty(t)
			secretARN := "arn:aws:secretsmanager:eu-west-1:123456789012:secret:" + moto.Name(t, "db") + "-AbCdEf"
			if tt.secret {
				secretARN = moto.CreateSecret(t, region, moto.Name(t, "db"), secretFor(t, dbURL))
			}
			key := "/" + bucket + "/" + moto.Name(t, "response")
			ev := cfn.Event{RequestType: cfn.RequestCreate, RequestID: "req-" + tt.name,
				ResponseURL:  moto.Presign(t, http.MethodPut, "us-east-1", key, 2*time.Hour),
				ResourceType: "Custom::WatcherMigrations", LogicalResourceID: "Migrations", StackID: stack,
				ResourceProperties: map[string]any{"ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:watcher-migrate", "FunctionVersion": "1"}}
			payload, _ := json.Marshal(ev)
			h := NewHandler(sm, secretARN, migrate, Options{SSLMode: "disable"}, quiet())
			if out, err := h.Invoke(ctx, payload); err != nil || out != nil {
				t.Fatalf("Invoke = %s, %v; want no output and no error once answered", out, err)
			}
			status, body := moto.Do(t, http.MethodGet, "s3", "us-east-1", key, nil, nil)
			if status != http.StatusOK {
				t.Fatalf("read the response object back: %d %s", status, body)
			}
			var got map[string]any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("response object %s: %v", body, err)
			}
			want := map[string]string{"Status": string(tt.wantStatus), "PhysicalResourceId": physicalID, "StackId": stack,
				"RequestId": "req-" + tt.name, "LogicalResourceId": "Migrations"}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %v, want %q (object %s)", k, got[k], v, body)
				}
			}
			if reason, _ := got["Reason"].(string); !strings.Contains(reason, tt.wantReason) || len(reason) > 1024 {
				t.Errorf("Reason %q, want one containing %q", reason, tt.wantReason)
			}
			if data, _ := got["Data"].(map[string]any); tt.wantStatus == cfn.StatusSuccess && data["Roles"] == nil {
				t.Errorf("Data %v, want the roles", got["Data"])
			}
		})
	}

	// moto does not check presigned URLs' signatures or expiry; what it
	// can show is that a refused upload (here: no such bucket) is an error
	// of the invocation, not silence CloudFormation would wait an hour on.
	t.Run("refused upload", func(t *testing.T) {
		key := "/" + moto.Name(t, "no-bucket") + "/response"
		ev := cfn.Event{RequestType: cfn.RequestDelete, RequestID: "req-refused", PhysicalResourceID: physicalID,
			ResponseURL:  moto.Presign(t, http.MethodPut, "us-east-1", key, time.Hour),
			ResourceType: "Custom::WatcherMigrations", LogicalResourceID: "Migrations", StackID: stack}
		payload, _ := json.Marshal(ev)
		h := NewHandler(sm, "unused", nil, Options{}, quiet())
		if _, err := h.Invoke(ctx, payload); err == nil || !strings.Contains(err.Error(), "404") {
			t.Errorf("Invoke = %v, want the refused upload (404) reported", err)
		}
	})
}
