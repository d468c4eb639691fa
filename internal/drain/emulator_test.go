package drain

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/watcher-dev/watcher/internal/dev/moto"
	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/dev/recordtest"
	"github.com/watcher-dev/watcher/internal/queue"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/store"
)

// TestQueueToDatabaseRedelivered runs the remote probe's path against SQS
// on the emulator and a real PostgreSQL: the probe's queue sink sends its
// checks (several messages, up to the 256 KiB limit) and two invocation
// records to the home-region record queue; the drain, fed as the SQS event
// source feeds it (receive, hand over as an SQS event, delete what did not
// fail), writes them. Every message is delivered twice: the first pass
// writes and deletes nothing (as if the function timed out after writing),
// the visibility timeout is cut to 0, and the second pass receives each again
// (ApproximateReceiveCount 2). No check and no invocation may be stored
// twice, and the queue ends empty.
func TestQueueToDatabaseRedelivered(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	api := sqs.NewFromConfig(moto.Config(t, "eu-west-1"))
	name := moto.Name(t, "records")
	q, err := api.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: &name,
		Attributes: map[string]string{"VisibilityTimeout": "300"}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, pgtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	// The probe side: what a probe in us-east-1 sends home.
	sink := queue.New(api, *q.QueueUrl)
	checks := recordtest.Checks(30_000) // compressed, more than one full message
	if n, err := sink.WriteChecks(ctx, checks); err != nil || n != len(checks) {
		t.Fatalf("WriteChecks = %d, %v", n, err)
	}
	requests, bytes := sink.TakeSent()
	if bytes <= queue.MaxMessageBytes {
		t.Fatalf("%d bytes sent: want more than one full message", bytes)
	}
	shard, span := 0, time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC)
	invs := []record.Invocation{
		{Function: "probe", Location: "us-east-1", Region: "us-east-1", MemoryMB: 512, Shard: &shard, SpanStart: &span,
			StartedAt: span.Add(-9*time.Second + 987654321), Duration: 70 * time.Second, ChecksPlanned: 3000, ChecksDone: 3000,
			ChecksWritten: 3000, QueueRequests: requests, QueueBytes: bytes},
		{Function: "probe", Location: "us-east-1", Region: "us-east-1", MemoryMB: 512, Shard: &shard, SpanStart: &span,
			StartedAt: span.Add(-7 * time.Second), Duration: 3 * time.Second, Error: "retry"},
	}
	for _, inv := range invs {
		if err := sink.RecordInvocation(ctx, inv); err != nil {
			t.Fatal(err)
		}
	}

	h := New(st, quiet(), nil)
	first := drainAll(ctx, t, api, *q.QueueUrl, h, false)
	second := drainAll(ctx, t, api, *q.QueueUrl, h, true)
	if first.Messages < 4 || second.Messages != first.Messages {
		t.Fatalf("first pass %+v, second %+v: want every message (at least 4) delivered twice", first, second)
	}
	if first.Inserted != len(checks) || first.Invocations != 2 || first.Failed != 0 {
		t.Errorf("first pass %+v: want %d checks inserted and 2 invocations", first, len(checks))
	}
	if second.Inserted != 0 || second.Duplicates != len(checks) || second.Failed != 0 {
		t.Errorf("second pass %+v: want every check a duplicate", second)
	}
	if left := drainAll(ctx, t, api, *q.QueueUrl, h, true); left.Messages != 0 {
		t.Errorf("%d messages left after the second pass deleted them", left.Messages)
	}

	stored, err := st.Checks(ctx, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != len(checks) {
		t.Errorf("%d checks stored, want %d", len(stored), len(checks))
	}
	got, err := st.Invocations(ctx, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d invocations stored, want 2 (each once): %+v", len(got), got)
	}
	if got[0].QueueBytes != bytes || got[0].ChecksWritten != 3000 || got[1].Error != "retry" ||
		!got[0].StartedAt.Equal(invs[0].StartedAt.Truncate(time.Microsecond)) {
		t.Errorf("invocations %+v, want those sent", got)
	}
}

// drainAll stands in for the SQS event source mapping: it receives batches
// of up to ten messages until the queue has none visible, hands each to the
// drain as an SQS event and, with del, deletes the messages the drain did
// not report failed. Without del it makes every message visible again at
// once (visibility timeout 0), as a function that timed out would leave them
// after their timeout. It returns the summed summaries.
func drainAll(ctx context.Context, t *testing.T, api *sqs.Client, queueURL string, h *Handler, del bool) Summary {
	t.Helper()
	var sum Summary
	var hidden []string
	for {
		out, err := api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &queueURL, MaxNumberOfMessages: 10,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			break
		}
		var ev events.SQSEvent
		for _, m := range out.Messages {
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
				Body: aws.ToString(m.Body), EventSource: "aws:sqs", AWSRegion: "eu-west-1",
				Attributes: map[string]string{"ApproximateReceiveCount": m.Attributes["ApproximateReceiveCount"]}})
			if rc, _ := strconv.Atoi(m.Attributes["ApproximateReceiveCount"]); del && rc < 2 {
				t.Errorf("message %s delivered the first time in the redelivery pass", aws.ToString(m.MessageId))
			}
		}
		resp, s := h.Handle(ctx, ev)
		sum.Messages += s.Messages
		sum.Checks += s.Checks
		sum.Inserted += s.Inserted
		sum.Duplicates += s.Duplicates
		sum.Invocations += s.Invocations
		sum.Failed += s.Failed
		sum.Malformed += s.Malformed
		failed := map[string]bool{}
		for _, f := range resp.BatchItemFailures {
			failed[f.ItemIdentifier] = true
		}
		for _, r := range ev.Records {
			switch {
			case !del:
				hidden = append(hidden, r.ReceiptHandle)
			case !failed[r.MessageId]:
				if _, err := api.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &queueURL, ReceiptHandle: &r.ReceiptHandle}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for _, rh := range hidden {
		if _, err := api.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &queueURL,
			ReceiptHandle: aws.String(rh), VisibilityTimeout: 0}); err != nil {
			t.Fatal(err)
		}
	}
	return sum
}
