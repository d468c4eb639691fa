package queue

import (
	"cmp"
	"context"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/watcher-dev/watcher/internal/dev/moto"
	"github.com/watcher-dev/watcher/internal/dev/recordtest"
	"github.com/watcher-dev/watcher/internal/record"
)

func TestMain(m *testing.M) { moto.Main(m) }

// TestSinkOnEmulator: a batch the sink splits into compressed messages of
// nearly MaxMessageBytes is accepted by SQS on the emulator and arrives
// whole, every check as sent. (moto 5.2.1 accepts messages over 256 KiB too, so
// the limit itself is not proven here: it is SQS's documented classic one.)
func TestSinkOnEmulator(t *testing.T) {
	ctx := context.Background()
	api := sqs.NewFromConfig(moto.Config(t, "eu-west-1"))
	name := moto.Name(t, "records")
	q, err := api.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: &name})
	if err != nil {
		t.Fatal(err)
	}
	s := New(api, *q.QueueUrl)
	checks := recordtest.Realistic(20_000, 1)
	if n, err := s.WriteChecks(ctx, checks); err != nil || n != len(checks) {
		t.Fatalf("WriteChecks = %d, %v", n, err)
	}
	var got []record.Check
	largest := 0
	for {
		out, err := api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			break
		}
		for _, m := range out.Messages {
			largest = max(largest, len(aws.ToString(m.Body)))
			msg, err := record.Decode([]byte(aws.ToString(m.Body)))
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, msg.Checks...)
			if _, err := api.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: q.QueueUrl, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if largest > MaxMessageBytes || largest < MaxMessageBytes*3/4 {
		t.Errorf("largest message %d bytes, want nearly %d", largest, MaxMessageBytes)
	}
	// A standard queue does not keep order.
	recordtest.Equal(t, sortChecks(got), sortChecks(checks))
}

// sortChecks orders checks by what identifies them.
func sortChecks(cs []record.Check) []record.Check {
	return slices.SortedFunc(slices.Values(cs), func(a, b record.Check) int {
		return cmp.Or(a.PlannedAt.Compare(b.PlannedAt), cmp.Compare(a.EndpointID, b.EndpointID))
	})
}
