package check

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/dev/nettest"
	"github.com/watcher-dev/watcher/internal/record"
	"github.com/watcher-dev/watcher/internal/regex"
)

var loopbackOnly = Options{Policy: Policy{AllowLoopback: true}}

// server starts an httptest server for h and counts the connections it
// accepts.
type server struct {
	*httptest.Server
	conns atomic.Int64
}

func newServer(t testing.TB, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{Server: httptest.NewUnstartedServer(h)}
	s.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func serve(t testing.TB, h http.HandlerFunc) string { return newServer(t, h).URL }

func welcome(w http.ResponseWriter, _ *http.Request) {
	_, _ = io.WriteString(w, "You are always welcome!")
}

// silentListener accepts connections and never says a word.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func mustRegex(t testing.TB, pattern string, timeout time.Duration) *regex.Regex {
	t.Helper()
	re, err := regex.Compile(pattern, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return re
}

func ptr[T any](v T) *T { return &v }

func TestRun(t *testing.T) {
	const short = 300 * time.Millisecond
	tests := []struct {
		name  string
		opt   Options
		req   func(t *testing.T) Request // URL and the rest
		check func(t *testing.T, r record.Result)

		status    int // 0: no response
		err       string
		match     *bool // nil: no regex_match
		bodyBytes int64 // -1: any
	}{
		{
			name: "200 regex matches",
			opt:  loopbackOnly,
			req: func(t *testing.T) Request {
				return Request{URL: serve(t, welcome), Regex: mustRegex(t, `(?i)WELCOME`, time.Second)}
			},
			status: 200, match: ptr(true), bodyBytes: 23,
		},
		{
			name: "200 regex does not match",
			opt:  loopbackOnly,
			req: func(t *testing.T) Request {
				return Request{URL: serve(t, welcome), Regex: mustRegex(t, `forbidden`, time.Second)}
			},
			status: 200, match: ptr(false), bodyBytes: 23,
		},
		{
			name:   "200 without regex",
			opt:    loopbackOnly,
			req:    func(t *testing.T) Request { return Request{URL: serve(t, welcome)} },
			status: 200, bodyBytes: 23,
		},
		{
			name: "404 is a status not an error",
			opt:  loopbackOnly,
			req: func(t *testing.T) Request {
				return Request{URL: serve(t, http.NotFound), Regex: mustRegex(t, `not found`, time.Second)}
			},
			status: 404, match: ptr(true), bodyBytes: -1,
		},
		{
			name: "500 is a status not an error",
			opt:  loopbackOnly,
			req: func(t *testing.T) Request {
				return Request{URL: serve(t, func(w http.ResponseWriter, _ *http.Request) {
					http.Error(w, "boom", http.StatusInternalServerError)
				})}
			},
			status: 500, bodyBytes: 5,
		},
		{
			name: "POST with body and headers checked by the server",
			opt:  loopbackOnly,
			req: func(t *testing.T) Request {
				url := serve(t, func(w http.ResponseWriter, r *http.Request) {
					body, _ := io.ReadAll(r.Body)
					if r.Method != http.MethodPost || string(body) != `{"ping":1}` ||
						r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Probe") != "yes" ||
						r.Header.Get("User-Agent") != DefaultUserAgent {
						http.Error(w, fmt.Sprintf("bad request %s %q %v", r.Method, body, r.Header), http.StatusBadRequest)
						return
					}
					fmt.Fprintf(w, "echo %s", body)
				})
				return Request{URL: url, Method: "POST", Body: `{"ping":1}`,
					Headers: map[string]string{"Content-Type": "application/json", "X-Probe": "yes"},
					Regex:   mustRegex(t, `echo \{"ping":1\}$`, time.Second)}
			},
			status: 200, match: ptr(true), bodyBytes: 15,
		},
		{
			name:   "HEAD has no body",
			opt:    loopbackOnly,
			req:    func(t *testing.T) Request { return Request{URL: serve(t, welcome), Method: "HEAD"} },
			status: 200, bodyBytes: 0,
		},
		{
			name: "basic auth verified by the server",
			opt:  loopbackOnly,
			req: func(t *testing.T) Request {
				url := serve(t, func(w http.ResponseWriter, r *http.Request) {
					if u, p, ok := r.BasicAuth(); !ok || u != "monitor" || p != "s3cret" {
						http.Error(w, "who are you", http.StatusUnauthorized)
						return
					}
					welcome(w, r)
				})
				return Request{URL: url, Username: "monitor", Password: "s3cret"}
			},
			status: 200, bodyBytes: 23,
		},
		{
			name: "wrong password is a 401",
			opt:  loopbackOnly,
			req: func(t *testing.T) Request {
				url := serve(t, func(w http.ResponseWriter, r *http.Request) {
					if _, p, _ := r.BasicAuth(); p != "s3cret" {
						http.Error(w, "who are you", http.StatusUnauthorized)
					}
				})
				return Request{URL: url, Username: "monitor", Password: "wrong"}
			},
			status: 401, bodyBytes: -1,
		},
		{
			name: "server that never answers times out",
			opt:  loopbackOnly,
			req: func(t *testing.T) Request {
				url := serve(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
				return Request{URL: url, Timeout: short, Regex: mustRegex(t, `x`, time.Second)}
			},
			err: record.ErrTimeout, bodyBytes: 0,
		},
		{
			name: "hanging TLS handshake times out",
			opt:  loopbackOnly,
			req: func(t *testing.T) Request {
				return Request{URL: "https://" + silentListener(t) + "/", Timeout: short}
			},
			err: record.ErrTimeout, bodyBytes: 0,
		},
		{
			name: "slow drip body times out with its status",
			opt:  loopbackOnly,
			req: func(t *testing.T) Request {
				url := serve(t, func(w http.ResponseWriter, r *http.Request) {
					for {
						if _, err := w.Write([]byte("x")); err != nil {
							return
						}
						w.(http.Flusher).Flush()
						select {
						case <-r.Context().Done():
							return
						case <-time.After(20 * time.Millisecond):
						}
					}
				})
				return Request{URL: url, Timeout: short, Regex: mustRegex(t, `x`, time.Second)}
			},
			status: 200, err: record.ErrTimeout, bodyBytes: -1,
		},
		{
			name: "endless body is too large",
			opt:  Options{Policy: Policy{AllowLoopback: true}, BodyCap: 64 << 10},
			req: func(t *testing.T) Request {
				url := serve(t, func(w http.ResponseWriter, r *http.Request) {
					chunk := []byte(strings.Repeat("x", 32<<10))
					for {
						if _, err := w.Write(chunk); err != nil {
							return
						}
					}
				})
				return Request{URL: url, Timeout: 10 * time.Second}
			},
			status: 200, err: record.ErrBodyTooLarge, bodyBytes: 64 << 10,
		},
		{
			name: "too large body still reports a match in the part read",
			opt:  Options{Policy: Policy{AllowLoopback: true}, BodyCap: 1 << 10},
			req: func(t *testing.T) Request {
				url := serve(t, func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.WriteString(w, "welcome "+strings.Repeat("x", 4<<10))
				})
				return Request{URL: url, Regex: mustRegex(t, `welcome`, time.Second)}
			},
			status: 200, err: record.ErrBodyTooLarge, match: ptr(true), bodyBytes: 1 << 10,
		},
		{
			name: "too large body without a match in the part read leaves it unknown",
			opt:  Options{Policy: Policy{AllowLoopback: true}, BodyCap: 1 << 10},
			req: func(t *testing.T) Request {
				url := serve(t, func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.WriteString(w, strings.Repeat("x", 4<<10)+"welcome")
				})
				return Request{URL: url, Regex: mustRegex(t, `welcome`, time.Second)}
			},
			status: 200, err: record.ErrBodyTooLarge, bodyBytes: 1 << 10,
		},
		{
			name: "regex timeout",
			opt:  loopbackOnly,
			req: func(t *testing.T) Request {
				url := serve(t, func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.WriteString(w, strings.Repeat("a", 64)+"b")
				})
				return Request{URL: url, Regex: mustRegex(t, `(?=a)(a+)+$`, 10*time.Millisecond)}
			},
			status: 200, err: record.ErrRegexTimeout, bodyBytes: 65,
			check: func(t *testing.T, r record.Result) {
				if strings.Contains(r.ErrorDetail, "aaaa") {
					t.Errorf("ErrorDetail %q quotes the body", r.ErrorDetail)
				}
			},
		},
		{
			name: "redirect loop",
			opt:  loopbackOnly,
			req: func(t *testing.T) Request {
				return Request{URL: serve(t, func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, r.URL.Path, http.StatusFound)
				})}
			},
			status: 302, err: record.ErrTooManyRedirects, bodyBytes: 0,
		},
		{
			name: "redirect followed",
			opt:  loopbackOnly,
			req: func(t *testing.T) Request {
				return Request{URL: serve(t, func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path != "/home" {
						http.Redirect(w, r, "/home", http.StatusMovedPermanently)
						return
					}
					welcome(w, r)
				}), Regex: mustRegex(t, `welcome`, time.Second)}
			},
			status: 200, match: ptr(true), bodyBytes: 23,
		},
		{
			name: "redirects not followed when MaxRedirects is negative",
			opt:  Options{Policy: Policy{AllowLoopback: true}, MaxRedirects: -1},
			req: func(t *testing.T) Request {
				return Request{URL: serve(t, func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, r.URL.Path, http.StatusFound)
				})}
			},
			status: 302, bodyBytes: -1,
		},
		{
			name: "untrusted certificate",
			opt:  loopbackOnly,
			req: func(t *testing.T) Request {
				s := httptest.NewUnstartedServer(http.HandlerFunc(welcome))
				s.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake error is expected
				s.StartTLS()
				t.Cleanup(s.Close)
				return Request{URL: s.URL}
			},
			err: record.ErrTLS, bodyBytes: 0,
		},
		{
			name: "plain HTTP server behind an https URL",
			opt:  loopbackOnly,
			req: func(t *testing.T) Request {
				return Request{URL: strings.Replace(serve(t, welcome), "http:", "https:", 1)}
			},
			err: record.ErrTLS, bodyBytes: 0,
		},
		{
			name:   "name that does not resolve",
			opt:    loopbackOnly,
			req:    func(t *testing.T) Request { return Request{URL: "http://watcher-check-test.invalid/"} },
			err:    record.ErrDNS,
			status: 0, bodyBytes: 0,
		},
		{
			name: "closed port",
			opt:  loopbackOnly,
			req:  func(t *testing.T) Request { return Request{URL: "http://" + closedPort(t) + "/"} },
			err:  record.ErrConnect, bodyBytes: 0,
		},
		{
			name: "bad scheme",
			opt:  loopbackOnly,
			req:  func(t *testing.T) Request { return Request{URL: "ftp://example.com/"} },
			err:  record.ErrRequest, bodyBytes: 0,
		},
		{
			name: "bad method",
			opt:  loopbackOnly,
			req:  func(t *testing.T) Request { return Request{URL: "http://127.0.0.1/", Method: "GE T"} },
			err:  record.ErrRequest, bodyBytes: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := New(tt.opt)
			req := tt.req(t)
			got := c.Run(context.Background(), &req)

			if got.Error != tt.err {
				t.Errorf("Error = %q (%s), want %q", got.Error, got.ErrorDetail, tt.err)
			}
			if tt.err != "" && got.ErrorDetail == "" {
				t.Errorf("ErrorDetail empty for %s", got.Error)
			}
			switch {
			case tt.status == 0 && got.StatusCode != nil:
				t.Errorf("StatusCode = %d, want none", *got.StatusCode)
			case tt.status != 0 && (got.StatusCode == nil || *got.StatusCode != tt.status):
				t.Errorf("StatusCode = %v, want %d", fmtPtr(got.StatusCode), tt.status)
			}
			if fmtPtr(got.RegexMatch) != fmtPtr(tt.match) {
				t.Errorf("RegexMatch = %s, want %s", fmtPtr(got.RegexMatch), fmtPtr(tt.match))
			}
			if tt.bodyBytes >= 0 && got.BodyBytes != tt.bodyBytes {
				t.Errorf("BodyBytes = %d, want %d", got.BodyBytes, tt.bodyBytes)
			}
			if got.StartedAt.IsZero() {
				t.Error("StartedAt not set")
			}
			if got.ResponseTime < 0 || got.DNS < 0 || got.Connect < 0 || got.TLS < 0 || got.TTFB < 0 {
				t.Errorf("negative time in %+v", got)
			}
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

func fmtPtr[T any](p *T) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}

// TestRunPolicy: refused addresses are refused before any connection is
// made, and the result says so.
func TestRunPolicy(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		url    func(s *server) string
	}{
		{"loopback not allowed", Policy{}, func(s *server) string { return s.URL }},
		{"loopback by name", Policy{}, func(s *server) string { return strings.Replace(s.URL, "127.0.0.1", "localhost", 1) }},
		{"loopback as mapped IPv6", Policy{}, func(s *server) string {
			return strings.Replace(s.URL, "127.0.0.1", "[::ffff:127.0.0.1]", 1)
		}},
		{"metadata even with loopback allowed", Policy{AllowLoopback: true, AllowPrivate: true}, func(*server) string {
			return "http://169.254.169.254/latest/meta-data/"
		}},
		{"metadata IPv6", Policy{AllowLoopback: true, AllowPrivate: true}, func(*server) string {
			return "http://[fd00:ec2::254]/latest/meta-data/"
		}},
		{"private not allowed", Policy{AllowLoopback: true}, func(*server) string { return "http://10.1.2.3/" }},
		{"redirect hop to metadata", Policy{AllowLoopback: true}, func(s *server) string { return s.URL + "/to-metadata" }},
		{"unspecified", Policy{AllowLoopback: true, AllowPrivate: true}, func(*server) string { return "http://0.0.0.0:1/" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/to-metadata" {
					http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
					return
				}
				welcome(w, r)
			})
			url := tt.url(s)
			got := New(Options{Policy: tt.policy}).Run(context.Background(), &Request{URL: url, Timeout: 5 * time.Second})
			if got.Error != record.ErrRefused {
				t.Fatalf("Error = %q (%s), want %q", got.Error, got.ErrorDetail, record.ErrRefused)
			}
			if !strings.Contains(got.ErrorDetail, "refused") {
				t.Errorf("ErrorDetail = %q, want it to say refused", got.ErrorDetail)
			}
			if got.StatusCode != nil {
				t.Errorf("StatusCode = %d, want none", *got.StatusCode)
			}
			want := int64(0)
			if strings.HasSuffix(url, "/to-metadata") {
				want = 1 // only the allowed first hop
			}
			if n := s.conns.Load(); n != want {
				t.Errorf("server saw %d connections, want %d", n, want)
			}
		})
	}
}

// TestPolicyCheck tests the decision itself, for addresses no test may dial.
func TestPolicyCheck(t *testing.T) {
	none := Policy{}
	loop := Policy{AllowLoopback: true}
	priv := Policy{AllowPrivate: true}
	all := Policy{AllowLoopback: true, AllowPrivate: true}
	tests := []struct {
		addr   string
		policy Policy
		allow  bool
	}{
		{"93.184.215.14", none, true},
		{"2606:2800:21f:cb07:6820:80da:af6b:8b2c", none, true},
		{"127.0.0.1", none, false},
		{"127.0.0.1", loop, true},
		{"127.255.0.9", loop, true},
		{"::1", none, false},
		{"::1", loop, true},
		{"::ffff:127.0.0.1", none, false},
		{"64:ff9b::7f00:1", none, false},
		{"169.254.169.254", all, false},
		{"169.254.170.2", all, false},
		{"fe80::1", all, false},
		{"fd00:ec2::254", all, false},
		{"64:ff9b::a9fe:a9fe", all, false},
		{"::ffff:169.254.169.254", all, false},
		{"224.0.0.1", all, false},
		{"239.255.255.250", all, false},
		{"ff02::1", all, false},
		{"0.0.0.0", all, false},
		{"0.1.2.3", all, false},
		{"::", all, false},
		{"255.255.255.255", all, false},
		{"240.0.0.1", all, false},
		{"10.0.0.1", none, false},
		{"10.0.0.1", loop, false},
		{"10.0.0.1", priv, true},
		{"172.16.0.1", none, false},
		{"172.31.255.254", priv, true},
		{"172.32.0.1", none, true},
		{"192.168.1.1", none, false},
		{"192.168.1.1", priv, true},
		{"100.64.0.1", none, false},
		{"100.127.255.254", priv, true},
		{"100.128.0.1", none, true},
		{"fc00::1", none, false},
		{"fd12:3456::1", priv, true},
		{"fd00:ec2::253", priv, true},
		{"::ffff:10.0.0.1", none, false},
		{"127.0.0.1", priv, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %+v", tt.addr, tt.policy), func(t *testing.T) {
			err := tt.policy.Check(netip.MustParseAddr(tt.addr))
			if (err == nil) != tt.allow {
				t.Fatalf("Check(%s) = %v, want allowed=%v", tt.addr, err, tt.allow)
			}
			var refused *RefusedError
			if err != nil && !errors.As(err, &refused) {
				t.Errorf("Check error %T, want *RefusedError", err)
			}
		})
	}
}

func TestRunTrustedTLS(t *testing.T) {
	s := httptest.NewTLSServer(http.HandlerFunc(welcome))
	t.Cleanup(s.Close)
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	c := New(Options{Policy: Policy{AllowLoopback: true}, RootCAs: pool})
	got := c.Run(context.Background(), &Request{URL: s.URL, Regex: mustRegex(t, "welcome", time.Second)})
	if got.Error != "" || got.StatusCode == nil || *got.StatusCode != 200 || got.RegexMatch == nil || !*got.RegexMatch {
		t.Fatalf("got %+v", got)
	}
	if got.TLS <= 0 {
		t.Errorf("TLS = %v, want a measured handshake", got.TLS)
	}
}

// TestRunTimes: for a target with a fixed delay the times sit above it, and
// no phase is negative or longer than the whole.
func TestRunTimes(t *testing.T) {
	const delay = 50 * time.Millisecond
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		welcome(w, r)
	})
	url = strings.Replace(url, "127.0.0.1", "localhost", 1) // so that DNS happens
	c := New(loopbackOnly)
	before := time.Now()
	got := c.Run(context.Background(), &Request{URL: url})
	if got.Error != "" {
		t.Fatalf("Error = %s: %s", got.Error, got.ErrorDetail)
	}
	if got.StartedAt.Before(before) {
		t.Errorf("StartedAt %v before the call %v", got.StartedAt, before)
	}
	if got.ResponseTime < delay || got.TTFB < delay {
		t.Errorf("ResponseTime %v, TTFB %v: want both >= %v", got.ResponseTime, got.TTFB, delay)
	}
	if got.TTFB > got.ResponseTime {
		t.Errorf("TTFB %v > ResponseTime %v", got.TTFB, got.ResponseTime)
	}
	for name, d := range map[string]time.Duration{"DNS": got.DNS, "Connect": got.Connect, "TLS": got.TLS} {
		if d < 0 || d > got.TTFB {
			t.Errorf("%s = %v, want within [0, TTFB %v]", name, d, got.TTFB)
		}
	}
	if got.TLS != 0 {
		t.Errorf("TLS = %v for plain HTTP, want 0", got.TLS)
	}
}

// TestRunConnections: a fresh connection per check by default, one reused
// connection when asked.
func TestRunConnections(t *testing.T) {
	tests := []struct {
		name  string
		reuse bool
		want  int64
	}{
		{"fresh by default", false, 3},
		{"reused", true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, welcome)
			c := New(Options{Policy: Policy{AllowLoopback: true}, ReuseConnections: tt.reuse})
			defer c.Close()
			for range 3 {
				if got := c.Run(context.Background(), &Request{URL: s.URL}); got.Error != "" {
					t.Fatalf("Error = %s: %s", got.Error, got.ErrorDetail)
				}
			}
			if n := s.conns.Load(); n != tt.want {
				t.Errorf("server saw %d connections for 3 checks, want %d", n, tt.want)
			}
		})
	}
}

// TestRunKeepsSecretsOutOfDetail: neither the password nor a token in the
// URL reaches ErrorDetail.
func TestRunKeepsSecretsOutOfDetail(t *testing.T) {
	c := New(loopbackOnly)
	got := c.Run(context.Background(), &Request{
		URL:      "http://monitor:hunter2@watcher-check-test.invalid/?token=t0ken",
		Username: "monitor", Password: "hunter2",
		Headers: map[string]string{"Authorization": "Bearer t0ken"},
	})
	if got.Error != record.ErrDNS {
		t.Fatalf("Error = %q (%s), want %q", got.Error, got.ErrorDetail, record.ErrDNS)
	}
	for _, secret := range []string{"hunter2", "t0ken"} {
		if strings.Contains(got.ErrorDetail, secret) {
			t.Errorf("ErrorDetail %q contains %q", got.ErrorDetail, secret)
		}
	}
}

// TestRunParentContext: the caller's deadline ends a check early too.
func TestRunParentContext(t *testing.T) {
	url := serve(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	got := New(loopbackOnly).Run(ctx, &Request{URL: url, Timeout: time.Minute})
	if got.Error != record.ErrTimeout {
		t.Fatalf("Error = %q (%s), want %q", got.Error, got.ErrorDetail, record.ErrTimeout)
	}
}

func BenchmarkRun(b *testing.B) {
	url := serve(b, welcome)
	re := mustRegex(b, `welcome`, time.Second)
	benches := []struct {
		name  string
		reuse bool
		re    *regex.Regex
	}{
		{"fresh", false, nil},
		{"fresh-regex", false, re},
		{"reuse", true, nil},
		{"reuse-regex", true, re},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			c := New(Options{Policy: Policy{AllowLoopback: true}, ReuseConnections: bb.reuse})
			defer c.Close()
			req := &Request{URL: url, Regex: bb.re, Timeout: 5 * time.Second}
			b.ReportAllocs()
			for b.Loop() {
				if r := c.Run(context.Background(), req); r.Error != "" {
					b.Fatalf("%s: %s", r.Error, r.ErrorDetail)
				}
			}
		})
	}
}

// openSockets counts the process's open sockets.
func openSockets(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, e := range entries {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.HasPrefix(target, "socket:") {
			n++
		}
	}
	return n
}

// TestConnectEndsWithItsCheck: the HTTP transport lets a dial outlive its
// request, so a connect to an address that drops packets used to hold its
// socket for the kernel's two minutes after the check gave up. The dial is
// bounded by the check's deadline: the sockets are gone soon after.
func TestConnectEndsWithItsCheck(t *testing.T) {
	addr := nettest.StalledAddr(t)
	for _, reuse := range []bool{false, true} {
		t.Run(fmt.Sprintf("reuse=%v", reuse), func(t *testing.T) {
			c := New(Options{Policy: Policy{AllowLoopback: true}, ReuseConnections: reuse})
			defer c.Close()
			before := openSockets(t)
			const checks = 20
			var wg sync.WaitGroup
			for i := range checks {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res := c.Run(context.Background(), &Request{URL: fmt.Sprintf("http://%s/%d", addr, i), Timeout: 200 * time.Millisecond})
					if res.Error != record.ErrTimeout && res.Error != record.ErrConnect {
						t.Errorf("check %d: error class %q (%s), want timeout or connect", i, res.Error, res.ErrorDetail)
					}
				}()
			}
			wg.Wait()
			// The kernel gives up on an unanswered SYN after about two
			// minutes; 10 s is far inside that and far outside the check.
			for end := time.Now().Add(10 * time.Second); openSockets(t) > before; {
				if time.Now().After(end) {
					t.Fatalf("%d sockets still open 10 s after %d checks of 200 ms ended (%d before)", openSockets(t), checks, before)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// TestSlowHeadersTimeOutOnAFreshConnection: a fresh connection carries the
// check's deadline, and the transport reports a read past it only as
// "connection broken: ... i/o timeout" text; every such check must still
// record a timeout, never "other".
func TestSlowHeadersTimeOutOnAFreshConnection(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\n")
		_ = buf.Flush()
		for { // a header line every 20 ms, never the end of the headers
			if _, err := buf.WriteString("X-Slow: 1\r\n"); err != nil || buf.Flush() != nil {
				return
			}
			select {
			case <-time.After(20 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
	}))
	defer srv.Close()
	c := New(Options{Policy: Policy{AllowLoopback: true}})
	for i := range 20 {
		res := c.Run(context.Background(), &Request{URL: fmt.Sprintf("%s/%d", srv.URL, i), Timeout: 150 * time.Millisecond})
		if res.Error != record.ErrTimeout {
			t.Errorf("check %d: error class %q (%s), want timeout", i, res.Error, res.ErrorDetail)
		}
	}
}
