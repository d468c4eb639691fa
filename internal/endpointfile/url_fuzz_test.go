package endpointfile

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/watcher-dev/watcher/internal/endpoint"
)

// FuzzCheckURL: the import's URL rule never panics, and every URL it
// accepts is one the probe can send: http or https, a host, no credentials,
// and a request that net/http builds and writes without complaint (so an
// imported endpoint never fails every check with a request error).
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://example.com/health", "http://a.example/", "http://127.0.0.1:8089/site/1?delay=100ms",
		"http://[::1]:80/", "http://[fe80::1%25eth0]/", "https://xn--bcher-kva.example/", "http://bücher.example/",
		"http://u:p@example.com/", "ftp://example.com/", "http:///path", "http://exa mple.com/", "http://a%20b/",
		"http://a:port/", "http://[::1/", "//example.com/", "http://example.com:99999/", "HTTP://EXAMPLE.COM/",
		"http://example.com/a b", "http://example.com/#frag", "http://%41.example/", "http://a\x7f.example/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		msg := checkURL(raw)
		if msg != "" {
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("accepted %q, which url.Parse rejects: %v", raw, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Hostname() == "" || u.User != nil {
			t.Fatalf("accepted %q: scheme %q, host %q, user %v", raw, u.Scheme, u.Hostname(), u.User)
		}
		for _, method := range endpoint.Methods {
			req, err := http.NewRequestWithContext(context.Background(), method, raw, strings.NewReader("b"))
			if err != nil {
				t.Fatalf("accepted %q, but the request cannot be built: %v", raw, err)
			}
			if err := req.Write(io.Discard); err != nil {
				t.Fatalf("accepted %q, but the request cannot be sent: %v", raw, err)
			}
		}
	})
}
