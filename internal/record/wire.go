package record

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/watcher-dev/watcher/internal/inflate"
)

// Version is the wire format version.
//
// Version 3 compresses a checks message: its checks, as the JSON array
// version 2 carried in "checks", are gzip-compressed and sent base64 (an SQS
// body must be text) in "gz":
//
//	{"v":3,"kind":"checks","gz":"H4sIAAAAAAAA/..."}
//
// SQS bills a message per 64 KiB chunk, and checks compress about sevenfold,
// so a message carries several times the checks it did. Invocation and span
// messages are as in version 2, under version 3.
//
// Version 2 carried checks plain, in "checks". Version 1 named the planned
// instant scheduled_at. Decode still reads both, so that messages and spool
// files written by earlier versions are replayed, not refused.
const Version = 3

// Message kinds.
const (
	KindChecks     = "checks"
	KindInvocation = "invocation"
	KindSpan       = "span" // a span claim (SpanClaim)
)

// maxErrorDetail caps a check's error detail on the wire, so that any one
// check fits in a message with room to spare.
const maxErrorDetail = 2048

// maxInflated caps the JSON one compressed message inflates to: EncodeChecks
// puts no more in a message, and Decode refuses a body that inflates beyond
// it, so that a hostile message cannot exhaust the drain's memory. Checks
// compress about sevenfold, so a full 256 KiB message of them inflates to
// about 1.3 MB; only checks far more alike than a probe's end a message here
// rather than at its size limit.
const maxInflated = 8 << 20

// envelope is every message's outer shape.
type envelope struct {
	V          int               `json:"v"`
	Kind       string            `json:"kind"`
	Checks     []json.RawMessage `json:"checks,omitempty"` // version 1 and 2
	GZ         []byte            `json:"gz,omitempty"`     // version 3: the checks, compressed (base64 in JSON)
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

// EncodeChecks packs batch, in order, into as few compressed messages of at
// most max bytes as it can, each filled to within about a check of max.
//
// It assumes no compression ratio. Each message is one gzip stream, whose
// exact size so far a flush tells (deflate's sync flush, which keeps the
// window). A check goes in while the message would stay within max even if
// everything written since the last flush, and the check, did not compress
// at all; when that is not sure, the stream is flushed and the check judged
// again against the exact size, and if it is still not sure, the message
// ends. So no check is compressed twice, flushes come only as a message
// nears max (each closing a share of the gap as large as what is written
// compresses), and no message can exceed max.
func EncodeChecks(batch []Check, max int) ([]Encoded, error) {
	head, tail := fmt.Sprintf(`{"v":%d,"kind":%q,"gz":"`, Version, KindChecks), `"}`
	// The compressed bytes that fit: base64 takes 4 characters for 3.
	room := (max - len(head) - len(tail)) / 4 * 3
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, compressionLevel)
	if err != nil {
		return nil, fmt.Errorf("encode checks: %w", err)
	}
	var (
		out     []Encoded
		first   int64 // endpoint of the message's first check
		n       int   // checks in the message
		raw     int   // JSON in the message, both brackets counted
		flushed int   // the stream's size at the last flush
		pending int   // JSON written since the last flush
	)
	// sure says whether a check of size bytes (its comma counted) is sure
	// to fit: the message stays within room even if what is pending and
	// the check are stored uncompressed (deflate never writes a block
	// larger than stored, whose header takes 5 bytes; compress/flate ends a
	// block every 16 Ki tokens), with the stream's end, and its JSON
	// within maxInflated.
	sure := func(size int) bool {
		p := pending + size
		return flushed+p+5*(p/(16<<10)+1)+streamEnd <= room && raw+size <= maxInflated
	}
	finish := func() error {
		if n == 0 {
			return nil
		}
		if _, err := zw.Write([]byte("]")); err != nil {
			return fmt.Errorf("encode checks: %w", err)
		}
		if err := zw.Close(); err != nil {
			return fmt.Errorf("encode checks: %w", err)
		}
		body := make([]byte, len(head)+base64.StdEncoding.EncodedLen(gz.Len())+len(tail))
		copy(body, head)
		base64.StdEncoding.Encode(body[len(head):], gz.Bytes())
		copy(body[len(body)-len(tail):], tail)
		switch {
		case len(body) > max && n == 1:
			return fmt.Errorf("endpoint %d: %w (%d bytes compressed, limit %d)", first, ErrTooLarge, len(body), max)
		case len(body) > max:
			// sure admits no second check that could do this.
			return fmt.Errorf("encode checks: a message of %d checks came to %d bytes, over the limit %d", n, len(body), max)
		}
		out = append(out, Encoded{Body: body, Count: n})
		gz.Reset()
		zw.Reset(&gz)
		n = 0
		return nil
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
		if len(item)+2 > maxInflated {
			return nil, fmt.Errorf("endpoint %d: %w (%d bytes of JSON, limit %d)", c.EndpointID, ErrTooLarge, len(item), maxInflated)
		}
		if n > 0 && !sure(len(item)+1) && pending > 0 {
			if err := zw.Flush(); err != nil {
				return nil, fmt.Errorf("encode checks: %w", err)
			}
			flushed, pending = gz.Len(), 0
		}
		if n > 0 && !sure(len(item)+1) {
			if err := finish(); err != nil {
				return nil, err
			}
		}
		sep := []byte{','}
		if n == 0 {
			sep, first, raw, flushed, pending = []byte{'['}, c.EndpointID, 1, gzipHeader, 0
		}
		if _, err := zw.Write(sep); err != nil {
			return nil, fmt.Errorf("encode checks: %w", err)
		}
		if _, err := zw.Write(item); err != nil {
			return nil, fmt.Errorf("encode checks: %w", err)
		}
		n, raw, pending = n+1, raw+1+len(item), pending+1+len(item)
	}
	if err := finish(); err != nil {
		return nil, err
	}
	return out, nil
}

// The gzip stream's framing, as compress/gzip writes it: a 10-byte header,
// and at the end the closing bracket, a last (empty or stored) block and
// the 8-byte trailer, with room to spare.
const (
	gzipHeader = 10
	streamEnd  = 32
)

// compressionLevel trades the probe's CPU for message bytes: see
// BenchmarkEncodeChecks.
const compressionLevel = gzip.DefaultCompression

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
// EncodeSpan, of this version or versions 1 and 2.
func Decode(body []byte) (Message, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return Message{}, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	items := env.Checks
	switch env.V {
	case Version:
		if env.GZ == nil {
			break
		}
		if env.Kind != KindChecks || items != nil {
			return Message{}, fmt.Errorf("%w: gz in a message of kind %q or beside plain checks", ErrFormat, env.Kind)
		}
		var err error
		if items, err = inflateChecks(env.GZ); err != nil {
			return Message{}, err
		}
	case 2:
		if env.GZ != nil {
			return Message{}, fmt.Errorf("%w: gz in a version 2 message", ErrFormat)
		}
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
		return Message{}, fmt.Errorf("%w: format version %d, want %d, 2 or 1", ErrFormat, env.V, Version)
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

// inflateChecks reads a version 3 message's compressed checks: a JSON array
// of at most maxInflated bytes.
func inflateChecks(gz []byte) ([]json.RawMessage, error) {
	js, err := inflate.Capped(gz, maxInflated)
	if err != nil {
		return nil, fmt.Errorf("%w: gz: %w", ErrFormat, err)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(js, &items); err != nil {
		return nil, fmt.Errorf("%w: gz: %w", ErrFormat, err)
	}
	return items, nil
}
