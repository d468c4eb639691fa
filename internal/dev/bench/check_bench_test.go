package bench

import (
	"context"
	"log/slog"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/check"
	"github.com/watcher-dev/watcher/internal/dev/targets"
	"github.com/watcher-dev/watcher/internal/regex"
)

// BenchmarkCheck runs one check of the fixed workload's target through the
// project's check engine and through the floor, in each connection mode,
// sequentially against the farm in this process: ns/op includes the farm's
// side, allocs/op and B/op compare the two clients.
func BenchmarkCheck(b *testing.B) {
	farm, err := targets.Start(b.Context(), "127.0.0.1:0", targets.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = farm.Close() })
	url := farm.URL() + "/site/1?delay=0&size=2048&status=200"
	for _, mode := range []string{ModeFresh, ModeReuse} {
		reuse := mode == ModeReuse
		b.Run("floor-"+mode, func(b *testing.B) {
			tr := &http.Transport{DisableKeepAlives: !reuse, MaxIdleConnsPerHost: floorIdlePerHost}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			re := regexp.MustCompile("welcome")
			b.ReportAllocs()
			for b.Loop() {
				if s := floorCheck(context.Background(), client, url, re, time.Now()); s.failed {
					b.Fatal("floor check failed")
				}
			}
		})
		b.Run("watcher-"+mode, func(b *testing.B) {
			c := check.New(check.Options{Policy: check.Policy{AllowLoopback: true}, ReuseConnections: reuse})
			defer c.Close()
			re, err := regex.Compile("welcome", time.Second)
			if err != nil {
				b.Fatal(err)
			}
			req := &check.Request{URL: url, Regex: re, Timeout: 10 * time.Second}
			b.ReportAllocs()
			for b.Loop() {
				if r := c.Run(context.Background(), req); r.Error != "" {
					b.Fatalf("%s: %s", r.Error, r.ErrorDetail)
				}
			}
		})
	}
}
