-- +goose Up
-- One word per concept: a stored check is a check (the table was
-- "metrics"), its planned instant is planned_at ("scheduled" names only an
-- event's time), and a span whose checks never ran is missed (was "gap").
-- Renames keep the data, the grants and the TimescaleDB hypertable; SQL
-- functions that named the old words are created again.

ALTER TABLE metrics RENAME TO checks;
ALTER TABLE checks RENAME COLUMN scheduled_at TO planned_at;
ALTER TABLE checks RENAME CONSTRAINT metrics_key TO checks_key;

-- Native partitions (absent on a hypertable, whose chunks have their own names).
-- +goose StatementBegin
DO $migration$
DECLARE
    part text;
BEGIN
    FOR part IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'checks'::regclass AND c.relname LIKE 'metrics\_%'
    LOOP
        EXECUTE format('ALTER TABLE %I RENAME TO %I', part, 'checks' || substr(part, length('metrics') + 1));
    END LOOP;
    IF to_regclass('metrics_scheduled_at') IS NOT NULL THEN
        ALTER INDEX metrics_scheduled_at RENAME TO checks_planned_at;
    END IF;
END
$migration$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION watcher_ensure_partitions(days_ahead integer) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    today   constant date := (now() AT TIME ZONE 'UTC')::date;
    day     date;
    part    text;
    lo      text;
    hi      text;
    created integer := 0;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = 'checks'::regclass) THEN
        RETURN 0;
    END IF;
    -- Serialise concurrent callers (deploys, the CLI) for this transaction
    -- only, which also works through a transaction-pooling proxy.
    PERFORM pg_advisory_xact_lock(hashtext('watcher_ensure_partitions'));
    FOR i IN 0 .. greatest(days_ahead, 0) LOOP
        day  := today + i;
        part := 'checks_p' || to_char(day, 'YYYYMMDD');
        CONTINUE WHEN to_regclass(part) IS NOT NULL;
        lo := to_char(day, 'YYYY-MM-DD') || ' 00:00:00+00';
        hi := to_char(day + 1, 'YYYY-MM-DD') || ' 00:00:00+00';
        -- Create, fill from the default partition, then attach: attaching
        -- fails while the default partition holds rows of the new range.
        EXECUTE format('CREATE TABLE %I (LIKE checks INCLUDING DEFAULTS)', part);
        EXECUTE format(
            'WITH moved AS (DELETE FROM checks_default WHERE planned_at >= %L AND planned_at < %L RETURNING *) '
            'INSERT INTO %I SELECT * FROM moved', lo, hi, part);
        EXECUTE format('ALTER TABLE checks ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
        created := created + 1;
    END LOOP;
    RETURN created;
END
$fn$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION watcher_cost_endpoints(since timestamptz)
RETURNS TABLE (endpoint_id bigint, name text, url text, location text, interval_ms integer,
               checks bigint, cost_usd float8)
LANGUAGE sql STABLE AS $fn$
    WITH ls AS (
        SELECT * FROM watcher_cost_location_spans(since)
    ), counts AS (
        SELECT ls.span_start, ls.location, c.endpoint_id, count(*) AS checks,
               ls.probe_usd + ls.fanout_share_usd AS usd
        FROM checks c
        JOIN ls ON ls.location = c.location
               AND ls.span_start = date_bin(interval '1 minute', c.planned_at,
                                            (SELECT max(o.span_start) FROM ls o))
        WHERE c.planned_at >= since
        GROUP BY ls.span_start, ls.location, c.endpoint_id, ls.probe_usd, ls.fanout_share_usd
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

ALTER TABLE spans DROP CONSTRAINT spans_status_check;
UPDATE spans SET status = 'missed' WHERE status = 'gap';
ALTER TABLE spans ADD CONSTRAINT spans_status_check CHECK (status IN ('dispatched', 'missed'));

-- +goose Down
-- Not undone: the old names would need the functions above rewritten back
-- as well. Restore from a backup taken before this migration instead.
-- +goose StatementBegin
DO $$ BEGIN RAISE EXCEPTION 'migration 00007 (one word per concept) cannot be undone'; END $$;
-- +goose StatementEnd
