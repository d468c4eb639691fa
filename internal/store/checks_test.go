package store_test

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/store"
)

func ptr[T any](v T) *T { return &v }

// metric is a successful check of endpoint id planned at at.
func metric(id int64, at time.Time) record.Check {
	return record.Check{
		EndpointID: id, Location: "home", PlannedAt: at, Lateness: 3 * time.Millisecond,
		Result: record.Result{
			StartedAt: at.Add(3 * time.Millisecond), ResponseTime: 12 * time.Millisecond,
			StatusCode: ptr(200), DNS: time.Millisecond, Connect: 2 * time.Millisecond,
			TTFB: 10 * time.Millisecond, BodyBytes: 23,
		},
	}
}

// batch is n checks of endpoints first.. at instant at.
func batch(first int64, n int, at time.Time) []record.Check {
	out := make([]record.Check, n)
	for i := range out {
		out[i] = metric(first+int64(i), at)
	}
	return out
}

func TestWriteChecksIdempotent(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.New(t))
	ctx := testContext(t)
	at := time.Now().UTC().Truncate(time.Minute)
	steps := []struct {
		name  string
		batch []record.Check
		want  int
	}{
		{"new batch", batch(1, 3, at), 3},
		{"same batch again", batch(1, 3, at), 0},
		{"overlapping batch inserts only the new", batch(2, 3, at), 1},
		{"another location is another check", func() []record.Check {
			m := metric(1, at)
			m.Location = "vpc"
			return []record.Check{m}
		}(), 1},
		{"duplicates within one batch count once", append(batch(10, 1, at), batch(10, 1, at)...), 1},
		{"empty batch", nil, 0},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			n, err := s.WriteChecks(ctx, st.batch)
			if err != nil || n != st.want {
				t.Fatalf("WriteChecks = %d, %v; want %d", n, err, st.want)
			}
		})
	}
	got, err := s.Checks(ctx, at, at.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 6 {
		t.Errorf("%d checks stored, want 6", len(got))
	}
}

func TestCheckRoundTrip(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.New(t))
	ctx := testContext(t)
	at := time.Now().UTC().Truncate(time.Minute).Add(1234567891 * time.Nanosecond)

	tests := []struct {
		name   string
		metric record.Check
	}{
		{"success with regex match", func() record.Check {
			m := metric(1, at)
			m.RegexMatch = ptr(true)
			m.TLS = 4*time.Millisecond + 250*time.Microsecond
			return m
		}()},
		{"regex mismatch", func() record.Check {
			m := metric(2, at)
			m.RegexMatch = ptr(false)
			return m
		}()},
		{"no response: no status, no regex result", record.Check{
			EndpointID: 3, Location: "home", PlannedAt: at, Lateness: 1500 * time.Millisecond,
			Result: record.Result{StartedAt: at.Add(1500 * time.Millisecond), ResponseTime: 5 * time.Second, Error: record.ErrTimeout, DNS: 7 * time.Microsecond},
		}},
		{"status without body", func() record.Check {
			m := metric(4, at)
			m.StatusCode, m.BodyBytes, m.Error = ptr(503), 0, ""
			return m
		}()},
	}
	var in []record.Check
	for _, tt := range tests {
		in = append(in, tt.metric)
	}
	if n, err := s.WriteChecks(ctx, in); err != nil || n != len(in) {
		t.Fatalf("WriteChecks = %d, %v", n, err)
	}
	out, err := s.Checks(ctx, at.Add(-time.Second), at.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(tests) {
		t.Fatalf("read %d checks, want %d", len(out), len(tests))
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.metric
			// Stored to the microsecond.
			want.PlannedAt = want.PlannedAt.Truncate(time.Microsecond)
			want.StartedAt = want.StartedAt.Truncate(time.Microsecond)
			if !reflect.DeepEqual(out[i], want) {
				t.Errorf("round trip:\n got %+v\nwant %+v", out[i], want)
			}
		})
	}
}

// TestWriteChecksThroughBouncer writes concurrently through pgbouncer in
// transaction mode, more clients than server connections, each batch
// twice, as retries would.
func TestWriteChecksThroughBouncer(t *testing.T) {
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
					n, err := s.WriteChecks(ctx, batch(first, size, at.Add(time.Duration(b)*time.Second)))
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
	if n := query[int](t, direct, "SELECT count(*) FROM checks"); n != want {
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

func BenchmarkWriteChecks(b *testing.B) {
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
			batches := make([][]record.Check, b.N)
			for i := range batches {
				batches[i] = batch(next, size, at)
				next += size
			}
			b.ResetTimer()
			for i := range b.N {
				n, err := s.WriteChecks(ctx, batches[i])
				if err != nil || n != size {
					b.Fatalf("WriteChecks = %d, %v; want %d new rows", n, err, size)
				}
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
