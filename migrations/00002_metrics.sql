-- +goose Up
-- One row per check. Unique on (endpoint_id, location, scheduled_at), the
-- planned instant, so a retried batch or a retried invocation inserts
-- nothing twice (writers use ON CONFLICT DO NOTHING).
--
-- No foreign key to endpoints: it would cost a lookup per inserted row on the
-- hottest path, and endpoints are only ever disabled, never deleted.
--
-- Time-partitioned by scheduled_at: a TimescaleDB hypertable where the
-- extension can be created, otherwise native daily range partitions that
-- watcher_ensure_partitions creates ahead of time, plus a DEFAULT partition
-- so that no row is ever refused.

-- +goose StatementBegin
DO $migration$
DECLARE
    columns constant text := $columns$
        endpoint_id      bigint           NOT NULL,
        location         text             NOT NULL,
        scheduled_at     timestamptz      NOT NULL,
        started_at       timestamptz      NOT NULL,
        lateness_ms      real             NOT NULL DEFAULT 0,
        response_time_ms double precision NOT NULL,
        status_code      smallint,
        regex_match      boolean,
        error            text,
        dns_ms           real             NOT NULL DEFAULT 0,
        connect_ms       real             NOT NULL DEFAULT 0,
        tls_ms           real             NOT NULL DEFAULT 0,
        ttfb_ms          real             NOT NULL DEFAULT 0,
        body_bytes       bigint           NOT NULL DEFAULT 0,
        CONSTRAINT metrics_key UNIQUE (endpoint_id, location, scheduled_at)
    $columns$;
    hypertable boolean := false;
    preloaded  boolean;
BEGIN
    -- Available is not usable. Without shared_preload_libraries the
    -- library refuses to load and CREATE EXTENSION ends the session with
    -- FATAL, which no handler catches: look before creating. The role may
    -- still lack the right to create it: fall back rather than fail.
    BEGIN
        preloaded := 'timescaledb' = ANY (string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ','));
    EXCEPTION WHEN insufficient_privilege THEN
        preloaded := false; -- the setting is readable only with pg_read_all_settings
    END;
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')
       OR (preloaded AND EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'))
    THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS timescaledb;
            EXECUTE format('CREATE TABLE metrics (%s)', columns);
            PERFORM create_hypertable('metrics', 'scheduled_at', chunk_time_interval => interval '1 day');
            hypertable := true;
        EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'timescaledb is available but not usable (%): using native partitions', SQLERRM;
        END;
    ELSIF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        RAISE NOTICE 'timescaledb is installed but not in shared_preload_libraries: using native partitions';
    END IF;
    IF NOT hypertable THEN
        EXECUTE format('CREATE TABLE metrics (%s) PARTITION BY RANGE (scheduled_at)', columns);
        EXECUTE 'CREATE TABLE metrics_default PARTITION OF metrics DEFAULT';
        -- Reports and span counts scan by time; BRIN is nearly free to
        -- maintain for rows that arrive in time order.
        EXECUTE 'CREATE INDEX metrics_scheduled_at ON metrics USING brin (scheduled_at)';
    END IF;
END
$migration$;
-- +goose StatementEnd

-- watcher_ensure_partitions creates the daily partitions of metrics from
-- today (UTC) to days_ahead days later and returns how many it created. Rows
-- that reached the default partition before their day's partition existed
-- are moved into it. A no-op on a hypertable, which makes its own chunks.
-- +goose StatementBegin
CREATE FUNCTION watcher_ensure_partitions(days_ahead integer) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    today   constant date := (now() AT TIME ZONE 'UTC')::date;
    day     date;
    part    text;
    lo      text;
    hi      text;
    created integer := 0;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = 'metrics'::regclass) THEN
        RETURN 0;
    END IF;
    -- Serialise concurrent callers (deploys, the CLI) for this transaction
    -- only, which also works through a transaction-pooling proxy.
    PERFORM pg_advisory_xact_lock(hashtext('watcher_ensure_partitions'));
    FOR i IN 0 .. greatest(days_ahead, 0) LOOP
        day  := today + i;
        part := 'metrics_p' || to_char(day, 'YYYYMMDD');
        CONTINUE WHEN to_regclass(part) IS NOT NULL;
        lo := to_char(day, 'YYYY-MM-DD') || ' 00:00:00+00';
        hi := to_char(day + 1, 'YYYY-MM-DD') || ' 00:00:00+00';
        -- Create, fill from the default partition, then attach: attaching
        -- fails while the default partition holds rows of the new range.
        EXECUTE format('CREATE TABLE %I (LIKE metrics INCLUDING DEFAULTS)', part);
        EXECUTE format(
            'WITH moved AS (DELETE FROM metrics_default WHERE scheduled_at >= %L AND scheduled_at < %L RETURNING *) '
            'INSERT INTO %I SELECT * FROM moved', lo, hi, part);
        EXECUTE format('ALTER TABLE metrics ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
        created := created + 1;
    END LOOP;
    RETURN created;
END
$fn$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION watcher_ensure_partitions(integer);
DROP TABLE metrics;
