// Package sqssink sends probe results to the results queue, an SQS queue in
// the home region: the path to the database of probes that have no route to
// it (other regions, intranet VPCs), and the durable spill of those that do.
// It owns the message format; the drain decodes messages with Decode.
package sqssink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/watcher-dev/watcher/internal/check"
	"github.com/watcher-dev/watcher/internal/store"
)

// MaxMessageBytes is the size of the largest message the sink sends: SQS's
// classic 256 KiB limit, which also keeps a drain batch of ten messages
// within Lambda's 6 MB invocation payload.
const MaxMessageBytes = 256 * 1024

// maxErrorDetail caps a result's error detail in a message, so that any one
// result fits in a message with room to spare.
const maxErrorDetail = 2048

// Version is the message format version; Decode refuses others.
const Version = 1

// Message kinds.
const (
	KindMetrics    = "metrics"
	KindInvocation = "invocation"
)

// SQS is the one call the sink makes.
type SQS interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Sink writes results and invocation records as queue messages. It
// satisfies the probe's Sink and Recorder. Safe for concurrent use.
type Sink struct {
	api      SQS
	queueURL string
	max      int
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
// https://sqs.eu-west-1.amazonaws.com/123456789012/watcher-results.
func QueueRegion(queueURL string) (string, error) {
	u, err := url.Parse(queueURL)
	if err != nil || u.Scheme != "https" {
		return "", fmt.Errorf("results queue URL %q: not an https URL", queueURL)
	}
	parts := strings.Split(u.Hostname(), ".")
	if len(parts) < 4 || parts[0] != "sqs" || parts[1] == "" {
		return "", fmt.Errorf("results queue URL %q: host is not sqs.<region>.<domain>", queueURL)
	}
	return parts[1], nil
}

// WriteMetrics sends batch as one or more messages of at most
// MaxMessageBytes and returns how many results it sent. On an error some
// messages may have been sent; the caller retries the whole batch, which is
// harmless because metrics are unique on (endpoint, location, instant).
func (s *Sink) WriteMetrics(ctx context.Context, batch []store.Metric) (int, error) {
	msgs, err := EncodeMetrics(batch, s.max)
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, m := range msgs {
		if err := s.send(ctx, m.Body); err != nil {
			return sent, fmt.Errorf("send results message (%d of %d results sent): %w", sent, len(batch), err)
		}
		sent += m.Count
	}
	return sent, nil
}

// RecordInvocation sends an invocation record, so that remote probes'
// invocations reach the invocations table (and cost accounting) too.
func (s *Sink) RecordInvocation(ctx context.Context, inv store.Invocation) error {
	body, err := json.Marshal(envelope{V: Version, Kind: KindInvocation, Invocation: &inv})
	if err != nil {
		return fmt.Errorf("encode invocation message: %w", err)
	}
	if err := s.send(ctx, sqsSafe(body)); err != nil {
		return fmt.Errorf("send invocation message: %w", err)
	}
	return nil
}

func (s *Sink) send(ctx context.Context, body []byte) error {
	_, err := s.api.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:    aws.String(s.queueURL),
		MessageBody: aws.String(string(body)),
	})
	return err
}

// envelope is every message's outer shape.
type envelope struct {
	V          int               `json:"v"`
	Kind       string            `json:"kind"`
	Metrics    []json.RawMessage `json:"metrics,omitempty"`
	Invocation *store.Invocation `json:"invocation,omitempty"`
}

// wireMetric is one result in a message. Durations are whole nanoseconds
// so that nothing is lost on the way; names follow the metrics columns.
type wireMetric struct {
	EndpointID  int64     `json:"endpoint_id"`
	Location    string    `json:"location"`
	ScheduledAt time.Time `json:"scheduled_at"`
	LatenessNS  int64     `json:"lateness_ns"`
	StartedAt   time.Time `json:"started_at"`
	ResponseNS  int64     `json:"response_time_ns"`
	StatusCode  *int      `json:"status_code"`
	RegexMatch  *bool     `json:"regex_match"`
	Error       string    `json:"error,omitempty"`
	ErrorDetail string    `json:"error_detail,omitempty"`
	DNSNS       int64     `json:"dns_ns,omitempty"`
	ConnectNS   int64     `json:"connect_ns,omitempty"`
	TLSNS       int64     `json:"tls_ns,omitempty"`
	TTFBNS      int64     `json:"ttfb_ns,omitempty"`
	BodyBytes   int64     `json:"body_bytes,omitempty"`
}

func toWire(m *store.Metric) wireMetric {
	detail := m.ErrorDetail
	if len(detail) > maxErrorDetail {
		detail = strings.ToValidUTF8(detail[:maxErrorDetail], "") + "…"
	}
	return wireMetric{
		EndpointID: m.EndpointID, Location: m.Location, ScheduledAt: m.ScheduledAt, LatenessNS: int64(m.Lateness),
		StartedAt: m.StartedAt, ResponseNS: int64(m.ResponseTime), StatusCode: m.StatusCode, RegexMatch: m.RegexMatch,
		Error: m.Error, ErrorDetail: detail, DNSNS: int64(m.DNS), ConnectNS: int64(m.Connect), TLSNS: int64(m.TLS),
		TTFBNS: int64(m.TTFB), BodyBytes: m.BodyBytes,
	}
}

func (w *wireMetric) metric() store.Metric {
	return store.Metric{
		EndpointID: w.EndpointID, Location: w.Location, ScheduledAt: w.ScheduledAt, Lateness: time.Duration(w.LatenessNS),
		Result: check.Result{
			StartedAt: w.StartedAt, ResponseTime: time.Duration(w.ResponseNS), StatusCode: w.StatusCode,
			RegexMatch: w.RegexMatch, Error: w.Error, ErrorDetail: w.ErrorDetail, DNS: time.Duration(w.DNSNS),
			Connect: time.Duration(w.ConnectNS), TLS: time.Duration(w.TLSNS), TTFB: time.Duration(w.TTFBNS),
			BodyBytes: w.BodyBytes,
		},
	}
}

// Encoded is one message body and the number of results in it.
type Encoded struct {
	Body  []byte
	Count int
}

// ErrTooLarge is returned when one result alone does not fit in a message.
var ErrTooLarge = errors.New("result does not fit in one queue message")

// EncodeMetrics packs batch, in order, into as few messages of at most max
// bytes as it can.
func EncodeMetrics(batch []store.Metric, max int) ([]Encoded, error) {
	head, tail := fmt.Sprintf(`{"v":%d,"kind":%q,"metrics":[`, Version, KindMetrics), `]}`
	var out []Encoded
	var buf bytes.Buffer
	n := 0
	flush := func() {
		if n == 0 {
			return
		}
		buf.WriteString(tail)
		out = append(out, Encoded{Body: bytes.Clone(buf.Bytes()), Count: n})
		buf.Reset()
		n = 0
	}
	for i := range batch {
		item, err := json.Marshal(toWire(&batch[i]))
		if err != nil {
			return nil, fmt.Errorf("encode result of endpoint %d: %w", batch[i].EndpointID, err)
		}
		item = sqsSafe(item)
		if len(head)+len(item)+len(tail) > max {
			return nil, fmt.Errorf("endpoint %d: %w (%d bytes, limit %d)", batch[i].EndpointID, ErrTooLarge, len(item), max)
		}
		if n > 0 && buf.Len()+1+len(item)+len(tail) > max {
			flush()
		}
		if n == 0 {
			buf.WriteString(head)
		} else {
			buf.WriteByte(',')
		}
		buf.Write(item)
		n++
	}
	flush()
	return out, nil
}

// sqsSafe escapes the two characters JSON allows raw but SQS refuses in a
// message body (U+FFFE and U+FFFF). They can occur only inside strings,
// where an escape means the same.
func sqsSafe(b []byte) []byte {
	if !bytes.Contains(b, []byte("\uFFFE")) && !bytes.Contains(b, []byte("\uFFFF")) {
		return b
	}
	b = bytes.ReplaceAll(b, []byte("\uFFFE"), []byte(`\ufffe`))
	return bytes.ReplaceAll(b, []byte("\uFFFF"), []byte(`\uffff`))
}

// Message is a decoded queue message: results, or one invocation record.
type Message struct {
	Kind       string
	Metrics    []store.Metric
	Invocation *store.Invocation
}

// ErrFormat is wrapped by every Decode error: the message is not one this
// version understands, and retrying it will not help.
var ErrFormat = errors.New("not a results message")

// Decode parses a message body written by a Sink.
func Decode(body []byte) (Message, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return Message{}, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if env.V != Version {
		return Message{}, fmt.Errorf("%w: format version %d, want %d", ErrFormat, env.V, Version)
	}
	switch env.Kind {
	case KindMetrics:
		if len(env.Metrics) == 0 {
			return Message{}, fmt.Errorf("%w: no results", ErrFormat)
		}
		ms := make([]store.Metric, len(env.Metrics))
		for i, raw := range env.Metrics {
			var w wireMetric
			if err := json.Unmarshal(raw, &w); err != nil {
				return Message{}, fmt.Errorf("%w: result %d: %w", ErrFormat, i, err)
			}
			if w.EndpointID == 0 || w.Location == "" || w.ScheduledAt.IsZero() {
				return Message{}, fmt.Errorf("%w: result %d lacks endpoint_id, location or scheduled_at", ErrFormat, i)
			}
			ms[i] = w.metric()
		}
		return Message{Kind: KindMetrics, Metrics: ms}, nil
	case KindInvocation:
		if env.Invocation == nil {
			return Message{}, fmt.Errorf("%w: no invocation", ErrFormat)
		}
		return Message{Kind: KindInvocation, Invocation: env.Invocation}, nil
	}
	return Message{}, fmt.Errorf("%w: unknown kind %q", ErrFormat, env.Kind)
}
