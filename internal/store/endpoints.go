package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/watcher-dev/watcher/internal/endpoint"
)

// ErrDuplicateKey reports two endpoints of one import with the same key
// (endpoint.Endpoint.Key): same name, or unnamed and alike in everything but
// interval, timeout and enabled. Naming one of them tells them apart.
var ErrDuplicateKey = errors.New("duplicate endpoint key")

// ImportResult counts what ImportEndpoints did.
type ImportResult struct {
	Inserted  int // new keys
	Updated   int // known keys whose definition changed
	Unchanged int // known keys, same definition
	Disabled  int // enabled endpoints missing from a replacing import
}

// ImportEndpoints upserts eps by key in one transaction: all are written or
// none. With replace, the set is complete: enabled endpoints whose key is
// not in it are disabled, never deleted, so their history keeps its meaning.
func (s *Store) ImportEndpoints(ctx context.Context, eps []endpoint.Endpoint, replace bool) (ImportResult, error) {
	var res ImportResult
	cols, err := endpointColumns(eps)
	if err != nil {
		return res, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, importSQL, cols.args()...)
		if err != nil {
			return err
		}
		inserted, err := pgx.CollectRows(rows, pgx.RowTo[bool])
		if err != nil {
			return err
		}
		for _, ins := range inserted {
			if ins {
				res.Inserted++
			} else {
				res.Updated++
			}
		}
		res.Unchanged = len(eps) - len(inserted)
		if replace {
			tag, err := tx.Exec(ctx, `
				UPDATE endpoints SET enabled = false, updated_at = now()
				WHERE enabled AND NOT (key = ANY ($1::text[]))`, cols.key)
			if err != nil {
				return err
			}
			res.Disabled = int(tag.RowsAffected())
		}
		return nil
	})
	if err != nil {
		return ImportResult{}, fmt.Errorf("import %d endpoints: %w", len(eps), err)
	}
	return res, nil
}

// importSQL upserts every endpoint in one statement. The WHERE clause skips
// rows whose definition is unchanged, so they are neither rewritten nor
// returned; xmax = 0 tells an inserted row from an updated one.
const importSQL = `
INSERT INTO endpoints AS e (key, name, url, method, headers, body, basic_auth_username,
                            password_ref, regex, interval_ms, timeout_ms, location, enabled,
                            "group", alert_rules)
SELECT key, nullif(name, ''), url, method, headers::jsonb, nullif(body, ''), nullif(username, ''),
       nullif(password_ref, ''), nullif(regex, ''), interval_ms, timeout_ms, location, enabled,
       nullif("group", ''), nullif(alert_rules, '')::jsonb
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
            $8::text[], $9::text[], $10::int[], $11::int[], $12::text[], $13::bool[],
            $14::text[], $15::text[])
     AS t(key, name, url, method, headers, body, username, password_ref, regex,
          interval_ms, timeout_ms, location, enabled, "group", alert_rules)
ON CONFLICT (key) DO UPDATE SET
    name = excluded.name, url = excluded.url, method = excluded.method,
    headers = excluded.headers, body = excluded.body,
    basic_auth_username = excluded.basic_auth_username, password_ref = excluded.password_ref,
    regex = excluded.regex, interval_ms = excluded.interval_ms, timeout_ms = excluded.timeout_ms,
    location = excluded.location, enabled = excluded.enabled,
    "group" = excluded."group", alert_rules = excluded.alert_rules, updated_at = now()
WHERE (e.name, e.url, e.method, e.headers, e.body, e.basic_auth_username, e.password_ref,
       e.regex, e.interval_ms, e.timeout_ms, e.location, e.enabled, e."group", e.alert_rules)
      IS DISTINCT FROM
      (excluded.name, excluded.url, excluded.method, excluded.headers, excluded.body,
       excluded.basic_auth_username, excluded.password_ref, excluded.regex,
       excluded.interval_ms, excluded.timeout_ms, excluded.location, excluded.enabled,
       excluded."group", excluded.alert_rules)
RETURNING (xmax = 0)`

// columns holds endpoints column-wise, one array per parameter of importSQL.
type columns struct {
	key, name, url, method, headers, body, username, passwordRef, regex, location []string
	intervalMS, timeoutMS                                                         []int32
	enabled                                                                       []bool
	group, alertRules                                                             []string // alertRules: JSON, "" for none
}

func (c *columns) args() []any {
	return []any{c.key, c.name, c.url, c.method, c.headers, c.body, c.username, c.passwordRef,
		c.regex, c.intervalMS, c.timeoutMS, c.location, c.enabled, c.group, c.alertRules}
}

func endpointColumns(eps []endpoint.Endpoint) (*columns, error) {
	// Empty, never nil: pgx sends a nil slice as NULL, and key = ANY (NULL)
	// would disable nothing on an empty replacing import.
	n := len(eps)
	c := &columns{
		key: make([]string, 0, n), name: make([]string, 0, n), url: make([]string, 0, n),
		method: make([]string, 0, n), headers: make([]string, 0, n), body: make([]string, 0, n),
		username: make([]string, 0, n), passwordRef: make([]string, 0, n), regex: make([]string, 0, n),
		location: make([]string, 0, n), intervalMS: make([]int32, 0, n), timeoutMS: make([]int32, 0, n),
		enabled: make([]bool, 0, n), group: make([]string, 0, n), alertRules: make([]string, 0, n),
	}
	seen := make(map[string]int, len(eps))
	for i := range eps {
		e := &eps[i]
		key := e.Key()
		if j, dup := seen[key]; dup {
			return nil, fmt.Errorf("endpoints[%d] and endpoints[%d] (%s): %w; give one a name", j, i, e.URL, ErrDuplicateKey)
		}
		seen[key] = i
		headers := []byte("{}")
		if len(e.Headers) > 0 {
			var err error
			if headers, err = json.Marshal(e.Headers); err != nil {
				return nil, fmt.Errorf("endpoints[%d]: encode headers: %w", i, err)
			}
		}
		var rules []byte
		if e.Alerts != nil {
			var err error
			if rules, err = json.Marshal(e.Alerts); err != nil {
				return nil, fmt.Errorf("endpoints[%d]: encode alert rules: %w", i, err)
			}
		}
		var username string
		if e.BasicAuth != nil {
			username = e.BasicAuth.Username
		}
		c.key = append(c.key, key)
		c.name = append(c.name, e.Name)
		c.url = append(c.url, e.URL)
		c.method = append(c.method, e.Method)
		c.headers = append(c.headers, string(headers))
		c.body = append(c.body, e.Body)
		c.username = append(c.username, username)
		c.passwordRef = append(c.passwordRef, e.BasicAuth.Ref())
		c.regex = append(c.regex, e.Regex)
		c.intervalMS = append(c.intervalMS, int32(e.Interval.Milliseconds()))
		c.timeoutMS = append(c.timeoutMS, int32(e.Timeout.Milliseconds()))
		c.location = append(c.location, e.Location)
		c.enabled = append(c.enabled, e.Enabled)
		c.group = append(c.group, e.Group)
		c.alertRules = append(c.alertRules, string(rules))
	}
	return c, nil
}

// Endpoints returns the configured endpoints in id order, only the enabled
// ones when enabledOnly. One query, whatever their number.
func (s *Store) Endpoints(ctx context.Context, enabledOnly bool) ([]endpoint.Endpoint, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, coalesce(name, ''), url, method, headers, coalesce(body, ''),
		       basic_auth_username, coalesce(password_ref, ''), coalesce(regex, ''),
		       interval_ms, timeout_ms, location, enabled, coalesce("group", ''), alert_rules
		FROM endpoints WHERE enabled OR NOT $1 ORDER BY id`, enabledOnly)
	if err != nil {
		return nil, fmt.Errorf("query endpoints: %w", err)
	}
	eps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (endpoint.Endpoint, error) {
		var (
			e                     endpoint.Endpoint
			username              *string
			passwordRef           string
			intervalMS, timeoutMS int64
			rules                 []byte
		)
		err := row.Scan(&e.ID, &e.Name, &e.URL, &e.Method, &e.Headers, &e.Body, &username,
			&passwordRef, &e.Regex, &intervalMS, &timeoutMS, &e.Location, &e.Enabled, &e.Group, &rules)
		if err != nil {
			return e, err
		}
		if rules != nil {
			e.Alerts = new(endpoint.AlertRules)
			if err := json.Unmarshal(rules, e.Alerts); err != nil {
				return e, fmt.Errorf("endpoint %d: decode alert_rules: %w", e.ID, err)
			}
		}
		if len(e.Headers) == 0 {
			e.Headers = nil // as the YAML parser leaves an endpoint without headers
		}
		if username != nil || passwordRef != "" {
			e.BasicAuth = basicAuth(username, passwordRef)
		}
		e.Interval = time.Duration(intervalMS) * time.Millisecond
		e.Timeout = time.Duration(timeoutMS) * time.Millisecond
		return e, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read endpoints: %w", err)
	}
	return eps, nil
}

// basicAuth rebuilds BasicAuth from its stored form; see BasicAuth.Ref.
func basicAuth(username *string, ref string) *endpoint.BasicAuth {
	ba := &endpoint.BasicAuth{}
	if username != nil {
		ba.Username = *username
	}
	switch {
	case strings.HasPrefix(ref, "env:"):
		ba.PasswordEnv = strings.TrimPrefix(ref, "env:")
	case strings.HasPrefix(ref, "secret:"):
		ba.PasswordSecret = strings.TrimPrefix(ref, "secret:")
	}
	return ba
}
