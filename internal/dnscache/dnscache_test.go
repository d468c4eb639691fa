package dnscache

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/dnscache/dnstest"
)

// clock is a test clock the cache reads.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// newCache returns a cache whose name server is srv and whose clock the
// test moves.
func newCache(t *testing.T, srv *dnstest.Server, cfg Config) (*Cache, *clock) {
	t.Helper()
	cfg.Dial = srv.Dial
	c := New(cfg)
	clk := &clock{}
	clk.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	c.now = clk.now
	return c, clk
}

func lookup4(t *testing.T, r *net.Resolver, name string) ([]netip.Addr, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.LookupNetIP(ctx, "ip4", name)
}

func mustLookup4(t *testing.T, r *net.Resolver, name string) netip.Addr {
	t.Helper()
	addrs, err := lookup4(t, r, name)
	if err != nil {
		t.Fatalf("lookup %s: %v", name, err)
	}
	if len(addrs) != 1 {
		t.Fatalf("lookup %s: %v, want one address", name, addrs)
	}
	return addrs[0]
}

var (
	addr1 = netip.MustParseAddr("192.0.2.1")
	addr2 = netip.MustParseAddr("192.0.2.2")
)

func TestTTLHonoured(t *testing.T) {
	srv := dnstest.New(t)
	const name = "site.watcher.test"
	srv.Set(name, dnstest.Record{Addrs: []netip.Addr{addr1}, TTL: 30})
	c, clk := newCache(t, srv, Config{})
	r := c.Resolver()

	if got := mustLookup4(t, r, name); got != addr1 {
		t.Fatalf("first lookup = %v, want %v", got, addr1)
	}
	if n := srv.Queries(name, "A"); n != 1 {
		t.Fatalf("queries after the first lookup = %d, want 1", n)
	}
	srv.Set(name, dnstest.Record{Addrs: []netip.Addr{addr2}, TTL: 30})
	clk.advance(29 * time.Second)
	if got := mustLookup4(t, r, name); got != addr1 {
		t.Fatalf("lookup within the TTL = %v, want the kept %v", got, addr1)
	}
	if n := srv.Queries(name, "A"); n != 1 {
		t.Fatalf("queries within the TTL = %d, want 1 (no new query)", n)
	}
	clk.advance(time.Second)
	if got := mustLookup4(t, r, name); got != addr2 {
		t.Fatalf("lookup after the TTL = %v, want the changed %v", got, addr2)
	}
	if n := srv.Queries(name, "A"); n != 2 {
		t.Fatalf("queries after the TTL = %d, want 2", n)
	}
	if s := c.Stats(); s.Hits != 1 || s.Misses != 2 || s.Queries != 2 {
		t.Errorf("stats = %+v, want 1 hit, 2 misses, 2 queries", s)
	}
}

func TestTTLCapAndFloor(t *testing.T) {
	srv := dnstest.New(t)
	srv.Set("long.watcher.test", dnstest.Record{Addrs: []netip.Addr{addr1}, TTL: 86400})
	srv.Set("zero.watcher.test", dnstest.Record{Addrs: []netip.Addr{addr1}, TTL: 0})
	c, clk := newCache(t, srv, Config{MaxTTL: 60 * time.Second, MinTTL: time.Second})
	r := c.Resolver()

	for _, name := range []string{"long.watcher.test", "zero.watcher.test"} {
		mustLookup4(t, r, name)
		mustLookup4(t, r, name)
	}
	if a, b := srv.Queries("long.watcher.test", "A"), srv.Queries("zero.watcher.test", "A"); a != 1 || b != 1 {
		t.Fatalf("queries = %d, %d; want 1, 1 (a TTL of 0 is kept for the floor)", a, b)
	}
	clk.advance(time.Second)
	mustLookup4(t, r, "zero.watcher.test")
	if n := srv.Queries("zero.watcher.test", "A"); n != 2 {
		t.Fatalf("TTL 0 after the 1 s floor: %d queries, want 2", n)
	}
	clk.advance(59 * time.Second)
	mustLookup4(t, r, "long.watcher.test")
	if n := srv.Queries("long.watcher.test", "A"); n != 2 {
		t.Fatalf("TTL of a day after the 60 s cap: %d queries, want 2", n)
	}
}

func TestSingleflight(t *testing.T) {
	srv := dnstest.New(t)
	const name = "shared.watcher.test"
	srv.Set(name, dnstest.Record{Addrs: []netip.Addr{addr1}, TTL: 30})
	srv.Delay(200 * time.Millisecond) // so that all lookups overlap
	c, _ := newCache(t, srv, Config{})

	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			// A resolver each: net.Resolver's own singleflight is per
			// resolver, so this tests the cache's.
			addrs, err := lookup4(t, c.Resolver(), name)
			if err == nil && (len(addrs) != 1 || addrs[0] != addr1) {
				err = errors.New("wrong answer")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if q := srv.Queries(name, "A"); q != 1 {
		t.Fatalf("%d concurrent lookups sent %d queries, want 1", n, q)
	}
	if s := c.Stats(); s.Queries != 1 || s.Hits+s.Misses != n || s.Shared+s.Hits != n {
		t.Errorf("stats = %+v: want 1 query for %d lookups, each sharing it or hitting", s, n)
	}
}

func TestNegativeCaching(t *testing.T) {
	srv := dnstest.New(t)
	c, clk := newCache(t, srv, Config{NegativeTTL: 5 * time.Second})
	r := c.Resolver()
	notFound := func(name string) {
		t.Helper()
		_, err := lookup4(t, r, name)
		var dnsErr *net.DNSError
		if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
			t.Fatalf("lookup %s: %v, want not found", name, err)
		}
	}

	// NXDOMAIN with an SOA whose minimum is 2 s: kept 2 s.
	srv.Set("gone.watcher.test", dnstest.Record{NXDomain: true, NegTTL: 2})
	notFound("gone.watcher.test")
	notFound("gone.watcher.test")
	if n := srv.Queries("gone.watcher.test", "A"); n != 1 {
		t.Fatalf("NXDOMAIN within its negative TTL: %d queries, want 1", n)
	}
	clk.advance(2 * time.Second)
	srv.Set("gone.watcher.test", dnstest.Record{Addrs: []netip.Addr{addr1}, TTL: 30})
	if got := mustLookup4(t, r, "gone.watcher.test"); got != addr1 {
		t.Fatalf("after the negative TTL: %v, want %v", got, addr1)
	}

	// NXDOMAIN with an SOA minimum of an hour: kept NegativeTTL.
	srv.Set("long-gone.watcher.test", dnstest.Record{NXDomain: true, NegTTL: 3600})
	// NXDOMAIN without an SOA: kept NegativeTTL too.
	srv.Set("bare.watcher.test", dnstest.Record{NXDomain: true})
	notFound("long-gone.watcher.test")
	notFound("bare.watcher.test")
	clk.advance(4 * time.Second)
	notFound("long-gone.watcher.test")
	notFound("bare.watcher.test")
	if a, b := srv.Queries("long-gone.watcher.test", "A"), srv.Queries("bare.watcher.test", "A"); a != 1 || b != 1 {
		t.Fatalf("within NegativeTTL: %d, %d queries, want 1, 1", a, b)
	}
	clk.advance(time.Second)
	notFound("long-gone.watcher.test")
	notFound("bare.watcher.test")
	if a, b := srv.Queries("long-gone.watcher.test", "A"), srv.Queries("bare.watcher.test", "A"); a != 2 || b != 2 {
		t.Fatalf("after NegativeTTL: %d, %d queries, want 2, 2", a, b)
	}
}

// An IPv4-only host answers AAAA with no data: that is kept too, or every
// dual-stack lookup would send an AAAA query.
func TestNoDataCached(t *testing.T) {
	srv := dnstest.New(t)
	const name = "v4only.watcher.test"
	srv.Set(name, dnstest.Record{Addrs: []netip.Addr{addr1}, TTL: 30})
	c, _ := newCache(t, srv, Config{})
	r := c.Resolver()
	for range 3 {
		addrs, err := r.LookupNetIP(context.Background(), "ip", name)
		if err != nil || len(addrs) != 1 || addrs[0] != addr1 {
			t.Fatalf("lookup = %v, %v; want [%v]", addrs, err, addr1)
		}
	}
	if a, aaaa := srv.Queries(name, "A"), srv.Queries(name, "AAAA"); a != 1 || aaaa != 1 {
		t.Fatalf("queries A=%d AAAA=%d, want 1 each", a, aaaa)
	}
}

// A server that does not answer: the lookup fails as it would without the
// cache (a *net.DNSError from Go's resolver, after its attempts), nothing is
// kept, and the next lookup asks again and succeeds.
func TestServerDoesNotAnswer(t *testing.T) {
	srv := dnstest.New(t)
	const name = "quiet.watcher.test"
	srv.Set(name, dnstest.Record{Addrs: []netip.Addr{addr1}, TTL: 30})
	srv.Silent(true)
	c, _ := newCache(t, srv, Config{Timeout: 100 * time.Millisecond})
	r := c.Resolver()

	start := time.Now()
	_, err := lookup4(t, r, name)
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || dnsErr.IsNotFound {
		t.Fatalf("lookup against a silent server: %v, want a DNS error other than not found", err)
	}
	if !dnsErr.IsTimeout {
		t.Errorf("error %v: IsTimeout false, want true", err)
	}
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("lookup took %v, want each attempt bounded by Timeout", elapsed)
	}
	if c.Len() != 0 || c.Stats().Failures == 0 {
		t.Fatalf("after no answer: %d kept, stats %+v; want none kept and failures counted", c.Len(), c.Stats())
	}
	asked := srv.Queries(name, "A")

	srv.Silent(false)
	if got := mustLookup4(t, r, name); got != addr1 {
		t.Fatalf("once the server answers: %v, want %v", got, addr1)
	}
	mustLookup4(t, r, name)
	if n := srv.Queries(name, "A") - asked; n != 1 {
		t.Fatalf("once the server answers: %d queries, want 1 (then kept)", n)
	}
}

// SERVFAIL is relayed (Go's resolver tries the next server, or fails) and
// never kept.
func TestServFailNotCached(t *testing.T) {
	srv := dnstest.New(t)
	const name = "broken.watcher.test"
	srv.Set(name, dnstest.Record{ServFail: true})
	c, _ := newCache(t, srv, Config{})
	r := c.Resolver()
	if _, err := lookup4(t, r, name); err == nil {
		t.Fatal("SERVFAIL: lookup succeeded")
	}
	before := srv.Queries(name, "A")
	srv.Set(name, dnstest.Record{Addrs: []netip.Addr{addr1}, TTL: 30})
	if got := mustLookup4(t, r, name); got != addr1 {
		t.Fatalf("after SERVFAIL: %v, want %v", got, addr1)
	}
	if srv.Queries(name, "A") == before {
		t.Fatal("after SERVFAIL: no new query; the failure was kept")
	}
}

// A lookup whose own deadline passes while it waits for another's query
// gives up then, and the query still lands in the cache.
func TestWaiterDeadline(t *testing.T) {
	srv := dnstest.New(t)
	const name = "slow.watcher.test"
	srv.Set(name, dnstest.Record{Addrs: []netip.Addr{addr1}, TTL: 30})
	srv.Delay(300 * time.Millisecond)
	c, _ := newCache(t, srv, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Resolver().LookupNetIP(ctx, "ip4", name); err == nil {
		t.Fatal("lookup beat the server's delay")
	}
	deadline := time.Now().Add(2 * time.Second)
	for c.Len() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	srv.Delay(0)
	mustLookup4(t, c.Resolver(), name)
	if n := srv.Queries(name, "A"); n != 1 {
		t.Fatalf("%d queries, want 1: the abandoned lookup's answer should have been kept", n)
	}
}

func TestMaxEntries(t *testing.T) {
	srv := dnstest.New(t)
	c, _ := newCache(t, srv, Config{MaxEntries: 2})
	r := c.Resolver()
	for _, name := range []string{"a.watcher.test", "b.watcher.test", "c.watcher.test"} {
		srv.Set(name, dnstest.Record{Addrs: []netip.Addr{addr1}, TTL: 30})
		mustLookup4(t, r, name)
	}
	if c.Len() != 2 || c.Stats().Evictions != 1 {
		t.Fatalf("kept %d, stats %+v; want 2 kept and 1 eviction", c.Len(), c.Stats())
	}
}

// BenchmarkLookup compares a lookup answered from the cache with a fresh
// one (Go's resolver asking the loopback server every time): the floor of
// what a VPC probe saves per check, before the network to its resolver.
func BenchmarkLookup(b *testing.B) {
	srv := dnstest.New(b)
	const name = "bench.watcher.test"
	srv.Set(name, dnstest.Record{Addrs: []netip.Addr{addr1}, TTL: 3600})
	ctx := context.Background()
	run := func(b *testing.B, r *net.Resolver) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.LookupNetIP(ctx, "ip", name); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("cached", func(b *testing.B) {
		c := New(Config{Dial: srv.Dial})
		run(b, c.Resolver())
		if s := c.Stats(); s.Queries > 2 {
			b.Fatalf("cached: %d queries, want 2 (A and AAAA once)", s.Queries)
		}
	})
	b.Run("fresh", func(b *testing.B) {
		run(b, &net.Resolver{PreferGo: true, Dial: srv.Dial})
	})
}
