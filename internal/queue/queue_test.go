package queue

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
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
	"github.com/watcher-dev/watcher/internal/dev/recordtest"
	"github.com/watcher-dev/watcher/internal/record"
)

const testQueueURL = "https://sqs.eu-west-1.amazonaws.com/123456789012/watcher-results"

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
	t.Run("checks split into messages within the limit", func(t *testing.T) {
		f := &fakeSQS{}
		sink := newTestSink(t, f)
		batch := recordtest.Realistic(20_000, 1)
		n, err := sink.WriteChecks(ctx, batch)
		if err != nil || n != len(batch) {
			t.Fatalf("WriteChecks = %d, %v; want %d", n, err, len(batch))
		}
		if len(f.bodies) < 2 {
			t.Errorf("20,000 checks in %d messages", len(f.bodies))
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
		recordtest.Equal(t, recordtest.DecodeAll(t, f.bodies), batch)
	})
	t.Run("a failed send reports what was sent", func(t *testing.T) {
		f := &fakeSQS{failOn: func(n int) bool { return n == 2 }}
		sink := newTestSink(t, f)
		batch := recordtest.Realistic(20_000, 1)
		msgs, _ := record.EncodeChecks(batch, MaxMessageBytes)
		n, err := sink.WriteChecks(ctx, batch)
		if err == nil || !strings.Contains(err.Error(), "refused by the test") {
			t.Fatalf("WriteChecks error = %v", err)
		}
		if n != msgs[0].Count || f.requests != 2 {
			t.Errorf("sent %d checks in %d requests; want the first message's %d in 2", n, f.requests, msgs[0].Count)
		}
	})
	t.Run("invocations travel too", func(t *testing.T) {
		f := &fakeSQS{}
		sink := newTestSink(t, f)
		shard, span := 3, time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC)
		inv := record.Invocation{Function: "probe", Location: "us-east-1", Region: "us-east-1", MemoryMB: 512, Shard: &shard,
			SpanStart: &span, StartedAt: time.Date(2026, 3, 1, 12, 0, 0, 5, time.UTC),
			Duration: 61 * time.Second, ChecksPlanned: 10, ChecksDone: 10, ChecksWritten: 10,
			ColdStart: true, Init: 180 * time.Millisecond, VPC: true, NetBytes: 75000, QueueRequests: 2, QueueBytes: 70000,
			LogBytes: 1500, StorageBytes: 1600, RequestUSD: 0.0000002, NATUSD: 0.000003, QueueUSD: 0.0000008,
			LogsUSD: 0.0000007, StorageUSD: 0.0000002}
		if err := sink.RecordInvocation(ctx, inv); err != nil {
			t.Fatal(err)
		}
		msg, err := record.Decode(f.bodies[0])
		if err != nil || msg.Kind != record.KindInvocation {
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

// TestSinkCountsBilledRequests holds the sink to SQS's billing of a send:
// each 64 KiB chunk of a message is one request (the drain counts the
// receive and the delete); failed sends count nothing, and each count is
// taken once.
func TestSinkCountsBilledRequests(t *testing.T) {
	ctx := context.Background()
	f := &fakeSQS{failOn: func(n int) bool { return n == 3 }}
	sink := newTestSink(t, f)
	if _, err := sink.WriteChecks(ctx, recordtest.Realistic(20_000, 1)); err == nil {
		t.Fatal("the third send should fail")
	}
	if err := sink.RecordInvocation(ctx, record.Invocation{Function: "probe"}); err != nil {
		t.Fatal(err)
	}
	var chunks, wantRequests, wantBytes int64
	for _, b := range f.bodies { // the sends that succeeded
		n := (int64(len(b)) + 65535) / 65536
		chunks += n
		wantRequests += n
		wantBytes += int64(len(b))
	}
	if len(f.bodies) != 3 || chunks <= 3 {
		t.Fatalf("%d messages in %d chunks: want two large check messages and one invocation", len(f.bodies), chunks)
	}
	requests, sent := sink.TakeSent()
	if requests != wantRequests || sent != wantBytes {
		t.Errorf("TakeSent = %d requests, %d bytes; want %d, %d", requests, sent, wantRequests, wantBytes)
	}
	if requests, sent := sink.TakeSent(); requests != 0 || sent != 0 {
		t.Errorf("second TakeSent = %d, %d; want nothing new", requests, sent)
	}
}

// TestOldInvocationMessagesDecode: a record written before the line items
// existed decodes with them zero.
func TestOldInvocationMessagesDecode(t *testing.T) {
	body := `{"v":2,"kind":"invocation","invocation":{"ID":0,"Function":"probe","Location":"eu","Region":"eu-west-1",` +
		`"Arch":"arm64","MemoryMB":512,"Shard":1,"SpanStart":"2026-03-01T12:00:10Z","StartedAt":"2026-03-01T12:00:00Z",` +
		`"Duration":61000000000,"Billed":61000000000,"ChecksPlanned":5,"ChecksDone":5,"ChecksWritten":5,` +
		`"ChecksUnwritten":0,"PayloadBytes":900,"CostUSD":0.0004,"Error":""}}`
	msg, err := record.Decode([]byte(body))
	if err != nil || msg.Invocation == nil {
		t.Fatalf("Decode = %+v, %v", msg, err)
	}
	inv := msg.Invocation
	if inv.ChecksDone != 5 || inv.CostUSD == nil || inv.ColdStart || inv.NetBytes != 0 || inv.LogBytes != 0 || inv.StorageUSD != 0 {
		t.Errorf("decoded %+v", inv)
	}
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

// TestSinkPacksAFlushInOneMessage: what a probe's writer sends every 15 s
// (the queue sink's flush) from a full 16,000-check shard, 4,000 checks as
// the probe records them on the reference workload, is one message of three
// chunks: three billed requests to send it (and as many, plus a delete, for
// the drain); as plain JSON (263 bytes a check) it would take 16 chunks.
func TestSinkPacksAFlushInOneMessage(t *testing.T) {
	f := &fakeSQS{}
	sink := newTestSink(t, f)
	batch := recordtest.Realistic(4000, 1)
	if n, err := sink.WriteChecks(context.Background(), batch); err != nil || n != len(batch) {
		t.Fatalf("WriteChecks = %d, %v", n, err)
	}
	requests, bytes := sink.TakeSent()
	t.Logf("%d checks: %d bytes in %d messages, %d billed requests, %.1f bytes a check", len(batch), bytes, len(f.bodies), requests, float64(bytes)/float64(len(batch)))
	if len(f.bodies) != 1 || requests != 3 {
		t.Errorf("%d messages, %d billed requests: want one message, 3 requests", len(f.bodies), requests)
	}
	recordtest.Equal(t, recordtest.DecodeAll(t, f.bodies), batch)
}
