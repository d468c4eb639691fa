package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/store"
)

// Issue 12's figures, not tests (go test runs no benchmark by default):
//
//	go test -run '^$' -bench 'Report30d|StoredBytes' -benchtime 1x ./internal/store

// benchContext bounds a benchmark's setup, which takes longer than a test's.
func benchContext(b *testing.B) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	b.Cleanup(cancel)
	return ctx
}

// importEndpoints stores n enabled endpoints and returns their ids.
func importEndpoints(b *testing.B, s *store.Store, n int) []int64 {
	ctx := benchContext(b)
	eps := make([]endpoint.Endpoint, n)
	for i := range eps {
		eps[i] = ep(fmt.Sprintf("https://site%05d.example/", i), time.Minute)
	}
	if _, err := s.ImportEndpoints(ctx, eps, true); err != nil {
		b.Fatal(err)
	}
	stored, err := s.Endpoints(ctx, false)
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]int64, len(stored))
	for i, e := range stored {
		ids[i] = e.ID
	}
	return ids
}

// write stores checks of every id every step over [from, to), in batches
// as probes write them.
func write(b *testing.B, s *store.Store, ids []int64, from, to time.Time, step time.Duration) int {
	ctx := benchContext(b)
	var batch []record.Check
	n, i := 0, 0
	flush := func() {
		if _, err := s.WriteChecks(ctx, batch); err != nil {
			b.Fatal(err)
		}
		n += len(batch)
		batch = batch[:0]
	}
	for at := from; at.Before(to); at = at.Add(step) {
		for _, id := range ids {
			c := varied(id, at, i)
			c.Lateness = time.Duration(i%2000) * time.Microsecond
			c.BodyBytes = int64(1000 + i%30000)
			batch = append(batch, c)
			i++
			if len(batch) == 5000 {
				flush()
			}
		}
	}
	flush()
	return n
}

// BenchmarkReport30d times the 30-day report over 10,000 endpoints on each
// path, from daily rollups of one check per endpoint and day (the report
// reads one rollup row per endpoint and day however many checks it sums).
func BenchmarkReport30d(b *testing.B) {
	for _, f := range pgtest.Flavours {
		b.Run(f.String(), func(b *testing.B) {
			s := open(b, pgtest.NewOn(b, f))
			ctx := benchContext(b)
			ids := importEndpoints(b, s, 10_000)
			now := time.Now().UTC()
			from := now.Truncate(store.Day).Add(-30 * store.Day)
			write(b, s, ids, from.Add(12*time.Hour), now.Truncate(store.Day), store.Day)
			if _, err := s.RollUp(ctx, now); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				rep, err := s.Report(ctx, now.Add(-30*store.Day), now)
				if err != nil {
					b.Fatal(err)
				}
				if len(rep.Endpoints) != len(ids) || rep.Level != store.LevelDay || rep.Endpoints[0].Checks != 30 {
					b.Fatalf("report of %d endpoints at %s level, first with %d checks", len(rep.Endpoints), rep.Level,
						rep.Endpoints[0].Checks)
				}
			}
		})
	}
}

// BenchmarkStoredBytes stores six hours of checks of 50 endpoints at 5 s
// and at 60 s, brings the rollups up to date (and compresses, on
// TimescaleDB), and reports the bytes each level takes per URL-month.
func BenchmarkStoredBytes(b *testing.B) {
	const (
		endpoints = 50
		window    = 6 * time.Hour
		month     = 30 * store.Day
	)
	for _, f := range pgtest.Flavours {
		for _, step := range []time.Duration{5 * time.Second, time.Minute} {
			b.Run(fmt.Sprintf("%s/%s", f, step), func(b *testing.B) {
				for b.Loop() {
					url := pgtest.NewOn(b, f)
					s := open(b, url)
					ctx := benchContext(b)
					ids := importEndpoints(b, s, endpoints)
					now := time.Now().UTC()
					from := now.Truncate(store.Day).Add(-3 * store.Day) // old enough to compress
					rows := write(b, s, ids, from, from.Add(window), step)
					if _, err := s.Maintain(ctx, store.Retention{Raw: 30 * store.Day}.WithDefaults(), now); err != nil {
						b.Fatal(err)
					}
					perURLMonth := func(bytes int64) float64 {
						return float64(bytes) / endpoints * float64(month) / float64(window)
					}
					conn, err := pgx.Connect(ctx, url)
					if err != nil {
						b.Fatal(err)
					}
					defer conn.Close(ctx)
					size := func(sql string) int64 {
						var n int64
						if err := conn.QueryRow(ctx, sql).Scan(&n); err != nil {
							b.Fatalf("%s: %v", sql, err)
						}
						return n
					}
					var raw, minute int64
					if f == pgtest.Timescale {
						raw = size(`SELECT sum(before_compression_total_bytes) FROM chunk_compression_stats('checks')`)
						b.ReportMetric(perURLMonth(size(`SELECT hypertable_size('checks')`)), "compressed-B/URL-month")
						minute = size(`SELECT hypertable_size(format('%I.%I', materialization_hypertable_schema,
							materialization_hypertable_name)::regclass) FROM timescaledb_information.continuous_aggregates
							WHERE view_name = 'checks_minute'`)
					} else {
						raw = size(`SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits WHERE inhparent = 'checks'::regclass`)
						minute = size(`SELECT sum(pg_total_relation_size(inhrelid))::bigint FROM pg_inherits
							WHERE inhparent = 'checks_minute'::regclass`)
					}
					b.ReportMetric(perURLMonth(raw), "raw-B/URL-month")
					b.ReportMetric(float64(raw)/float64(rows), "raw-B/check")
					// Every level's rows have the same shape; the minute level has
					// enough of them to measure one (hour and day rows per URL-month:
					// 720 and 30).
					b.ReportMetric(float64(minute)/(endpoints*float64(window/time.Minute)), "rollup-B/row")
				}
			})
		}
	}
}
