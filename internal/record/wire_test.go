package record_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/watcher-dev/watcher/internal/cost"
	"github.com/watcher-dev/watcher/internal/dev/recordtest"
	"github.com/watcher-dev/watcher/internal/record"
)

// maxMessageBytes is the record queue's message limit.
const maxMessageBytes = 256 * 1024

func TestEncodeChecks(t *testing.T) {
	long := recordtest.Checks(1)
	long[0].ErrorDetail = strings.Repeat("é", 10_000)
	incompressible := recordtest.Checks(3)
	incompressible[1].ErrorDetail = hostile(rand.New(rand.NewPCG(1, 2)), 2000)
	dense := recordtest.Checks(300) // details of random runes, U+0800..U+D7FF: about 15 bits in each 3 bytes
	rng := rand.New(rand.NewPCG(2, 2))
	for i := range dense {
		var b strings.Builder
		for b.Len() < record.MaxErrorDetail-3 {
			b.WriteRune(rune(0x800 + rng.IntN(0xD800-0x800)))
		}
		dense[i].ErrorDetail = b.String()
	}
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
		{name: "split at the limit, order kept", batch: recordtest.Realistic(5000, 1), max: 64 << 10, wantMsgs: -1, roundTrip: true,
			check: func(t *testing.T, _ []record.Check, bodies [][]byte) {
				if len(bodies) < 3 {
					t.Errorf("5000 checks in %d messages; expected a split", len(bodies))
				}
				for i, b := range bodies[:len(bodies)-1] {
					if len(b) < 63<<10 {
						t.Errorf("message %d of %d is %d bytes: want all but the last within 1 KiB of the 64 KiB limit", i, len(bodies), len(b))
					}
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
		{name: "checks that hardly compress stay within the limit", batch: dense, max: 16 << 10, wantMsgs: -1, roundTrip: true,
			check: func(t *testing.T, _ []record.Check, bodies [][]byte) {
				if len(bodies) < 20 {
					t.Errorf("%d messages: want the limit to split the batch", len(bodies))
				}
			}},
		{name: "a check larger than the limit", batch: recordtest.Checks(1), max: 100, wantMsgs: -1, wantErr: record.ErrTooLarge},
		{name: "a check larger than the limit amid others", batch: incompressible, max: 1500, wantMsgs: -1, wantErr: record.ErrTooLarge},
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
		{"other version", `{"v":4,"kind":"checks","checks":[{}]}`},
		{"gz not base64", `{"v":3,"kind":"checks","gz":"not base64!"}`},
		{"gz empty", `{"v":3,"kind":"checks","gz":""}`},
		{"gz not gzip", `{"v":3,"kind":"checks","gz":"` + base64.StdEncoding.EncodeToString([]byte(`[{"endpoint_id":1}]`)) + `"}`},
		{"gz cut short", `{"v":3,"kind":"checks","gz":"` + base64.StdEncoding.EncodeToString(gzipped(t, validChecks)[:40]) + `"}`},
		{"gz not a JSON array", `{"v":3,"kind":"checks","gz":"` + base64.StdEncoding.EncodeToString(gzipped(t, `{"endpoint_id":1}`)) + `"}`},
		{"gz of no checks", `{"v":3,"kind":"checks","gz":"` + base64.StdEncoding.EncodeToString(gzipped(t, `[]`)) + `"}`},
		{"gz of a check without endpoint", `{"v":3,"kind":"checks","gz":"` + base64.StdEncoding.EncodeToString(gzipped(t, `[{"location":"home","planned_at":"2026-01-01T00:00:00Z"}]`)) + `"}`},
		{"gz beside plain checks", `{"v":3,"kind":"checks","checks":` + validChecks + `,"gz":"` + base64.StdEncoding.EncodeToString(gzipped(t, validChecks)) + `"}`},
		{"gz in an invocation message", `{"v":3,"kind":"invocation","invocation":{"Function":"probe"},"gz":"` + base64.StdEncoding.EncodeToString(gzipped(t, validChecks)) + `"}`},
		{"gz in a version 2 message", `{"v":2,"kind":"checks","gz":"` + base64.StdEncoding.EncodeToString(gzipped(t, validChecks)) + `"}`},
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
	body := inflated(t, msgs[0].Body)
	if strings.Count(body, `"tls_not_after":"2026-03-11T12:00:10Z","tls_issuer":"Watcher Test CA"`) != 1 ||
		strings.Count(body, `"tls_not_after"`) != 1 || strings.Count(body, `"tls_issuer"`) != 1 {
		t.Errorf("want the certificate of the first check only, by name:\n%s", body)
	}
	recordtest.Equal(t, recordtest.DecodeAll(t, [][]byte{msgs[0].Body}), checks)
}

// validChecks is the JSON array of one valid check.
const validChecks = `[{"endpoint_id":1,"location":"home","planned_at":"2026-01-01T00:00:00Z"}]`

// gzipped is s gzip-compressed.
func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// inflated is the JSON of the checks a compressed message carries.
func inflated(t *testing.T, body []byte) string {
	t.Helper()
	var env struct {
		V  int    `json:"v"`
		GZ []byte `json:"gz"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.V != record.Version || env.GZ == nil {
		t.Fatalf("not a version %d message of compressed checks (%v): %.80s", record.Version, err, body)
	}
	zr, err := gzip.NewReader(bytes.NewReader(env.GZ))
	if err != nil {
		t.Fatal(err)
	}
	js, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(js)
}

// hostile is a random string of up to n bytes from characters that need
// care on the way: JSON escapes, HTML-escaped and separator characters,
// U+FFFE and U+FFFF (which SQS refuses raw), multibyte runes.
func hostile(rng *rand.Rand, n int) string {
	alphabet := []rune{'a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\t', '\x00', '\x1f', '<', '>', '&',
		'\u2028', '\u2029', '\uFFFD', '\uFFFE', '\uFFFF', 'é', '日', '😀'}
	var b strings.Builder
	for b.Len() < n {
		b.WriteRune(alphabet[rng.IntN(len(alphabet))])
	}
	return b.String()
}

// randomChecks makes n checks with every field random, strings hostile and
// some error details beyond the wire's cap.
func randomChecks(rng *rand.Rand, n int) []record.Check {
	classes := []string{"", record.ErrDNS, record.ErrTimeout, record.ErrTLS, record.ErrNoSocket}
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func() time.Time { return base.Add(time.Duration(rng.Int64N(int64(24 * time.Hour)))) }
	out := make([]record.Check, n)
	for i := range out {
		c := record.Check{EndpointID: 1 + rng.Int64N(1<<40), Location: "loc " + hostile(rng, 1+rng.IntN(20)),
			PlannedAt: at(), Lateness: time.Duration(rng.Int64N(int64(time.Minute))),
			Result: record.Result{StartedAt: at(), ResponseTime: time.Duration(rng.Int64()),
				Error: classes[rng.IntN(len(classes))], DNS: time.Duration(rng.Int64N(1e9)), Connect: time.Duration(rng.Int64N(1e9)),
				TLS: time.Duration(rng.Int64N(1e9)), TTFB: time.Duration(rng.Int64N(1e10)), BodyBytes: rng.Int64N(2 << 20)}}
		if rng.IntN(3) > 0 {
			code := 100 + rng.IntN(500)
			c.StatusCode = &code
		}
		if rng.IntN(3) > 0 {
			match := rng.IntN(2) == 0
			c.RegexMatch = &match
		}
		switch rng.IntN(4) {
		case 0:
			c.ErrorDetail = hostile(rng, rng.IntN(record.MaxErrorDetail))
		case 1:
			c.ErrorDetail = hostile(rng, record.MaxErrorDetail+rng.IntN(3*record.MaxErrorDetail))
		}
		if rng.IntN(2) == 0 {
			notAfter := at()
			c.TLSNotAfter, c.TLSIssuer = &notAfter, hostile(rng, rng.IntN(record.MaxIssuer))
		}
		out[i] = c
	}
	return out
}

// TestEncodeChecksRandom sends random batches of hostile checks through
// EncodeChecks and Decode at several limits: every message is within its
// limit and SQS-safe text, counts what it carries, and every check comes
// back once, in order, as sent (an error detail beyond the cap cut to a
// prefix of whole characters).
func TestEncodeChecksRandom(t *testing.T) {
	for seed := range uint64(12) {
		rng := rand.New(rand.NewPCG(seed, 1))
		max := []int{16 << 10, 64 << 10, maxMessageBytes}[seed%3]
		batch := randomChecks(rng, 1+rng.IntN(1500))
		t.Run(fmt.Sprintf("seed %d, %d checks in %d KiB", seed, len(batch), max>>10), func(t *testing.T) {
			msgs, err := record.EncodeChecks(batch, max)
			if err != nil {
				t.Fatal(err)
			}
			var got []record.Check
			for i, m := range msgs {
				if len(m.Body) > max {
					t.Errorf("message %d: %d bytes, limit %d", i, len(m.Body), max)
				}
				if !utf8.Valid(m.Body) || bytes.ContainsAny(m.Body, "\uFFFE\uFFFF") {
					t.Errorf("message %d is not text SQS takes", i)
				}
				msg, err := record.Decode(m.Body)
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if msg.Kind != record.KindChecks || len(msg.Checks) != m.Count || m.Count == 0 {
					t.Errorf("message %d: kind %q with %d checks, counted %d", i, msg.Kind, len(msg.Checks), m.Count)
				}
				got = append(got, msg.Checks...)
			}
			if len(got) != len(batch) {
				t.Fatalf("%d checks decoded, %d sent", len(got), len(batch))
			}
			for i := range got {
				sent, cut := batch[i].ErrorDetail, got[i].ErrorDetail
				if len(sent) > record.MaxErrorDetail {
					kept, ok := strings.CutSuffix(cut, "…")
					if !ok || len(kept) > record.MaxErrorDetail || len(kept) < record.MaxErrorDetail-3 || !strings.HasPrefix(sent, kept) {
						t.Fatalf("check %d: detail of %d bytes came back as %d bytes, not a prefix of whole characters and \"…\"", i, len(sent), len(cut))
					}
					got[i].ErrorDetail = sent
				}
			}
			recordtest.Equal(t, got, batch)
		})
	}
}

// TestEncodeChecksInflationCap: checks far more alike than a probe's
// compress so well that a message's JSON, not its size, would grow past
// what Decode accepts; EncodeChecks ends each message at the cap instead,
// and every message decodes.
func TestEncodeChecksInflationCap(t *testing.T) {
	batch := recordtest.Checks(8000)
	for i := range batch {
		batch[i].ErrorDetail = strings.Repeat("a", record.MaxErrorDetail)
	}
	msgs, err := record.EncodeChecks(batch, maxMessageBytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) < 2 {
		t.Errorf("%d messages: want the cap of %d bytes of JSON to split them", len(msgs), record.MaxInflated)
	}
	var bodies [][]byte
	for i, m := range msgs {
		if n := len(inflated(t, m.Body)); n > record.MaxInflated {
			t.Errorf("message %d inflates to %d bytes, over the cap", i, n)
		}
		bodies = append(bodies, m.Body)
	}
	recordtest.Equal(t, recordtest.DecodeAll(t, bodies), batch)
}

// TestDecodeCapsInflation: a body whose checks inflate to the cap decodes;
// one byte more (a gzip bomb, in small) is refused as malformed, naming the
// cap, without reading it whole.
func TestDecodeCapsInflation(t *testing.T) {
	pad := func(n int) string { // validChecks padded with whitespace to n bytes
		return validChecks[:len(validChecks)-1] + strings.Repeat(" ", n-len(validChecks)) + "]"
	}
	body := func(js string) []byte {
		return []byte(`{"v":3,"kind":"checks","gz":"` + base64.StdEncoding.EncodeToString(gzipped(t, js)) + `"}`)
	}
	atCap := body(pad(record.MaxInflated))
	msg, err := record.Decode(atCap)
	if err != nil || len(msg.Checks) != 1 {
		t.Errorf("checks of exactly %d bytes: Decode = %d checks, %v", record.MaxInflated, len(msg.Checks), err)
	}
	bomb := body(pad(record.MaxInflated + 1))
	_, err = record.Decode(bomb)
	if !errors.Is(err, record.ErrFormat) || !strings.Contains(err.Error(), strconv.Itoa(record.MaxInflated)) {
		t.Errorf("a body inflating to %d bytes: Decode error %v, want ErrFormat naming the cap", record.MaxInflated+1, err)
	}
	// A larger bomb: 256 MiB of zeros in 250 KB.
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, gzip.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	for range 256 {
		if _, err := zw.Write(zeros); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = record.Decode([]byte(`{"v":3,"kind":"checks","gz":"` + base64.StdEncoding.EncodeToString(b.Bytes()) + `"}`))
	if !errors.Is(err, record.ErrFormat) || !strings.Contains(err.Error(), "cap") {
		t.Errorf("256 MiB bomb: Decode error %v, want ErrFormat naming the cap", err)
	}
}

// TestDecodeOlderForms: checks messages of version 2 (plain checks), as
// probes and spools wrote them before compression, still decode as sent.
// (Version 1: TestDecodeVersion1.)
func TestDecodeOlderForms(t *testing.T) {
	body, err := os.ReadFile("testdata/v2-checks.json") // written by the version 2 EncodeChecks
	if err != nil {
		t.Fatal(err)
	}
	want := recordtest.Checks(6)
	want[1].ErrorDetail = "bad byte \uFFFE and \uFFFF in a header"
	want[3].TLSIssuer = "Ünïcode CA \"quoted\""
	want[4].ErrorDetail = "quote \" backslash \\ newline \n <tag> & \u2028 é 日本"
	if !bytes.HasPrefix(body, []byte(`{"v":2,"kind":"checks","checks":[`)) {
		t.Fatalf("testdata is not a version 2 message: %.40s", body)
	}
	msg, err := record.Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	recordtest.Equal(t, msg.Checks, want)
}

// TestRealisticChecksPerBilledRequest holds the compressed form to the
// queue's budget: checks as a probe records them on the reference workload
// must pack at least 500 to a billed request, each 64 KiB chunk of a
// message counted sent and received and each message deleted once
// (cost.QueueRequests; 525,600 checks a month at $0.40 per million
// requests is then at most $0.0004 per URL-month at 5 s), in full messages
// and in the one message a 15 s flush of a full 12,000-check shard sends.
// Plain JSON, about 265 bytes a check, packed about 110 in full messages.
func TestRealisticChecksPerBilledRequest(t *testing.T) {
	checks := recordtest.Realistic(40_000, 1)
	plain := 0
	for i := range checks {
		b, err := json.Marshal(&checks[i])
		if err != nil {
			t.Fatal(err)
		}
		plain += len(b) + 1
	}
	for _, tt := range []struct {
		name  string
		batch int // checks a WriteChecks call takes
		min   float64
	}{
		{"full messages", len(checks), 600},
		{"a 15 s flush of a 12,000-check shard", 3000, 500},
	} {
		bytes, requests, messages, n := 0, 0, 0, 0
		for off := 0; off+tt.batch <= len(checks); off += tt.batch {
			msgs, err := record.EncodeChecks(checks[off:off+tt.batch], maxMessageBytes)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				bytes += len(m.Body)
				// A message's whole life: sent, then received and deleted
				// alone, the most the drain's side costs.
				requests += int(cost.QueueChunks(int64(len(m.Body))) + cost.QueueDrainRequests(int64(len(m.Body)), 1))
				messages++
				n += m.Count
			}
		}
		perRequest := float64(n) / float64(requests)
		t.Logf("%s: %d checks in %d messages, %.1f bytes a check (plain JSON %.1f), %.0f checks a billed request",
			tt.name, n, messages, float64(bytes)/float64(n), float64(plain)/float64(len(checks)), perRequest)
		if perRequest < tt.min {
			t.Errorf("%s: %.0f checks a billed request, want at least %.0f", tt.name, perRequest, tt.min)
		}
	}
}

// BenchmarkEncodeChecks measures the probe's CPU for what a 15 s flush of
// a 12,000-check shard sends: at gzip's default level 5.5 to 7 µs a check
// on the development machine (measured on 834 checks), of which JSON takes
// 1.2 (best speed: 3.2 µs and 28 % more bytes; best compression: 12 µs and
// 4 % fewer), against 340 to 400 µs for the whole path of a check.
func BenchmarkEncodeChecks(b *testing.B) {
	checks := recordtest.Realistic(3000, 1)
	for b.Loop() {
		if _, err := record.EncodeChecks(checks, maxMessageBytes); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(checks)), "ns/check")
}
