package moto_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/watcher-dev/watcher/internal/dev/moto"
)

func TestMain(m *testing.M) { moto.Main(m) }

// TestServerAnswers: the emulator starts once, answers the SDK in any
// region, and the raw signed requests reach it too.
func TestServerAnswers(t *testing.T) {
	ctx := context.Background()
	for _, region := range []string{"eu-west-1", "us-east-1"} {
		c := sqs.NewFromConfig(moto.Config(t, region))
		name := moto.Name(t, "q")
		out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: &name})
		if err != nil {
			t.Fatalf("%s: create queue: %v", region, err)
		}
		if out.QueueUrl == nil || *out.QueueUrl == "" {
			t.Fatalf("%s: no queue URL", region)
		}
	}
	if a, b := moto.Endpoint(t), moto.Endpoint(t); a != b {
		t.Errorf("two servers: %s and %s", a, b)
	}
	if arn := moto.CreateRole(t, moto.Name(t, "role")); arn == "" {
		t.Error("no role ARN")
	}
	bucket := moto.Name(t, "b")
	if status, body := moto.Do(t, http.MethodPut, "s3", "us-east-1", "/"+bucket, nil, nil); status != http.StatusOK {
		t.Fatalf("create bucket: %d %s", status, body)
	}
}
