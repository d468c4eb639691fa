package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/watcher-dev/watcher/internal/record"
)

// Counts are what a rollup counts of its checks, and an endpoint report of
// its buckets: both add up.
type Counts struct {
	Checks int64
	// Up counts checks with a 2xx or 3xx status, no error, and a regex
	// that matched (or none): what is not Up failed.
	Up     int64
	Errors int64 // checks with an error class, by class below
	// Errors by class; ErrOther is every class not named here.
	ErrDNS, ErrConnect, ErrTLS, ErrTimeout, ErrRefused, ErrNoSocket, ErrOther int64
	// Status classes of the checks that got a response.
	Status2xx, Status3xx, Status4xx, Status5xx int64
	RegexFailures                              int64 // checks whose body did not match the regex
	SumMS                                      float64
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.Checks += o.Checks
	c.Up += o.Up
	c.Errors += o.Errors
	c.ErrDNS += o.ErrDNS
	c.ErrConnect += o.ErrConnect
	c.ErrTLS += o.ErrTLS
	c.ErrTimeout += o.ErrTimeout
	c.ErrRefused += o.ErrRefused
	c.ErrNoSocket += o.ErrNoSocket
	c.ErrOther += o.ErrOther
	c.Status2xx += o.Status2xx
	c.Status3xx += o.Status3xx
	c.Status4xx += o.Status4xx
	c.Status5xx += o.Status5xx
	c.RegexFailures += o.RegexFailures
	c.SumMS += o.SumMS
}

// UpPercent is Up as a percentage of Checks; zero without checks.
func (c Counts) UpPercent() float64 {
	if c.Checks == 0 {
		return 0
	}
	return 100 * float64(c.Up) / float64(c.Checks)
}

// Mean is the mean response time; zero without checks.
func (c Counts) Mean() time.Duration {
	if c.Checks == 0 {
		return 0
	}
	return record.FromMS(c.SumMS / float64(c.Checks))
}

// Rollup is one row of checks_minute, checks_hour or checks_day.
type Rollup struct {
	EndpointID int64
	Location   string
	Bucket     time.Time
	Counts
	P50, P95, P99, Max time.Duration
}

// Levels of rollups, finest first.
const (
	LevelMinute = "minute"
	LevelHour   = "hour"
	LevelDay    = "day"
)

// rollupLevel returns the rollup of level name.
func rollupLevel(name string) (rollup, error) {
	for _, l := range rollups {
		if l.level == name {
			return l, nil
		}
	}
	return rollup{}, fmt.Errorf("rollup level %q: not %s, %s or %s", name, LevelMinute, LevelHour, LevelDay)
}

func scanRollup(row pgx.CollectableRow) (Rollup, error) {
	var (
		r                  Rollup
		p50, p95, p99, max float64
	)
	dest := append([]any{&r.EndpointID, &r.Location, &r.Bucket}, countTargets(&r.Counts)...)
	err := row.Scan(append(dest, &p50, &p95, &p99, &max)...)
	r.Bucket = r.Bucket.UTC()
	r.P50, r.P95, r.P99, r.Max = record.FromMS(p50), record.FromMS(p95), record.FromMS(p99), record.FromMS(max)
	return r, err
}

// Rollups returns the rollups of level (LevelMinute, LevelHour, LevelDay)
// whose buckets start in [from, to), by endpoint, location and bucket.
// Rollups are as fresh as the last upkeep (Maintain, RollUp).
func (s *Store) Rollups(ctx context.Context, level string, from, to time.Time) ([]Rollup, error) {
	l, err := rollupLevel(level)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT endpoint_id, location, bucket, `+strings.Join(countColumns, ", ")+
		`, p50_ms, p95_ms, p99_ms, max_ms FROM `+l.view()+
		` WHERE bucket >= $1 AND bucket < $2 ORDER BY endpoint_id, location, bucket`, from, to)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", l.view(), err)
	}
	rs, err := pgx.CollectRows(rows, scanRollup)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", l.view(), err)
	}
	return rs, nil
}
