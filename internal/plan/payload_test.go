package plan

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/endpoint"
)

// referenceEndpoints are n endpoints as targets.ReferenceEndpoints writes
// them and the store reads them back (ids from 1, the default timeout), all
// at interval.
func referenceEndpoints(n int, interval time.Duration) []endpoint.Endpoint {
	eps := make([]endpoint.Endpoint, n)
	for i := range eps {
		eps[i] = endpoint.Endpoint{
			ID: int64(i + 1), Name: fmt.Sprintf("reference-%05d", i), URL: fmt.Sprintf("http://127.0.0.1:18089/site/%d", i),
			Method: "GET", Regex: ".*welcome", Interval: interval, Timeout: endpoint.DefaultTimeout,
			Location: endpoint.DefaultLocation, Enabled: true,
		}
	}
	return eps
}

// randomURL is a long URL of incompressible text: random characters of
// the 89 printable ones that JSON does not escape, 6.5 bits a byte, which
// gzip and base64 make 9 % larger.
func randomURL(r *rand.Rand) string {
	const chars = "!#$%'()*+,-./0123456789:;=?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~"
	b := make([]byte, 2000+r.IntN(2000))
	for i := range b {
		b[i] = chars[r.IntN(len(chars))]
	}
	return "https://example.test/" + string(b)
}

// gzipPayload wraps js as a compressed shard payload, as EncodeShard would.
func gzipPayload(t *testing.T, js []byte) []byte {
	t.Helper()
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	if _, err := w.Write(js); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(map[string][]byte{"shard_gz": gz.Bytes()})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// jsonAndPayload returns sh's JSON and its payload (EncodeShard).
func jsonAndPayload(tb testing.TB, sh *Shard) (js, payload []byte) {
	tb.Helper()
	js, err := json.Marshal(sh)
	if err != nil {
		tb.Fatal(err)
	}
	if payload, err = EncodeShard(sh); err != nil {
		tb.Fatal(err)
	}
	return js, payload
}

// referenceShard is one burst shard of n of the reference's endpoints at 60 s.
func referenceShard(n int) Shard {
	eps := referenceEndpoints(n, time.Minute)
	return Shard{Location: "home", Span: SpanFor(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC), 10*time.Second),
		Bucket: BucketBurst, Checks: len(eps), Endpoints: eps}
}

// withoutPayload is the shard as the probe decodes it.
func withoutPayload(sh Shard) Shard {
	sh.Payload = nil
	return sh
}

// TestPlanPayloadsFitAndDecode plans random endpoint sets (compressible
// URLs, incompressible random ones, or a mix, some with headers and
// bodies) under random bounds, small payload bounds included, and holds
// every shard to them: its payload within MaxPayloadBytes (unless it holds
// one endpoint), never larger than its JSON, decoding to the shard itself;
// its JSON within MaxJSONBytes; its checks and CPU within theirs; every due
// check planned exactly once; the same plan twice from the same input.
// Over the seeds, shards must have gone compressed and plain, and the fit
// must have packed some location again, or the test proves nothing.
func TestPlanPayloadsFitAndDecode(t *testing.T) {
	seen := map[string]int{}
	for seed := uint64(1); seed <= 40; seed++ {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, seed*17))
			incompressible := r.IntN(3) // 0: none, 1: a few, 2: all
			n := 200 + r.IntN(3000)
			if incompressible == 2 {
				n /= 10 // of 2 to 4 KB each
			}
			eps, hist := randomCostly(r, n, []string{"home", "eu"})
			for i := range eps {
				e := &eps[i]
				if incompressible == 2 || incompressible == 1 && r.IntN(30) == 0 {
					e.URL = randomURL(r)
				}
				if r.IntN(8) == 0 {
					e.Headers = map[string]string{"X-Probe": fmt.Sprint(r.IntN(1000)), "Accept": "text/html"}
					e.Body = strings.Repeat("padding ", r.IntN(40))
				}
			}
			// Checks and CPU bounds tight or loose, so that shards grow
			// large enough to compress.
			opt := Options{MaxChecks: 1 << 30, MaxPayloadBytes: 2_000 + r.IntN(100_000), CPUBudget: time.Hour}
			if r.IntN(2) == 0 {
				opt.MaxChecks = 1 + r.IntN(5_000)
			}
			if r.IntN(2) == 0 {
				opt.CPUBudget = time.Duration(1+r.IntN(20)) * time.Second
			}
			if r.IntN(4) != 0 {
				opt.MaxJSONBytes = opt.MaxPayloadBytes * (1 + r.IntN(12))
			}
			span := SpanFor(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(100_000))*time.Minute), 10*time.Second)
			shards := PlanWithHistory(eps, span, opt, hist)
			again := PlanWithHistory(eps, span, opt, hist)

			maxJSON := opt.MaxJSONBytes
			if maxJSON == 0 {
				maxJSON = opt.MaxPayloadBytes
			}
			// Where the first packing would have broken the payload bound,
			// the fit packed the location again.
			if opt.MaxJSONBytes > opt.MaxPayloadBytes {
				for _, sh := range PlanWithHistory(eps, span, Options{MaxChecks: opt.MaxChecks, MaxPayloadBytes: maxJSON, CPUBudget: opt.CPUBudget}, hist) {
					if p, _ := sh.Encoded(); len(p) > opt.MaxPayloadBytes && len(sh.Endpoints) > 1 {
						seen["packed again"]++
						break
					}
				}
			}
			if len(again) != len(shards) {
				t.Fatalf("planned %d shards, then %d from the same input", len(shards), len(again))
			}
			planned := map[int64]int{}
			total := 0
			for k, sh := range shards {
				if !reflect.DeepEqual(sh, again[k]) {
					t.Errorf("%s shard %d differs between two plans of the same input", sh.Location, sh.Index)
				}
				js, payload := jsonAndPayload(t, &sh)
				// The planner encodes the shards whose JSON may not fit,
				// as EncodeShard does.
				switch {
				case sh.Payload != nil && !bytes.Equal(sh.Payload, payload):
					t.Errorf("%s shard %d: the planner's payload is not EncodeShard's", sh.Location, sh.Index)
				case sh.Payload == nil && shardBytes(sh) > opt.MaxPayloadBytes:
					t.Errorf("%s shard %d: JSON of up to %d bytes, not encoded", sh.Location, sh.Index, shardBytes(sh))
				}
				if got, err := sh.Encoded(); err != nil || !bytes.Equal(got, payload) {
					t.Errorf("%s shard %d: Encoded is not EncodeShard (%v)", sh.Location, sh.Index, err)
				}
				switch {
				case len(payload) > len(js):
					t.Errorf("%s shard %d: payload %d bytes > its JSON's %d", sh.Location, sh.Index, len(payload), len(js))
				case bytes.HasPrefix(payload, []byte(compressedPrefix)):
					seen["compressed"]++
				case len(js) >= CompressFrom:
					seen["plain, incompressible"]++
				}
				if len(js) > opt.MaxPayloadBytes && len(payload) <= opt.MaxPayloadBytes {
					seen["fits only compressed"]++
				}
				if len(sh.Endpoints) > 1 {
					if len(payload) > opt.MaxPayloadBytes {
						t.Errorf("%s shard %d: payload %d bytes > %d", sh.Location, sh.Index, len(payload), opt.MaxPayloadBytes)
					}
					if b := shardBytes(sh); b > maxJSON {
						t.Errorf("%s shard %d: JSON bound %d bytes > %d", sh.Location, sh.Index, b, maxJSON)
					}
					if sh.Checks > opt.MaxChecks {
						t.Errorf("%s shard %d: %d checks > %d", sh.Location, sh.Index, sh.Checks, opt.MaxChecks)
					}
					if cpu := shardCPU(sh, hist); cpu > opt.CPUBudget {
						t.Errorf("%s shard %d: CPU %s > %s", sh.Location, sh.Index, cpu, opt.CPUBudget)
					}
				}
				got, err := DecodeShard(payload)
				if err != nil {
					t.Fatalf("%s shard %d: %v", sh.Location, sh.Index, err)
				}
				if !reflect.DeepEqual(got, withoutPayload(sh)) {
					t.Errorf("%s shard %d: decoded payload differs from the shard", sh.Location, sh.Index)
				}
				for _, ep := range got.Endpoints {
					planned[ep.ID]++
					total += len(Instants(ep.ID, ep.Interval, span))
				}
			}
			for _, ep := range eps {
				due := ep.Enabled && len(Instants(ep.ID, ep.Interval, span)) > 0
				if want := map[bool]int{true: 1}[due]; planned[ep.ID] != want {
					t.Errorf("endpoint %d (due: %t) in %d shards", ep.ID, due, planned[ep.ID])
				}
			}
			if want := Count(eps, span); total != want {
				t.Errorf("planned %d checks, Count says %d", total, want)
			}
		})
	}
	t.Logf("over the seeds: %v", seen)
	for _, k := range []string{"compressed", "plain, incompressible", "fits only compressed", "packed again"} {
		if seen[k] == 0 {
			t.Errorf("no shard over every seed was %q (%v): the case tests nothing", k, seen)
		}
	}
}

// TestPlanReferenceFillsByCPU: 10,000 of the reference's endpoints (an RE2
// regex, 185-200 bytes of JSON each) at 60 s, with a history of quick
// answers, fill shards by their CPU budget or MaxChecks now that payloads
// are compressed; with the JSON bounded by the payload bound, as before
// compression, 4,368 of them filled a shard, and the probes were billed a
// whole span for a third of what they could check.
func TestPlanReferenceFillsByCPU(t *testing.T) {
	eps := referenceEndpoints(10_000, time.Minute)
	span := SpanFor(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC), 10*time.Second)
	history := func(body int64) map[int64]History {
		h := map[int64]History{}
		for _, ep := range eps {
			h[ep.ID] = History{Checks: 15, P95: time.Second, Mean: 200 * time.Millisecond, BodyBytes: body}
		}
		return h
	}
	before := DefaultOptions
	before.MaxJSONBytes = 0 // the payload bound
	perShard := func(hist map[int64]History) int {
		c := estimateFor(&eps[0], hist)
		return min(DefaultOptions.MaxChecks, int(DefaultOptions.CPUBudget/c.CPU))
	}
	const payloadBound = 4368 // endpoints whose JSON fits 900 KiB
	tests := []struct {
		name     string
		opt      Options
		hist     map[int64]History
		perShard int // checks in every shard but the last
	}{
		// 0.384 ms a check: 14,426 in a 5.54 s budget.
		{"2 KiB bodies: by CPU", DefaultOptions, history(2048), perShard(history(2048))},
		// 0.32 ms a check: 17,298 would fit the budget.
		{"empty bodies: by MaxChecks", DefaultOptions, history(0), perShard(history(0))},
		{"before compression: by the payload bound", before, history(2048), payloadBound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shards := PlanWithHistory(eps, span, tt.opt, tt.hist)
			if want := (len(eps) + tt.perShard - 1) / tt.perShard; len(shards) != want {
				t.Errorf("%d shards, want %d of %d checks", len(shards), want, tt.perShard)
			}
			total := 0
			for k, sh := range shards {
				total += sh.Checks
				if k < len(shards)-1 && sh.Checks != tt.perShard {
					t.Errorf("shard %d: %d checks, want %d", k, sh.Checks, tt.perShard)
				}
				if p, err := sh.Encoded(); err != nil || len(p) > DefaultOptions.MaxPayloadBytes {
					t.Errorf("shard %d: payload %d bytes > %d (%v)", k, len(p), DefaultOptions.MaxPayloadBytes, err)
				}
			}
			if total != len(eps) {
				t.Errorf("%d checks planned, want %d", total, len(eps))
			}
		})
	}
	if p := perShard(history(2048)); p < 2*payloadBound || p >= DefaultOptions.MaxChecks {
		t.Errorf("%d checks a shard by CPU against %d by payload: the case tests nothing", p, payloadBound)
	}
}

func TestEncodeShard(t *testing.T) {
	span := SpanFor(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC), 10*time.Second)
	r := rand.New(rand.NewPCG(1, 2))
	random := referenceEndpoints(1000, time.Minute)
	for i := range random {
		random[i].URL = randomURL(r)
	}
	tests := []struct {
		name           string
		eps            []endpoint.Endpoint
		wantCompressed bool
	}{
		{"small: plain JSON", referenceEndpoints(3, time.Minute), false},
		{"just under CompressFrom: plain JSON", referenceEndpoints(CompressFrom/200, time.Minute), false},
		{"large: compressed", referenceEndpoints(5000, time.Minute), true},
		{"large and incompressible: plain JSON", random, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sh := Shard{Location: "home", Span: span, Bucket: BucketBurst, Checks: len(tt.eps), Endpoints: tt.eps}
			js, payload := jsonAndPayload(t, &sh)
			compressed := bytes.HasPrefix(payload, []byte(compressedPrefix))
			switch {
			case compressed != tt.wantCompressed:
				t.Errorf("%d bytes of JSON compressed: %t, want %t", len(js), compressed, tt.wantCompressed)
			case !compressed && !bytes.Equal(payload, js):
				t.Errorf("plain payload is not the shard's JSON")
			case compressed && len(payload) > len(js)/2:
				t.Errorf("compressed to %d bytes of %d", len(payload), len(js))
			}
			got, err := DecodeShard(payload)
			if err != nil || !reflect.DeepEqual(got, sh) {
				t.Errorf("decoded %d endpoints, %v; want the shard back", len(got.Endpoints), err)
			}
		})
	}
}

// TestDecodeShard reads what fanouts send and refuses what none would, with
// an error that says what is wrong: a gzip bomb is stopped at
// MaxShardJSONBytes.
func TestDecodeShard(t *testing.T) {
	fixture, err := os.ReadFile("../../events/probe-shard.json")
	if err != nil {
		t.Fatal(err)
	}
	var want Shard
	if err := json.Unmarshal(fixture, &want); err != nil || len(want.Endpoints) == 0 {
		t.Fatalf("fixture: %d endpoints, %v", len(want.Endpoints), err)
	}
	js, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	// A shard whose JSON pads one string past the cap.
	bomb := []byte(`{"location":"home","endpoints":[{"id":1,"url":"http://a.test/` + strings.Repeat("a", MaxShardJSONBytes) + `"}]}`)
	tests := []struct {
		name    string
		payload []byte
		want    *Shard
		wantErr string
	}{
		{"plain fixture", fixture, &want, ""},
		{"compressed fixture", gzipPayload(t, js), &want, ""},
		{"compressed, spaced", bytes.Replace(gzipPayload(t, js), []byte(`{"shard_gz":`), []byte("{ \"shard_gz\" :\n"), 1), &want, ""},
		{"not JSON", []byte("shard"), nil, "decode shard: invalid character"},
		{"not base64", []byte(`{"shard_gz":"%%%"}`), nil, "decode shard: illegal base64"},
		{"not gzip", []byte(`{"shard_gz":"` + base64.StdEncoding.EncodeToString(js) + `"}`), nil, "decode shard: shard_gz: gzip: invalid header"},
		{"truncated gzip", []byte(`{"shard_gz":"` + base64.StdEncoding.EncodeToString(gzipBytes(t, js)[:100]) + `"}`), nil, "decode shard: shard_gz: unexpected EOF"},
		{"compressed, not a shard", gzipPayload(t, []byte(`[1,2]`)), nil, "decode shard: shard_gz: json: cannot unmarshal array"},
		{"gzip bomb", gzipPayload(t, bomb), nil, "decode shard: compressed shard expands past MaxShardJSONBytes (16 MiB)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeShard(tt.payload)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, *tt.want) {
				t.Errorf("decoded %+v, %v; want %+v", got, err, *tt.want)
			}
		})
	}
	if _, err := DecodeShard(gzipPayload(t, bomb)); !errors.Is(err, ErrShardTooLarge) {
		t.Errorf("gzip bomb: %v, want ErrShardTooLarge", err)
	}
	if len(gzipPayload(t, bomb)) > DefaultOptions.MaxPayloadBytes {
		t.Errorf("the bomb's payload is %d bytes: it could not reach a probe", len(gzipPayload(t, bomb)))
	}
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	_, _ = w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return gz.Bytes()
}

// BenchmarkEncodeShard encodes one shard of 10,000 of the reference's
// endpoints at 60 s (about 1.9 MB of JSON) at two compression levels, and
// reports the payload's bytes and bytes per endpoint.
func BenchmarkEncodeShard(b *testing.B) {
	sh := referenceShard(10_000)
	js, _ := jsonAndPayload(b, &sh)
	for _, bb := range []struct {
		name  string
		level int
	}{{"json", -100}, {"BestSpeed", gzip.BestSpeed}, {"DefaultCompression", gzip.DefaultCompression}} {
		b.Run(bb.name, func(b *testing.B) {
			var payload []byte
			b.SetBytes(int64(len(js)))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if bb.level == -100 {
					payload, err = json.Marshal(&sh)
				} else {
					// A fresh encoder each time, as a fanout's first shard.
					e := Encoder{level: bb.level}
					payload, _, err = e.encode(&sh)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(payload)), "payload-bytes")
			b.ReportMetric(float64(len(payload))/float64(len(sh.Endpoints)), "bytes/endpoint")
		})
	}
}

// BenchmarkDecodeShard decodes the shard of BenchmarkEncodeShard as the
// probe does, plain and compressed.
func BenchmarkDecodeShard(b *testing.B) {
	sh := referenceShard(10_000)
	js, payload := jsonAndPayload(b, &sh)
	for _, bb := range []struct {
		name    string
		payload []byte
	}{{"json", js}, {"compressed", payload}} {
		b.Run(bb.name, func(b *testing.B) {
			b.SetBytes(int64(len(js)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeShard(bb.payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
