// Package targets owns the built-in target farm: an HTTP server that stands in
// for the Internet in local runs, tests and benchmarks. Every answer is a pure
// function of the request's path and query, so a test or a benchmark can
// predict it (see Options.Expect).
//
// # Modes
//
// The first path segment picks the mode; any other path (for example
// /site/42) is the default mode. Any suffix after a mode's segment is free,
// so many distinct URLs can share one mode (/hang/1, /hang/2, ...).
//
//	/...                 default: hashed or fixed reply (below)
//	/echo/...            200 with a JSON document describing the request (Echo)
//	/hang/...            never answers; returns when the client goes away
//	/drip/...            headers at once, then one body byte every `every`
//	/endless/...         200 and a body that never ends, as fast as the client reads
//	/huge-headers/...    `size` bytes of extra response headers (default 1 MiB, at most 64 MiB)
//	/slow-headers/...    status line at once, then one header line every `every`,
//	                     `count` lines in all (default 0: forever), then the body
//	/redirect/N/rest     302 to /redirect/N-1/rest; /redirect/1/rest goes to /rest,
//	                     so the chain takes exactly N redirects to reach /rest
//	/redirect-loop/...   302 to the very same URL, forever
//	/backtrack/...       a body of `size`-1 letters "a" then one "b" (default
//	                     size 64): catastrophic for BacktrackRegex
//
// # Parameters
//
// Behaviour is fixed with query parameters, the same names in every mode
// that uses them. A parameter a mode does not use, or a malformed value, is
// answered with 400 and a text body starting "targets:", so a typo never
// passes for an intended reply. /redirect/... passes its query on unchanged.
//
//	delay=100ms   wait before the status line; a Go duration or whole milliseconds
//	status=200    status code, 200..599
//	size=2048     body bytes (huge-headers: header bytes; drip: total bytes, default endless)
//	every=100ms   drip and slow-headers: pause between writes (default 100ms)
//	count=N       slow-headers: header lines before the body (default 0: forever)
//
// Uses per mode: default delay, status, size; echo delay, status (other
// parameters are echoed, not refused);
// drip delay, status, size, every; endless delay, status;
// huge-headers delay, status, size; slow-headers delay, status, size,
// every, count; backtrack delay, status, size; hang, redirect-loop none.
//
// # Default mode
//
// Without parameters a path answers by its hash h = mix64(FNV-1a-64(path)),
// where path is the URL path without the query and mix64 is the SplitMix64
// finalizer:
//
//	status: h%10 == 0 -> 500, h%10 == 1 -> 404, otherwise 200
//	delay:  (h/10)%5 == 0 -> Options.SlowDelay (1 s), otherwise Options.FastDelay (10 ms)
//
// So one path in ten answers 500, one in ten 404 and one in five is slow,
// independently of its status. Each parameter given overrides its part.
//
// # Bodies
//
// Every body is a prefix of one stream: "You are always welcome!" followed by
// a repeated line of filler that never contains "welcome" (see Body). Without
// size, a 2xx status has the 23-byte Welcome body, others an empty body, so
// a regex "welcome" matches exactly the 200s of the default mode. 204 and 304
// never carry a body.
package targets

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Welcome is the body of a default 2xx reply and the start of every padded body.
const Welcome = "You are always welcome!"

// BacktrackRegex needs a backtracking engine (it has a lookahead, so RE2
// refuses it) and takes exponential time on a /backtrack body.
const BacktrackRegex = `^(?=(a+)+$)`

// Default delays of the default mode.
const (
	DefaultFastDelay = 10 * time.Millisecond
	DefaultSlowDelay = time.Second
)

// Mode path segments (the first segment of the URL path).
const (
	ModeEcho         = "echo"
	ModeHang         = "hang"
	ModeDrip         = "drip"
	ModeEndless      = "endless"
	ModeHugeHeaders  = "huge-headers"
	ModeSlowHeaders  = "slow-headers"
	ModeRedirect     = "redirect"
	ModeRedirectLoop = "redirect-loop"
	ModeBacktrack    = "backtrack"
)

// Limits that keep one request from exhausting the farm itself.
const (
	maxHeaderBytes = 64 << 20 // huge-headers
	echoBodyCap    = 1 << 20  // echo reads at most this much of the request body
	defaultEvery   = 100 * time.Millisecond
	backtrackSize  = 64
	hugeHeaderSize = 1 << 20
)

// Options tunes the farm. The zero value gives the documented defaults.
type Options struct {
	// FastDelay is the default-mode delay of four paths in five; zero means
	// DefaultFastDelay, negative means none.
	FastDelay time.Duration
	// SlowDelay is the default-mode delay of one path in five; zero means
	// DefaultSlowDelay, negative means none.
	SlowDelay time.Duration
	// Logger receives the HTTP server's own errors (Start only); nil means
	// slog.Default(). The farm logs nothing per request: it must stay cheap.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	pick := func(d, def time.Duration) time.Duration {
		switch {
		case d == 0:
			return def
		case d < 0:
			return 0
		}
		return d
	}
	o.FastDelay = pick(o.FastDelay, DefaultFastDelay)
	o.SlowDelay = pick(o.SlowDelay, DefaultSlowDelay)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Reply is what the default mode answers: after Delay, Status with a body of
// Size bytes, the first Size bytes of Body's stream.
type Reply struct {
	Delay  time.Duration
	Status int
	Size   int
}

// Body returns the reply's body bytes.
func (r Reply) Body() []byte { return Body(r.Size) }

// Query returns the query string that fixes this reply on any default-mode
// path, such as "delay=100ms&size=2048&status=200".
func (r Reply) Query() string {
	return "delay=" + r.Delay.String() + "&size=" + strconv.Itoa(r.Size) + "&status=" + strconv.Itoa(r.Status)
}

// Expect returns the reply the farm gives to a default-mode target: a path
// with an optional query ("/site/7?delay=100ms") or a full URL. It fails for
// other modes and for parameters the farm would answer with 400.
func (o Options) Expect(target string) (Reply, error) {
	u, err := url.Parse(target)
	if err != nil {
		return Reply{}, fmt.Errorf("parse target: %w", err)
	}
	path := u.Path
	if path == "" {
		path = "/"
	}
	if m, _ := mode(path); m != "" {
		return Reply{}, fmt.Errorf("target %q: mode %q has no fixed reply", target, m)
	}
	return o.withDefaults().reply(path, u.RawQuery)
}

// reply resolves the default mode: hashed defaults, then the parameters.
// o must have its defaults applied.
func (o Options) reply(path, rawQuery string) (Reply, error) {
	h := hash(path)
	r := Reply{Status: http.StatusOK, Delay: o.FastDelay}
	switch h % 10 {
	case 0:
		r.Status = http.StatusInternalServerError
	case 1:
		r.Status = http.StatusNotFound
	}
	if (h/10)%5 == 0 {
		r.Delay = o.SlowDelay
	}
	if rawQuery == "" {
		r.Size = naturalSize(r.Status)
		return r, nil
	}
	p, err := parseParams(rawQuery, "delay", "status", "size")
	if err != nil {
		return Reply{}, err
	}
	if p.has("delay") {
		r.Delay = p.delay
	}
	if p.has("status") {
		r.Status = p.status
	}
	r.Size = naturalSize(r.Status)
	if p.has("size") {
		if !bodyAllowed(r.Status) && p.size > 0 {
			return Reply{}, fmt.Errorf("status %d carries no body, size must be 0", r.Status)
		}
		r.Size = p.size
	}
	return r, nil
}

// naturalSize is the body length when no size is given.
func naturalSize(status int) int {
	if status >= 200 && status < 300 && bodyAllowed(status) {
		return len(Welcome)
	}
	return 0
}

func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified
}

// hash is mix64(FNV-1a-64(s)): FNV-1a alone leaves the low digits of similar
// paths such as /site/1, /site/2 correlated; the finalizer spreads them.
func hash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// mode returns the mode named by the first path segment ("" for the default
// mode) and the rest of the path after it.
func mode(path string) (string, string) {
	seg, rest, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	switch seg {
	case ModeEcho, ModeHang, ModeDrip, ModeEndless, ModeHugeHeaders, ModeSlowHeaders,
		ModeRedirect, ModeRedirectLoop, ModeBacktrack:
		return seg, rest
	}
	return "", path
}

// params holds the parsed query parameters; set records which were given.
type params struct {
	set    []string
	delay  time.Duration
	status int
	size   int
	every  time.Duration
	count  int
}

func (p *params) has(name string) bool {
	for _, s := range p.set {
		if s == name {
			return true
		}
	}
	return false
}

var errBadParam = errors.New("bad parameter")

// parseParams parses rawQuery, accepting only the allowed names.
func parseParams(rawQuery string, allowed ...string) (params, error) {
	return parseQuery(rawQuery, true, allowed)
}

// parseQuery parses the allowed names in rawQuery; strict refuses others,
// otherwise they are ignored.
func parseQuery(rawQuery string, strict bool, allowed []string) (params, error) {
	var p params
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return p, fmt.Errorf("%w: %w", errBadParam, err)
	}
	for name, vs := range q {
		ok := false
		for _, a := range allowed {
			ok = ok || a == name
		}
		if !ok && !strict {
			continue
		}
		if !ok {
			return p, fmt.Errorf("%w %q: this mode takes only %s", errBadParam, name, strings.Join(allowed, ", "))
		}
		if len(vs) != 1 {
			return p, fmt.Errorf("%w %q: given %d times", errBadParam, name, len(vs))
		}
		v := vs[0]
		switch name {
		case "delay":
			p.delay, err = parseDuration(v)
		case "every":
			p.every, err = parseDuration(v)
			if err == nil && p.every <= 0 {
				err = errors.New("must be positive")
			}
		case "status":
			p.status, err = strconv.Atoi(v)
			if err == nil && (p.status < 200 || p.status > 599) {
				err = errors.New("must be within 200..599")
			}
		case "size":
			p.size, err = nonNegative(v)
		case "count":
			p.count, err = nonNegative(v)
		}
		if err != nil {
			return p, fmt.Errorf("%w %s=%q: %w", errBadParam, name, v, err)
		}
		p.set = append(p.set, name)
	}
	return p, nil
}

// parseDuration reads a Go duration ("100ms") or whole milliseconds ("100").
func parseDuration(v string) (time.Duration, error) {
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		if ms < 0 {
			return 0, errors.New("must not be negative")
		}
		return time.Duration(ms) * time.Millisecond, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, errors.New("want a duration such as 100ms or whole milliseconds")
	}
	if d < 0 {
		return 0, errors.New("must not be negative")
	}
	return d, nil
}

func nonNegative(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, errors.New("want a whole number, 0 or more")
	}
	return n, nil
}

// filler pads bodies after Welcome; it must never contain "welcome" in any case.
const filler = "\nThe quick brown fox jumps over the lazy dog."

// Body returns the first size bytes of the body stream: Welcome, then filler
// lines. Every body the farm sends is such a prefix.
func Body(size int) []byte {
	b := make([]byte, 0, size)
	b = append(b, Welcome...)
	for len(b) < size {
		b = append(b, filler...)
	}
	return b[:size]
}
