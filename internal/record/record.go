// Package record owns what the fleet records: a check as stored (the
// endpoint, location and planned instant that identify it, and the Result it
// measured), an invocation record, the error classes, and the one wire form
// in which checks and invocation records travel through the record queue and
// the local spool. It does no I/O, so every function can link it: the probe
// and the check produce records, the store, the queue, the spool and the
// drain carry them.
package record

import (
	"math"
	"time"
)

// Error classes recorded in Result.Error: one word per failure kind, the
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
	// ErrConfig is a check that could not be prepared (unresolvable
	// password, uncompilable regex): recorded, never dropped.
	ErrConfig = "config"
	// ErrNoSocket is a check that never started: every socket of the
	// probe's descriptor budget stayed in use until it could no longer
	// start on time. Recorded with its lateness, never dropped, and never
	// run into "too many open files".
	ErrNoSocket = "no_socket"
)

// Result is what one check measured. Pointers are nil where a value is
// absent: StatusCode without a response; RegexMatch without a regex, without
// a complete body (except a match found in the part of a too large body that
// was read) or when the regex timed out. check.Checker.Run says how each is
// measured. The JSON form is the wire form (durations in whole nanoseconds,
// so nothing is lost on the way); ErrorDetail is for logs and is not stored.
type Result struct {
	StartedAt    time.Time     `json:"started_at"`
	ResponseTime time.Duration `json:"response_time_ns"` // request start to end of body read
	StatusCode   *int          `json:"status_code"`
	RegexMatch   *bool         `json:"regex_match"`
	Error        string        `json:"error,omitempty"`        // one of the Err* classes, "" on success
	ErrorDetail  string        `json:"error_detail,omitempty"` // human detail for logs; never contains secrets
	DNS          time.Duration `json:"dns_ns,omitempty"`
	Connect      time.Duration `json:"connect_ns,omitempty"`
	TLS          time.Duration `json:"tls_ns,omitempty"`
	TTFB         time.Duration `json:"ttfb_ns,omitempty"` // request start to first response byte
	BodyBytes    int64         `json:"body_bytes,omitempty"`
	// TLSNotAfter and TLSIssuer describe the leaf certificate of the last
	// TLS handshake of the check (the final hop after redirects), also when
	// verifying it failed (an expired or untrusted certificate is recorded
	// with Error ErrTLS): when it expires, and who issued it (the issuer's
	// common name, else its organization, else its whole name; at most
	// MaxIssuer bytes). nil and "" for plain HTTP and before a handshake.
	TLSNotAfter *time.Time `json:"tls_not_after,omitempty"`
	TLSIssuer   string     `json:"tls_issuer,omitempty"`
}

// MaxIssuer caps Result.TLSIssuer, in bytes.
const MaxIssuer = 200

// Check is one check as stored: which endpoint, from which location, the
// instant it was planned for, how late it started, and what it measured.
// (EndpointID, Location, PlannedAt) identifies it.
type Check struct {
	EndpointID int64         `json:"endpoint_id"`
	Location   string        `json:"location"`
	PlannedAt  time.Time     `json:"planned_at"`
	Lateness   time.Duration `json:"lateness_ns"`
	Result
}

// Invocation is one function invocation (fanout or probe) as recorded for
// cost accounting. Empty strings and nil pointers are stored as NULL.
type Invocation struct {
	ID              int64 // set by the database; ignored when recording
	Function        string
	Location        string
	Region          string
	Arch            string
	MemoryMB        int
	Shard           *int       // nil for the fanout
	SpanStart       *time.Time // the span it served; nil when none
	StartedAt       time.Time
	Duration        time.Duration
	Billed          time.Duration // stored in whole milliseconds
	ChecksPlanned   int
	ChecksDone      int
	ChecksWritten   int
	ChecksUnwritten int
	PayloadBytes    int
	CostUSD         *float64 // Lambda: compute (init included) and requests; nil when unpriced
	Error           string

	// What else grows with checks, and its price (migration 00008). Zero
	// in records written before; in the queue's wire form old and new
	// records decode alike.
	ColdStart     bool          // the first invocation of its process
	Init          time.Duration // a cold start's init phase, billed as duration; 0 when not measured
	VPC           bool          // what it moves over the network (NetBytes) passes a NAT gateway
	NetBytes      int64         // a probe's checks, both ways (bodies plus an estimate per check); a fanout's shard payloads
	SentBytes     int64         // sent to the Internet: a probe's checks (an estimate per check); none for a fanout
	QueueRequests int64         // record-queue requests billed for it, in 64 KiB chunks: a sender's sends, the drain's receives and deletes
	QueueBytes    int64         // record-queue message bytes sent
	LogBytes      int64         // bytes logged: its logger, its EMF line and Lambda's own lines
	StorageBytes  int64         // what the checks it wrote take in the database
	RequestUSD    float64       // the request part of CostUSD
	NATUSD        float64
	DataOutUSD    float64 // data transfer out to the Internet (SentBytes)
	QueueUSD      float64
	LogsUSD       float64
	StorageUSD    float64 // keeping its checks for as long as raw checks are kept
}

// MS is a duration in milliseconds, the unit of every *_ms column, summary
// field and metric.
func MS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// FromMS turns milliseconds back into a duration, to the microsecond (what
// the database keeps).
func FromMS(ms float64) time.Duration {
	return time.Duration(math.Round(ms*1e3)) * time.Microsecond
}

// Statuses of a span, as the fanout reports them and the ledger of spans
// stores them.
const (
	// SpanDispatched: the fanout planned the span and sent its shards.
	SpanDispatched = "dispatched"
	// SpanDuplicate: a repeat delivery of an event whose span is already in
	// the ledger; nothing is planned twice. Only reported, never stored.
	SpanDuplicate = "duplicate"
	// SpanMissed: the span's checks never ran, because its event came too
	// late or never came. Stored so that the hole in the data is explained.
	SpanMissed = "missed"
)

// SpanClaim is the ledger entry of a dispatched span: what the fanout
// claims before it sends a span's shards, and spills when the ledger cannot
// take it, so that the span is recorded as dispatched once it can.
type SpanClaim struct {
	Start  time.Time `json:"span_start"`
	Shards int       `json:"shards"`
	Checks int       `json:"checks"`
}
