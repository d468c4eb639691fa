package spool_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/spool"
	"github.com/watcher-dev/watcher/internal/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func results(n int, at time.Time) []record.Check {
	out := make([]record.Check, n)
	for i := range out {
		status := 200
		out[i] = record.Check{
			EndpointID: int64(i + 1), Location: "home", PlannedAt: at, Lateness: time.Millisecond,
			Result: record.Result{StartedAt: at, ResponseTime: 12345 * time.Microsecond, StatusCode: &status, BodyBytes: 23},
		}
	}
	return out
}

func TestSpoolReplaysIntoTheDatabaseOnce(t *testing.T) {
	ctx := context.Background()
	dir, err := spool.Open(filepath.Join(t.TempDir(), "spool"))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Truncate(time.Second)
	if n, err := dir.WriteChecks(ctx, results(300, at)); err != nil || n != 300 {
		t.Fatalf("spooled %d: %v", n, err)
	}
	if n, err := dir.WriteChecks(ctx, results(5, at.Add(time.Minute))); err != nil || n != 5 {
		t.Fatalf("spooled %d: %v", n, err)
	}
	// A file cut short by a crash keeps its temporary name and is ignored.
	if err := os.WriteFile(filepath.Join(dir.Path(), "99999999999999999999-000001-1.json.tmp"), []byte(`{"v":1,"kind":"metr`), 0o600); err != nil {
		t.Fatal(err)
	}

	st, err := store.Open(ctx, pgtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r, err := dir.Replay(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if r.Files != 2 || r.Checks != 305 || r.Inserted != 305 {
		t.Errorf("replayed %+v, want 2 files, 305 checks inserted", r)
	}
	got, err := st.Checks(ctx, at.Add(-time.Second), at.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 305 || got[0].ResponseTime != 12345*time.Microsecond || *got[0].StatusCode != 200 {
		t.Errorf("stored %d rows, first %+v", len(got), got[0])
	}
	// Replayed files are gone; a second replay finds nothing to do.
	if r, err := dir.Replay(ctx, st); err != nil || r.Files != 0 {
		t.Errorf("second replay %+v, %v", r, err)
	}
	// The same results spooled again (a retried spill) insert nothing twice.
	if _, err := dir.WriteChecks(ctx, results(300, at)); err != nil {
		t.Fatal(err)
	}
	if r, err := dir.Replay(ctx, st); err != nil || r.Checks != 300 || r.Inserted != 0 {
		t.Errorf("replay of duplicates %+v, %v", r, err)
	}
}

func TestSpoolKeepsFilesWhileTheDatabaseIsDown(t *testing.T) {
	ctx := context.Background()
	c := pgtest.NewCluster(t)
	u := pgtest.NewDatabase(t, c)
	st, err := store.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dir, err := spool.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Truncate(time.Second)
	if _, err := dir.WriteChecks(ctx, results(10, at)); err != nil {
		t.Fatal(err)
	}
	if err := c.StopServer(ctx); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if r, err := dir.Replay(rctx, st); err == nil || r.Files != 0 {
		t.Fatalf("replay with the database down: %+v, %v", r, err)
	}
	if entries, _ := os.ReadDir(dir.Path()); len(entries) != 1 {
		t.Fatalf("spool holds %d files, want the 1 not replayed", len(entries))
	}
	if err := c.StartServer(ctx); err != nil {
		t.Fatal(err)
	}
	if r, err := dir.Replay(ctx, st); err != nil || r.Inserted != 10 {
		t.Errorf("replay after the outage %+v, %v", r, err)
	}
}

// TestSpoolReplaysInvocationsAndSpanClaimsOnce: invocation records and span
// claims the fleet could not record are spooled beside checks, a spooled
// claim is reported as waiting until replayed, and replay records each once:
// the claim as dispatched over a missed entry made meanwhile, and a second
// replay of the same records (a retried spill) doubles nothing.
func TestSpoolReplaysInvocationsAndSpanClaimsOnce(t *testing.T) {
	ctx := context.Background()
	dir, err := spool.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	span := time.Now().UTC().Truncate(time.Minute).Add(-5*time.Minute + 10*time.Second)
	shard := 0
	invs := []record.Invocation{
		{Function: "fanout", SpanStart: &span, StartedAt: span.Add(-9 * time.Second), Duration: time.Second, ChecksPlanned: 5},
		{Function: "probe", Location: "home", Shard: &shard, SpanStart: &span, StartedAt: span.Add(-time.Second),
			Duration: 70 * time.Second, ChecksPlanned: 5, ChecksDone: 5},
	}
	claim := record.SpanClaim{Start: span, Shards: 1, Checks: 5}

	st, err := store.Open(ctx, pgtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.RecordMissed(ctx, span, "no scheduled event"); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		if err := dir.RecordSpan(ctx, claim); err != nil {
			t.Fatal(err)
		}
		for _, inv := range invs {
			if err := dir.RecordInvocation(ctx, inv); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := dir.WriteChecks(ctx, results(5, span)); err != nil {
			t.Fatal(err)
		}
		if waiting, err := dir.SpansWaiting(ctx); err != nil || len(waiting) != 1 || !waiting[0].Equal(span) {
			t.Errorf("round %d: spans waiting %v, %v; want [%v]", round, waiting, err, span)
		}
		r, err := dir.Replay(ctx, st)
		if err != nil || r.Files != 4 || r.Spans != 1 || r.Invocations != 2 || r.Checks != 5 {
			t.Errorf("round %d: replayed %+v, %v; want 4 files: 1 span claim, 2 invocations, 5 checks", round, r, err)
		}
		if waiting, err := dir.SpansWaiting(ctx); err != nil || len(waiting) != 0 {
			t.Errorf("round %d: spans waiting after replay %v, %v", round, waiting, err)
		}
	}
	spans, err := st.Spans(ctx, span)
	if err != nil || len(spans) != 1 || spans[0].Status != record.SpanDispatched || spans[0].Checks != 5 {
		t.Errorf("ledger %+v, %v; want the span dispatched with its 5 checks", spans, err)
	}
	got, err := st.Invocations(ctx, span.Add(-time.Minute))
	if err != nil || len(got) != 2 {
		t.Errorf("%d invocation rows (%v), want 2", len(got), err)
	}
}

// TestSpoolRefusesWhatItCannotKeep: a spool whose directory is gone says so
// for every kind, so that the caller counts what it could not keep.
func TestSpoolRefusesWhatItCannotKeep(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "spool")
	dir, err := spool.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil { // not a directory now
		t.Fatal(err)
	}
	at := time.Now().UTC()
	if n, err := dir.WriteChecks(ctx, results(3, at)); err == nil || n != 0 {
		t.Errorf("WriteChecks = %d, %v; want an error", n, err)
	}
	if err := dir.RecordInvocation(ctx, record.Invocation{Function: "probe", StartedAt: at}); err == nil {
		t.Error("RecordInvocation kept a record in a spool that is not a directory")
	}
	if err := dir.RecordSpan(ctx, record.SpanClaim{Start: at}); err == nil {
		t.Error("RecordSpan kept a claim in a spool that is not a directory")
	}
}
