package probe_test

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/watcher-dev/watcher/internal/check"
	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/probe"
	"github.com/watcher-dev/watcher/internal/secrets"
	"github.com/watcher-dev/watcher/internal/store"
)

// Shape of BenchmarkHostileShard's shard: every endpoint is due once in a
// five-second span, spread by its phase.
const (
	benchCalm       = 500  // calm endpoints, ids 1..benchCalm
	benchPerKind    = 50   // endpoints of each hostile kind but backtracking
	benchBacktrack  = 2000 // endpoints with the catastrophic regex
	benchSpan       = 5 * time.Second
	benchTimeout    = 2 * time.Second
	benchHostileIDs = 1_000_000
)

// BenchmarkHostileShard measures whether hostile targets in a shard delay
// the calm ones: one probe runs one shard of calm endpoints alone, then the
// same calm endpoints mixed with slow drips, endless bodies, huge and slow
// headers, redirect loops, TLS failures, hanging connects and responses, and
// thousands of catastrophic-backtracking regexes, against the target farm
// (in a process of its own, as remote sites are) and the real database;
// hostile-io-busy is hostile-all with well-behaved endpoints in place of
// the backtracking ones. It reports the calm checks' start lateness (p50,
// p99, max) and response time (p99) as stored in metrics.
//
//	go test -run '^$' -bench HostileShard -benchtime 10x ./internal/probe
func BenchmarkHostileShard(b *testing.B) {
	sites := startHostileSitesProcess(b)
	u := pgtest.New(b)
	st, err := store.Open(context.Background(), u)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Close)
	conn, err := pgx.Connect(context.Background(), u)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close(context.Background()) })

	calm := make([]endpoint.Endpoint, benchCalm)
	for i := range calm {
		calm[i] = ep(int64(1+i), sites.calmURL(i), "welcome", benchSpan, benchTimeout)
	}
	var hostileIO, backtrack []endpoint.Endpoint
	for _, k := range sites.kinds() {
		if k.regex != "" {
			for range benchBacktrack {
				id := int64(benchHostileIDs + len(hostileIO) + len(backtrack))
				backtrack = append(backtrack, ep(id, k.url(int(id)), k.regex, benchSpan, benchTimeout))
			}
			continue
		}
		for range benchPerKind {
			id := int64(benchHostileIDs + len(hostileIO) + len(backtrack))
			hostileIO = append(hostileIO, ep(id, k.url(int(id)), k.regex, benchSpan, benchTimeout))
		}
	}
	// As many more well-behaved endpoints as there are hostile ones: the
	// same load without the hostility.
	busy := make([]endpoint.Endpoint, len(hostileIO)+len(backtrack))
	for i := range busy {
		id := int64(benchHostileIDs + i)
		busy[i] = ep(id, sites.calmURL(int(id)), "welcome", benchSpan, benchTimeout)
	}
	for _, bc := range []struct {
		name string
		eps  []endpoint.Endpoint
	}{
		{"calm", calm},
		{"calm-busy", slices.Concat(calm, busy)},
		{"hostile-io", slices.Concat(calm, hostileIO)},
		{"hostile-io-busy", slices.Concat(calm, hostileIO, busy[len(hostileIO):])},
		{"hostile-all", slices.Concat(calm, hostileIO, backtrack)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			checker := check.New(check.Options{Policy: check.Policy{AllowLoopback: true}})
			p := probe.New(probe.Config{Location: "home"}, checker, probe.Outputs{Sink: st, Recorder: st, Claimer: st},
				secrets.New(os.LookupEnv, nil), slog.New(slog.DiscardHandler))
			var (
				lateness, response    []float64
				calmFailed, unwritten int
			)
			for b.Loop() {
				start := time.Now().Add(300 * time.Millisecond).UTC().Truncate(time.Millisecond)
				span := plan.Span{Start: start, End: start.Add(benchSpan)}
				shards := plan.Plan(bc.eps, span, plan.Options{MaxChecks: len(bc.eps), MaxPayloadBytes: 64 << 20})
				if len(shards) != 1 {
					b.Fatalf("%d shards, want one", len(shards))
				}
				ctx, cancel := context.WithDeadline(context.Background(), span.End.Add(benchTimeout+10*time.Second))
				sum, err := p.Run(ctx, &shards[0], 0)
				cancel()
				if err != nil {
					b.Fatal(err)
				}
				if sum.Done != len(bc.eps) {
					b.Fatalf("summary %+v, want %d checks done", sum, len(bc.eps))
				}
				unwritten += sum.Unwritten
				rows, err := conn.Query(context.Background(), `
					SELECT lateness_ms, response_time_ms, coalesce(error, '') FROM checks
					WHERE endpoint_id <= $1 AND planned_at >= $2 AND planned_at < $3`,
					benchCalm, span.Start, span.End)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for rows.Next() {
					var (
						l, r   float64
						errStr string
					)
					if err := rows.Scan(&l, &r, &errStr); err != nil {
						b.Fatal(err)
					}
					if errStr != "" {
						calmFailed++
					}
					lateness, response = append(lateness, l), append(response, r)
					n++
				}
				if err := rows.Err(); err != nil {
					b.Fatal(err)
				}
				if n+sum.Unwritten < benchCalm {
					b.Fatalf("%d calm rows, want %d", n, benchCalm)
				}
			}
			b.ReportMetric(percentile(lateness, 0.50), "calm-late-p50-ms")
			b.ReportMetric(percentile(lateness, 0.99), "calm-late-p99-ms")
			b.ReportMetric(percentile(lateness, 1), "calm-late-max-ms")
			b.ReportMetric(percentile(response, 0.99), "calm-resp-p99-ms")
			b.ReportMetric(float64(calmFailed), "calm-failed")
			b.ReportMetric(float64(unwritten), "unwritten")
			b.ReportMetric(float64(len(bc.eps)), "checks/shard")
		})
	}
}

// percentile is the nearest-rank percentile of xs, 0 for none.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[int(p*float64(len(s)-1))]
}
