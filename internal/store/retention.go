package store

import (
	"time"

	"github.com/watcher-dev/watcher/internal/retention"
)

// The retention types and rules live in internal/retention, which infra
// shares; these names keep the store's callers as they were.
type Retention = retention.Retention

// Day is the unit retention is given in.
const Day = retention.Day

// DefaultRetention is retention.Default.
var DefaultRetention = retention.Default

// maintainLag is how long after a bucket ends the upkeep waits before
// rolling it up, so that checks still in flight land first.
const maintainLag = retention.MaintainLag

// ParseDays reads whole days ("14d") or a Go duration: retention.ParseDays.
func ParseDays(s string) (time.Duration, error) { return retention.ParseDays(s) }

// FormatDays prints a retention in days where it is whole days.
func FormatDays(d time.Duration) string { return retention.FormatDays(d) }
