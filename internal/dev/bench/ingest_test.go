package bench

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestIngestIntervals(t *testing.T) {
	s := time.Second
	offers := []ingestOffer{
		{At: s / 2, Rows: 100}, {At: 3 * s / 2, Rows: 100}, // interval 0
		{At: 5 * s / 2, Rows: 100}, {At: 7 * s / 2, Rows: 100}, // interval 1
		{At: 9 * s / 2, Rows: 100}, // interval 2
	}
	writes := []ingestWrite{
		{Done: s / 2, Took: 10 * time.Millisecond, Rows: 100, OK: true},
		{Done: 3 * s / 2, Took: 30 * time.Millisecond, Rows: 100, OK: true},
		{Done: 5 * s / 2, Took: 20 * time.Millisecond, Rows: 100, OK: true},
		{Done: 9 * s / 2, Took: time.Second, Rows: 100, OK: true}, // the second batch of interval 1, late
		{Done: 11 * s / 2, Rows: 100, OK: false},                  // interval 2's, failed
		{Done: 13 * s / 2, Rows: 100, OK: true},                   // after the last interval: counts in none
	}
	got := ingestIntervals(offers, writes, 2*s, 3)
	want := []struct {
		offered, stored, failed, behind int
		p50, max                        time.Duration
	}{
		{200, 200, 0, 0, 10 * time.Millisecond, 30 * time.Millisecond},
		{200, 100, 0, 100, 20 * time.Millisecond, 20 * time.Millisecond},
		{100, 100, 100, 100, time.Second, time.Second},
	}
	for i, w := range want {
		g := got[i]
		if g.End != time.Duration(i+1)*2*s || g.Offered != w.offered || g.Stored != w.stored || g.Failed != w.failed ||
			g.Behind != w.behind || g.P50 != w.p50 || g.Max != w.max {
			t.Errorf("interval %d: got %+v, want %+v", i, g, w)
		}
	}
	// Slack of 100 rows (a second of this load): interval 1 is one batch
	// behind, within it; interval 2 lost a batch.
	for i, short := range []bool{false, false, true} {
		if got[i].Short(100) != short {
			t.Errorf("interval %d: Short = %v, want %v", i, got[i].Short(100), short)
		}
	}
	if !got[1].Short(99) {
		t.Error("interval 1, slack 99: want short")
	}
}

func TestPlanScans(t *testing.T) {
	log := `2026-11-30 04:50:01.123 UTC [123] LOG:  duration: 12.345 ms  plan:
	Query Text: SELECT count(*) FROM checks WHERE planned_at >= $1
	Aggregate  (actual rows=1 loops=1)
	  ->  Append  (actual rows=10 loops=1)
	        ->  Index Only Scan using checks_pingest_planned_at_endpoint_id_location_key on checks_pingest checks_1  (actual rows=10 loops=1)
	              Index Cond: (planned_at >= $1)
	        ->  Seq Scan on checks_default checks_2  (actual rows=0 loops=1)
`
	got := planScans(log)
	want := []string{"Index Only Scan using checks_pingest_planned_at_endpoint_id_location_key on checks_pingest checks_1",
		"Seq Scan on checks_default checks_2"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("planScans = %q, want %q", got, want)
	}
}

// TestWithinGroup runs start with this process's pid in the group's
// cgroup.procs files, then writes it back to the bases' (once for
// controllers mounted together), on a fake hierarchy of plain files.
func TestWithinGroup(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"cpu,cpuacct/base/g", "memory/base/g"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{d, filepath.Dir(d)} { // files the kernel would provide
			if err := os.WriteFile(filepath.Join(root, f, "cgroup.procs"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, l := range []string{"cpu", "cpuacct"} {
		if err := os.Symlink("cpu,cpuacct", filepath.Join(root, l)); err != nil {
			t.Fatal(err)
		}
	}
	bases, err := cgroupBases(root, []byte("4:memory:/base\n2:cpu,cpuacct:/base\n"))
	if err != nil {
		t.Fatal(err)
	}
	g := &cgroup{dirs: []string{filepath.Join(root, "cpu,cpuacct/base/g"), filepath.Join(root, "memory/base/g")}}
	pid := strconv.Itoa(os.Getpid())
	read := func(p string) string { b, _ := os.ReadFile(filepath.Join(root, p)); return string(b) }
	err = withinGroup(g, bases, func() error {
		if read("cpu,cpuacct/base/g/cgroup.procs") != pid || read("memory/base/g/cgroup.procs") != pid {
			t.Error("start ran outside the group")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if read("cpu,cpuacct/base/cgroup.procs") != pid || read("memory/base/cgroup.procs") != pid {
		t.Error("not moved back to the bases")
	}
}
