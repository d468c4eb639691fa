package check

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/watcher-dev/watcher/internal/dnscache"
	"github.com/watcher-dev/watcher/internal/endpoint"
	"github.com/watcher-dev/watcher/internal/record"
)

// Defaults for Options and Request fields left zero.
const (
	DefaultMaxRedirects = 10
	DefaultUserAgent    = "Watcher/1"
)

// maxHeaderBytes bounds response headers; a hostile target could otherwise
// make the probe hold megabytes per check.
const maxHeaderBytes = 256 << 10

// errTooManyRedirects is returned by CheckRedirect and classified as
// record.ErrTooManyRedirects.
var errTooManyRedirects = errors.New("too many redirects")

// Options configure a Checker. Zero values take the defaults.
type Options struct {
	Policy Policy
	// BodyCap is how much of a body is read and searched (DefaultBodyCap when
	// not positive); a longer body fails the check with record.ErrBodyTooLarge.
	BodyCap int64
	// MaxRedirects is how many redirects a check follows (DefaultMaxRedirects
	// when zero; negative follows none and records the 3xx as it is).
	MaxRedirects int
	// ReuseConnections keeps connections alive between checks. Off by
	// default: each check dials afresh, so its times are what a new visitor
	// sees.
	ReuseConnections bool
	// UserAgent is sent unless the request sets its own (DefaultUserAgent
	// when empty).
	UserAgent string
	// RootCAs verifies servers' certificates (the system roots when nil),
	// for probes inside private networks with their own CA.
	RootCAs *x509.CertPool
	// DNSCache resolves the checks' host names: Go's resolver, with each
	// answer kept for its TTL (at most a minute, negative answers at most
	// 5 s), so a probe checking a host every few seconds does not ask its
	// name server each time, and sees a changed record once the TTL runs
	// out. A check answered from the cache records a DNS time of about
	// zero (the lookup still happens, in memory); the first check of a
	// host, and the first after its TTL, record the real query. nil: the
	// Checker makes its own cache, unless FreshDNS.
	DNSCache *dnscache.Cache
	// FreshDNS turns the cache off: every check resolves its names with
	// the system's resolver and records that lookup's time.
	FreshDNS bool
}

// Checker runs checks. It holds one HTTP client for all of them and is safe
// for concurrent use.
type Checker struct {
	client    *http.Client
	transport *http.Transport
	bodyCap   int64
	userAgent string
	bufs      sync.Pool // *bytes.Buffer for bodies that a regex searches
	wired     bool      // fresh connections: times from the kernel's receive stamps (wire)
}

// New builds a Checker with its transport and client, once.
func New(opt Options) *Checker {
	if opt.BodyCap <= 0 {
		opt.BodyCap = DefaultBodyCap
	}
	if opt.MaxRedirects == 0 {
		opt.MaxRedirects = DefaultMaxRedirects
	}
	if opt.UserAgent == "" {
		opt.UserAgent = DefaultUserAgent
	}
	// The policy (Control) judges every address the dial connects to,
	// whether the cache or the name server gave it.
	dialer := &net.Dialer{ControlContext: func(ctx context.Context, network, address string, c syscall.RawConn) error {
		if err := opt.Policy.Control(network, address, c); err != nil {
			return err
		}
		if w := wireFrom(ctx); w != nil {
			w.connecting(stampSocket(c))
		}
		return nil
	}}
	if !opt.FreshDNS {
		if opt.DNSCache == nil {
			opt.DNSCache = dnscache.New(dnscache.Config{})
		}
		dialer.Resolver = opt.DNSCache.Resolver()
	}
	tr := &http.Transport{
		Proxy:                  nil, // a proxy would be dialed instead of the target, dodging the policy
		DialContext:            boundedDial(dialer, !opt.ReuseConnections),
		TLSClientConfig:        &tls.Config{RootCAs: opt.RootCAs, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:      true, // as browsers do; a custom dialer turns it off otherwise
		DisableKeepAlives:      !opt.ReuseConnections,
		MaxIdleConnsPerHost:    64,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: maxHeaderBytes,
	}
	if !opt.ReuseConnections {
		keepStamping()
	}
	maxRedirects := opt.MaxRedirects
	client := &http.Client{
		Transport: tr,
		CheckRedirect: func(_ *http.Request, via []*http.Request) error {
			switch {
			case maxRedirects < 0:
				return http.ErrUseLastResponse
			case len(via) > maxRedirects:
				return errTooManyRedirects
			}
			return nil
		},
	}
	return &Checker{
		client:    client,
		transport: tr,
		bodyCap:   opt.BodyCap,
		userAgent: opt.UserAgent,
		bufs:      sync.Pool{New: func() any { return new(bytes.Buffer) }},
		wired:     !opt.ReuseConnections,
	}
}

// checkDeadline is the context key of a check's deadline, for its dials.
type checkDeadline struct{}

// boundedDial bounds each dial by the deadline of the check that asked for
// it. The HTTP transport lets a dial outlive its request (the connection
// might serve a later one), so without this a connect to an address that
// drops packets would hold its socket for the kernel's two minutes after
// the check gave up, and a shard of such targets would run out of
// descriptors. With fresh connections (oneUse) the deadline also bounds
// the connection itself, the TLS handshake included: nothing else uses it.
func boundedDial(d *net.Dialer, oneUse bool) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		deadline, ok := ctx.Value(checkDeadline{}).(time.Time)
		if !ok {
			return d.DialContext(ctx, network, addr)
		}
		ctx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil || !oneUse {
			return conn, err
		}
		if err := conn.SetDeadline(deadline); err != nil {
			_ = conn.Close()
			return nil, err
		}
		if w := wireFrom(ctx); w != nil {
			conn = wireConn(conn, w)
		}
		return conn, nil
	}
}

// Close closes idle connections kept by ReuseConnections.
func (c *Checker) Close() { c.transport.CloseIdleConnections() }

// Run runs one check. req.Timeout (endpoint.DefaultTimeout when not positive) bounds
// connecting, sending, the response headers and reading the body; the
// regex then has its own match timeout (waiting for a backtracking slot, if
// the body needs one, counts against req.Timeout). ctx can end the check
// sooner.
//
// The result always says what happened: a failure is an error class in
// Result.Error, never a Go error. ResponseTime runs from the request's start
// to the end of the body, or to the failure. Phase times sum over redirect
// hops and are zero for phases that did not happen (DNS for an IP address,
// all three on a reused connection); DNS answered from the cache
// (Options.DNSCache) takes microseconds.
//
// A body longer than the cap fails with record.ErrBodyTooLarge and keeps its status;
// the regex is still searched in the part read and RegexMatch records a match
// found there, but stays nil when none is (the rest was never read).
func (c *Checker) Run(ctx context.Context, req *Request) record.Result {
	return c.RunCounted(ctx, req, nil)
}

// RunCounted is Run that also tells ops (nil: no one) of each DNS lookup,
// connect and TLS handshake of the check: +1 as it starts, -1 as it ends,
// for those that outlive the check too. Called from the check's own trace
// hooks, so the caller's counting costs no second trace (which net/http
// would compose with this one by reflection).
func (c *Checker) RunCounted(ctx context.Context, req *Request, ops func(delta int)) record.Result {
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = endpoint.DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	ctx = context.WithValue(ctx, checkDeadline{}, deadline)
	var w *wire
	if c.wired {
		ctx, w = withWire(ctx)
	}

	var res record.Result
	tl := &timeline{ops: ops, wire: w}
	// The request carries the trace from the start: WithContext would copy it.
	hr, err := c.newRequest(httptrace.WithClientTrace(ctx, tl.trace()), req)
	if err != nil {
		res.StartedAt = time.Now()
		res.Error, res.ErrorDetail = record.ErrRequest, detail(err, req)
		return res
	}
	if w != nil {
		w.tls = hr.URL.Scheme == "https" // no dial has begun
	}

	start := time.Now()
	res.StartedAt = start
	resp, err := c.client.Do(hr)
	if resp != nil {
		// Also when a redirect limit stops the chain: the last response.
		code := resp.StatusCode
		res.StatusCode = &code
	}
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		res.ResponseTime = time.Since(start)
		tl.finish(start, &res)
		res.Error, res.ErrorDetail = classify(err, false, deadline), detail(err, req)
		return res
	}
	defer resp.Body.Close()

	var buf *bytes.Buffer
	if req.Regex != nil {
		buf = c.bufs.Get().(*bytes.Buffer)
		buf.Reset()
		defer c.bufs.Put(buf)
	}
	n, err := c.readBody(resp.Body, buf)
	res.ResponseTime = time.Since(start)
	tl.finish(start, &res)
	if err == nil {
		w.apply(start, &res)
	}
	res.BodyBytes = min(n, c.bodyCap)
	tooLarge := n > c.bodyCap
	switch {
	case err != nil:
		res.Error, res.ErrorDetail = classify(err, true, deadline), detail(err, req)
		return res
	case tooLarge:
		res.Error, res.ErrorDetail = record.ErrBodyTooLarge, fmt.Sprintf("body longer than %d bytes", c.bodyCap)
	}
	if req.Regex == nil {
		return res
	}
	body := buf.Bytes()[:res.BodyBytes]
	ok, err := req.Regex.MatchContext(ctx, body)
	switch {
	case err != nil:
		res.Error, res.ErrorDetail = record.ErrRegexTimeout, err.Error()
	case tooLarge && !ok:
		// Absent from the part read: unknown, not false.
	default:
		res.RegexMatch = &ok
	}
	return res
}

// newRequest builds the HTTP request for req.
func (c *Checker) newRequest(ctx context.Context, req *Request) (*http.Request, error) {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if req.Body != "" {
		body = strings.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(ctx, method, req.URL, body)
	if err != nil {
		return nil, err
	}
	if hr.URL.Scheme != "http" && hr.URL.Scheme != "https" {
		return nil, errors.New("url scheme must be http or https")
	}
	hr.Header.Set("User-Agent", c.userAgent)
	for k, v := range req.Headers {
		hr.Header.Set(k, v)
	}
	if req.Username != "" {
		hr.SetBasicAuth(req.Username, req.Password)
	}
	return hr, nil
}

// readBody reads up to one byte past the cap, into buf when a regex needs the
// body, else into nothing. n is the bytes read.
func (c *Checker) readBody(r io.Reader, buf *bytes.Buffer) (n int64, err error) {
	r = io.LimitReader(r, c.bodyCap+1)
	if buf == nil {
		return io.Copy(io.Discard, r) // pooled buffer, no allocation
	}
	return buf.ReadFrom(r)
}

// classify names the failure in err. inBody says the response had arrived
// and reading its body failed; deadline is the check's, past which any
// failure is a timeout.
func classify(err error, inBody bool, deadline time.Time) string {
	var (
		refused *RefusedError
		dnsErr  *net.DNSError
		opErr   *net.OpError
		netErr  net.Error
	)
	switch {
	case errors.As(err, &refused):
		return record.ErrRefused
	case errors.Is(err, errTooManyRedirects):
		return record.ErrTooManyRedirects
	case errors.As(err, &dnsErr):
		return record.ErrDNS // even when the lookup timed out: that is where it stuck
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout(),
		// A fresh connection's deadline is the check's (boundedDial), and the
		// transport reports a read past it only as text ("connection broken:
		// ... i/o timeout"): a failure at or after the deadline is a timeout.
		!deadline.IsZero() && !time.Now().Before(deadline):
		return record.ErrTimeout
	case isTLS(err):
		return record.ErrTLS
	case inBody:
		return record.ErrRead
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return record.ErrConnect
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		return record.ErrRead // the server hung up or broke off before a response
	case strings.Contains(err.Error(), "malformed HTTP"),
		strings.Contains(err.Error(), "server response headers exceeded"):
		return record.ErrRead
	}
	return record.ErrOther
}

// isTLS reports a handshake or certificate failure.
func isTLS(err error) bool {
	var (
		recordErr tls.RecordHeaderError
		verifyErr *tls.CertificateVerificationError
		alertErr  tls.AlertError
		authErr   x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		certErr   x509.CertificateInvalidError
		opErr     *net.OpError
	)
	switch {
	case errors.As(err, &recordErr), errors.As(err, &verifyErr), errors.As(err, &alertErr),
		errors.As(err, &authErr), errors.As(err, &hostErr), errors.As(err, &certErr):
		return true
	case errors.As(err, &opErr) && opErr.Op == "remote error":
		return true // an alert from the server, e.g. handshake failure
	}
	msg := err.Error()
	return strings.Contains(msg, "tls: ") || strings.Contains(msg, "HTTP response to HTTPS client")
}

// detail is a short text for err: without the URL (it may carry
// credentials or tokens) and without the password.
func detail(err error, req *Request) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	s := err.Error()
	if req.Password != "" {
		s = strings.ReplaceAll(s, req.Password, "***")
	}
	const max = 200
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}

// timeline records httptrace events and turns them into phase times once,
// at the end of the check. Dials may race (Happy Eyeballs) and may outlive
// the check, hence the mutex.
type timeline struct {
	mu                  sync.Mutex
	dnsStart, dnsDone   time.Time
	connStart, connDone time.Time
	connOK              bool
	tlsStart, tlsDone   time.Time
	firstByte           time.Time
	dns, connect, tls   time.Duration   // earlier redirect hops
	ops                 func(delta int) // RunCounted's; called outside mu
	wire                *wire           // the kernel's view of the check's connection; nil: none
	// leaf is the current hop's certificate: its connection's once the
	// transport hands one over (gotConn; a reused connection has no
	// handshake), else its handshake's (one that failed hands none over).
	leaf    *x509.Certificate
	gotConn bool
}

func (t *timeline) trace() *httptrace.ClientTrace {
	now := func(f func()) {
		t.mu.Lock()
		f()
		t.mu.Unlock()
	}
	op := func(delta int) {
		if t.ops != nil {
			t.ops(delta)
		}
	}
	return &httptrace.ClientTrace{
		GetConn: func(string) {
			now(func() {
				t.endHop()
				t.leaf, t.gotConn = nil, false
			})
		},
		GotConn: func(info httptrace.GotConnInfo) {
			leaf := connLeaf(info.Conn)
			now(func() { t.leaf, t.gotConn = leaf, true })
		},
		DNSStart: func(httptrace.DNSStartInfo) {
			now(func() { t.dnsStart = time.Now() })
			op(1)
		},
		DNSDone: func(httptrace.DNSDoneInfo) {
			now(func() { t.dnsDone = time.Now() })
			op(-1)
		},
		ConnectStart: func(string, string) {
			now(func() {
				if t.connStart.IsZero() {
					t.connStart = time.Now()
				}
			})
			op(1)
		},
		ConnectDone: func(_, _ string, err error) {
			now(func() {
				if !t.connOK { // the first success ends the phase
					t.connDone, t.connOK = time.Now(), err == nil
				}
			})
			op(-1)
		},
		TLSHandshakeStart: func() {
			now(func() { t.tlsStart = time.Now() })
			op(1)
		},
		TLSHandshakeDone: func(cs tls.ConnectionState, err error) {
			now(func() {
				t.tlsDone = time.Now()
				if !t.gotConn {
					t.leaf = handshakeLeaf(cs, err)
				}
			})
			t.wire.handshakeDone()
			op(-1)
		},
		GotFirstResponseByte: func() {
			now(func() { t.firstByte = time.Now() })
			t.wire.firstByte()
		},
	}
}

// endHop folds the current hop's phases into the totals and starts afresh.
func (t *timeline) endHop() {
	t.dns += between(t.dnsStart, t.dnsDone)
	t.connect += between(t.connStart, t.connDone)
	t.tls += between(t.tlsStart, t.tlsDone)
	t.dnsStart, t.dnsDone, t.connStart, t.connDone, t.tlsStart, t.tlsDone = time.Time{}, time.Time{},
		time.Time{}, time.Time{}, time.Time{}, time.Time{}
	t.connOK = false
}

// finish writes the phase times into res. TTFB is to the first byte of the
// last response.
func (t *timeline) finish(start time.Time, res *record.Result) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.endHop()
	res.DNS, res.Connect, res.TLS = t.dns, t.connect, t.tls
	recordLeaf(t.leaf, res)
	res.TTFB = between(start, t.firstByte)
}

// between is end - start, or zero when either is missing.
func between(start, end time.Time) time.Duration {
	if start.IsZero() || end.IsZero() || end.Before(start) {
		return 0
	}
	return end.Sub(start)
}
