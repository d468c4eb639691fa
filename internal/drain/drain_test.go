package drain

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/watcher-dev/watcher/internal/cost"
	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/meter"
	"github.com/watcher-dev/watcher/internal/queue"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func results(location string, first int64, n int) []record.Check {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	out := make([]record.Check, n)
	for i := range out {
		code := 200
		out[i] = record.Check{
			EndpointID: first + int64(i), Location: location, PlannedAt: at.Add(time.Duration(i) * time.Second),
			Lateness: 3 * time.Millisecond,
			Result:   record.Result{StartedAt: at.Add(time.Duration(i) * time.Second), ResponseTime: 15 * time.Millisecond, StatusCode: &code},
		}
	}
	return out
}

// message wraps bodies as the SQS event source delivers them.
func event(t testing.TB, bodies map[string][]byte) events.SQSEvent {
	t.Helper()
	ids := make([]string, 0, len(bodies))
	for id := range bodies {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var ev events.SQSEvent
	for _, id := range ids {
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId: id, Body: string(bodies[id]), EventSource: "aws:sqs",
			EventSourceARN: "arn:aws:sqs:eu-west-1:123456789012:watcher-results",
			Attributes:     map[string]string{"ApproximateReceiveCount": "1"},
		})
	}
	return ev
}

func encode(t *testing.T, ms []record.Check) []byte {
	t.Helper()
	msgs, err := record.EncodeChecks(ms, queue.MaxMessageBytes)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("EncodeMetrics: %d messages, %v", len(msgs), err)
	}
	return msgs[0].Body
}

func invocationBody(t *testing.T, inv record.Invocation) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"v": record.Version, "kind": record.KindInvocation, "invocation": inv})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func spanBody(t *testing.T, c record.SpanClaim) []byte {
	t.Helper()
	body, err := record.EncodeSpan(&c)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func failed(resp events.SQSEventResponse) []string {
	var out []string
	for _, f := range resp.BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	slices.Sort(out)
	return out
}

func TestHandle(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, pgtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := New(st, quiet(), nil)
	shard, span := 2, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	inv := record.Invocation{Function: "probe", Location: "intranet-a", Region: "eu-west-1", MemoryMB: 512, Shard: &shard,
		SpanStart: &span, StartedAt: time.Date(2026, 3, 1, 11, 59, 50, 0, time.UTC),
		Duration: 75 * time.Second, ChecksPlanned: 30, ChecksDone: 30, ChecksWritten: 30}

	resp, sum := h.Handle(ctx, event(t, map[string][]byte{
		"a-results":    encode(t, results("intranet-a", 1, 20)),
		"b-results":    encode(t, results("us-east-1", 1, 10)),
		"c-invocation": invocationBody(t, inv),
		"c-span":       spanBody(t, record.SpanClaim{Start: span, Shards: 3, Checks: 30}),
		"d-garbage":    []byte("not json"),
		"e-future":     []byte(`{"v":9,"kind":"metrics","metrics":[{}]}`),
	}))
	if got := failed(resp); !slices.Equal(got, []string{"d-garbage", "e-future"}) {
		t.Errorf("failures %v, want the two unreadable messages", got)
	}
	want := Summary{Messages: 6, Checks: 30, Inserted: 30, Invocations: 1, Spans: 1, Failed: 2, Malformed: 2}
	if sum != want {
		t.Errorf("summary %+v, want %+v", sum, want)
	}

	// Delivered again (SQS is at-least-once): nothing new, nothing failed.
	resp, sum = h.Handle(ctx, event(t, map[string][]byte{"a-again": encode(t, results("intranet-a", 1, 20)),
		"c-again": invocationBody(t, inv), "c-span-again": spanBody(t, record.SpanClaim{Start: span, Shards: 9, Checks: 9})}))
	if len(resp.BatchItemFailures) != 0 || sum.Inserted != 0 || sum.Duplicates != 20 {
		t.Errorf("redelivery: failures %v, summary %+v; want 20 duplicates", resp.BatchItemFailures, sum)
	}
	spans, err := st.Spans(ctx, span)
	if err != nil || len(spans) != 1 || spans[0].Status != record.SpanDispatched || spans[0].Shards != 3 {
		t.Errorf("ledger %+v, %v; want the span dispatched once, as first claimed", spans, err)
	}

	stored, err := st.Checks(ctx, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	perLocation := map[string]int{}
	for _, m := range stored {
		perLocation[m.Location]++
	}
	if perLocation["intranet-a"] != 20 || perLocation["us-east-1"] != 10 || len(stored) != 30 {
		t.Errorf("stored %v (%d rows), want 20 intranet-a and 10 us-east-1", perLocation, len(stored))
	}
	invs, err := st.Invocations(ctx, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if len(invs) != 1 || invs[0].Location != "intranet-a" || invs[0].ChecksWritten != 30 || *invs[0].Shard != 2 {
		t.Errorf("invocations %+v", invs)
	}
}

// A database that cannot be written fails exactly the messages that needed
// it, so that SQS delivers them again later.
func TestHandleDatabaseDown(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, pgtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	st.Close() // every write now fails
	h := New(st, quiet(), nil)
	resp, sum := h.Handle(ctx, event(t, map[string][]byte{
		"m1": encode(t, results("home", 1, 5)),
		"m2": encode(t, results("home", 6, 5)),
		"m3": []byte("{"),
	}))
	if got := failed(resp); !slices.Equal(got, []string{"m1", "m2", "m3"}) {
		t.Errorf("failures %v, want all three", got)
	}
	if sum.Failed != 3 || sum.Malformed != 1 || sum.Inserted != 0 {
		t.Errorf("summary %+v", sum)
	}
}

// The Lambda entry point takes the event JSON as the SQS event source sends
// it and answers in the partial batch response shape.
func TestInvokeFixture(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, pgtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fixture, err := os.ReadFile("testdata/sqs-event.json")
	if err != nil {
		t.Fatal(err)
	}
	out, err := New(st, quiet(), nil).Invoke(ctx, fixture)
	if err != nil {
		t.Fatal(err)
	}
	var resp struct {
		BatchItemFailures []struct {
			ItemIdentifier string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("response %s: %v", out, err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "2d3c1b0a-0000-4000-8000-000000000002" {
		t.Errorf("response %s, want the malformed message failed", out)
	}
	stored, err := st.Checks(ctx, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 2 {
		t.Errorf("%d rows from the fixture, want 2: %s", len(stored), fmt.Sprint(stored))
	}
	if _, err := New(st, quiet(), nil).Invoke(ctx, []byte("[")); err == nil {
		t.Error("Invoke accepted a payload that is not an SQS event")
	}
}

// TestHandleMetersItsInvocation: with a meter, each batch records the
// drain's own invocation, priced at its memory, with the queue requests of
// its side of the batch (one receive of the batch's chunks, one delete for
// up to ten written messages) and no storage (the probes priced their
// checks); a message it could not write is not deleted, and is named.
func TestHandleMetersItsInvocation(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, pgtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := meter.New(meter.Config{Function: cost.FunctionDrain, Region: "eu-west-1", Arch: cost.ARM64, MemoryMB: 256}, st, quiet())
	h := New(st, quiet(), m)
	bodies := map[string][]byte{
		"a": encode(t, results("us-east-1", 1, 3000)),
		"b": encode(t, results("us-east-1", 5001, 3000)),
		"c": []byte("not json"),
	}
	var bytes int64
	for _, b := range bodies {
		bytes += int64(len(b))
	}
	before := time.Now()
	if _, sum := h.Handle(ctx, event(t, bodies)); sum.Inserted != 6000 || sum.Failed != 1 {
		t.Fatalf("summary %+v, want 6,000 checks inserted and one message failed", sum)
	}
	invs, err := st.Invocations(ctx, before.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var drains []record.Invocation
	for _, inv := range invs {
		if inv.Function == cost.FunctionDrain {
			drains = append(drains, inv)
		}
	}
	if len(drains) != 1 {
		t.Fatalf("%d drain invocations recorded, want 1: %+v", len(drains), invs)
	}
	inv := drains[0]
	span := inv.StartedAt.UTC().Truncate(time.Minute)
	wantRequests := (bytes+65535)/65536 + 1
	if inv.SpanStart == nil || !inv.SpanStart.Equal(span) || inv.MemoryMB != 256 || inv.Duration <= 0 ||
		inv.QueueRequests != wantRequests || inv.QueueBytes != bytes || inv.ChecksDone != 0 || inv.StorageBytes != 0 ||
		inv.CostUSD == nil || *inv.CostUSD <= 0 || inv.QueueUSD <= 0 || inv.Error != "1 of 3 messages not written" {
		t.Errorf("drain invocation %+v (span %v); want span %v, %d queue requests for %d bytes, priced, no storage",
			inv, inv.SpanStart, span, wantRequests, bytes)
	}
}
