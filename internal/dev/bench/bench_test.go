package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/dev/localpg"
	"github.com/watcher-dev/watcher/internal/dev/pgtest"
	"github.com/watcher-dev/watcher/internal/dev/targets"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/endpointfile"
	"github.com/watcher-dev/watcher/internal/regex"
	"github.com/watcher-dev/watcher/internal/store"
)

func TestMain(m *testing.M) {
	regex.ServeWorkerIfAsked()
	pgtest.Main(m)
}

// TestRunChildSmoke runs the measured code path of both sides for a few
// seconds against the farm, PostgreSQL and pgbouncer, all in this process:
// every check due in the window is done, right, and never measured faster
// than the delay the farm injects.
func TestRunChildSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel) // after the parallel subtests, unlike a defer
	farm, err := targets.Start(ctx, "127.0.0.1:0", targets.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = farm.Close() })
	eps, err := endpointfile.Parse(targets.FixedEndpoints(farm.URL(), 20), []string{endpoint.DefaultLocation})
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ name, side, mode string }{
		{"watcher fresh", SideWatcher, ModeFresh},
		{"watcher reuse", SideWatcher, ModeReuse},
		{"floor fresh", SideFloor, ModeFresh},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := pgtest.New(t)
			st, err := store.Open(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.ImportEndpoints(ctx, eps, true); err != nil {
				t.Fatal(err)
			}
			st.Close()
			bouncer := pgtest.StartBouncer(t, db)
			u, err := url.Parse(db)
			if err != nil {
				t.Fatal(err)
			}
			cfg := ChildConfig{
				Workload: WorkloadFixed, Side: tc.side, Mode: tc.mode, Run: 1,
				DatabaseURL: bouncer.URL(),
				StatsURL:    bouncer.URLFor(localpg.Superuser, "pgbouncer") + "&default_query_exec_mode=simple_protocol",
				Database:    strings.TrimPrefix(u.Path, "/"),
				Warmup:      time.Second,
				Window:      2 * time.Second,
				ProbeCPU:    -1, // not pinned
				FarmCPU:     -1,
			}
			var out bytes.Buffer
			if err := RunChild(ctx, cfg, &out); err != nil {
				t.Fatal(err)
			}
			var f Figures
			if err := json.Unmarshal(out.Bytes(), &f); err != nil {
				t.Fatalf("figures %q: %v", out.String(), err)
			}
			if f.Due == 0 || f.Done != f.Due || f.Failed != 0 || f.Wrong != 0 {
				t.Errorf("due %d, done %d, failed %d, wrong %d; want all done, none failed or wrong", f.Due, f.Done, f.Failed, f.Wrong)
			}
			if f.ErrMin < 0 {
				t.Errorf("a response time was %s below the injected delay", -f.ErrMin)
			}
			if f.CPU <= 0 || f.PeakRSSBytes <= 0 {
				t.Errorf("CPU %s, peak RSS %d; want both measured", f.CPU, f.PeakRSSBytes)
			}
		})
	}
}

func TestParseMicro(t *testing.T) {
	tests := []struct {
		name   string
		output string
		want   Micro
	}{
		{
			name: "one core",
			output: `goos: linux
BenchmarkPlan100k/plain         	       5	  62599409 ns/op	    333298 max-payload-bytes	        44.00 shards	30562768 B/op	     541 allocs/op
BenchmarkPlan100k/rich          	       5	 146982958 ns/op	    813618 max-payload-bytes	        48.00 shards	29514384 B/op	     583 allocs/op
PASS
BenchmarkWriterVsCopy 	       3	2074481109 ns/op	     78109 copy-rows/s	     39262 writer-rows/s	         0.5027 writer/copy
ok  	github.com/watcher-dev/watcher/internal/store	9.464s`,
			want: Micro{
				Plans: []PlanFigures{
					{Name: "plain", Time: 62599409, Allocs: 541, PayloadBytes: 333298, Shards: 44},
					{Name: "rich", Time: 146982958, Allocs: 583, PayloadBytes: 813618, Shards: 48},
				},
				WriterRows: 39262, CopyRows: 78109,
			},
		},
		{
			name:   "GOMAXPROCS suffix, no writer",
			output: "BenchmarkPlan100k/plain-2   5   1000 ns/op   10 max-payload-bytes   1 shards   2 B/op   3 allocs/op\n",
			want:   Micro{Plans: []PlanFigures{{Name: "plain", Time: 1000, Allocs: 3, PayloadBytes: 10, Shards: 1}}},
		},
		{name: "nothing", output: "FAIL\n", want: Micro{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMicro(strings.NewReader(tt.output))
			if err != nil {
				t.Fatal(err)
			}
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(tt.want)
			if !bytes.Equal(gj, wj) {
				t.Errorf("parseMicro = %s, want %s", gj, wj)
			}
		})
	}
}

func TestTableVerdicts(t *testing.T) {
	floor := Figures{Workload: WorkloadFixed, Side: SideFloor, Mode: ModeFresh, Run: 1, Due: 1000, Done: 1000, CPU: 500 * time.Millisecond}
	tests := []struct {
		name    string
		watcher Figures
		micro   *Micro
		want    []string // lines that must appear
	}{
		{
			name: "all met",
			watcher: Figures{Workload: WorkloadFixed, Side: SideWatcher, Mode: ModeFresh, Run: 1, Due: 1000, Done: 1000,
				CPU: 520 * time.Millisecond, ErrP99: 2 * time.Millisecond, LatenessP99: 5 * time.Millisecond},
			micro: &Micro{Plans: []PlanFigures{{Name: "plain", Time: 60 * time.Millisecond, PayloadBytes: 300_000}}, WriterRows: 90, CopyRows: 100},
			want: []string{
				"| fixed, fresh: CPU per check vs floor (same mode) | <= 1.1x | 1.04x (0.520 / 0.500 ms) | met |",
				"| fixed, fresh: p99 measurement error | <= 3.000 ms | 2.000 ms | met |",
				"| planner, plain endpoints: one span of 100000 | < 200.000 ms | 60.000 ms (0 allocations, 0 shards) | met |",
				"| writer rows/s through pgbouncer vs psql COPY | >= 0.8x | 0.90x (90 vs 100 rows/s) | met |",
			},
		},
		{
			name: "missed",
			watcher: Figures{Workload: WorkloadFixed, Side: SideWatcher, Mode: ModeFresh, Run: 1, Due: 1000, Done: 1000,
				CPU: 600 * time.Millisecond, ErrP99: 4 * time.Millisecond, LatenessP99: 11 * time.Millisecond},
			micro: &Micro{WriterRows: 50, CopyRows: 100},
			want: []string{
				"| fixed, fresh: CPU per check vs floor (same mode) | <= 1.1x | 1.20x (0.600 / 0.500 ms) | **MISSED** |",
				"| fixed, fresh: p99 start lateness | <= 10.000 ms | 11.000 ms | **MISSED** |",
				"| writer rows/s through pgbouncer vs psql COPY | >= 0.8x | 0.50x (50 vs 100 rows/s) | **MISSED** |",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			writeTable(&out, Report{
				Options: Options{Workloads: []string{WorkloadFixed}, Modes: []string{ModeFresh}, ProbeCPU: 1},
				Runs:    []Figures{floor, tt.watcher},
				Micro:   tt.micro,
			})
			for _, line := range tt.want {
				if !strings.Contains(out.String(), line+"\n") {
					t.Errorf("table lacks %q:\n%s", line, out.String())
				}
			}
		})
	}
}
