package store_test

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/check"
	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/store"
)

func ptr[T any](v T) *T { return &v }

// metric is a successful check of endpoint id planned at at.
func metric(id int64, at time.Time) store.Metric {
	return store.Metric{
		EndpointID: id, Location: "home", ScheduledAt: at, Lateness: 3 * time.Millisecond,
		Result: check.Result{
			StartedAt: at.Add(3 * time.Millisecond), ResponseTime: 12 * time.Millisecond,
			StatusCode: ptr(200), DNS: time.Millisecond, Connect: 2 * time.Millisecond,
			TTFB: 10 * time.Millisecond, BodyBytes: 23,
		},
	}
}

// batch is n metrics of endpoints first.. at instant at.
func batch(first int64, n int, at time.Time) []store.Metric {
	out := make([]store.Metric, n)
	for i := range out {
		out[i] = metric(first+int64(i), at)
	}
	return out
}

func TestWriteMetricsIdempotent(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.New(t))
	ctx := testContext(t)
	at := time.Now().UTC().Truncate(time.Minute)
	steps := []struct {
		name  string
		batch []store.Metric
		want  int
	}{
		{"new batch", batch(1, 3, at), 3},
		{"same batch again", batch(1, 3, at), 0},
		{"overlapping batch inserts only the new", batch(2, 3, at), 1},
		{"another location is another check", func() []store.Metric {
			m := metric(1, at)
			m.Location = "vpc"
			return []store.Metric{m}
		}(), 1},
		{"duplicates within one batch count once", append(batch(10, 1, at), batch(10, 1, at)...), 1},
		{"empty batch", nil, 0},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			n, err := s.WriteMetrics(ctx, st.batch)
			if err != nil || n != st.want {
				t.Fatalf("WriteMetrics = %d, %v; want %d", n, err, st.want)
			}
		})
	}
	got, err := s.Metrics(ctx, at, at.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 6 {
		t.Errorf("%d metrics stored, want 6", len(got))
	}
}

func TestMetricRoundTrip(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.New(t))
	ctx := testContext(t)
	at := time.Now().UTC().Truncate(time.Minute).Add(1234567891 * time.Nanosecond)

	tests := []struct {
		name   string
		metric store.Metric
	}{
		{"success with regex match", func() store.Metric {
			m := metric(1, at)
			m.RegexMatch = ptr(true)
			m.TLS = 4*time.Millisecond + 250*time.Microsecond
			return m
		}()},
		{"regex mismatch", func() store.Metric {
			m := metric(2, at)
			m.RegexMatch = ptr(false)
			return m
		}()},
		{"no response: no status, no regex result", store.Metric{
			EndpointID: 3, Location: "home", ScheduledAt: at, Lateness: 1500 * time.Millisecond,
			Result: check.Result{StartedAt: at.Add(1500 * time.Millisecond), ResponseTime: 5 * time.Second, Error: check.ErrTimeout, DNS: 7 * time.Microsecond},
		}},
		{"status without body", func() store.Metric {
			m := metric(4, at)
			m.StatusCode, m.BodyBytes, m.Error = ptr(503), 0, ""
			return m
		}()},
	}
	var in []store.Metric
	for _, tt := range tests {
		in = append(in, tt.metric)
	}
	if n, err := s.WriteMetrics(ctx, in); err != nil || n != len(in) {
		t.Fatalf("WriteMetrics = %d, %v", n, err)
	}
	out, err := s.Metrics(ctx, at.Add(-time.Second), at.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(tests) {
		t.Fatalf("read %d metrics, want %d", len(out), len(tests))
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.metric
			// Stored to the microsecond.
			want.ScheduledAt = want.ScheduledAt.Truncate(time.Microsecond)
			want.StartedAt = want.StartedAt.Truncate(time.Microsecond)
			if !reflect.DeepEqual(out[i], want) {
				t.Errorf("round trip:\n got %+v\nwant %+v", out[i], want)
			}
		})
	}
}

// TestWriteMetricsThroughBouncer writes concurrently through pgbouncer in
// transaction mode, more clients than server connections, each batch
// twice, as retries would.
func TestWriteMetricsThroughBouncer(t *testing.T) {
	t.Parallel()
	direct := pgtest.New(t)
	s := open(t, pgtest.Bouncer(t, direct), store.WithMaxConns(32))
	ctx := testContext(t)
	at := time.Now().UTC().Truncate(time.Minute)

	const writers, batches, size = 16, 8, 100
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		inserted int
		errs     []error
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				first := int64((w*batches + b) * size)
				for range 2 {
					n, err := s.WriteMetrics(ctx, batch(first, size, at.Add(time.Duration(b)*time.Second)))
					mu.Lock()
					inserted += n
					if err != nil {
						errs = append(errs, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	want := writers * batches * size
	if inserted != want {
		t.Errorf("inserted %d rows in all, want %d", inserted, want)
	}
	if n := query[int](t, direct, "SELECT count(*) FROM metrics"); n != want {
		t.Errorf("%d rows stored, want %d", n, want)
	}

	// The other writers' transactions work through the proxy too.
	if _, err := s.ImportEndpoints(ctx, []endpoint.Endpoint{ep("https://a.example/", time.Minute)}, true); err != nil {
		t.Errorf("import through pgbouncer: %v", err)
	}
	if _, err := s.ClaimSpan(ctx, at, 1, 1); err != nil {
		t.Errorf("claim span through pgbouncer: %v", err)
	}
}

func BenchmarkWriteMetrics(b *testing.B) {
	const size = 500
	direct := pgtest.New(b)
	at := time.Now().UTC().Truncate(time.Second)
	var next int64 // endpoint ids never repeat, so every row is new
	for _, tc := range []struct {
		name string
		url  string
	}{
		{"direct", direct},
		{"pgbouncer", pgtest.Bouncer(b, direct)},
	} {
		b.Run(fmt.Sprintf("%s/batch=%d", tc.name, size), func(b *testing.B) {
			s := open(b, tc.url)
			ctx := testContext(b)
			batches := make([][]store.Metric, b.N)
			for i := range batches {
				batches[i] = batch(next, size, at)
				next += size
			}
			b.ResetTimer()
			for i := range b.N {
				n, err := s.WriteMetrics(ctx, batches[i])
				if err != nil || n != size {
					b.Fatalf("WriteMetrics = %d, %v; want %d new rows", n, err, size)
				}
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
