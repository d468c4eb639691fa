package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Version is the wire format version. Version 1 named the planned instant
// scheduled_at; Decode still reads it, so that messages and spool files
// written before the rename are replayed, not refused.
const Version = 2

// Message kinds.
const (
	KindChecks     = "checks"
	KindInvocation = "invocation"
	KindSpan       = "span" // a span claim (SpanClaim)
)

// maxErrorDetail caps a check's error detail on the wire, so that any one
// check fits in a message with room to spare.
const maxErrorDetail = 2048

// envelope is every message's outer shape.
type envelope struct {
	V          int               `json:"v"`
	Kind       string            `json:"kind"`
	Checks     []json.RawMessage `json:"checks,omitempty"`
	Invocation *Invocation       `json:"invocation,omitempty"`
	Span       *SpanClaim        `json:"span,omitempty"`
}

// Encoded is one message body and the number of checks in it.
type Encoded struct {
	Body  []byte
	Count int
}

// ErrTooLarge is returned when one check alone does not fit in a message.
var ErrTooLarge = errors.New("check does not fit in one message")

// EncodeChecks packs batch, in order, into as few messages of at most max
// bytes as it can.
func EncodeChecks(batch []Check, max int) ([]Encoded, error) {
	head, tail := fmt.Sprintf(`{"v":%d,"kind":%q,"checks":[`, Version, KindChecks), `]}`
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
		c := batch[i]
		if len(c.ErrorDetail) > maxErrorDetail {
			c.ErrorDetail = strings.ToValidUTF8(c.ErrorDetail[:maxErrorDetail], "") + "…"
		}
		item, err := json.Marshal(&c)
		if err != nil {
			return nil, fmt.Errorf("encode check of endpoint %d: %w", c.EndpointID, err)
		}
		item = sqsSafe(item)
		if len(head)+len(item)+len(tail) > max {
			return nil, fmt.Errorf("endpoint %d: %w (%d bytes, limit %d)", c.EndpointID, ErrTooLarge, len(item), max)
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

// EncodeInvocation is the message that carries one invocation record.
func EncodeInvocation(inv *Invocation) ([]byte, error) {
	body, err := json.Marshal(envelope{V: Version, Kind: KindInvocation, Invocation: inv})
	if err != nil {
		return nil, fmt.Errorf("encode invocation message: %w", err)
	}
	return sqsSafe(body), nil
}

// EncodeSpan is the message that carries one span claim.
func EncodeSpan(c *SpanClaim) ([]byte, error) {
	body, err := json.Marshal(envelope{V: Version, Kind: KindSpan, Span: c})
	if err != nil {
		return nil, fmt.Errorf("encode span message: %w", err)
	}
	return body, nil
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

// Message is a decoded message: checks, one invocation record or one span
// claim.
type Message struct {
	Kind       string
	Checks     []Check
	Invocation *Invocation
	Span       *SpanClaim
}

// ErrFormat is wrapped by every Decode error: the message is not one this
// version understands, and retrying it will not help.
var ErrFormat = errors.New("not a record message")

// v1 is the version 1 envelope and check: "metrics" of checks whose
// planned instant is "scheduled_at".
type v1 struct {
	Metrics []json.RawMessage `json:"metrics,omitempty"`
}

type v1Check struct {
	Check
	ScheduledAt time.Time `json:"scheduled_at"`
}

// Decode parses a message body written by EncodeChecks, EncodeInvocation or
// EncodeSpan, of this version or version 1.
func Decode(body []byte) (Message, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return Message{}, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	items := env.Checks
	switch env.V {
	case Version:
	case 1:
		var old v1
		if err := json.Unmarshal(body, &old); err != nil {
			return Message{}, fmt.Errorf("%w: %w", ErrFormat, err)
		}
		items = old.Metrics
		if env.Kind == "metrics" {
			env.Kind = KindChecks
		}
	default:
		return Message{}, fmt.Errorf("%w: format version %d, want %d", ErrFormat, env.V, Version)
	}
	switch env.Kind {
	case KindChecks:
		if len(items) == 0 {
			return Message{}, fmt.Errorf("%w: no checks", ErrFormat)
		}
		cs := make([]Check, len(items))
		for i, raw := range items {
			var c v1Check
			if err := json.Unmarshal(raw, &c); err != nil {
				return Message{}, fmt.Errorf("%w: check %d: %w", ErrFormat, i, err)
			}
			if env.V == 1 {
				c.PlannedAt = c.ScheduledAt
			}
			if c.EndpointID == 0 || c.Location == "" || c.PlannedAt.IsZero() {
				return Message{}, fmt.Errorf("%w: check %d lacks endpoint_id, location or planned_at", ErrFormat, i)
			}
			cs[i] = c.Check
		}
		return Message{Kind: KindChecks, Checks: cs}, nil
	case KindInvocation:
		if env.Invocation == nil {
			return Message{}, fmt.Errorf("%w: no invocation", ErrFormat)
		}
		return Message{Kind: KindInvocation, Invocation: env.Invocation}, nil
	case KindSpan:
		if env.Span == nil || env.Span.Start.IsZero() {
			return Message{}, fmt.Errorf("%w: no span claim", ErrFormat)
		}
		return Message{Kind: KindSpan, Span: env.Span}, nil
	}
	return Message{}, fmt.Errorf("%w: unknown kind %q", ErrFormat, env.Kind)
}
