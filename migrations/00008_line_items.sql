-- +goose Up
-- Every line of the bill that grows with checks, recorded per invocation
-- beside the Lambda cost of 00003 and 00005: the facts (a cold start and its
-- init, NAT-attached or not and the bytes its checks moved, the bytes it sent
-- to the Internet, record-queue requests in billed 64 KiB chunks, bytes
-- logged, bytes its stored checks take) and what each cost at the price table of internal/cost when the
-- invocation ended. cost_usd stays Lambda's part (compute, now with a cold
-- start's init, and the request); request_usd is its request part, so
-- compute is cost_usd - request_usd. storage_usd is one month of keeping the
-- invocation's checks: a deployment that keeps checks n months pays it n
-- times. As in 00005, no price lives in SQL.
--
-- Invocations recorded before this migration (or by a probe that predates
-- it, through the record queue) have every new column 0: their Lambda cost
-- counts as compute, and the other lines are missing from them.
ALTER TABLE invocations
    ADD COLUMN cold_start     boolean          NOT NULL DEFAULT false,
    ADD COLUMN init_ms        double precision NOT NULL DEFAULT 0,
    ADD COLUMN vpc            boolean          NOT NULL DEFAULT false,
    ADD COLUMN net_bytes      bigint           NOT NULL DEFAULT 0,
    ADD COLUMN sent_bytes     bigint           NOT NULL DEFAULT 0,
    ADD COLUMN queue_requests bigint           NOT NULL DEFAULT 0,
    ADD COLUMN queue_bytes    bigint           NOT NULL DEFAULT 0,
    ADD COLUMN log_bytes      bigint           NOT NULL DEFAULT 0,
    ADD COLUMN storage_bytes  bigint           NOT NULL DEFAULT 0,
    ADD COLUMN request_usd    double precision NOT NULL DEFAULT 0,
    ADD COLUMN nat_usd        double precision NOT NULL DEFAULT 0,
    ADD COLUMN data_out_usd   double precision NOT NULL DEFAULT 0,
    ADD COLUMN queue_usd      double precision NOT NULL DEFAULT 0,
    ADD COLUMN logs_usd       double precision NOT NULL DEFAULT 0,
    ADD COLUMN storage_usd    double precision NOT NULL DEFAULT 0;

-- cost_spans gains the new facts and lines, after its columns of 00005.
CREATE OR REPLACE VIEW cost_spans AS
SELECT i.span_start,
       i.function,
       coalesce(i.location, '')                                   AS location,
       count(*)                                                   AS invocations,
       count(*) FILTER (WHERE i.cost_usd IS NULL)                 AS unpriced,
       sum(i.checks_done)::bigint                                 AS checks_done,
       sum(i.payload_bytes)::bigint                               AS payload_bytes,
       sum(i.billed_ms)::bigint                                   AS billed_ms,
       sum(i.billed_ms::float8 / 1000 * i.memory_mb / 1024)       AS gb_seconds,
       coalesce(sum(i.cost_usd), 0)::float8                       AS cost_usd,
       count(*) FILTER (WHERE i.cold_start)                       AS cold_starts,
       sum(i.init_ms)::float8                                     AS init_ms,
       sum(i.net_bytes)::bigint                                   AS net_bytes,
       sum(i.sent_bytes)::bigint                                  AS sent_bytes,
       sum(i.queue_requests)::bigint                              AS queue_requests,
       sum(i.queue_bytes)::bigint                                 AS queue_bytes,
       sum(i.log_bytes)::bigint                                   AS log_bytes,
       sum(i.storage_bytes)::bigint                               AS storage_bytes,
       sum(i.request_usd)::float8                                 AS request_usd,
       sum(i.nat_usd)::float8                                     AS nat_usd,
       sum(i.data_out_usd)::float8                                AS data_out_usd,
       sum(i.queue_usd)::float8                                   AS queue_usd,
       sum(i.logs_usd)::float8                                    AS logs_usd,
       sum(i.storage_usd)::float8                                 AS storage_usd
FROM invocations i
WHERE i.span_start IS NOT NULL
GROUP BY i.span_start, i.function, coalesce(i.location, '');

-- watcher_cost_line_items: one row per line item (internal/cost.LineNames,
-- in that order) over the spans from since on: its cost, per 1,000 checks,
-- and per URL-month at 5 s and 60 s (the cost per check the probes did
-- times 525,600 or 43,800 checks in a 730-hour month), as
-- watcher_cost_summary gives the Lambda cost. The rows add up to every
-- line's total.
-- +goose StatementBegin
CREATE FUNCTION watcher_cost_line_items(since timestamptz)
RETURNS TABLE (line_item text, cost_usd float8, cost_per_1000_checks_usd float8,
               per_url_month_5s_usd float8, per_url_month_60s_usd float8)
LANGUAGE sql STABLE AS $fn$
    WITH t AS (
        SELECT coalesce(sum(s.checks_done) FILTER (WHERE s.function = 'probe'), 0)::bigint AS checks,
               coalesce(sum(s.cost_usd - s.request_usd), 0) AS lambda_compute,
               coalesce(sum(s.request_usd), 0) AS lambda_requests,
               coalesce(sum(s.nat_usd), 0) AS nat_data,
               coalesce(sum(s.data_out_usd), 0) AS data_out,
               coalesce(sum(s.queue_usd), 0) AS queue_requests,
               coalesce(sum(s.logs_usd), 0) AS logs,
               coalesce(sum(s.storage_usd), 0) AS storage
        FROM cost_spans s WHERE s.span_start >= since
    ), l AS (
        SELECT v.ord, v.item, v.usd, t.checks
        FROM t CROSS JOIN LATERAL (VALUES
            (1, 'lambda_compute', t.lambda_compute), (2, 'lambda_requests', t.lambda_requests),
            (3, 'nat_data', t.nat_data), (4, 'data_out', t.data_out),
            (5, 'queue_requests', t.queue_requests), (6, 'logs', t.logs),
            (7, 'storage', t.storage)) AS v (ord, item, usd)
    )
    SELECT l.item, l.usd,
           CASE WHEN l.checks > 0 THEN l.usd / l.checks * 1000 ELSE 0 END,
           CASE WHEN l.checks > 0 THEN l.usd / l.checks * (2628000 / 5.0::float8) ELSE 0 END,
           CASE WHEN l.checks > 0 THEN l.usd / l.checks * (2628000 / 60.0::float8) ELSE 0 END
    FROM l
    ORDER BY l.ord
$fn$;
-- +goose StatementEnd

-- The same over all recorded history.
CREATE VIEW cost_line_items AS SELECT * FROM watcher_cost_line_items('-infinity');

-- +goose Down
DROP VIEW cost_line_items;
DROP FUNCTION watcher_cost_line_items(timestamptz);
DROP VIEW cost_spans;
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
ALTER TABLE invocations
    DROP COLUMN cold_start, DROP COLUMN init_ms, DROP COLUMN vpc, DROP COLUMN net_bytes, DROP COLUMN sent_bytes,
    DROP COLUMN queue_requests, DROP COLUMN queue_bytes, DROP COLUMN log_bytes, DROP COLUMN storage_bytes,
    DROP COLUMN request_usd, DROP COLUMN nat_usd, DROP COLUMN data_out_usd, DROP COLUMN queue_usd, DROP COLUMN logs_usd,
    DROP COLUMN storage_usd;
