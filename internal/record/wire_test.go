package record_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/dev/recordtest"
	"github.com/watcher-dev/watcher/internal/record"
)

// maxMessageBytes is the record queue's message limit.
const maxMessageBytes = 256 * 1024

func TestEncodeChecks(t *testing.T) {
	long := recordtest.Checks(1)
	long[0].ErrorDetail = strings.Repeat("é", 10_000)
	odd := recordtest.Checks(1)
	odd[0].ErrorDetail = "bad byte \uFFFE and \uFFFF in a header"
	tests := []struct {
		name      string
		batch     []record.Check
		max       int
		wantMsgs  int // -1: don't check
		check     func(t *testing.T, decoded []record.Check, bodies [][]byte)
		wantErr   error
		roundTrip bool
	}{
		{name: "empty batch sends nothing", batch: nil, max: maxMessageBytes, wantMsgs: 0, roundTrip: true},
		{name: "one message when it fits", batch: recordtest.Checks(100), max: maxMessageBytes, wantMsgs: 1, roundTrip: true},
		{name: "split at the limit, order kept", batch: recordtest.Checks(2000), max: maxMessageBytes, wantMsgs: -1, roundTrip: true,
			check: func(t *testing.T, _ []record.Check, bodies [][]byte) {
				if len(bodies) < 3 {
					t.Errorf("2000 checks in %d messages; expected a split", len(bodies))
				}
			}},
		{name: "a tiny limit gives one check per message", batch: recordtest.Checks(5), max: 500, wantMsgs: 5, roundTrip: true},
		{name: "long error detail is cut to fit", batch: long, max: maxMessageBytes, wantMsgs: 1,
			check: func(t *testing.T, decoded []record.Check, _ [][]byte) {
				if n := len(decoded[0].ErrorDetail); n > record.MaxErrorDetail+len("…") {
					t.Errorf("error detail of %d bytes", n)
				}
				if !strings.HasSuffix(decoded[0].ErrorDetail, "é…") {
					t.Errorf("cut detail %q does not end in whole characters", decoded[0].ErrorDetail[len(decoded[0].ErrorDetail)-10:])
				}
			}},
		{name: "characters SQS refuses are escaped", batch: odd, max: maxMessageBytes, wantMsgs: 1, roundTrip: true,
			check: func(t *testing.T, _ []record.Check, bodies [][]byte) {
				if bytes.ContainsAny(bodies[0], "\uFFFE\uFFFF") {
					t.Error("body holds U+FFFE or U+FFFF raw")
				}
			}},
		{name: "a check larger than the limit", batch: recordtest.Checks(1), max: 100, wantMsgs: -1, wantErr: record.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs, err := record.EncodeChecks(tt.batch, tt.max)
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
				t.Errorf("messages count %d checks, batch has %d", total, len(tt.batch))
			}
			if tt.wantMsgs >= 0 && len(msgs) != tt.wantMsgs {
				t.Errorf("%d messages, want %d", len(msgs), tt.wantMsgs)
			}
			decoded := recordtest.DecodeAll(t, bodies)
			if tt.roundTrip {
				recordtest.Equal(t, decoded, tt.batch)
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
		{"other version", `{"v":3,"kind":"checks","checks":[{}]}`},
		{"unknown kind", `{"v":2,"kind":"metrics"}`},
		{"no checks", `{"v":2,"kind":"checks","checks":[]}`},
		{"check without endpoint", `{"v":2,"kind":"checks","checks":[{"location":"home","planned_at":"2026-01-01T00:00:00Z"}]}`},
		{"check of the wrong shape", `{"v":2,"kind":"checks","checks":[{"endpoint_id":"one"}]}`},
		{"version 1 check without its instant", `{"v":1,"kind":"metrics","metrics":[{"endpoint_id":1,"location":"home","planned_at":"2026-01-01T00:00:00Z"}]}`},
		{"version 1 without results", `{"v":1,"kind":"metrics","metrics":[]}`},
		{"invocation missing", `{"v":2,"kind":"invocation"}`},
		{"span claim missing", `{"v":2,"kind":"span"}`},
		{"span claim without its start", `{"v":2,"kind":"span","span":{"shards":2}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := record.Decode([]byte(tt.body)); !errors.Is(err, record.ErrFormat) {
				t.Errorf("Decode error %v, want ErrFormat", err)
			}
		})
	}
}

// TestDecodeVersion1 replays a message written before the planned instant
// was renamed (scheduled_at): queued messages and spool files of that age
// are written, not refused.
func TestDecodeVersion1(t *testing.T) {
	body := `{"v":1,"kind":"metrics","metrics":[{"endpoint_id":7,"location":"home","scheduled_at":"2026-03-01T12:00:10Z",` +
		`"lateness_ns":1500000,"started_at":"2026-03-01T12:00:10.0015Z","response_time_ns":12345678,"status_code":200,` +
		`"regex_match":null,"ttfb_ns":9000000,"body_bytes":4096}]}`
	msg, err := record.Decode([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	status := 200
	want := []record.Check{{EndpointID: 7, Location: "home", PlannedAt: time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC),
		Lateness: 1500 * time.Microsecond, Result: record.Result{StartedAt: time.Date(2026, 3, 1, 12, 0, 10, 1500000, time.UTC),
			ResponseTime: 12345678, StatusCode: &status, TTFB: 9 * time.Millisecond, BodyBytes: 4096}}}
	if msg.Kind != record.KindChecks {
		t.Errorf("kind %q, want %q", msg.Kind, record.KindChecks)
	}
	recordtest.Equal(t, msg.Checks, want)
}

// TestSpanClaimRoundTrip: a span claim comes back from the wire as it went.
func TestSpanClaimRoundTrip(t *testing.T) {
	c := record.SpanClaim{Start: time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC), Shards: 3, Checks: 738}
	body, err := record.EncodeSpan(&c)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := record.Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Kind != record.KindSpan || msg.Span == nil || *msg.Span != c {
		t.Errorf("decoded %+v, want kind %q and %+v", msg, record.KindSpan, c)
	}
}

// TestCertificateOnTheWire: an HTTPS check carries its certificate's expiry
// and issuer under stable names; a plain check carries neither; both come
// back as sent.
func TestCertificateOnTheWire(t *testing.T) {
	checks := recordtest.Checks(2) // an HTTPS check, then a plain one
	notAfter := time.Date(2026, 3, 11, 12, 0, 10, 0, time.UTC)
	checks[0].TLSNotAfter, checks[0].TLSIssuer = &notAfter, "Watcher Test CA"
	msgs, err := record.EncodeChecks(checks, maxMessageBytes)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("EncodeChecks = %d messages, %v", len(msgs), err)
	}
	body := string(msgs[0].Body)
	if strings.Count(body, `"tls_not_after":"2026-03-11T12:00:10Z","tls_issuer":"Watcher Test CA"`) != 1 ||
		strings.Count(body, `"tls_not_after"`) != 1 || strings.Count(body, `"tls_issuer"`) != 1 {
		t.Errorf("want the certificate of the first check only, by name:\n%s", body)
	}
	recordtest.Equal(t, recordtest.DecodeAll(t, [][]byte{msgs[0].Body}), checks)
}
