-- +goose Up
-- Cost accounting over the invocations table (00003 already has arch,
-- billed_ms and cost_usd): the figures `watcher cost` prints, for
-- dashboards. Every invocation records its own cost (internal/cost prices
-- it when it ends), so no price lives in SQL.
--
-- The unit of allocation is the span. A location's checks in a span carry
-- the cost of that location's probe invocations for the span plus a share
-- of the span's fanout cost in proportion to the checks the probes did; an
-- endpoint's checks carry their location-span's cost per stored check. The
-- functions take the window's start (span_start >= since); the cost_* views
-- are the same over all recorded history. internal/cost.Build computes the
-- same figures in Go, and a test holds the two to each other.

-- cost_spans: per span, function and location ('' for the fanout), the
-- recorded invocations. Filter it on span_start for a time series.
CREATE VIEW cost_spans AS
SELECT i.span_start,
       i.function,
       coalesce(i.location, '')                                   AS location,
       count(*)                                                   AS invocations,
       count(*) FILTER (WHERE i.cost_usd IS NULL)                 AS unpriced,
       sum(i.checks_done)::bigint                                 AS checks_done,
       sum(i.payload_bytes)::bigint                               AS payload_bytes,
       sum(i.billed_ms)::bigint                                   AS billed_ms,
       sum(i.billed_ms::float8 / 1000 * i.memory_mb / 1024)       AS gb_seconds,
       coalesce(sum(i.cost_usd), 0)::float8                       AS cost_usd
FROM invocations i
WHERE i.span_start IS NOT NULL
GROUP BY i.span_start, i.function, coalesce(i.location, '');

-- watcher_cost_location_spans: each location's probe cost per span and its
-- share of the span's fanout cost.
-- +goose StatementBegin
CREATE FUNCTION watcher_cost_location_spans(since timestamptz)
RETURNS TABLE (span_start timestamptz, location text, invocations bigint, checks bigint,
               gb_seconds float8, probe_usd float8, fanout_share_usd float8)
LANGUAGE sql STABLE AS $fn$
    SELECT p.span_start, p.location, p.invocations, p.checks_done, p.gb_seconds, p.cost_usd,
           coalesce(f.cost_usd * p.checks_done
                    / nullif(sum(p.checks_done) OVER (PARTITION BY p.span_start), 0)::float8, 0)
    FROM cost_spans p
    LEFT JOIN (SELECT s.span_start, sum(s.cost_usd) AS cost_usd
               FROM cost_spans s
               WHERE s.function = 'fanout' AND s.span_start >= since
               GROUP BY s.span_start) f ON f.span_start = p.span_start
    WHERE p.function = 'probe' AND p.span_start >= since
$fn$;
-- +goose StatementEnd

-- watcher_cost_endpoints: each endpoint's checks stored in the window and
-- their cost. A check belongs to the span its planned instant falls in;
-- spans are a minute long and share one offset, so the span is found with
-- date_bin from any span's start (a hash join, not a range join).
-- +goose StatementBegin
CREATE FUNCTION watcher_cost_endpoints(since timestamptz)
RETURNS TABLE (endpoint_id bigint, name text, url text, location text, interval_ms integer,
               checks bigint, cost_usd float8)
LANGUAGE sql STABLE AS $fn$
    WITH ls AS (
        SELECT * FROM watcher_cost_location_spans(since)
    ), counts AS (
        SELECT ls.span_start, ls.location, m.endpoint_id, count(*) AS checks,
               ls.probe_usd + ls.fanout_share_usd AS usd
        FROM metrics m
        JOIN ls ON ls.location = m.location
               AND ls.span_start = date_bin(interval '1 minute', m.scheduled_at,
                                            (SELECT max(o.span_start) FROM ls o))
        WHERE m.scheduled_at >= since
        GROUP BY ls.span_start, ls.location, m.endpoint_id, ls.probe_usd, ls.fanout_share_usd
    ), rated AS (
        SELECT c.endpoint_id, c.location, c.checks,
               c.usd * c.checks / (sum(c.checks) OVER (PARTITION BY c.span_start, c.location))::float8 AS usd
        FROM counts c
    )
    SELECT e.id, e.name, e.url, r.location, e.interval_ms, sum(r.checks)::bigint, sum(r.usd)
    FROM rated r
    JOIN endpoints e ON e.id = r.endpoint_id
    GROUP BY e.id, e.name, e.url, r.location, e.interval_ms
$fn$;
-- +goose StatementEnd

-- watcher_cost_covered_s: the schedule time the window covers, one span
-- length per span in which probes ran.
-- +goose StatementBegin
CREATE FUNCTION watcher_cost_covered_s(since timestamptz) RETURNS float8
LANGUAGE sql STABLE AS $fn$
    SELECT 60.0::float8 * count(DISTINCT s.span_start)
    FROM cost_spans s WHERE s.function = 'probe' AND s.span_start >= since
$fn$;
-- +goose StatementEnd

-- watcher_cost_locations: per location, its probes and fanout share.
-- Per URL-month divides by the location's endpoints and scales the covered
-- time to a month of 730 hours (2,628,000 s).
-- +goose StatementBegin
CREATE FUNCTION watcher_cost_locations(since timestamptz)
RETURNS TABLE (location text, invocations bigint, checks bigint, gb_seconds float8, probe_usd float8,
               fanout_share_usd float8, cost_usd float8, cost_per_1000_checks_usd float8,
               endpoints bigint, per_url_month_usd float8)
LANGUAGE sql STABLE AS $fn$
    WITH l AS (
        SELECT ls.location, sum(ls.invocations)::bigint AS invocations, sum(ls.checks)::bigint AS checks,
               sum(ls.gb_seconds) AS gb_seconds, sum(ls.probe_usd) AS probe_usd,
               sum(ls.fanout_share_usd) AS fanout_share_usd
        FROM watcher_cost_location_spans(since) ls
        GROUP BY ls.location
    ), e AS (
        SELECT ec.location, count(*) AS endpoints FROM watcher_cost_endpoints(since) ec GROUP BY ec.location
    ), c AS (
        SELECT watcher_cost_covered_s(since) AS covered
    )
    SELECT l.location, l.invocations, l.checks, l.gb_seconds, l.probe_usd, l.fanout_share_usd,
           l.probe_usd + l.fanout_share_usd,
           CASE WHEN l.checks > 0 THEN (l.probe_usd + l.fanout_share_usd) / l.checks * 1000 ELSE 0 END,
           coalesce(e.endpoints, 0),
           CASE WHEN coalesce(e.endpoints, 0) > 0 AND c.covered > 0
                THEN (l.probe_usd + l.fanout_share_usd) * 2628000 / c.covered / e.endpoints ELSE 0 END
    FROM l CROSS JOIN c LEFT JOIN e ON e.location = l.location
    ORDER BY l.location
$fn$;
-- +goose StatementEnd

-- watcher_cost_buckets: per interval bucket (internal/cost.Buckets).
-- +goose StatementBegin
CREATE FUNCTION watcher_cost_buckets(since timestamptz)
RETURNS TABLE (bucket text, planner_bucket text, endpoints bigint, checks bigint, cost_usd float8,
               cost_per_1000_checks_usd float8, per_url_month_usd float8)
LANGUAGE sql STABLE AS $fn$
    WITH b AS (
        SELECT CASE WHEN ec.interval_ms < 10000 THEN 1 WHEN ec.interval_ms < 30000 THEN 2
                    WHEN ec.interval_ms < 60000 THEN 3 WHEN ec.interval_ms < 120000 THEN 4 ELSE 5 END AS ord,
               ec.checks, ec.cost_usd
        FROM watcher_cost_endpoints(since) ec
    ), c AS (
        SELECT watcher_cost_covered_s(since) AS covered
    )
    SELECT (ARRAY['5-9s', '10-29s', '30-59s', '60-119s', '120-300s'])[b.ord],
           CASE WHEN b.ord <= 3 THEN 'busy' ELSE 'burst' END,
           count(*), sum(b.checks)::bigint, sum(b.cost_usd),
           CASE WHEN sum(b.checks) > 0 THEN sum(b.cost_usd) / sum(b.checks) * 1000 ELSE 0 END,
           CASE WHEN c.covered > 0 THEN sum(b.cost_usd) * 2628000 / c.covered / count(*) ELSE 0 END
    FROM b CROSS JOIN c
    GROUP BY b.ord, c.covered
    ORDER BY b.ord
$fn$;
-- +goose StatementEnd

-- watcher_cost_summary: the headline figures. fleet_size spreads
-- fixed_monthly_usd (database, proxy, NAT, logs) over URLs; NULL or 0
-- means the endpoints measured. Synthetics charges $0.0012 per canary run.
-- +goose StatementBegin
CREATE FUNCTION watcher_cost_summary(since timestamptz, fleet_size integer DEFAULT NULL,
                                     fixed_monthly_usd float8 DEFAULT 0)
RETURNS TABLE (spans bigint, covered_s float8, endpoints bigint, fanout_invocations bigint,
               probe_invocations bigint, unpriced_invocations bigint, checks bigint, gb_seconds float8,
               cost_usd float8, fanout_usd float8, probe_usd float8, unallocated_usd float8,
               cost_per_1000_checks_usd float8, fleet_per_url_month_usd float8,
               per_url_month_5s_usd float8, per_url_month_60s_usd float8, fixed_per_url_month_usd float8,
               synthetics_usd float8, synthetics_ratio float8, synthetics_ratio_with_fixed float8,
               synthetics_ratio_5s float8, synthetics_ratio_60s float8)
LANGUAGE sql STABLE AS $fn$
    WITH s AS (
        SELECT * FROM cost_spans cs WHERE cs.span_start >= since
    ), t AS (
        SELECT count(DISTINCT s.span_start) FILTER (WHERE s.function = 'probe') AS spans,
               coalesce(sum(s.invocations) FILTER (WHERE s.function = 'fanout'), 0)::bigint AS fanout_inv,
               coalesce(sum(s.invocations) FILTER (WHERE s.function = 'probe'), 0)::bigint AS probe_inv,
               coalesce(sum(s.unpriced), 0)::bigint AS unpriced,
               coalesce(sum(s.checks_done) FILTER (WHERE s.function = 'probe'), 0)::bigint AS checks,
               coalesce(sum(s.gb_seconds), 0) AS gb_seconds,
               coalesce(sum(s.cost_usd), 0) AS cost,
               coalesce(sum(s.cost_usd) FILTER (WHERE s.function = 'fanout'), 0) AS fanout,
               coalesce(sum(s.cost_usd) FILTER (WHERE s.function = 'probe'), 0) AS probe
        FROM s
    ), u AS (
        SELECT coalesce(sum(p.fanout), 0) AS unallocated
        FROM (SELECT s.span_start,
                     coalesce(sum(s.cost_usd) FILTER (WHERE s.function = 'fanout'), 0) AS fanout,
                     coalesce(sum(s.checks_done) FILTER (WHERE s.function = 'probe'), 0) AS checks
              FROM s GROUP BY s.span_start) p
        WHERE p.checks = 0
    ), e AS (
        SELECT count(DISTINCT ec.endpoint_id) AS n FROM watcher_cost_endpoints(since) ec
    ), d AS (
        SELECT t.*, u.unallocated, e.n AS endpoints, 60.0::float8 * t.spans AS covered,
               CASE WHEN t.checks > 0 THEN t.cost / t.checks ELSE 0 END AS per_check,
               CASE WHEN coalesce(fleet_size, 0) > 0 THEN fleet_size ELSE e.n END AS fleet
        FROM t, u, e
    ), f AS (
        SELECT d.*,
               CASE WHEN d.fleet > 0 THEN fixed_monthly_usd / d.fleet ELSE 0 END AS fixed_per_url
        FROM d
    ), g AS (
        SELECT f.*, f.fixed_per_url * f.endpoints * f.covered / 2628000 AS fixed_window,
               f.checks * 0.0012::float8 AS synthetics
        FROM f
    )
    SELECT g.spans, g.covered, g.endpoints, g.fanout_inv, g.probe_inv, g.unpriced, g.checks, g.gb_seconds,
           g.cost, g.fanout, g.probe, g.unallocated,
           CASE WHEN g.checks > 0 THEN g.cost / g.checks * 1000 ELSE 0 END,
           CASE WHEN g.endpoints > 0 AND g.covered > 0 THEN g.cost * 2628000 / g.covered / g.endpoints ELSE 0 END,
           g.per_check * (2628000 / 5.0::float8),
           g.per_check * (2628000 / 60.0::float8),
           g.fixed_per_url,
           g.synthetics,
           CASE WHEN g.cost > 0 THEN g.synthetics / g.cost ELSE 0 END,
           CASE WHEN g.cost + g.fixed_window > 0 THEN g.synthetics / (g.cost + g.fixed_window) ELSE 0 END,
           CASE WHEN g.per_check * (2628000 / 5.0::float8) + g.fixed_per_url > 0
                THEN (2628000 / 5.0::float8) * 0.0012::float8 / (g.per_check * (2628000 / 5.0::float8) + g.fixed_per_url) ELSE 0 END,
           CASE WHEN g.per_check * (2628000 / 60.0::float8) + g.fixed_per_url > 0
                THEN (2628000 / 60.0::float8) * 0.0012::float8 / (g.per_check * (2628000 / 60.0::float8) + g.fixed_per_url) ELSE 0 END
    FROM g
$fn$;
-- +goose StatementEnd

-- The same over all recorded history, for dashboards that want a view.
CREATE VIEW cost_summary AS SELECT * FROM watcher_cost_summary('-infinity');
CREATE VIEW cost_by_location AS SELECT * FROM watcher_cost_locations('-infinity');
CREATE VIEW cost_by_bucket AS SELECT * FROM watcher_cost_buckets('-infinity');
CREATE VIEW cost_by_endpoint AS SELECT * FROM watcher_cost_endpoints('-infinity');

-- +goose Down
DROP VIEW cost_by_endpoint;
DROP VIEW cost_by_bucket;
DROP VIEW cost_by_location;
DROP VIEW cost_summary;
DROP FUNCTION watcher_cost_summary(timestamptz, integer, float8);
DROP FUNCTION watcher_cost_buckets(timestamptz);
DROP FUNCTION watcher_cost_locations(timestamptz);
DROP FUNCTION watcher_cost_covered_s(timestamptz);
DROP FUNCTION watcher_cost_endpoints(timestamptz);
DROP FUNCTION watcher_cost_location_spans(timestamptz);
DROP VIEW cost_spans;
