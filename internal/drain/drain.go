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

	"github.com/aws/aws-lambda-go/events"

	"github.com/watcher-dev/watcher/internal/record"
)

// Writer is where messages go: the store. Every write is idempotent, so a
// message delivered twice changes nothing the second time.
type Writer interface {
	WriteChecks(ctx context.Context, batch []record.Check) (int, error)
	RecordInvocation(ctx context.Context, inv record.Invocation) error
	RecordSpan(ctx context.Context, c record.SpanClaim) error
}

// Handler drains one SQS batch per invocation. Safe for concurrent use.
type Handler struct {
	w   Writer
	log *slog.Logger
}

// New returns a drain handler writing to w.
func New(w Writer, log *slog.Logger) *Handler {
	return &Handler{w: w, log: log}
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
	var ev events.SQSEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("decode SQS event: %w", err)
	}
	resp, _ := h.Handle(ctx, ev)
	return json.Marshal(resp)
}

// Handle writes every message of ev and returns the ids of those it could
// not write. It never fails the whole batch: what was written stays written.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, Summary) {
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	var sum Summary
	for _, rec := range ev.Records {
		sum.Messages++
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
	return resp, sum
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
