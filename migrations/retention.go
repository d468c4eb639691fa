package migrations

// How long each level of a check's history is kept: the defaults, their
// validation and the form they are given in. They are here, outside
// internal/ and with no dependencies, for the reason the role names are: the
// upkeep (internal/store) and the CDK app's synth (infra) refuse the same
// retentions with the same words, and the CDK app links nothing under
// internal/.

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Day is the unit retention is given in.
const Day = 24 * time.Hour

// Retention is how long each level of history is kept. Raw checks feed
// every rollup, so they must outlive the longest bucket (a day) plus the
// upkeep's lag; each rollup is kept at least as long as the level below it.
type Retention struct {
	Raw    time.Duration // checks, one row per check
	Minute time.Duration // checks_minute
	Hour   time.Duration // checks_hour; also the fleet's ledgers and resolved alerts (store.Maintain)
	Day    time.Duration // checks_day
}

// DefaultRetention: raw checks a week (what a check costs in storage grows with
// this, and past the minute rollups' two days raw checks serve only a look
// at single checks: README, Cost); minute rollups two days (they serve
// reports of a few hours, and a minute rollup row is larger than a check at
// intervals of a minute); hourly rollups 13 months (a year-on-year
// comparison); daily rollups five years.
var DefaultRetention = Retention{Raw: 7 * Day, Minute: 2 * Day, Hour: 395 * Day, Day: 5 * 365 * Day}

// WithDefaults fills zero fields from DefaultRetention.
func (r Retention) WithDefaults() Retention {
	d := DefaultRetention
	return Retention{Raw: cmp.Or(r.Raw, d.Raw), Minute: cmp.Or(r.Minute, d.Minute), Hour: cmp.Or(r.Hour, d.Hour), Day: cmp.Or(r.Day, d.Day)}
}

// MaintainLag is how long after a bucket ends the upkeep waits before
// rolling it up, so that checks still in flight land first.
const MaintainLag = 5 * time.Minute

// Validate refuses a retention below one day, or shorter than the level
// that feeds it: a rollup computed from rows already dropped would be
// wrong, not just short.
func (r Retention) Validate() error {
	levels := []struct {
		name string
		keep time.Duration
	}{{"raw", r.Raw}, {"minute", r.Minute}, {"hour", r.Hour}, {"day", r.Day}}
	var problems []string
	for _, l := range levels {
		if l.keep < Day {
			problems = append(problems, fmt.Sprintf("%s retention %s is below one day", l.name, FormatDays(l.keep)))
		}
	}
	// Below a day is said above; up to a day plus the lag the daily rollup
	// would be computed from a partly dropped day.
	if r.Raw >= Day && r.Raw < Day+MaintainLag {
		problems = append(problems, fmt.Sprintf("raw retention %s is shorter than the daily rollup it feeds plus %s of upkeep lag",
			FormatDays(r.Raw), MaintainLag))
	}
	for _, pair := range [][2]int{{0, 2}, {2, 3}} {
		lo, hi := levels[pair[0]], levels[pair[1]]
		if hi.keep < lo.keep {
			problems = append(problems, fmt.Sprintf("%s retention %s is shorter than the %s retention %s that feeds it",
				hi.name, FormatDays(hi.keep), lo.name, FormatDays(lo.keep)))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("retention: %s", strings.Join(problems, "; "))
	}
	return nil
}

// ParseDays reads a length of time given in whole days ("14d" or "14") or
// as a Go duration ("36h"); it must be positive.
func ParseDays(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if n, err := strconv.Atoi(strings.TrimSuffix(t, "d")); err == nil {
		if n <= 0 {
			return 0, fmt.Errorf("%q: must be positive", s)
		}
		return time.Duration(n) * Day, nil
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("%q: not days (14d) or a duration (36h)", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q: must be positive", s)
	}
	return d, nil
}

// FormatDays prints a retention in days where it is whole days.
func FormatDays(d time.Duration) string {
	if d%Day == 0 {
		return fmt.Sprintf("%dd", d/Day)
	}
	return d.String()
}
