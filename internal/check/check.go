// Package check runs one HTTP check against one target and measures it:
// status, response time, per-phase times (from net/http/httptrace), body
// size and regex match, each failure named by an error class. It also owns
// the address policy that keeps user-supplied targets away from the probe's
// own network (loopback, cloud metadata, private ranges).
package check

import (
	"time"

	"github.com/watcher-dev/watcher/internal/regex"
)

// Error classes recorded in Result.Error. One word per failure kind, the
// same in code, SQL and reports.
const (
	ErrDNS              = "dns"
	ErrConnect          = "connect"
	ErrRefused          = "refused" // address policy refused the target (loopback, metadata, ...)
	ErrTLS              = "tls"
	ErrTimeout          = "timeout"
	ErrTooManyRedirects = "too_many_redirects"
	ErrBodyTooLarge     = "body_too_large"
	ErrRegexTimeout     = "regex_timeout"
	ErrRead             = "read"
	ErrRequest          = "request"
	ErrOther            = "other"
)

// DefaultBodyCap is how much of a body is read and searched by default.
const DefaultBodyCap = 1 << 20

// Request is one check ready to run: everything resolved, the regex compiled.
type Request struct {
	URL      string
	Method   string
	Headers  map[string]string
	Body     string
	Username string // basic auth is sent when Username is set
	Password string // resolved secret; never logged
	Regex    *regex.Regex
	Timeout  time.Duration // whole check up to the end of the body; DefaultTimeout when zero
}

// Result is what one check measured. Pointers are nil where a value is
// absent: StatusCode without a response; RegexMatch without a regex, without
// a complete body (except a match found in the part of a too large body that
// was read) or when the regex timed out. Checker.Run says how each is
// measured.
type Result struct {
	StartedAt    time.Time
	ResponseTime time.Duration // request start to end of body read
	StatusCode   *int
	RegexMatch   *bool
	Error        string // one of the Err* classes, "" on success
	ErrorDetail  string // human detail for logs; never contains secrets
	DNS          time.Duration
	Connect      time.Duration
	TLS          time.Duration
	TTFB         time.Duration // request start to first response byte
	BodyBytes    int64
}
