package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/check"
	"github.com/watcher-dev/watcher/internal/regex"
	"github.com/watcher-dev/watcher/internal/targets"
)

func BenchmarkScratchCheck(b *testing.B) {
	srv := httptest.NewServer(targets.Handler(targets.Options{}))
	defer srv.Close()
	url := srv.URL + "/site/1?delay=0&size=2048&status=200"
	for _, reuse := range []bool{false, true} {
		name := "fresh"
		if reuse {
			name = "reuse"
		}
		b.Run("floor-"+name, func(b *testing.B) {
			tr := &http.Transport{DisableKeepAlives: !reuse, MaxIdleConnsPerHost: 64}
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			re := regexp.MustCompile("welcome")
			b.ReportAllocs()
			for b.Loop() {
				s := floorCheck(context.Background(), c, url, re, time.Now())
				if s.failed {
					b.Fatal("failed")
				}
			}
		})
		b.Run("watcher-"+name, func(b *testing.B) {
			c := check.New(check.Options{Policy: check.Policy{AllowLoopback: true}, ReuseConnections: reuse})
			re, _ := regex.Compile("welcome", time.Second)
			req := &check.Request{URL: url, Regex: re, Timeout: 10 * time.Second}
			b.ReportAllocs()
			for b.Loop() {
				r := c.Run(context.Background(), req)
				if r.Error != "" {
					b.Fatal(r.Error)
				}
			}
		})
	}
}
