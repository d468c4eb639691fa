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

// countColumns are the rollup columns that add up, in Counts order.
var countColumns = []string{"checks", "up", "errors", "err_dns", "err_connect", "err_tls", "err_timeout", "err_refused",
	"err_no_socket", "err_other", "status_2xx", "status_3xx", "status_4xx", "status_5xx", "regex_failures", "sum_ms"}

// countTargets are the fields of c in countColumns order.
func countTargets(c *Counts) []any {
	return []any{&c.Checks, &c.Up, &c.Errors, &c.ErrDNS, &c.ErrConnect, &c.ErrTLS, &c.ErrTimeout, &c.ErrRefused,
		&c.ErrNoSocket, &c.ErrOther, &c.Status2xx, &c.Status3xx, &c.Status4xx, &c.Status5xx, &c.RegexFailures, &c.SumMS}
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

// rollup is one level of rollups, in the relation checks_<level>.
type rollup struct {
	level string
	width time.Duration
	batch int // buckets per transaction
}

// rollups are the levels, finest first.
var rollups = []rollup{{LevelMinute, time.Minute, 60}, {LevelHour, time.Hour, 6}, {LevelDay, Day, 1}}

func (l rollup) view() string { return "checks_" + l.level }

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
	var r Rollup
	err := scanCounted(row, []any{&r.EndpointID, &r.Location, &r.Bucket}, &r.Counts, &r.P50, &r.P95, &r.P99, &r.Max)
	r.Bucket = r.Bucket.UTC()
	return r, err
}

// scanCounted scans a row of the columns head points to, then countColumns
// into c, then the p50, p95, p99 and max response times in milliseconds.
func scanCounted(row pgx.CollectableRow, head []any, c *Counts, p50, p95, p99, maxRT *time.Duration) error {
	var ms [4]float64
	dest := append(append(head, countTargets(c)...), &ms[0], &ms[1], &ms[2], &ms[3])
	err := row.Scan(dest...)
	*p50, *p95, *p99, *maxRT = record.FromMS(ms[0]), record.FromMS(ms[1]), record.FromMS(ms[2]), record.FromMS(ms[3])
	return err
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
