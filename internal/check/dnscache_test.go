package check

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/dnscache"
	"github.com/watcher-dev/watcher/internal/dnscache/dnstest"
	"github.com/watcher-dev/watcher/internal/record"
)

// nameFor serves h and returns its URL under name, which dns resolves to
// 127.0.0.1 (or to addr, when given).
func nameFor(t *testing.T, dns *dnstest.Server, name string, ttl uint32, h http.HandlerFunc, addr ...netip.Addr) string {
	t.Helper()
	if len(addr) == 0 {
		addr = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	}
	dns.Set(name, dnstest.Record{Addrs: addr, TTL: ttl})
	return strings.Replace(serve(t, h), "127.0.0.1", name, 1)
}

// TestRunCachedDNSPolicy: an address the cache keeps is judged by the
// policy at every check, not only when it was first looked up.
func TestRunCachedDNSPolicy(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		addr   netip.Addr
	}{
		{"loopback", Policy{}, netip.MustParseAddr("127.0.0.1")},
		{"metadata", Policy{AllowLoopback: true, AllowPrivate: true}, netip.MustParseAddr("169.254.169.254")},
		{"private", Policy{AllowLoopback: true}, netip.MustParseAddr("10.1.2.3")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dns := dnstest.New(t)
			const host = "target.watcher.test"
			url := nameFor(t, dns, host, 300, welcome, tt.addr)
			c := New(Options{Policy: tt.policy, DNSCache: dnscache.New(dnscache.Config{Dial: dns.Dial})})
			for i := range 3 {
				got := c.Run(context.Background(), &Request{URL: url, Timeout: 5 * time.Second})
				if got.Error != record.ErrRefused {
					t.Fatalf("check %d: Error = %q (%s), want %q", i, got.Error, got.ErrorDetail, record.ErrRefused)
				}
			}
			if n := dns.Queries(host, "A"); n != 1 {
				t.Fatalf("%d A queries for 3 checks, want 1: the later checks should use the cache", n)
			}
		})
	}
}

// TestRunCachedDNSTime: the first check records the real lookup; a check
// answered from the cache records about none; FreshDNS would ask again.
func TestRunCachedDNSTime(t *testing.T) {
	const (
		host     = "timed.watcher.test"
		dnsDelay = 50 * time.Millisecond
	)
	dns := dnstest.New(t)
	dns.Delay(dnsDelay)
	url := nameFor(t, dns, host, 300, welcome)
	cache := dnscache.New(dnscache.Config{Dial: dns.Dial})
	c := New(Options{Policy: Policy{AllowLoopback: true}, DNSCache: cache})

	first := c.Run(context.Background(), &Request{URL: url, Timeout: 5 * time.Second})
	if first.Error != "" {
		t.Fatalf("first check: %s: %s", first.Error, first.ErrorDetail)
	}
	if first.DNS < dnsDelay {
		t.Errorf("first check: DNS = %v, want at least the server's %v", first.DNS, dnsDelay)
	}
	second := c.Run(context.Background(), &Request{URL: url, Timeout: 5 * time.Second})
	if second.Error != "" {
		t.Fatalf("second check: %s: %s", second.Error, second.ErrorDetail)
	}
	if second.DNS >= dnsDelay/2 {
		t.Errorf("second check: DNS = %v, want about zero (a cache hit)", second.DNS)
	}
	if a, aaaa := dns.Queries(host, "A"), dns.Queries(host, "AAAA"); a != 1 || aaaa != 1 {
		t.Errorf("queries A=%d AAAA=%d for two checks, want 1 each", a, aaaa)
	}
	if s := cache.Stats(); s.Hits != 2 {
		t.Errorf("cache stats %+v, want 2 hits (A and AAAA of the second check)", s)
	}
}

// TestRunFreshDNSIgnoresCache: FreshDNS leaves the dialer to the system's
// resolver (which a test cannot point at its server; localhost comes from
// /etc/hosts), and the cache given is not consulted.
func TestRunFreshDNSIgnoresCache(t *testing.T) {
	dns := dnstest.New(t)
	cache := dnscache.New(dnscache.Config{Dial: dns.Dial})
	url := strings.Replace(serve(t, welcome), "127.0.0.1", "localhost", 1)
	c := New(Options{Policy: Policy{AllowLoopback: true}, DNSCache: cache, FreshDNS: true})
	if got := c.Run(context.Background(), &Request{URL: url, Timeout: 5 * time.Second}); got.Error != "" {
		t.Fatalf("check: %s: %s", got.Error, got.ErrorDetail)
	}
	if s := cache.Stats(); s.Hits+s.Misses != 0 || dns.Total() != 0 {
		t.Fatalf("FreshDNS consulted the cache: %+v, %d queries", s, dns.Total())
	}
}
