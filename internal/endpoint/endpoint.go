// Package endpoint owns the definition of a monitored endpoint: its fields,
// their defaults and limits, and its import identity. (internal/endpointfile
// reads the YAML file operators keep them in.)
package endpoint

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// Limits and defaults that every endpoint obeys.
const (
	MinInterval     = 5 * time.Second
	MaxInterval     = 300 * time.Second
	DefaultInterval = 60 * time.Second
	DefaultTimeout  = 10 * time.Second // the whole check, up to the end of the body
	DefaultMethod   = http.MethodGet
	DefaultLocation = "home"
	// RegexMatchTimeout bounds one backtracking regex evaluation.
	RegexMatchTimeout = time.Second
	// BodyCap is how much of a response body a check reads and searches.
	BodyCap = 1 << 20
)

// Methods lists the HTTP methods an endpoint may use.
var Methods = []string{
	http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodHead, http.MethodOptions,
}

// Endpoint is one monitored target. Its identity is ID, never URL: the same
// URL may appear many times with another regex, method or location.
//
// The JSON form travels inside shard payloads from the fanout to the probes,
// so durations are whole milliseconds and secrets appear only as references.
type Endpoint struct {
	ID        int64             `json:"id"`
	Name      string            `json:"name,omitempty"`
	URL       string            `json:"url"`
	Method    string            `json:"method"`
	Headers   map[string]string `json:"headers,omitempty"`
	Body      string            `json:"body,omitempty"`
	BasicAuth *BasicAuth        `json:"basic_auth,omitempty"`
	Regex     string            `json:"regex,omitempty"`
	Interval  time.Duration     `json:"-"`
	Timeout   time.Duration     `json:"-"`
	Location  string            `json:"location"`
	Enabled   bool              `json:"enabled"`

	// Group heads the endpoint's section of the status page ("" goes under
	// no heading). Alerts are its alert rules, the file's defaults merged
	// with its own; nil: no alerts. Neither travels in shard payloads: the
	// probes need neither.
	Group  string      `json:"-"`
	Alerts *AlertRules `json:"-"`
}

// Alert rule defaults and limits.
const (
	DefaultAlertFailures  = 3 // consecutive failed checks before an endpoint is down
	DefaultAlertSuccesses = 2 // consecutive passed checks before it is up again
	MaxAlertWindow        = 24 * time.Hour
)

// AlertRules say when an endpoint (at one location) is down, when it is up
// again, and when its certificate is about to expire. A failed check is what
// the report counts as one: an error, a status outside 200..399, or a regex
// that did not match.
//
// Down is either Failures consecutive failed checks, or, when FailureRatio
// is set, at least that share of the checks planned in the last Window
// failed, with at least Failures failed checks among them (so one failure
// alone never alerts when Failures > 1) and counting only checks after the
// endpoint was last up again. Either is judged at a failed check, which
// opens the alert. Up again is Successes consecutive passed checks. CertificateDays > 0 alerts once the leaf certificate seen by the
// latest HTTPS check expires within that many days, and resolves when a
// later check sees one valid for longer.
type AlertRules struct {
	Failures        int           `json:"failures"`
	FailureRatio    float64       `json:"failure_ratio,omitempty"` // 0 < r <= 1; 0: consecutive failures only
	Window          time.Duration `json:"window_ns,omitempty"`     // with FailureRatio
	Successes       int           `json:"successes"`
	CertificateDays int           `json:"certificate_days,omitempty"`
}

// BasicAuth names a username and where its password lives. The password
// itself is resolved at check time and never stored or logged.
type BasicAuth struct {
	Username string `json:"username" yaml:"username"`
	// PasswordEnv names an environment variable holding the password (local runs).
	PasswordEnv string `json:"password_env,omitempty" yaml:"password_env"`
	// PasswordSecret names a Secrets Manager secret (ARN or name) holding it (AWS).
	PasswordSecret string `json:"password_secret,omitempty" yaml:"password_secret"`
}

// Ref returns the password reference in the one-string form the database
// keeps: "env:NAME" or "secret:ARN".
func (b *BasicAuth) Ref() string {
	switch {
	case b == nil:
		return ""
	case b.PasswordEnv != "":
		return "env:" + b.PasswordEnv
	case b.PasswordSecret != "":
		return "secret:" + b.PasswordSecret
	}
	return ""
}

// Key is the endpoint's stable import identity: its name when it has one,
// otherwise a digest of what makes it a distinct check (not its interval,
// timeout, enabled flag, group or alert rules, which an import may change in
// place).
func (e *Endpoint) Key() string {
	if e.Name != "" {
		return "name:" + e.Name
	}
	h := sha256.New()
	parts := []string{e.URL, e.Method, e.Body, e.Regex, e.Location}
	if e.BasicAuth != nil {
		parts = append(parts, e.BasicAuth.Username)
	}
	keys := make([]string, 0, len(e.Headers))
	for k := range e.Headers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		parts = append(parts, k+":"+e.Headers[k])
	}
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\x00", len(p), p)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:32]
}
