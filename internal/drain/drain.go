// Package drain is the drain function's handler: it takes batches of
// record-queue messages (checks and invocation records of probes without a
// route to the database, and the checks, invocation records and span claims
// other functions spilled), writes them to the database and reports
// the messages it could not write, so that only those are delivered again
// and, after enough attempts, moved to the dead-letter queue.
package drain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/watcher-dev/watcher/internal/cost"
	"github.com/watcher-dev/watcher/internal/emf"
	"github.com/watcher-dev/watcher/internal/meter"
	"github.com/watcher-dev/watcher/internal/record"
)

// Writer is where messages go: the store. Every write is idempotent, so a
// message delivered twice changes nothing the second time.
type Writer interface {
	WriteChecks(ctx context.Context, batch []record.Check) (int, error)
	RecordInvocation(ctx context.Context, inv record.Invocation) error
	RecordSpan(ctx context.Context, c record.SpanClaim) error
}

// RecordTimeout bounds how long a drain invocation keeps trying to record
// its own invocation record once its batch is written.
const RecordTimeout = 5 * time.Second

// Handler drains one SQS batch per invocation. Safe for concurrent use.
type Handler struct {
	w     Writer
	log   *slog.Logger
	meter *meter.Meter // nil: invocations are not metered
}

// New returns a drain handler writing to w. With a meter (one recording to
// the database, as functions/drain makes it), each batch closes the books of
// its invocation like the fanout's and the probes': its Lambda time, its
// logs and the queue requests its batch was billed on the drain's side.
func New(w Writer, log *slog.Logger, m *meter.Meter) *Handler {
	return &Handler{w: w, log: log, meter: m}
}

// Summary counts what one batch did, for logs and local invokes.
type Summary struct {
	Messages    int `json:"messages"`
	Checks      int `json:"checks"`
	Inserted    int `json:"inserted"`
	Duplicates  int `json:"duplicates"`
	Invocations int `json:"invocations"`
	Spans       int `json:"spans"`
	Failed      int `json:"failed"`
	Malformed   int `json:"malformed"`
}

// Invoke is the Lambda entry point: an SQS event in, the partial batch
// response out (the event source reports batch item failures).
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	start := time.Now() // decoding the event is part of the invocation
	var ev events.SQSEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("decode SQS event: %w", err)
	}
	resp, _ := h.handle(ctx, ev, start)
	return json.Marshal(resp)
}

// Handle writes every message of ev and returns the ids of those it could
// not write. It never fails the whole batch: what was written stays written.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, Summary) {
	return h.handle(ctx, ev, time.Now())
}

func (h *Handler) handle(ctx context.Context, ev events.SQSEvent, start time.Time) (events.SQSEventResponse, Summary) {
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	var sum Summary
	var bytes int64
	for _, rec := range ev.Records {
		sum.Messages++
		bytes += int64(len(rec.Body))
		err := h.message(ctx, rec, &sum)
		if err == nil {
			continue
		}
		sum.Failed++
		if errors.Is(err, record.ErrFormat) {
			sum.Malformed++
		}
		h.log.Error("drain message", "message_id", rec.MessageId, "receive_count", rec.Attributes["ApproximateReceiveCount"], "err", err)
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
	}
	h.log.Info("drained", "messages", sum.Messages, "checks", sum.Checks, "inserted", sum.Inserted,
		"duplicates", sum.Duplicates, "invocations", sum.Invocations, "spans", sum.Spans, "failed", sum.Failed, "malformed", sum.Malformed)
	h.close(ctx, start, bytes, &sum)
	return resp, sum
}

// close prices, records and reports the invocation that drained a batch of
// bytes of message payload. It is recorded under the span its start falls
// in (on the minute: the drain knows no span offset), which the cost report
// adds to the window's total and line items but to no location: the drain
// writes the checks of every location. The checks it writes were priced for
// storage by the probes that made them, so it prices none.
func (h *Handler) close(ctx context.Context, start time.Time, bytes int64, sum *Summary) {
	if h.meter == nil {
		return
	}
	span := start.UTC().Truncate(cost.SpanLength)
	inv := record.Invocation{
		SpanStart:     &span,
		StartedAt:     start,
		Duration:      time.Since(start),
		QueueRequests: cost.QueueDrainRequests(bytes, sum.Messages-sum.Failed),
		QueueBytes:    bytes,
	}
	if sum.Failed > 0 {
		inv.Error = fmt.Sprintf("%d of %d messages not written", sum.Failed, sum.Messages)
	}
	h.meter.Close(ctx, inv, "all", []emf.Metric{
		{Name: "Messages", Unit: "Count", Value: float64(sum.Messages)},
		{Name: "ChecksInserted", Unit: "Count", Value: float64(sum.Inserted)},
		{Name: "MessagesFailed", Unit: "Count", Value: float64(sum.Failed)},
	}, RecordTimeout)
}

func (h *Handler) message(ctx context.Context, rec events.SQSMessage, sum *Summary) error {
	msg, err := record.Decode([]byte(rec.Body))
	if err != nil {
		return err
	}
	switch msg.Kind {
	case record.KindChecks:
		n, err := h.w.WriteChecks(ctx, msg.Checks)
		if err != nil {
			return fmt.Errorf("write %d checks: %w", len(msg.Checks), err)
		}
		sum.Checks += len(msg.Checks)
		sum.Inserted += n
		sum.Duplicates += len(msg.Checks) - n
	case record.KindInvocation:
		if err := h.w.RecordInvocation(ctx, *msg.Invocation); err != nil {
			return fmt.Errorf("record invocation: %w", err)
		}
		sum.Invocations++
	case record.KindSpan:
		if err := h.w.RecordSpan(ctx, *msg.Span); err != nil {
			return fmt.Errorf("record span claim: %w", err)
		}
		sum.Spans++
	}
	return nil
}
