// Package alert owns alert evaluation: from an endpoint's alert rules, its
// alert state at one location and the stored checks that followed, the new
// state and the transitions (an alert opened or resolved) with the checks
// that caused them. It does no I/O: the store reads the checks, keeps the
// state and records the alerts (internal/store, EvaluateAlerts).
//
// Evaluation is exactly once by construction: the state carries a watermark,
// the planned instant of the last check consumed, and checks at or before it
// are never consumed again. So evaluating the same checks twice changes
// nothing, and a sequence of checks split into batches in any way gives the
// transitions it gives evaluated at once.
package alert

import (
	"fmt"
	"math"
	"time"

	"github.com/watcher-dev/watcher/internal/endpoint"
)

// Kinds of alert: one state and at most one open alert per kind, endpoint
// and location.
const (
	KindDown        = "down"        // the endpoint fails its checks
	KindCertificate = "certificate" // its leaf certificate expires soon
)

// MaxCause caps the checks a transition names as its cause (the latest).
const MaxCause = 20

// Check is what evaluation reads of one stored check.
type Check struct {
	PlannedAt    time.Time  `json:"planned_at"`
	Error        string     `json:"error,omitempty"`
	StatusCode   *int       `json:"status_code,omitempty"`
	RegexMatch   *bool      `json:"regex_match,omitempty"`
	ResponseTime float64    `json:"response_time_ms"`
	NotAfter     *time.Time `json:"tls_not_after,omitempty"` // leaf certificate's expiry; nil: none seen
	Issuer       string     `json:"tls_issuer,omitempty"`
}

// Failed reports whether the check failed: the negation of the rollups' up
// (migrations/00009_rollups.sql), so that alerts and reports count alike:
// an error, a status outside 200..399 (or none), or a regex that did not
// match.
func (c *Check) Failed() bool {
	up := c.Error == "" && c.StatusCode != nil && *c.StatusCode >= 200 && *c.StatusCode <= 399 &&
		(c.RegexMatch == nil || *c.RegexMatch)
	return !up
}

// State is one kind's alert state of one endpoint at one location.
type State struct {
	Kind string `json:"kind"`
	// Watermark is the planned instant of the last check consumed; checks
	// at or before it are never consumed again. Zero: none yet.
	Watermark time.Time `json:"watermark"`
	// Open: an alert of this kind is open.
	Open bool `json:"open"`
	// Since is the planned instant of the check that caused the last
	// transition: a failure ratio counts only checks after it, so an
	// endpoint up again starts afresh.
	Since time.Time `json:"since"`
	// Streak is the current run of checks that count towards the next
	// down transition, oldest first: failed checks while up, passed ones
	// while down. Only the latest that the rules need are kept.
	Streak []Check `json:"streak,omitempty"`
}

// Transition is an alert opened or resolved.
type Transition struct {
	Kind   string
	Opened bool      // true: opened; false: resolved
	At     time.Time // planned instant of the check that caused it
	// Checks caused it, oldest first: the failed checks that tripped a
	// down alert, the passed ones that resolved it, the one check whose
	// certificate opened or resolved a certificate alert. At most MaxCause.
	Checks []Check
	// Reason says why, for people: "3 consecutive failed checks".
	Reason string
}

// Evaluate consumes the checks after s.Watermark, in planned order, and
// returns the new state and the transitions they caused. checks must be
// sorted by planned instant and belong to one endpoint and location; those
// at or before the watermark are not consumed, but a failure ratio counts
// them when they fall in its window, so a caller gives the window's checks
// before the watermark too (the failure ratio then sees what it would have
// seen evaluated at once). A check that reaches the store after the
// watermark passed its planned instant is never consumed.
//
// Zero Failures or Successes take endpoint.DefaultAlertFailures and
// DefaultAlertSuccesses.
func Evaluate(r endpoint.AlertRules, s State, checks []Check) (State, []Transition) {
	r = withDefaults(r)
	s.Streak = append([]Check(nil), s.Streak...) // never the caller's array
	var out []Transition
	for i := range checks {
		c := checks[i]
		if !c.PlannedAt.After(s.Watermark) {
			continue
		}
		s.Watermark = c.PlannedAt
		var t *Transition
		switch s.Kind {
		case KindDown:
			t = down(r, &s, checks[:i+1])
		case KindCertificate:
			t = certificate(r, &s, c)
		}
		if t != nil {
			t.Kind = s.Kind
			t.At = c.PlannedAt
			out = append(out, *t)
		}
	}
	return s, out
}

func withDefaults(r endpoint.AlertRules) endpoint.AlertRules {
	if r.Failures <= 0 {
		r.Failures = endpoint.DefaultAlertFailures
	}
	if r.Successes <= 0 {
		r.Successes = endpoint.DefaultAlertSuccesses
	}
	return r
}

// down applies the down rule to the last of seen, the check just consumed
// (those before it are its history).
func down(r endpoint.AlertRules, s *State, seen []Check) *Transition {
	c := seen[len(seen)-1]
	failed := c.Failed()
	if !s.Open {
		if !failed {
			s.Streak = nil
			return nil
		}
		s.Streak = keepLast(append(s.Streak, c), r.Failures)
		var cause []Check
		var reason string
		if len(s.Streak) >= r.Failures {
			cause = s.Streak
			reason = fmt.Sprintf("%d consecutive failed checks", len(s.Streak))
		} else if failedN, total, ok := ratioTripped(r, s.Since, seen); ok {
			cause = failedIn(r, s.Since, seen)
			reason = fmt.Sprintf("%d of %d checks failed in the last %s", failedN, total, r.Window)
		} else {
			return nil
		}
		t := &Transition{Opened: true, Checks: keepLast(cause, MaxCause), Reason: reason}
		s.Open, s.Since, s.Streak = true, c.PlannedAt, nil
		return t
	}
	if failed {
		s.Streak = nil
		return nil
	}
	s.Streak = keepLast(append(s.Streak, c), r.Successes)
	if len(s.Streak) < r.Successes {
		return nil
	}
	t := &Transition{Checks: keepLast(s.Streak, MaxCause),
		Reason: fmt.Sprintf("%d consecutive passed checks", len(s.Streak))}
	s.Open, s.Since, s.Streak = false, c.PlannedAt, nil
	return t
}

// ratioTripped applies the failure ratio to the window ending at the last
// of seen (and after since): at least r.Failures failed checks, so that one
// failure alone never trips it when Failures > 1, making at least
// r.FailureRatio of the checks in it.
func ratioTripped(r endpoint.AlertRules, since time.Time, seen []Check) (failed, total int, ok bool) {
	if r.FailureRatio <= 0 || r.Window <= 0 {
		return 0, 0, false
	}
	last := seen[len(seen)-1].PlannedAt
	for i := len(seen) - 1; i >= 0; i-- {
		c := &seen[i]
		if !c.PlannedAt.After(last.Add(-r.Window)) || !c.PlannedAt.After(since) {
			break
		}
		total++
		if c.Failed() {
			failed++
		}
	}
	return failed, total, failed >= r.Failures && float64(failed) >= r.FailureRatio*float64(total)
}

// failedIn returns the failed checks of the window ending at the last of
// seen, oldest first.
func failedIn(r endpoint.AlertRules, since time.Time, seen []Check) []Check {
	last := seen[len(seen)-1].PlannedAt
	var out []Check
	for i := range seen {
		c := seen[i]
		if c.PlannedAt.After(last.Add(-r.Window)) && c.PlannedAt.After(since) && c.Failed() {
			out = append(out, c)
		}
	}
	return out
}

// certificate applies the certificate rule to c: a certificate that
// expires within r.CertificateDays of c's planned instant opens an alert,
// one valid for longer resolves it. Checks that saw no certificate (plain
// HTTP, no handshake) change nothing.
func certificate(r endpoint.AlertRules, s *State, c Check) *Transition {
	if c.NotAfter == nil {
		return nil
	}
	left := c.NotAfter.Sub(c.PlannedAt)
	within := r.CertificateDays > 0 && left < time.Duration(r.CertificateDays)*24*time.Hour
	switch {
	case within && !s.Open:
		s.Open, s.Since = true, c.PlannedAt
		return &Transition{Opened: true, Checks: []Check{c},
			Reason: fmt.Sprintf("certificate expires within %d days", r.CertificateDays)}
	case !within && s.Open:
		s.Open, s.Since = false, c.PlannedAt
		return &Transition{Checks: []Check{c},
			Reason: fmt.Sprintf("certificate valid for more than %d days", r.CertificateDays)}
	}
	return nil
}

// DaysLeft is how many whole days a certificate expiring at notAfter has
// left at at (negative once expired).
func DaysLeft(notAfter, at time.Time) int {
	return int(math.Floor(notAfter.Sub(at).Hours() / 24))
}

// keepLast returns the last n of cs (all when fewer), as a slice of its own.
func keepLast(cs []Check, n int) []Check {
	if len(cs) > n {
		cs = cs[len(cs)-n:]
	}
	return append([]Check(nil), cs...)
}
