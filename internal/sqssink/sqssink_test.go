package sqssink

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/watcher-dev/watcher/internal/check"
	"github.com/watcher-dev/watcher/internal/store"
)

const testQueueURL = "https://sqs.eu-west-1.amazonaws.com/123456789012/watcher-results"

func ptr[T any](v T) *T { return &v }

// metrics makes n results of the variety a probe produces.
func metrics(n int) []store.Metric {
	base := time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC)
	out := make([]store.Metric, n)
	for i := range out {
		m := store.Metric{
			EndpointID:  int64(i + 1),
			Location:    "us-east-1",
			ScheduledAt: base.Add(time.Duration(i) * time.Millisecond),
			Lateness:    time.Duration(i%7) * time.Millisecond,
			Result: check.Result{
				StartedAt:    base.Add(time.Duration(i)*time.Millisecond + 123456789),
				ResponseTime: 12345678 * time.Nanosecond,
				DNS:          1 * time.Millisecond, Connect: 2 * time.Millisecond, TLS: 3 * time.Millisecond, TTFB: 9 * time.Millisecond,
				BodyBytes: 4096,
			},
		}
		switch i % 3 {
		case 0:
			m.StatusCode, m.RegexMatch = ptr(200), ptr(true)
		case 1:
			m.StatusCode = ptr(503)
		case 2:
			m.Error, m.ErrorDetail = check.ErrTimeout, "context deadline exceeded after 10s"
		}
		out[i] = m
	}
	return out
}

// equalMetrics compares results as the database would: instants by Equal.
func equalMetrics(t *testing.T, got, want []store.Metric) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if !g.ScheduledAt.Equal(w.ScheduledAt) || !g.StartedAt.Equal(w.StartedAt) {
			t.Fatalf("result %d: instants %v %v, want %v %v", i, g.ScheduledAt, g.StartedAt, w.ScheduledAt, w.StartedAt)
		}
		g.ScheduledAt, g.StartedAt = w.ScheduledAt, w.StartedAt
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("result %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

func decodeAll(t *testing.T, bodies [][]byte) []store.Metric {
	t.Helper()
	var out []store.Metric
	for _, b := range bodies {
		msg, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		out = append(out, msg.Metrics...)
	}
	return out
}

func TestEncodeMetrics(t *testing.T) {
	long := metrics(1)
	long[0].ErrorDetail = strings.Repeat("é", 10_000)
	odd := metrics(1)
	odd[0].ErrorDetail = "bad byte \uFFFE and \uFFFF in a header"
	tests := []struct {
		name      string
		batch     []store.Metric
		max       int
		wantMsgs  int // -1: don't check
		check     func(t *testing.T, decoded []store.Metric, bodies [][]byte)
		wantErr   error
		roundTrip bool
	}{
		{name: "empty batch sends nothing", batch: nil, max: MaxMessageBytes, wantMsgs: 0, roundTrip: true},
		{name: "one message when it fits", batch: metrics(100), max: MaxMessageBytes, wantMsgs: 1, roundTrip: true},
		{name: "split at the limit, order kept", batch: metrics(2000), max: MaxMessageBytes, wantMsgs: -1, roundTrip: true,
			check: func(t *testing.T, _ []store.Metric, bodies [][]byte) {
				if len(bodies) < 3 {
					t.Errorf("2000 results in %d messages; expected a split", len(bodies))
				}
			}},
		{name: "a tiny limit gives one result per message", batch: metrics(5), max: 500, wantMsgs: 5, roundTrip: true},
		{name: "long error detail is cut to fit", batch: long, max: MaxMessageBytes, wantMsgs: 1,
			check: func(t *testing.T, decoded []store.Metric, _ [][]byte) {
				if n := len(decoded[0].ErrorDetail); n > maxErrorDetail+len("…") {
					t.Errorf("error detail of %d bytes", n)
				}
				if !strings.HasSuffix(decoded[0].ErrorDetail, "é…") {
					t.Errorf("cut detail %q does not end in whole characters", decoded[0].ErrorDetail[len(decoded[0].ErrorDetail)-10:])
				}
			}},
		{name: "characters SQS refuses are escaped", batch: odd, max: MaxMessageBytes, wantMsgs: 1, roundTrip: true,
			check: func(t *testing.T, _ []store.Metric, bodies [][]byte) {
				if bytes.ContainsAny(bodies[0], "\uFFFE\uFFFF") {
					t.Error("body holds U+FFFE or U+FFFF raw")
				}
			}},
		{name: "a result larger than the limit", batch: metrics(1), max: 100, wantMsgs: -1, wantErr: ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs, err := EncodeMetrics(tt.batch, tt.max)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var bodies [][]byte
			total := 0
			for _, m := range msgs {
				if len(m.Body) > tt.max {
					t.Errorf("message of %d bytes, limit %d", len(m.Body), tt.max)
				}
				if !json.Valid(m.Body) {
					t.Errorf("message is not JSON: %.80s", m.Body)
				}
				bodies = append(bodies, m.Body)
				total += m.Count
			}
			if total != len(tt.batch) {
				t.Errorf("messages count %d results, batch has %d", total, len(tt.batch))
			}
			if tt.wantMsgs >= 0 && len(msgs) != tt.wantMsgs {
				t.Errorf("%d messages, want %d", len(msgs), tt.wantMsgs)
			}
			decoded := decodeAll(t, bodies)
			if tt.roundTrip {
				equalMetrics(t, decoded, tt.batch)
			}
			if tt.check != nil {
				tt.check(t, decoded, bodies)
			}
		})
	}
}

func TestDecodeRefuses(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"not JSON", "hello"},
		{"other version", `{"v":2,"kind":"metrics","metrics":[{}]}`},
		{"unknown kind", `{"v":1,"kind":"checks"}`},
		{"no results", `{"v":1,"kind":"metrics","metrics":[]}`},
		{"result without endpoint", `{"v":1,"kind":"metrics","metrics":[{"location":"home","scheduled_at":"2026-01-01T00:00:00Z"}]}`},
		{"result of the wrong shape", `{"v":1,"kind":"metrics","metrics":[{"endpoint_id":"one"}]}`},
		{"invocation missing", `{"v":1,"kind":"invocation"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Decode([]byte(tt.body)); !errors.Is(err, ErrFormat) {
				t.Errorf("Decode error %v, want ErrFormat", err)
			}
		})
	}
}

func TestQueueRegion(t *testing.T) {
	tests := []struct {
		url, want string
	}{
		{testQueueURL, "eu-west-1"},
		{"https://sqs.ap-southeast-2.amazonaws.com/1/q", "ap-southeast-2"},
		{"https://sqs.cn-north-1.amazonaws.com.cn/1/q", "cn-north-1"},
		{"http://sqs.eu-west-1.amazonaws.com/1/q", ""},
		{"https://queue.amazonaws.com/1/q", ""},
		{"not a url", ""},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := QueueRegion(tt.url)
			if got != tt.want || (err != nil) != (tt.want == "") {
				t.Errorf("QueueRegion = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// fakeSQS speaks enough of the SQS JSON protocol for SendMessage: it keeps
// the bodies, answers with their MD5 (the SDK checks it), and fails the
// requests failOn selects.
type fakeSQS struct {
	mu       sync.Mutex
	bodies   [][]byte
	requests int
	failOn   func(n int) bool // n counts requests from 1
	targets  []string
	auth     []string
	queues   []string
}

func (f *fakeSQS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		QueueURL    string `json:"QueueUrl"`
		MessageBody string `json:"MessageBody"`
	}
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &in)
	f.mu.Lock()
	f.requests++
	n := f.requests
	f.targets = append(f.targets, r.Header.Get("X-Amz-Target"))
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.queues = append(f.queues, in.QueueURL)
	fail := f.failOn != nil && f.failOn(n)
	if !fail {
		f.bodies = append(f.bodies, []byte(in.MessageBody))
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	if fail {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"__type":"com.amazonaws.sqs#InvalidParameterValue","message":"refused by the test"}`)
		return
	}
	sum := md5.Sum([]byte(in.MessageBody))
	_ = json.NewEncoder(w).Encode(map[string]string{"MessageId": fmt.Sprint(n), "MD5OfMessageBody": hex.EncodeToString(sum[:])})
}

func newTestSink(t *testing.T, f *fakeSQS) *Sink {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	client := sqs.New(sqs.Options{
		Region:           "eu-west-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		RetryMaxAttempts: 1,
	})
	return New(client, testQueueURL)
}

func TestSinkSendsMessages(t *testing.T) {
	ctx := context.Background()
	t.Run("results split into messages within the limit", func(t *testing.T) {
		f := &fakeSQS{}
		sink := newTestSink(t, f)
		batch := metrics(3000)
		n, err := sink.WriteMetrics(ctx, batch)
		if err != nil || n != len(batch) {
			t.Fatalf("WriteMetrics = %d, %v; want %d", n, err, len(batch))
		}
		if len(f.bodies) < 2 {
			t.Errorf("3000 results in %d messages", len(f.bodies))
		}
		for i, b := range f.bodies {
			if len(b) > MaxMessageBytes {
				t.Errorf("message %d is %d bytes", i, len(b))
			}
			if f.targets[i] != "AmazonSQS.SendMessage" || f.queues[i] != testQueueURL {
				t.Errorf("request %d: target %q queue %q", i, f.targets[i], f.queues[i])
			}
			if !strings.Contains(f.auth[i], "/eu-west-1/sqs/aws4_request") {
				t.Errorf("request %d not signed for eu-west-1 sqs: %q", i, f.auth[i])
			}
		}
		equalMetrics(t, decodeAll(t, f.bodies), batch)
	})
	t.Run("a failed send reports what was sent", func(t *testing.T) {
		f := &fakeSQS{failOn: func(n int) bool { return n == 2 }}
		sink := newTestSink(t, f)
		batch := metrics(3000)
		msgs, _ := EncodeMetrics(batch, MaxMessageBytes)
		n, err := sink.WriteMetrics(ctx, batch)
		if err == nil || !strings.Contains(err.Error(), "refused by the test") {
			t.Fatalf("WriteMetrics error = %v", err)
		}
		if n != msgs[0].Count || f.requests != 2 {
			t.Errorf("sent %d results in %d requests; want the first message's %d in 2", n, f.requests, msgs[0].Count)
		}
	})
	t.Run("invocations travel too", func(t *testing.T) {
		f := &fakeSQS{}
		sink := newTestSink(t, f)
		shard, span := 3, time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC)
		inv := store.Invocation{Function: "probe", Location: "us-east-1", Region: "us-east-1", MemoryMB: 512, Shard: &shard,
			SpanStart: &span, StartedAt: time.Date(2026, 3, 1, 12, 0, 0, 5, time.UTC),
			Duration: 61 * time.Second, ChecksPlanned: 10, ChecksDone: 10, ChecksWritten: 10}
		if err := sink.RecordInvocation(ctx, inv); err != nil {
			t.Fatal(err)
		}
		msg, err := Decode(f.bodies[0])
		if err != nil || msg.Kind != KindInvocation {
			t.Fatalf("Decode = %+v, %v", msg, err)
		}
		got := *msg.Invocation
		if !got.SpanStart.Equal(*inv.SpanStart) || !got.StartedAt.Equal(inv.StartedAt) {
			t.Errorf("instants %v %v", got.SpanStart, got.StartedAt)
		}
		got.SpanStart, got.StartedAt = inv.SpanStart, inv.StartedAt
		if !reflect.DeepEqual(got, inv) {
			t.Errorf("invocation\n got %+v\nwant %+v", got, inv)
		}
	})
}

func TestNewFromConfigUsesTheQueueRegion(t *testing.T) {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")}
	s, err := NewFromConfig(cfg, testQueueURL)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.api.(*sqs.Client).Options().Region; got != "eu-west-1" {
		t.Errorf("client region %s, want the queue's eu-west-1", got)
	}
	if cfg.Region != "us-east-1" {
		t.Error("NewFromConfig changed the caller's config")
	}
	if _, err := NewFromConfig(cfg, "https://example.com/q"); err == nil {
		t.Error("NewFromConfig accepted a URL that is not an SQS queue")
	}
}
