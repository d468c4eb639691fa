// Package queue sends a probe's records (checks and invocation records), and
// the fanout's records it could not write (invocation records, span claims), to
// the record queue, an SQS queue in the home region: the path to the
// database of probes that have no route to it (other regions, intranet
// VPCs), and the durable spill of those that do. Messages are in the record
// package's wire form (checks gzip-compressed), which the drain decodes.
package queue

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/watcher-dev/watcher/internal/cost"
	"github.com/watcher-dev/watcher/internal/record"
)

// MaxMessageBytes is the size of the largest message the sink sends: SQS's
// classic 256 KiB limit, which also keeps a drain batch of ten messages
// within Lambda's 6 MB invocation payload.
const MaxMessageBytes = 256 * 1024

// SQS is the one call the sink makes.
type SQS interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Sink writes checks and invocation records as queue messages. It
// satisfies the probe's Sink and Recorder, and counts what it sends for the
// invocation's cost (meter.QueueCounter). Safe for concurrent use.
type Sink struct {
	api      SQS
	queueURL string
	max      int

	requests atomic.Int64 // billed requests sent: one per 64 KiB chunk of a message
	bytes    atomic.Int64 // message bytes sent
}

// New returns a sink that sends through api to the queue at queueURL.
func New(api SQS, queueURL string) *Sink {
	return &Sink{api: api, queueURL: queueURL, max: MaxMessageBytes}
}

// NewFromConfig returns a sink with an SQS client for the queue's region,
// which for a probe in another region is not its own.
func NewFromConfig(cfg aws.Config, queueURL string) (*Sink, error) {
	region, err := QueueRegion(queueURL)
	if err != nil {
		return nil, err
	}
	cfg = cfg.Copy()
	cfg.Region = region
	return New(sqs.NewFromConfig(cfg), queueURL), nil
}

// QueueRegion returns the region of a queue URL such as
// https://sqs.eu-west-1.amazonaws.com/123456789012/watcher-records.
func QueueRegion(queueURL string) (string, error) {
	u, err := url.Parse(queueURL)
	if err != nil || u.Scheme != "https" {
		return "", fmt.Errorf("record queue URL %q: not an https URL", queueURL)
	}
	parts := strings.Split(u.Hostname(), ".")
	if len(parts) < 4 || parts[0] != "sqs" || parts[1] == "" {
		return "", fmt.Errorf("record queue URL %q: host is not sqs.<region>.<domain>", queueURL)
	}
	return parts[1], nil
}

// WriteChecks sends batch as one or more compressed messages of at most
// MaxMessageBytes, each but the last nearly full (SQS bills each 64 KiB of
// a message as a request), and returns how many checks it sent. On an error some
// messages may have been sent; the caller retries the whole batch, which is
// harmless because checks are unique on (endpoint, location, planned instant).
func (s *Sink) WriteChecks(ctx context.Context, batch []record.Check) (int, error) {
	msgs, err := record.EncodeChecks(batch, s.max)
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, m := range msgs {
		if err := s.send(ctx, m.Body); err != nil {
			return sent, fmt.Errorf("send checks message (%d of %d checks sent): %w", sent, len(batch), err)
		}
		sent += m.Count
	}
	return sent, nil
}

// RecordInvocation sends an invocation record, so that remote probes'
// invocations reach the invocations table (and cost accounting) too.
func (s *Sink) RecordInvocation(ctx context.Context, inv record.Invocation) error {
	body, err := record.EncodeInvocation(&inv)
	return s.sendOne(ctx, "invocation", body, err)
}

// RecordSpan sends a span claim the fanout could not record, for the drain
// to record in the ledger.
func (s *Sink) RecordSpan(ctx context.Context, c record.SpanClaim) error {
	body, err := record.EncodeSpan(&c)
	return s.sendOne(ctx, "span", body, err)
}

// sendOne sends a message of one record (what), unless encoding it failed
// (err).
func (s *Sink) sendOne(ctx context.Context, what string, body []byte, err error) error {
	if err != nil {
		return err
	}
	if err := s.send(ctx, body); err != nil {
		return fmt.Errorf("send %s message: %w", what, err)
	}
	return nil
}

func (s *Sink) send(ctx context.Context, body []byte) error {
	_, err := s.api.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:    aws.String(s.queueURL),
		MessageBody: aws.String(string(body)),
	})
	if err == nil {
		s.requests.Add(cost.QueueChunks(int64(len(body))))
		s.bytes.Add(int64(len(body)))
	}
	return err
}

// TakeSent returns the requests SQS bills for the messages sent since it
// was last called (one per 64 KiB chunk of each message) and their bytes.
// A send that failed is not counted.
func (s *Sink) TakeSent() (requests, bytes int64) {
	return s.requests.Swap(0), s.bytes.Swap(0)
}
