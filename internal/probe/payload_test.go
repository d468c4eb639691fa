package probe_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/probe"
)

// TestProbeInvokesCompressedShards: a shard large enough to go compressed
// (500 endpoints checked once a span) is run by Invoke as the fanout sends
// it, every check done and written, and the invocation records the bytes it
// received. A payload that would expand past plan.MaxShardJSONBytes is
// refused before anything runs.
func TestProbeInvokesCompressedShards(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "You are always welcome!")
	}))
	defer site.Close()
	st := open(t, pgtest.New(t))
	sink := &memorySink{}
	var logs syncBuffer
	p := newProbeWith(t, probe.Outputs{Sink: sink, Recorder: st}, &logs, probe.Config{})

	eps := make([]endpoint.Endpoint, 500)
	for i := range eps {
		eps[i] = endpoint.Endpoint{ID: int64(i + 1), URL: fmt.Sprintf("%s/site/%d", site.URL, i), Method: "GET", Regex: ".*welcome",
			Interval: time.Minute, Timeout: 5 * time.Second, Location: "home", Enabled: true}
	}
	shards := plan.Plan(eps, pastSpan(), plan.DefaultOptions)
	if len(shards) != 1 {
		t.Fatalf("%d shards, want one", len(shards))
	}
	payload, err := shards[0].Encoded()
	if err != nil || !bytes.HasPrefix(payload, []byte(`{"shard_gz":`)) {
		t.Fatalf("payload %.40q, %v: want it compressed", payload, err)
	}
	start := time.Now()
	out, err := p.Invoke(context.Background(), payload)
	if err != nil {
		t.Fatal(err)
	}
	var sum probe.Summary
	if err := json.Unmarshal(out, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Planned != len(eps) || sum.Done != len(eps) || sum.Written != len(eps) || len(sink.checks) != len(eps) {
		t.Errorf("summary %+v, %d checks written; want %d planned, done and written", sum, len(sink.checks), len(eps))
	}
	invs, err := st.Invocations(context.Background(), start.Add(-time.Second))
	if err != nil || len(invs) != 1 || invs[0].PayloadBytes != len(payload) {
		t.Errorf("invocations %+v, %v: want one of %d payload bytes", invs, err, len(payload))
	}

	// A shard whose one URL pads its JSON past the cap, gzipped.
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	_, _ = fmt.Fprintf(w, `{"location":"home","endpoints":[{"id":1,"url":"http://a.test/%s"}]}`, strings.Repeat("a", plan.MaxShardJSONBytes))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	bomb, err := json.Marshal(map[string][]byte{"shard_gz": gz.Bytes()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Invoke(context.Background(), bomb); !errors.Is(err, plan.ErrShardTooLarge) {
		t.Errorf("Invoke of %d bytes expanding past the cap: %v, want plan.ErrShardTooLarge", len(bomb), err)
	}
}
