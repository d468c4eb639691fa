package bench

// Issue 12's ingest benchmark: 10,000 endpoints every 5 s (2,000 rows/s)
// written through store.WriteChecks into a PostgreSQL whose processes live
// in a cgroup v1 memory group of 1 GiB (page cache included, as on a
// db.t4g.micro), after the live partition has been bulk-loaded past that
// limit, once per order of the unique key.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/watcher-dev/watcher/internal/config"
	"github.com/watcher-dev/watcher/internal/dev/localpg"
	"github.com/watcher-dev/watcher/internal/plan"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/store"
)

// The orders of the unique key checks_key the benchmark compares.
const (
	KeyEndpointFirst = "endpoint-first" // migrations 00002 to 00007
	KeyTimeFirst     = "time-first"
)

// IngestKeys are the key orders, in the order they run.
var IngestKeys = []string{KeyEndpointFirst, KeyTimeFirst}

var ingestKeyColumns = map[string]string{
	KeyEndpointFirst: "endpoint_id, location, planned_at",
	KeyTimeFirst:     "planned_at, endpoint_id, location",
}

const (
	ingestDB        = "ingest"
	ingestLocation  = "us-east-1"
	ingestPartition = "checks_pingest"
	// ingestLowRowBytes is less than a stored check takes with its
	// indexes (cost.CheckRowBytes), so that the window of planned instants
	// the bulk load starts from is long enough to reach the fill.
	ingestLowRowBytes = 100
	// ingestChunk is the schedule one bulk INSERT covers.
	ingestChunk = 5 * time.Minute
	// ingestDrain bounds the wait for the writers after the last hand-over.
	ingestDrain = time.Minute
)

// IngestOptions configure RunIngest. Zero values take the defaults.
type IngestOptions struct {
	Keys      []string      // key orders to measure (IngestKeys)
	Endpoints int           // 10,000
	Interval  time.Duration // every endpoint's, 5 s
	Shards    int           // concurrent writers, one batch each per second: 10
	BatchSize int           // rows per WriteChecks at most: config.DefaultBatchSize
	Duration  time.Duration // of the offered load: 6 min (a timed checkpoint falls in it)
	Every     time.Duration // reporting interval: 10 s
	// FillBytes is what the live partition (rows and indexes) is
	// bulk-loaded to before the offered load: 3 GiB.
	FillBytes     int64
	MemoryMB      int          // the group's memory limit: 1,024
	SharedBuffers string       // 256MB
	Out           io.Writer    `json:"-"`
	Log           *slog.Logger `json:"-"`
}

func (o *IngestOptions) defaults() error {
	if len(o.Keys) == 0 {
		o.Keys = IngestKeys
	}
	for _, k := range o.Keys {
		if ingestKeyColumns[k] == "" {
			return fmt.Errorf("bench ingest: unknown key order %q (want %s)", k, strings.Join(IngestKeys, ", "))
		}
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Endpoints, 10_000)
	def(&o.Shards, 10)
	def(&o.BatchSize, config.DefaultBatchSize)
	def(&o.MemoryMB, 1024)
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&o.Interval, 5 * time.Second}, {&o.Duration, 6 * time.Minute}, {&o.Every, 10 * time.Second}} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	if o.FillBytes <= 0 {
		o.FillBytes = 3 << 30
	}
	if o.SharedBuffers == "" {
		o.SharedBuffers = "256MB"
	}
	if o.Every < time.Second || o.Every%time.Second != 0 || o.Duration < o.Every {
		return fmt.Errorf("bench ingest: --every %s must be whole seconds and no longer than --for %s", o.Every, o.Duration)
	}
	if o.Interval%time.Second != 0 {
		return fmt.Errorf("bench ingest: --interval %s must be whole seconds", o.Interval)
	}
	var exe string
	return processDefaults(&exe, &o.Out, &o.Log)
}

// Rate is the offered load in rows per second.
func (o IngestOptions) Rate() float64 { return float64(o.Endpoints) / o.Interval.Seconds() }

// ingestSettings are the server's: durability as in production (localpg
// turns it off for tests, which would make every write cheaper than on
// RDS) and the parameters an RDS PostgreSQL 15 parameter group gives a
// 1 GiB instance where they bear on ingest. auto_explain is loaded for the
// read queries at the end, which turn it on for their own sessions.
func ingestSettings(o IngestOptions) map[string]string {
	return map[string]string{
		"shared_buffers":               o.SharedBuffers,
		"fsync":                        "on",
		"synchronous_commit":           "on",
		"full_page_writes":             "on",
		"wal_level":                    "replica", // RDS keeps backups, so at least replica
		"max_wal_size":                 "2GB",
		"min_wal_size":                 "192MB",
		"checkpoint_timeout":           "5min",
		"checkpoint_completion_target": "0.9",
		"effective_cache_size":         "512MB",
		"maintenance_work_mem":         "64MB",
		"log_checkpoints":              "on",
		"session_preload_libraries":    "auto_explain",
		"auto_explain.log_analyze":     "on",
		"auto_explain.log_buffers":     "on",
		"auto_explain.log_timing":      "off",
	}
}

// IngestReport is one key order's run.
type IngestReport struct {
	Key        string
	Loaded     int64 // rows bulk-loaded before the offered load
	LoadTook   time.Duration
	Before     IngestSizes // after the bulk load
	After      IngestSizes // after the offered load
	Intervals  []IngestInterval
	Offered    int // rows offered in all
	Unstored   int // rows offered and not stored once the writers drained
	Drained    time.Duration
	FirstError string
	// Write latency over the whole offered load.
	P50, P99, Max time.Duration
	Memory        IngestMemory
	Reads         []IngestRead
}

// IngestSizes are the live partition's relations.
type IngestSizes struct {
	Rows            int64
	Heap, Key, BRIN int64 // bytes
}

// Total is the partition with its indexes.
func (s IngestSizes) Total() int64 { return s.Heap + s.Key + s.BRIN }

// IngestMemory is the group's memory over the offered load.
type IngestMemory struct {
	Limit, Peak int64
	FailCount   int64 // times usage hit the limit (and reclaimed)
	OOMKills    int64
}

// IngestRead is one of the store's read queries on the filled table.
type IngestRead struct {
	Query string
	Rows  int
	Took  time.Duration
	Scans []string // the scan nodes of its plan (auto_explain)
}

// Short lists the intervals that fell short of the offered rate.
func (r *IngestReport) Short(rate float64) []int {
	var out []int
	for i, iv := range r.Intervals {
		if iv.Short(int(rate + 0.5)) {
			out = append(out, i)
		}
	}
	return out
}

// Failed reports whether the run missed the target: an interval short of
// the offered rate, or rows never stored.
func (r *IngestReport) Failed(rate float64) bool {
	return len(r.Short(rate)) > 0 || r.Unstored > 0 || r.FirstError != ""
}

// RunIngest measures each key order in a fresh cluster and group, prints
// a table per order and a comparison, and fails when any order's stored
// rate fell below the offered rate.
func RunIngest(ctx context.Context, opt IngestOptions) error {
	if err := opt.defaults(); err != nil {
		return err
	}
	bases, err := ownCgroups("bench ingest")
	if err != nil {
		return err
	}
	m := describeMachine()
	fmt.Fprintf(opt.Out, "Watcher bench ingest, %s. Machine: %s, %d cores, %.0f GiB, Linux %s, %s; load average %s.\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), m.CPU, m.Cores, m.MemoryGB, m.Kernel, m.Go, loadAvg())
	fmt.Fprintf(opt.Out, "Offered: %s endpoints every %s (%.0f rows/s), %d writers (shards), one WriteChecks per shard per second of at most %d rows, for %s. "+
		"PostgreSQL in a cgroup v1 memory group of %d MiB (page cache included), shared_buffers %s, fsync, synchronous_commit and full_page_writes on, wal_level replica, "+
		"max_wal_size 2GB, checkpoint_timeout 5min. The live partition is bulk-loaded to %s first.\n\n",
		commas(opt.Endpoints), opt.Interval, opt.Rate(), opt.Shards, opt.BatchSize, opt.Duration, opt.MemoryMB, opt.SharedBuffers, gib(opt.FillBytes))
	var reps []*IngestReport
	failed := false
	for _, key := range opt.Keys {
		rep, err := runIngestKey(ctx, opt, bases, key)
		if ctx.Err() != nil {
			return fmt.Errorf("bench ingest: interrupted (%w); its cgroups and processes are removed", ctx.Err())
		}
		if err != nil {
			return fmt.Errorf("bench ingest (%s): %w", key, err)
		}
		writeIngestTable(opt.Out, opt, rep)
		reps = append(reps, rep)
		failed = failed || rep.Failed(opt.Rate())
	}
	writeIngestSummary(opt.Out, opt, reps)
	if failed {
		return errors.New("bench ingest: the stored rate fell below the offered rate")
	}
	return nil
}

// runIngestKey measures one key order in its own cluster and group.
func runIngestKey(ctx context.Context, opt IngestOptions, bases map[string]string, key string) (*IngestReport, error) {
	rep := &IngestReport{Key: key}
	dir, err := os.MkdirTemp("", "watcher-ingest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil { // the postgres user works in it
		return nil, err
	}
	limit := int64(opt.MemoryMB) << 20
	g, err := newCgroup(bases, fmt.Sprintf("%s%d-ingest-%s", cgroupPrefix, os.Getpid(), key), 100*time.Millisecond, 0, limit)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := g.remove(); err != nil {
			fmt.Fprintf(opt.Out, "cleanup: %v\n", err)
		}
	}()
	fmt.Fprintf(opt.Out, "%s  %s: starting PostgreSQL in %s\n", clock(), key, g.dir["memory"])
	var cluster *localpg.Cluster
	err = withinGroup(g, bases, func() error {
		var err error
		cluster, err = localpg.Start(ctx, filepath.Join(dir, "pg"), localpg.Options{
			DieWithProcess: true, Logger: opt.Log, MaxConnections: 100, Settings: ingestSettings(opt)})
		return err
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = cluster.Stop(stopCtx)
	}()
	if err := cluster.CreateDatabase(ctx, ingestDB); err != nil {
		return nil, err
	}
	url := cluster.URL(ingestDB)
	if err := store.Migrate(ctx, url, store.WithLogger(opt.Log)); err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))

	// The bulk load's instants end where the offered load begins (about);
	// they start early enough to reach the fill at a low estimate of a
	// row's size.
	rate := opt.Rate()
	now := time.Now().UTC()
	span := time.Duration(float64(opt.FillBytes)/ingestLowRowBytes/rate) * time.Second
	from := now.Add(-span).Truncate(opt.Interval)
	if err := ingestLayout(ctx, conn, key, opt, from, now.Add(opt.Duration+time.Hour)); err != nil {
		return nil, err
	}
	fmt.Fprintf(opt.Out, "%s  %s: bulk-loading %s (from %s) in key order\n", clock(), key, gib(opt.FillBytes), from.Format("15:04"))
	began := time.Now()
	if rep.Loaded, err = bulkLoad(ctx, conn, opt, from, now); err != nil {
		return nil, err
	}
	// Autovacuum would have kept up with a partition that grew at this
	// rate; after a bulk load it would instead scan it all during the
	// offered load. Vacuum now, and checkpoint so that the offered load
	// starts on a clean slate.
	if _, err := conn.Exec(ctx, "VACUUM (ANALYZE) "+ingestPartition); err != nil {
		return nil, fmt.Errorf("vacuum: %w", err)
	}
	if _, err := conn.Exec(ctx, "CHECKPOINT"); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	rep.LoadTook = time.Since(began)
	if rep.Before, err = ingestSize(ctx, conn); err != nil {
		return nil, err
	}
	rep.Before.Rows = rep.Loaded
	fmt.Fprintf(opt.Out, "%s  %s: %s rows in %s; heap %s, key %s, BRIN %s (%s in all, limit %s)\n", clock(), key,
		commas(int(rep.Loaded)), rep.LoadTook.Round(time.Second), mb(rep.Before.Heap), mb(rep.Before.Key), mb(rep.Before.BRIN),
		mb(rep.Before.Total()), mb(limit))

	st, err := store.Open(ctx, url, store.WithMaxConns(int32(opt.Shards)+2), store.WithLogger(opt.Log))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	_ = os.WriteFile(filepath.Join(g.dir["memory"], "memory.max_usage_in_bytes"), []byte("0"), 0) // peak of the offered load only
	failBase := g.readInt("memory", "memory.failcnt")
	fmt.Fprintf(opt.Out, "%s  %s: offering %.0f rows/s for %s\n", clock(), key, rate, opt.Duration)
	if err := offerLoad(ctx, opt, st, conn, g, rep); err != nil {
		return nil, err
	}
	rep.Memory = IngestMemory{Limit: limit, Peak: g.readInt("memory", "memory.max_usage_in_bytes"),
		FailCount: g.readInt("memory", "memory.failcnt") - failBase, OOMKills: g.keyed("memory", "memory.oom_control")["oom_kill"]}
	if rep.After, err = ingestSize(ctx, conn); err != nil {
		return nil, err
	}
	rep.After.Rows = rep.Loaded + int64(rep.Offered-rep.Unstored)
	if rep.Reads, err = ingestReads(ctx, url, cluster.LogPath(), st); err != nil {
		return nil, err
	}
	return rep, nil
}

// withinGroup runs start with this process in g, so that the processes it
// starts (the PostgreSQL server and every backend it forks) live in g from
// their first instruction, and moves this process back to bases after.
func withinGroup(g *cgroup, bases map[string]string, start func() error) error {
	pid := []byte(strconv.Itoa(os.Getpid()))
	var err error
	for _, p := range g.procsFiles() {
		if err = os.WriteFile(p, pid, 0); err != nil {
			err = fmt.Errorf("join cgroup: %w", err)
			break
		}
	}
	if err == nil {
		err = start()
	}
	seen := map[string]bool{}
	for _, c := range sandboxControllers {
		dir, derr := filepath.EvalSymlinks(bases[c])
		if derr != nil || seen[dir] {
			continue
		}
		seen[dir] = true
		if werr := os.WriteFile(filepath.Join(dir, "cgroup.procs"), pid, 0); werr != nil {
			err = errors.Join(err, fmt.Errorf("leave cgroup: %w", werr))
		}
	}
	return err
}

// ingestLayout gives checks the key order and one partition [from, to)
// for the whole run in place of Migrate's daily ones (empty yet), so that
// the bulk load and the offered load share the live partition whatever the
// time of day. It also imports the endpoints, as a fleet has them.
func ingestLayout(ctx context.Context, conn *pgx.Conn, key string, opt IngestOptions, from, to time.Time) error {
	rows, err := conn.Query(ctx, `
		SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'checks'::regclass AND c.relname <> 'checks_default'`)
	if err != nil {
		return fmt.Errorf("list partitions: %w", err)
	}
	parts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("list partitions: %w", err)
	}
	var sql []string
	for _, p := range parts {
		sql = append(sql, "DROP TABLE "+pgx.Identifier{p}.Sanitize())
	}
	ts := func(t time.Time) string { return "'" + t.UTC().Format("2006-01-02 15:04:05.000000+00") + "'" }
	sql = append(sql,
		"ALTER TABLE checks DROP CONSTRAINT checks_key",
		"ALTER TABLE checks ADD CONSTRAINT checks_key UNIQUE ("+ingestKeyColumns[key]+")",
		fmt.Sprintf("CREATE TABLE %s PARTITION OF checks FOR VALUES FROM (%s) TO (%s)", ingestPartition, ts(from), ts(to)),
		fmt.Sprintf(`INSERT INTO endpoints (key, url, interval_ms, timeout_ms, location)
			SELECT 'bench-' || i, 'https://example.com/' || i, %[1]d, %[1]d, '%s' FROM generate_series(1, %d) i`,
			opt.Interval.Milliseconds(), ingestLocation, opt.Endpoints))
	for _, s := range sql {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", strings.Fields(s)[0], err)
		}
	}
	return nil
}

// bulkLoad inserts every check due in [from, to) server-side, in order of
// planned instant as probes write them, ingestChunk of schedule per
// statement, and stops once the partition and its indexes reach the fill.
// Phases are the planner's (plan.Phase); the measurements vary as the
// offered load's do (ingestCheck).
func bulkLoad(ctx context.Context, conn *pgx.Conn, opt IngestOptions, from, to time.Time) (int64, error) {
	ids, phases := make([]int64, opt.Endpoints), make([]int64, opt.Endpoints)
	for i := range ids {
		ids[i] = int64(i + 1)
	}
	slices.SortFunc(ids, func(a, b int64) int {
		return int(plan.Phase(a, opt.Interval) - plan.Phase(b, opt.Interval))
	})
	for i, id := range ids {
		phases[i] = plan.Phase(id, opt.Interval).Milliseconds()
	}
	// Slot s holds the instants s*interval + phase (ms since the epoch); the
	// lateral join walks slots in order and each slot's endpoints by phase.
	const insert = `
		INSERT INTO checks (endpoint_id, location, planned_at, started_at, lateness_ms, response_time_ms,
		                    status_code, regex_match, error, dns_ms, connect_ms, tls_ms, ttfb_ms, body_bytes)
		SELECT c.id, $5, c.t, c.t + c.late * interval '1 millisecond', c.late, c.rt,
		       200, true, NULL, 1, 3, 8, c.rt * 0.8, 2048 + (random() * 512)::int
		FROM generate_series($1::bigint, $2::bigint - 1) AS s,
		LATERAL (SELECT e.id, timestamptz 'epoch' + (s * $6 + e.phase) * interval '1 millisecond' AS t,
		                (random() * 3)::real AS late, 20 + random() * 200 AS rt
		         FROM unnest($3::bigint[], $4::bigint[]) AS e (id, phase)) AS c`
	step := opt.Interval.Milliseconds()
	first, last := from.UnixMilli()/step, to.UnixMilli()/step
	perChunk := int64(ingestChunk / opt.Interval)
	var loaded int64
	lastReport := time.Now()
	for s := first; s < last; s += perChunk {
		tag, err := conn.Exec(ctx, insert, s, min(s+perChunk, last), ids, phases, ingestLocation, step)
		if err != nil {
			return loaded, fmt.Errorf("bulk load: %w", err)
		}
		loaded += tag.RowsAffected()
		size, err := ingestSize(ctx, conn)
		if err != nil {
			return loaded, err
		}
		if time.Since(lastReport) > 30*time.Second {
			fmt.Fprintf(opt.Out, "%s    %s rows, %s\n", clock(), commas(int(loaded)), mb(size.Total()))
			lastReport = time.Now()
		}
		if size.Total() >= opt.FillBytes {
			return loaded, nil
		}
	}
	fmt.Fprintf(opt.Out, "%s    the schedule up to now holds less than the fill: starting with what it holds\n", clock())
	return loaded, nil
}

// ingestSize reads the live partition's sizes (rows are the caller's).
func ingestSize(ctx context.Context, conn *pgx.Conn) (IngestSizes, error) {
	var s IngestSizes
	err := conn.QueryRow(ctx, `
		SELECT pg_relation_size($1::regclass),
		       coalesce(sum(pg_relation_size(indexrelid)) FILTER (WHERE indisunique), 0)::bigint,
		       coalesce(sum(pg_relation_size(indexrelid)) FILTER (WHERE NOT indisunique), 0)::bigint
		FROM pg_index WHERE indrelid = $1::regclass`, ingestPartition).Scan(&s.Heap, &s.Key, &s.BRIN)
	if err != nil {
		return s, fmt.Errorf("partition size: %w", err)
	}
	return s, nil
}

// ingestCheck is one check as a probe would report it.
func ingestCheck(id int64, planned time.Time, rng *rand.Rand) record.Check {
	status, match := 200, true
	late := time.Duration(rng.Float64() * 3 * float64(time.Millisecond))
	rt := time.Duration((20 + rng.Float64()*200) * float64(time.Millisecond))
	return record.Check{EndpointID: id, Location: ingestLocation, PlannedAt: planned, Lateness: late,
		Result: record.Result{StartedAt: planned.Add(late), ResponseTime: rt, StatusCode: &status, RegexMatch: &match,
			DNS: time.Millisecond, Connect: 3 * time.Millisecond, TLS: 8 * time.Millisecond, TTFB: rt * 8 / 10,
			BodyBytes: 2048 + rng.Int64N(512)}}
}

// offerLoad hands each shard's checks of the past second to its writer
// once a second, as probes write, for opt.Duration, and folds what was
// offered, stored and seen on the server into rep.
func offerLoad(ctx context.Context, opt IngestOptions, st *store.Store, conn *pgx.Conn, g *cgroup, rep *IngestReport) error {
	shards := make([][]int64, opt.Shards)
	for id := int64(1); id <= int64(opt.Endpoints); id++ {
		i := int(id-1) % opt.Shards
		shards[i] = append(shards[i], id)
	}
	first := time.Now().Truncate(time.Second).Add(2 * time.Second) // the first hand-over
	start := first.Add(-time.Second / 2)                           // intervals end half a second after one
	n := int(opt.Duration / opt.Every)
	ticks := int(time.Duration(n) * opt.Every / time.Second)

	var (
		mu     sync.Mutex
		offers []ingestOffer
		writes []ingestWrite
		errs   []error
	)
	writeCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	queues := make([]chan []record.Check, opt.Shards)
	var wg sync.WaitGroup
	for i := range queues {
		queues[i] = make(chan []record.Check, 4096)
		wg.Add(1)
		go func(q <-chan []record.Check) {
			defer wg.Done()
			for b := range q {
				t0 := time.Now()
				stored, err := st.WriteChecks(writeCtx, b)
				done := time.Now()
				mu.Lock()
				writes = append(writes, ingestWrite{Done: done.Sub(start), Took: done.Sub(t0), Rows: stored, OK: err == nil})
				if err != nil {
					writes[len(writes)-1].Rows = len(b)
					errs = append(errs, err)
				}
				mu.Unlock()
			}
		}(queues[i])
	}

	// The sampler reads the server's counters and the group's memory at
	// the end of every interval.
	samples := make([]serverDelta, n+1)
	memory := make([][2]int64, n)
	cpu := make([][2]time.Duration, n+1) // the group's, the machine's
	sampled := make(chan error, 1)
	base, err := serverCounters(ctx, conn)
	if err != nil {
		return err
	}
	samples[0] = base
	machineBusy := func() time.Duration { b := coresBusy([2]int{0, 1}); return b[0] + b[1] }
	cpu[0] = [2]time.Duration{g.usage().CPU, machineBusy()}
	disk := make([]time.Duration, n+1)
	disk[0] = diskBusy()
	go func() {
		for j := range n {
			if !sleepUntil(ctx, start.Add(time.Duration(j+1)*opt.Every)) {
				sampled <- ctx.Err()
				return
			}
			cpu[j+1] = [2]time.Duration{g.usage().CPU, machineBusy()}
			disk[j+1] = diskBusy()
			stat := g.keyed("memory", "memory.stat")
			memory[j] = [2]int64{g.readInt("memory", "memory.usage_in_bytes"), stat["cache"]}
			s, err := serverCounters(ctx, conn)
			if err != nil {
				sampled <- err
				return
			}
			samples[j+1] = s
		}
		sampled <- nil
	}()

	rng := rand.New(rand.NewPCG(1, 2))
	for k := range ticks {
		at := first.Add(time.Duration(k) * time.Second)
		if !sleepUntil(ctx, at) {
			break
		}
		span := plan.Span{Start: at.Add(-time.Second), End: at}
		for i, ids := range shards {
			var rows []record.Check
			for _, id := range ids {
				for _, t := range plan.Instants(id, opt.Interval, span) {
					rows = append(rows, ingestCheck(id, t, rng))
				}
			}
			slices.SortFunc(rows, func(a, b record.Check) int { return a.PlannedAt.Compare(b.PlannedAt) })
			for len(rows) > 0 {
				b := rows[:min(len(rows), opt.BatchSize)]
				rows = rows[len(b):]
				mu.Lock()
				offers = append(offers, ingestOffer{At: time.Since(start), Rows: len(b)})
				mu.Unlock()
				queues[i] <- b
			}
		}
	}
	for _, q := range queues {
		close(q)
	}
	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	last := time.Now()
	select {
	case <-drained:
	case <-time.After(ingestDrain):
		cancel() // what is still queued is not stored
		<-drained
	}
	rep.Drained = time.Since(last)
	if err := <-sampled; err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}

	mu.Lock()
	defer mu.Unlock()
	rep.Intervals = ingestIntervals(offers, writes, opt.Every, n)
	stored := 0
	for _, o := range offers {
		rep.Offered += o.Rows
	}
	for _, w := range writes {
		if w.OK {
			stored += w.Rows
		}
	}
	rep.Unstored = rep.Offered - stored
	took := make([]time.Duration, 0, len(writes))
	for _, w := range writes {
		took = append(took, w.Took)
	}
	rep.P50, rep.P99, rep.Max = percentile(took, 0.50), percentile(took, 0.99), percentile(took, 1)
	if len(errs) > 0 {
		rep.FirstError = fmt.Sprintf("%d batches failed; first: %v", len(errs), errs[0])
	}
	for j := range rep.Intervals {
		rep.Intervals[j].Server = samples[j+1].sub(samples[j])
		rep.Intervals[j].MemoryBytes, rep.Intervals[j].CacheBytes = memory[j][0], memory[j][1]
		group, machine := cpu[j+1][0]-cpu[j][0], cpu[j+1][1]-cpu[j][1]
		rep.Intervals[j].CPU = float64(group) / float64(opt.Every)
		rep.Intervals[j].Others = max(float64(machine-group)/float64(opt.Every), 0)
		rep.Intervals[j].Disk = float64(disk[j+1]-disk[j]) / float64(opt.Every)
	}
	return nil
}

// diskBusy is how long the machine's disks have been busy since boot
// (/proc/diskstats, time spent doing I/O, summed over the devices that are
// not loop, ram or zram devices nor partitions).
func diskBusy() time.Duration {
	b, err := os.ReadFile("/proc/diskstats")
	if err != nil {
		return 0
	}
	var ms int64
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 13 || strings.HasPrefix(f[2], "loop") || strings.HasPrefix(f[2], "ram") || strings.HasPrefix(f[2], "zram") {
			continue
		}
		if _, err := os.Stat("/sys/block/" + f[2]); err != nil {
			continue // a partition
		}
		v, _ := strconv.ParseInt(f[12], 10, 64)
		ms += v
	}
	return time.Duration(ms) * time.Millisecond
}

// serverCounters reads PostgreSQL's cumulative counters.
func serverCounters(ctx context.Context, conn *pgx.Conn) (serverDelta, error) {
	var d serverDelta
	err := conn.QueryRow(ctx, `
		SELECT w.wal_bytes::bigint, w.wal_fpi,
		       (SELECT sum(blks_read)::bigint FROM pg_stat_database),
		       b.buffers_checkpoint + b.buffers_clean + b.buffers_backend,
		       b.checkpoints_timed + b.checkpoints_req
		FROM pg_stat_wal w, pg_stat_bgwriter b`).Scan(&d.WALBytes, &d.FPI, &d.BlocksRead, &d.BlocksWritten, &d.Checkpoints)
	if err != nil {
		return d, fmt.Errorf("read server counters: %w", err)
	}
	return d, nil
}

// ingestReads runs the store's queries that read checks by time over the
// filled table, each in a session that logs its plan (auto_explain), and
// returns how long each took and the scans its plan chose.
func ingestReads(ctx context.Context, url, logPath string, st *store.Store) ([]IngestRead, error) {
	now := time.Now().UTC()
	since := now.Add(-15 * time.Minute)
	for t := since.Truncate(plan.SpanLength); t.Before(now); t = t.Add(plan.SpanLength) {
		if _, err := st.ClaimSpan(ctx, t, 1, 0); err != nil {
			return nil, err
		}
	}
	rd, err := store.Open(ctx, url+"&auto_explain.log_min_duration=0", store.WithMaxConns(1))
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	queries := []struct {
		name string
		run  func() (int, error)
	}{
		{"EndpointHistory, last 15 min", func() (int, error) { h, err := rd.EndpointHistory(ctx, since, now); return len(h), err }},
		{"SpanCounts, last 15 min", func() (int, error) { c, err := rd.SpanCounts(ctx, since, plan.SpanLength); return len(c), err }},
		{"CountChecks, last 15 min", func() (int, error) { return rd.CountChecks(ctx, since) }},
		{"Checks, last minute", func() (int, error) { c, err := rd.Checks(ctx, now.Add(-time.Minute), now); return len(c), err }},
	}
	var out []IngestRead
	for _, q := range queries {
		offset := fileSize(logPath)
		began := time.Now()
		n, err := q.run()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", q.name, err)
		}
		out = append(out, IngestRead{Query: q.name, Rows: n, Took: time.Since(began), Scans: planScans(readFrom(logPath, offset))})
	}
	return out, nil
}

// planScans picks the scan nodes out of auto_explain's text plans, without
// their figures.
func planScans(log string) []string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "->"))
		if !strings.Contains(line, " Scan ") && !strings.HasPrefix(line, "Seq Scan") {
			continue
		}
		if i := strings.Index(line, "  ("); i > 0 {
			line = line[:i]
		}
		out = append(out, line)
	}
	return out
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func readFrom(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

func clock() string { return time.Now().Format("15:04:05") }

func gib(b int64) string { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) }
