package store

import "github.com/watcher-dev/watcher/migrations"

// The retention types and rules live in the migrations package, which the
// CDK app shares; these names keep the store's callers as they were.
type Retention = migrations.Retention

// Day is the unit retention is given in.
const Day = migrations.Day

// DefaultRetention is migrations.DefaultRetention.
var DefaultRetention = migrations.DefaultRetention

// maintainLag is how long after a bucket ends the upkeep waits before
// rolling it up, so that checks still in flight land first.
const maintainLag = migrations.MaintainLag
