// Package dnscache is a small DNS cache that honours TTLs, for probes that
// check the same hosts every few seconds.
//
// It sits under Go's own resolver rather than beside it: Cache.Resolver
// returns a net.Resolver (the pure-Go one) whose connections to the name
// servers of /etc/resolv.conf are answered in-process. A question asked
// before is answered from the cache while its TTL lasts; any other is sent
// to that name server once, however many lookups ask it at the same time,
// and its answer kept for min(TTL, MaxTTL), at least MinTTL. Negative
// answers (no such name, or no record of the type asked) are kept for the
// SOA's negative TTL, at most NegativeTTL. Everything else is Go's resolver,
// unchanged: /etc/hosts, search domains and ndots, A and AAAA in parallel,
// attempts and timeouts, the next server when one fails, and the
// httptrace DNS events (a cache hit is a DNS phase of microseconds).
//
// Net.Resolver does not expose TTLs, hence the message layer: Go sends its
// queries over the connection Resolver.Dial returns, and the cache parses
// them (golang.org/x/net/dns/dnsmessage), asks the real server itself with
// a query of its own and answers from what it keeps.
//
// Nothing is cached that the server did not answer cleanly: a timeout, a
// truncated or unparsable answer, SERVFAIL or REFUSED reaches Go's resolver
// as it would without the cache, and Go's resolver does what it always does
// (next attempt, next server, a *net.DNSError). An answer is never served
// after its TTL, even while the server is down.
package dnscache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/sync/singleflight"
)

// Defaults for Config fields left zero.
const (
	DefaultMaxTTL      = 60 * time.Second
	DefaultMinTTL      = time.Second
	DefaultNegativeTTL = 5 * time.Second
	DefaultTimeout     = 5 * time.Second // glibc's and Go's per-attempt default
	// DefaultMaxEntries keeps a question (A and AAAA, so two per host) for
	// every host of a shard of 10,000 checks (plan.DefaultOptions), each of
	// a host of its own, with room to spare: a full cache rescans itself
	// on every new question.
	DefaultMaxEntries = 50_000
)

// udpSize is the EDNS(0) payload size the cache offers the server: the
// DNS Flag Day 2020 value, which avoids fragmentation.
const udpSize = 1232

// Config tunes a Cache. Zero values take the defaults.
type Config struct {
	MaxTTL      time.Duration // longest a positive answer is kept, whatever its TTL
	MinTTL      time.Duration // shortest an answer is kept (a TTL of 0 would defeat the cache)
	NegativeTTL time.Duration // longest a negative answer is kept
	// Timeout bounds one question to the server (over UDP, then TCP when
	// the answer is truncated); the lookup's own deadline, if sooner, ends
	// its wait.
	Timeout    time.Duration
	MaxEntries int // bound on the questions kept; expired ones go first
	// Dial connects to a name server; net.Dialer when nil. Tests point it
	// at a server of their own.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// Stats counts what the cache did.
type Stats struct {
	Hits      uint64 // questions answered from the cache
	Misses    uint64 // questions that had to wait for the server
	Queries   uint64 // queries sent to a server (a truncated UDP answer retried over TCP counts twice)
	Shared    uint64 // misses whose query served more than one lookup (the first included)
	Failures  uint64 // questions the server did not answer cleanly (passed to Go's resolver as failures)
	Uncached  uint64 // answers relayed but not kept (SERVFAIL, REFUSED, lame referrals)
	Evictions uint64 // unexpired entries dropped to stay within MaxEntries
}

// Cache is safe for concurrent use. One Cache can serve many resolvers.
type Cache struct {
	cfg   Config
	now   func() time.Time // the clock; tests move it
	group singleflight.Group

	mu      sync.Mutex
	entries map[key]*entry

	hits, misses, queries, shared, failures, uncached, evictions atomic.Uint64
}

// key is one question: the name lowercased (DNS names compare without case).
type key struct {
	name  string
	typ   dnsmessage.Type
	class dnsmessage.Class
}

// entry is a kept answer.
type entry struct {
	header      dnsmessage.Header // RCode and flags; the ID is the asker's
	answers     []dnsmessage.Resource
	authorities []dnsmessage.Resource
	expires     time.Time
}

// New returns an empty cache.
func New(cfg Config) *Cache {
	if cfg.MaxTTL <= 0 {
		cfg.MaxTTL = DefaultMaxTTL
	}
	if cfg.MinTTL <= 0 {
		cfg.MinTTL = DefaultMinTTL
	}
	if cfg.NegativeTTL <= 0 {
		cfg.NegativeTTL = DefaultNegativeTTL
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.Dial == nil {
		var d net.Dialer
		cfg.Dial = d.DialContext
	}
	return &Cache{cfg: cfg, now: time.Now, entries: make(map[key]*entry)}
}

// Resolver returns Go's resolver with its name-server traffic answered by
// the cache. PreferGo: the cgo resolver (libc) would bypass it.
func (c *Cache) Resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: c.dial}
}

// Stats returns the counters so far.
func (c *Cache) Stats() Stats {
	return Stats{
		Hits: c.hits.Load(), Misses: c.misses.Load(), Queries: c.queries.Load(), Shared: c.shared.Load(),
		Failures: c.failures.Load(), Uncached: c.uncached.Load(), Evictions: c.evictions.Load(),
	}
}

// Len is the number of questions kept, expired ones included until swept.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// Flush forgets every answer.
func (c *Cache) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}

// dial is the resolver's Dial: a connection to server that the cache
// answers. network (udp or tcp) is ignored: the cache asks the server over
// UDP and retries over TCP itself when the answer is truncated.
func (c *Cache) dial(ctx context.Context, _, server string) (net.Conn, error) {
	return newConn(ctx, c, server), nil
}

// errMalformed is a query the cache cannot read; Go never sends one.
var errMalformed = errors.New("dnscache: malformed query")

// answer answers one query (a whole DNS message) for server. The error is
// for a query the server did not answer cleanly, as Go's resolver would
// have seen it.
func (c *Cache) answer(ctx context.Context, server string, query []byte) ([]byte, error) {
	var q dnsmessage.Message
	if err := q.Unpack(query); err != nil || len(q.Questions) != 1 || q.Response ||
		q.OpCode != 0 {
		return nil, errMalformed
	}
	question := q.Questions[0]
	k := key{name: strings.ToLower(question.Name.String()), typ: question.Type, class: question.Class}

	if e := c.lookup(k); e != nil {
		c.hits.Add(1)
		return e.reply(q.Header, question, c.now())
	}
	c.misses.Add(1)
	// One query for every lookup asking the same question meanwhile. It
	// runs without the first asker's cancellation (the others still want
	// it) but within Timeout; each asker waits at most until its own
	// deadline.
	ch := c.group.DoChan(k.name+"\x00"+k.typ.String()+"\x00"+k.class.String(), func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.Timeout)
		defer cancel()
		return c.fetch(fctx, server, k, question)
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-ch:
		if r.Shared {
			c.shared.Add(1)
		}
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*entry).reply(q.Header, question, c.now())
	}
}

// lookup returns the unexpired entry for k, or nil.
func (c *Cache) lookup(k key) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[k]
	if e == nil || !c.now().Before(e.expires) {
		return nil
	}
	return e
}

// store keeps e for k, sweeping expired entries, and if need be an
// arbitrary unexpired one, to stay within MaxEntries.
func (c *Cache) store(k key, e *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[k]; !ok && len(c.entries) >= c.cfg.MaxEntries {
		now := c.now()
		for k2, e2 := range c.entries {
			if !now.Before(e2.expires) {
				delete(c.entries, k2)
			}
		}
		for k2 := range c.entries {
			if len(c.entries) < c.cfg.MaxEntries {
				break
			}
			delete(c.entries, k2)
			c.evictions.Add(1)
		}
	}
	c.entries[k] = e
}

// fetch asks server the question and keeps the answer when it may. The
// entry returned is relayed either way; an error means no clean answer.
func (c *Cache) fetch(ctx context.Context, server string, k key, question dnsmessage.Question) (*entry, error) {
	resp, err := c.exchange(ctx, server, question)
	if err != nil {
		c.failures.Add(1)
		return nil, err
	}
	ttl, ok := c.ttl(resp)
	e := &entry{header: resp.Header, answers: resp.Answers, authorities: resp.Authorities, expires: c.now().Add(ttl)}
	if ok {
		c.store(k, e)
	} else {
		c.uncached.Add(1)
	}
	return e, nil
}

// ttl is how long resp may be kept; ok is false when it may not.
func (c *Cache) ttl(resp *dnsmessage.Message) (ttl time.Duration, ok bool) {
	h := resp.Header
	if !h.Authoritative && !h.RecursionAvailable {
		return 0, false // a referral, not an answer: Go's resolver tries the next server
	}
	clamp := func(d, hi time.Duration) time.Duration { return max(min(d, hi), c.cfg.MinTTL) }
	switch {
	case h.RCode == dnsmessage.RCodeSuccess && len(resp.Answers) > 0:
		least := resp.Answers[0].Header.TTL
		for _, rr := range resp.Answers[1:] {
			least = min(least, rr.Header.TTL)
		}
		return clamp(time.Duration(least)*time.Second, c.cfg.MaxTTL), true
	case h.RCode == dnsmessage.RCodeSuccess, h.RCode == dnsmessage.RCodeNameError:
		// RFC 2308: the negative TTL is the lesser of the SOA's own TTL
		// and its MINIMUM field; without an SOA, NegativeTTL.
		neg := c.cfg.NegativeTTL
		for _, rr := range resp.Authorities {
			if soa, isSOA := rr.Body.(*dnsmessage.SOAResource); isSOA {
				neg = time.Duration(min(rr.Header.TTL, soa.MinTTL)) * time.Second
				break
			}
		}
		return clamp(neg, c.cfg.NegativeTTL), true
	}
	return 0, false // SERVFAIL, REFUSED...: relayed, never kept
}

// exchange sends the question to server over UDP, and over TCP when the
// UDP answer is truncated.
func (c *Cache) exchange(ctx context.Context, server string, question dnsmessage.Question) (*dnsmessage.Message, error) {
	var resp *dnsmessage.Message
	var err error
	for _, network := range []string{"udp", "tcp"} {
		resp, err = c.roundTrip(ctx, network, server, question)
		if err != nil || !resp.Truncated {
			return resp, err
		}
	}
	return resp, err // truncated over TCP too: what glibc and Go accept
}

// roundTrip is one query and its answer over network.
func (c *Cache) roundTrip(ctx context.Context, network, server string, question dnsmessage.Question) (*dnsmessage.Message, error) {
	id := uint16(rand.Uint32())
	query := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: id, RecursionDesired: true},
		Questions: []dnsmessage.Question{question},
	}
	var opt dnsmessage.ResourceHeader
	if err := opt.SetEDNS0(udpSize, dnsmessage.RCodeSuccess, false); err != nil {
		return nil, err
	}
	query.Additionals = []dnsmessage.Resource{{Header: opt, Body: &dnsmessage.OPTResource{}}}
	b, err := query.AppendPack(make([]byte, 2, 2+64)) // room for TCP's length prefix
	if err != nil {
		return nil, err
	}
	b[0], b[1] = byte((len(b)-2)>>8), byte(len(b)-2)

	conn, err := c.cfg.Dial(ctx, network, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c.queries.Add(1)

	if network == "udp" {
		if _, err := conn.Write(b[2:]); err != nil {
			return nil, err
		}
		buf := make([]byte, udpSize)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return nil, err
			}
			// Answers to another query (a late one, or a spoof) are
			// ignored, as Go's resolver does.
			if m, ok := matches(buf[:n], id, question); ok {
				return m, nil
			}
		}
	}
	if _, err := conn.Write(b); err != nil {
		return nil, err
	}
	var l [2]byte
	if _, err := io.ReadFull(conn, l[:]); err != nil {
		return nil, err
	}
	resp := make([]byte, int(l[0])<<8|int(l[1]))
	if _, err := io.ReadFull(conn, resp); err != nil {
		return nil, err
	}
	m, ok := matches(resp, id, question)
	if !ok {
		return nil, fmt.Errorf("dnscache: answer from %s does not match the question", server)
	}
	return m, nil
}

// matches parses b and reports whether it answers query id's question.
func matches(b []byte, id uint16, question dnsmessage.Question) (*dnsmessage.Message, bool) {
	var m dnsmessage.Message
	if err := m.Unpack(b); err != nil || !m.Response || m.ID != id || len(m.Questions) != 1 {
		return nil, false
	}
	got := m.Questions[0]
	if got.Type != question.Type || got.Class != question.Class ||
		!strings.EqualFold(got.Name.String(), question.Name.String()) {
		return nil, false
	}
	return &m, true
}

// reply builds the answer to a query with header qh and question from e,
// each TTL lowered to the time e has left (so that a downstream cache
// would not keep it longer either).
func (e *entry) reply(qh dnsmessage.Header, question dnsmessage.Question, now time.Time) ([]byte, error) {
	left := uint32(max(e.expires.Sub(now), 0) / time.Second)
	h := e.header
	h.ID, h.RecursionDesired, h.Truncated = qh.ID, qh.RecursionDesired, false
	m := dnsmessage.Message{
		Header:      h,
		Questions:   []dnsmessage.Question{question},
		Answers:     withTTL(e.answers, left),
		Authorities: withTTL(e.authorities, left),
	}
	return m.AppendPack(make([]byte, 0, 512))
}

// withTTL copies rrs with each TTL at most ttl; the bodies are shared
// (they are only read).
func withTTL(rrs []dnsmessage.Resource, ttl uint32) []dnsmessage.Resource {
	if len(rrs) == 0 {
		return nil
	}
	out := make([]dnsmessage.Resource, len(rrs))
	for i, rr := range rrs {
		rr.Header.TTL = min(rr.Header.TTL, ttl)
		out[i] = rr
	}
	return out
}
