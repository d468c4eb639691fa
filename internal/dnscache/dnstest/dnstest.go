// Package dnstest is a DNS server on loopback for tests: it answers A and
// AAAA questions from records the test sets, with the TTLs it chooses, and
// counts the queries it gets.
package dnstest

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// Record is what the server answers for a name.
type Record struct {
	Addrs []netip.Addr // A for the IPv4 ones, AAAA for the others; none of a type: NODATA
	TTL   uint32
	// NXDomain answers "no such name"; NegTTL is then the SOA's TTL and
	// MINIMUM (0: no SOA in the answer).
	NXDomain bool
	NegTTL   uint32
	ServFail bool
}

// Server is a UDP DNS server on 127.0.0.1.
type Server struct {
	Addr string // host:port

	conn *net.UDPConn

	mu      sync.Mutex
	records map[string]Record // lowercased name, without the final dot
	queries map[string]int    // "name TYPE" -> count
	total   int
	silent  bool
	delay   time.Duration
}

// New starts a server, stopped when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: conn.LocalAddr().String(), conn: conn, records: map[string]Record{}, queries: map[string]int{}}
	done := make(chan struct{})
	go func() { defer close(done); s.serve() }()
	t.Cleanup(func() { conn.Close(); <-done })
	return s
}

// Dial connects to the server whatever address it is asked for: the
// Dial of a dnscache.Config or a net.Resolver under test.
func (s *Server) Dial(ctx context.Context, network, _ string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, s.Addr)
}

// Set sets name's record.
func (s *Server) Set(name string, r Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[canon(name)] = r
}

// Silent makes the server drop every query (true) or answer again.
func (s *Server) Silent(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.silent = on
}

// Delay makes the server wait d before each answer.
func (s *Server) Delay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Queries is how many queries the server got for name and type ("A",
// "AAAA"), dropped ones included.
func (s *Server) Queries(name, typ string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[canon(name)+" "+typ]
}

// Total is how many queries the server got.
func (s *Server) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

func canon(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }

func (s *Server) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		var q dnsmessage.Message
		if q.Unpack(buf[:n]) != nil || len(q.Questions) != 1 {
			continue
		}
		question := q.Questions[0]
		name := canon(question.Name.String())
		typ := strings.TrimPrefix(question.Type.String(), "Type")
		s.mu.Lock()
		s.queries[name+" "+typ]++
		s.total++
		rec, known := s.records[name]
		silent, delay := s.silent, s.delay
		s.mu.Unlock()
		if silent {
			continue
		}
		resp := answer(q.ID, question, rec, known)
		go func() {
			time.Sleep(delay)
			_, _ = s.conn.WriteToUDPAddrPort(resp, from)
		}()
	}
}

// answer builds the response to question from rec.
func answer(id uint16, question dnsmessage.Question, rec Record, known bool) []byte {
	m := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: id, Response: true, Authoritative: true, RecursionAvailable: true},
		Questions: []dnsmessage.Question{question},
	}
	hdr := dnsmessage.ResourceHeader{Name: question.Name, Class: dnsmessage.ClassINET, TTL: rec.TTL}
	switch {
	case rec.ServFail:
		m.RCode = dnsmessage.RCodeServerFailure
	case !known || rec.NXDomain:
		m.RCode = dnsmessage.RCodeNameError
		if rec.NegTTL > 0 {
			zone := dnsmessage.MustNewName("test.")
			m.Authorities = append(m.Authorities, dnsmessage.Resource{
				Header: dnsmessage.ResourceHeader{Name: zone, Type: dnsmessage.TypeSOA, Class: dnsmessage.ClassINET, TTL: rec.NegTTL},
				Body: &dnsmessage.SOAResource{NS: dnsmessage.MustNewName("ns.test."), MBox: dnsmessage.MustNewName("hostmaster.test."),
					Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, MinTTL: rec.NegTTL},
			})
		}
	default:
		for _, a := range rec.Addrs {
			switch {
			case a.Is4() && question.Type == dnsmessage.TypeA:
				h := hdr
				h.Type = dnsmessage.TypeA
				m.Answers = append(m.Answers, dnsmessage.Resource{Header: h, Body: &dnsmessage.AResource{A: a.As4()}})
			case a.Is6() && question.Type == dnsmessage.TypeAAAA:
				h := hdr
				h.Type = dnsmessage.TypeAAAA
				m.Answers = append(m.Answers, dnsmessage.Resource{Header: h, Body: &dnsmessage.AAAAResource{AAAA: a.As16()}})
			}
		}
	}
	b, err := m.Pack()
	if err != nil {
		panic(err)
	}
	return b
}
