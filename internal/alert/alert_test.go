package alert_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/watcher-dev/watcher/internal/alert"
	"github.com/watcher-dev/watcher/internal/endpoint"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// seq makes checks 5 s apart from t0 out of a pattern: '.' passed, 'x'
// error, '5' status 500, 'r' regex not matched.
func seq(pattern string) []alert.Check {
	out := make([]alert.Check, len(pattern))
	for i, ch := range pattern {
		c := alert.Check{PlannedAt: t0.Add(time.Duration(i) * 5 * time.Second), StatusCode: ptr(200), ResponseTime: 12}
		switch ch {
		case 'x':
			c.Error, c.StatusCode = "timeout", nil
		case '5':
			c.StatusCode = ptr(500)
		case 'r':
			c.RegexMatch = ptr(false)
		}
		out[i] = c
	}
	return out
}

// summary writes transitions as "+3 -7": opened at check 3, resolved at 7.
func summary(ts []alert.Transition) string {
	s := ""
	for _, t := range ts {
		sign := "-"
		if t.Opened {
			sign = "+"
		}
		s += fmt.Sprintf("%s%d ", sign, int(t.At.Sub(t0)/(5*time.Second)))
	}
	return s
}

func TestFailed(t *testing.T) {
	for _, tt := range []struct {
		name   string
		c      alert.Check
		failed bool
	}{
		{"200", alert.Check{StatusCode: ptr(200)}, false},
		{"399", alert.Check{StatusCode: ptr(399)}, false},
		{"200, regex matched", alert.Check{StatusCode: ptr(200), RegexMatch: ptr(true)}, false},
		{"199", alert.Check{StatusCode: ptr(199)}, true},
		{"404", alert.Check{StatusCode: ptr(404)}, true},
		{"no status", alert.Check{}, true},
		{"error with status", alert.Check{StatusCode: ptr(200), Error: "body_too_large"}, true},
		{"regex not matched", alert.Check{StatusCode: ptr(200), RegexMatch: ptr(false)}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.Failed(); got != tt.failed {
				t.Errorf("Failed() = %v, want %v", got, tt.failed)
			}
		})
	}
}

func TestDown(t *testing.T) {
	ratio := endpoint.AlertRules{Failures: 3, Successes: 2, FailureRatio: 0.5, Window: time.Minute}
	for _, tt := range []struct {
		name    string
		rules   endpoint.AlertRules
		pattern string
		want    string
	}{
		{"one failure never alerts", endpoint.AlertRules{Failures: 3, Successes: 2}, "...x....x..", ""},
		{"two failures are not three", endpoint.AlertRules{Failures: 3, Successes: 2}, "..xx.xx.", ""},
		{"three consecutive failures", endpoint.AlertRules{Failures: 3, Successes: 2}, "..x5r...", "+4 -6 "},
		{"one pass does not resolve", endpoint.AlertRules{Failures: 3, Successes: 2}, "xxx.x.x..", "+2 -8 "},
		{"stays down", endpoint.AlertRules{Failures: 3, Successes: 2}, "xxxxxxxx", "+2 "},
		{"flapping", endpoint.AlertRules{Failures: 2, Successes: 1}, "xx.xx.", "+1 -2 +4 -5 "},
		{"one failure alerts when Failures is 1", endpoint.AlertRules{Failures: 1, Successes: 1}, ".x.", "+1 -2 "},
		{"zero rules take the defaults", endpoint.AlertRules{}, "xx.xxx.x..", "+5 -9 "},
		// 12 checks a minute: 3 failed and at least half of the window.
		{"ratio: alternating failures", ratio, ".x.x.x.x", "+5 "},
		{"ratio: too few failures", ratio, ".x.x......", ""},
		{"ratio: under the share", ratio, "x..x..x..x..", ""},
		{"ratio: only after the last transition", ratio, "xxx..x.x.x", "+2 -4 +9 "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, got := alert.Evaluate(tt.rules, alert.State{Kind: alert.KindDown}, seq(tt.pattern))
			if s := summary(got); s != tt.want {
				t.Errorf("%s: transitions %q, want %q", tt.pattern, s, tt.want)
			}
		})
	}
}

func TestDownCause(t *testing.T) {
	checks := seq("..xx5..")
	_, got := alert.Evaluate(endpoint.AlertRules{Failures: 3, Successes: 2}, alert.State{Kind: alert.KindDown}, checks)
	if len(got) != 2 {
		t.Fatalf("%d transitions, want 2", len(got))
	}
	if want := checks[2:5]; !reflect.DeepEqual(got[0].Checks, want) {
		t.Errorf("opened by %v, want %v", got[0].Checks, want)
	}
	if got[0].Reason != "3 consecutive failed checks" {
		t.Errorf("reason %q", got[0].Reason)
	}
	if want := checks[5:7]; !reflect.DeepEqual(got[1].Checks, want) {
		t.Errorf("resolved by %v, want %v", got[1].Checks, want)
	}
}

func TestCertificate(t *testing.T) {
	rules := endpoint.AlertRules{CertificateDays: 14}
	at := func(i int, daysLeft float64) alert.Check {
		c := alert.Check{PlannedAt: t0.Add(time.Duration(i) * time.Minute), StatusCode: ptr(200)}
		c.NotAfter = ptr(c.PlannedAt.Add(time.Duration(daysLeft * float64(24*time.Hour))))
		return c
	}
	plain := alert.Check{PlannedAt: t0.Add(3 * time.Minute), StatusCode: ptr(200)}
	checks := []alert.Check{at(0, 30), at(1, 13.9), at(2, 13.8), plain, at(4, 90), at(5, 90), at(6, 1)}
	_, got := alert.Evaluate(rules, alert.State{Kind: alert.KindCertificate}, checks)
	var s string
	for _, tr := range got {
		s += fmt.Sprintf("%v@%d ", tr.Opened, int(tr.At.Sub(t0)/time.Minute))
	}
	if want := "true@1 false@4 true@6 "; s != want {
		t.Errorf("transitions %q, want %q", s, want)
	}
	if alert.DaysLeft(*checks[1].NotAfter, checks[1].PlannedAt) != 13 {
		t.Errorf("DaysLeft = %d, want 13", alert.DaysLeft(*checks[1].NotAfter, checks[1].PlannedAt))
	}
}

// TestProperties holds evaluation to its promises over random check
// sequences and rules: alerts alternate (never two opens without a resolve
// between), one failure alone never opens one when Failures > 1,
// re-evaluating checks already consumed (repeated events) changes nothing,
// and any split into batches gives the transitions of evaluating at once.
func TestProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 2000 {
		rules := endpoint.AlertRules{
			Failures: 1 + rng.IntN(5), Successes: 1 + rng.IntN(4), CertificateDays: rng.IntN(3) * 7,
		}
		if rng.IntN(2) == 0 {
			rules.FailureRatio = []float64{0.1, 0.3, 0.5, 1}[rng.IntN(4)]
			rules.Window = time.Duration(1+rng.IntN(5)) * time.Minute
		}
		checks := randomChecks(rng, 1+rng.IntN(200))
		for _, kind := range []string{alert.KindDown, alert.KindCertificate} {
			name := fmt.Sprintf("%d/%s", n, kind)
			whole, want := alert.Evaluate(rules, alert.State{Kind: kind}, checks)

			open := false
			for _, tr := range want {
				if tr.Opened == open {
					t.Fatalf("%s: %+v: opened %v twice in a row", name, rules, tr.Opened)
				}
				open = tr.Opened
				if kind == alert.KindDown && tr.Opened && rules.Failures > 1 {
					if failed := countFailed(tr.Checks); failed < 2 {
						t.Fatalf("%s: %+v: opened by %d failed checks", name, rules, failed)
					}
				}
			}
			if open != whole.Open {
				t.Fatalf("%s: state open %v after transitions ending open %v", name, whole.Open, open)
			}

			again, repeat := alert.Evaluate(rules, whole, checks)
			if len(repeat) != 0 || !reflect.DeepEqual(again, whole) {
				t.Fatalf("%s: evaluating again gave %d transitions, state %+v (was %+v)", name, len(repeat), again, whole)
			}

			// Batches, each given the window's checks before the
			// watermark, as the store reads them.
			s, got := alert.State{Kind: kind}, []alert.Transition(nil)
			for end := 0; end < len(checks); {
				end = min(len(checks), end+1+rng.IntN(20))
				var batch []alert.Check
				for _, c := range checks[:end] {
					if c.PlannedAt.After(s.Watermark.Add(-rules.Window)) {
						batch = append(batch, c)
					}
				}
				var ts []alert.Transition
				s, ts = alert.Evaluate(rules, s, batch)
				got = append(got, ts...)
				if rng.IntN(4) == 0 { // a repeated event
					var again []alert.Transition
					s, again = alert.Evaluate(rules, s, batch)
					got = append(got, again...)
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: %+v: in batches %s, at once %s", name, rules, summary(got), summary(want))
			}
			if !reflect.DeepEqual(s, whole) {
				t.Fatalf("%s: state in batches %+v, at once %+v", name, s, whole)
			}
		}
	}
}

// TestSingleFailure: with Failures > 1, no sequence whose failures are all
// alone (each between passed checks) ever opens a down alert, whatever the
// ratio.
func TestSingleFailure(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := range 1000 {
		rules := endpoint.AlertRules{Failures: 2 + rng.IntN(4), Successes: 1 + rng.IntN(3),
			FailureRatio: []float64{0, 0.01, 0.2, 0.5}[rng.IntN(4)], Window: 10 * time.Minute}
		checks := randomChecks(rng, 100)
		for i := range checks {
			if i > 0 && checks[i-1].Failed() { // at most one failure in a row...
				checks[i].Error, checks[i].StatusCode, checks[i].RegexMatch = "", ptr(200), nil
			}
		}
		// ...and, for the ratio, at most one in any window.
		last := time.Time{}
		for i := range checks {
			if checks[i].Failed() {
				if !last.IsZero() && checks[i].PlannedAt.Sub(last) <= rules.Window {
					checks[i].Error, checks[i].StatusCode, checks[i].RegexMatch = "", ptr(200), nil
					continue
				}
				last = checks[i].PlannedAt
			}
		}
		if _, ts := alert.Evaluate(rules, alert.State{Kind: alert.KindDown}, checks); len(ts) != 0 {
			t.Fatalf("%d: %+v: single failures opened %s", n, rules, summary(ts))
		}
	}
}

func countFailed(cs []alert.Check) int {
	n := 0
	for i := range cs {
		if cs[i].Failed() {
			n++
		}
	}
	return n
}

// randomChecks makes n checks 5 to 60 s apart, failing in runs, some with
// certificates that expire sooner or later.
func randomChecks(rng *rand.Rand, n int) []alert.Check {
	out := make([]alert.Check, n)
	at, failing := t0, false
	for i := range out {
		at = at.Add(time.Duration(5+rng.IntN(56)) * time.Second)
		if rng.IntN(4) == 0 {
			failing = !failing
		}
		c := alert.Check{PlannedAt: at, StatusCode: ptr(200), ResponseTime: float64(rng.IntN(500))}
		if failing || rng.IntN(10) == 0 {
			switch rng.IntN(3) {
			case 0:
				c.Error, c.StatusCode = "timeout", nil
			case 1:
				c.StatusCode = ptr(503)
			default:
				c.RegexMatch = ptr(false)
			}
		}
		if rng.IntN(3) > 0 {
			c.NotAfter = ptr(at.Add(time.Duration(rng.IntN(30*24)) * time.Hour))
		}
		out[i] = c
	}
	return out
}
