-- +goose Up
-- Rollups and retention, on both storage paths, under the same names:
-- checks_minute, checks_hour and checks_day hold, per endpoint, location and
-- bucket, the counts of the raw checks in it (checks, up, failures by error
-- class and by status class, regex failures) and their response times
-- (p50, p95, p99, max, and the sum for exact means). Every level is computed
-- from raw checks, so its counts equal those of the rows it covers.
--
-- On TimescaleDB they are continuous aggregates, the raw hypertable is
-- compressed (segmented by endpoint) and retention policies drop old chunks.
-- On plain PostgreSQL (RDS) they are tables partitioned by bucket, which
-- watcher_rollup fills from a log of the minutes that received checks
-- (rollup_pending, written by a statement trigger), and
-- watcher_drop_partitions applies retention by dropping whole partitions.
-- `watcher maintain` (store.Maintain) drives both.

-- watcher_rollup_columns is the one definition of a rollup row, over the
-- raw checks, for a bucket expression of planned_at.
-- +goose StatementBegin
CREATE FUNCTION watcher_rollup_columns(bucket_expr text) RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
SELECT format($cols$
    endpoint_id, location, %s AS bucket,
    count(*) AS checks,
    count(*) FILTER (WHERE error IS NULL AND status_code BETWEEN 200 AND 399 AND regex_match IS NOT FALSE) AS up,
    count(*) FILTER (WHERE error IS NOT NULL) AS errors,
    count(*) FILTER (WHERE error = 'dns') AS err_dns,
    count(*) FILTER (WHERE error = 'connect') AS err_connect,
    count(*) FILTER (WHERE error = 'tls') AS err_tls,
    count(*) FILTER (WHERE error = 'timeout') AS err_timeout,
    count(*) FILTER (WHERE error = 'refused') AS err_refused,
    count(*) FILTER (WHERE error = 'no_socket') AS err_no_socket,
    count(*) FILTER (WHERE error NOT IN ('dns', 'connect', 'tls', 'timeout', 'refused', 'no_socket')) AS err_other,
    count(*) FILTER (WHERE status_code BETWEEN 200 AND 299) AS status_2xx,
    count(*) FILTER (WHERE status_code BETWEEN 300 AND 399) AS status_3xx,
    count(*) FILTER (WHERE status_code BETWEEN 400 AND 499) AS status_4xx,
    count(*) FILTER (WHERE status_code BETWEEN 500 AND 599) AS status_5xx,
    count(*) FILTER (WHERE regex_match = false) AS regex_failures,
    sum(response_time_ms) AS sum_ms,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY response_time_ms) AS p50_ms,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY response_time_ms) AS p95_ms,
    percentile_cont(0.99) WITHIN GROUP (ORDER BY response_time_ms) AS p99_ms,
    max(response_time_ms) AS max_ms
$cols$, bucket_expr)
$fn$;
-- +goose StatementEnd

-- watcher_storage names the storage path this database took.
-- +goose StatementBegin
CREATE FUNCTION watcher_storage() RETURNS text
LANGUAGE sql STABLE AS $fn$
    SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = 'checks'::regclass)
                THEN 'partitions' ELSE 'timescaledb' END
$fn$;
-- +goose StatementEnd

-- watcher_ensure_range_partitions makes sure range partitions of tbl (on
-- column col, width_days wide, aligned to the Unix epoch, named
-- <tbl>_pYYYYMMDD after their first day) cover [lo, hi), moving rows of a
-- new partition's range out of the default partition first. Returns how
-- many it created.
-- +goose StatementBegin
CREATE FUNCTION watcher_ensure_range_partitions(tbl text, col text, width_days integer, lo timestamptz, hi timestamptz)
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
    epoch   constant date := date '1970-01-01';
    first   date := (lo AT TIME ZONE 'UTC')::date;
    day     date;
    part    text;
    lo_text text;
    hi_text text;
    created integer := 0;
BEGIN
    -- Serialise concurrent callers for this transaction only, which also
    -- works through a transaction-pooling proxy.
    PERFORM pg_advisory_xact_lock(hashtext('watcher_ensure_partitions'));
    day := epoch + ((first - epoch) / width_days) * width_days;
    WHILE day::timestamp AT TIME ZONE 'UTC' < hi LOOP
        part := tbl || '_p' || to_char(day, 'YYYYMMDD');
        IF to_regclass(part) IS NULL THEN
            lo_text := to_char(day, 'YYYY-MM-DD') || ' 00:00:00+00';
            hi_text := to_char(day + width_days, 'YYYY-MM-DD') || ' 00:00:00+00';
            -- Create, fill from the default partition, then attach: attaching
            -- fails while the default partition holds rows of the new range.
            EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS)', part, tbl);
            EXECUTE format('WITH moved AS (DELETE FROM %I WHERE %I >= %L AND %I < %L RETURNING *) INSERT INTO %I SELECT * FROM moved',
                           tbl || '_default', col, lo_text, col, hi_text, part);
            EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', tbl, part, lo_text, hi_text);
            created := created + 1;
        END IF;
        day := day + width_days;
    END LOOP;
    RETURN created;
END
$fn$;
-- +goose StatementEnd

-- watcher_ensure_partitions keeps its contract (checks partitions from
-- today to days_ahead days later; a no-op on a hypertable).
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION watcher_ensure_partitions(days_ahead integer) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    today constant timestamptz := date_trunc('day', now(), 'UTC');
BEGIN
    IF watcher_storage() <> 'partitions' THEN
        RETURN 0;
    END IF;
    RETURN watcher_ensure_range_partitions('checks', 'planned_at', 1, today,
                                           today + (greatest(days_ahead, 0) + 1) * interval '1 day');
END
$fn$;
-- +goose StatementEnd

-- watcher_drop_partitions drops every partition of tbl whose range ends at
-- or before older_than, each whole, and deletes the rows before older_than
-- that strayed into the default partition (rows replayed after their day
-- was dropped). Returns the partitions dropped. One transaction: all or
-- nothing.
-- +goose StatementBegin
CREATE FUNCTION watcher_drop_partitions(tbl text, col text, older_than timestamptz) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    part    record;
    dropped integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('watcher_ensure_partitions'));
    FOR part IN
        SELECT c.relname,
               substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']+)''\)')::timestamptz AS upper
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = tbl::regclass AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
    LOOP
        IF part.upper <= older_than THEN
            EXECUTE format('DROP TABLE %I', part.relname);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    EXECUTE format('DELETE FROM %I WHERE %I < %L', tbl || '_default', col, older_than);
    IF tbl = 'checks' THEN
        UPDATE raw_horizon SET dropped_before = greatest(dropped_before, older_than);
    END IF;
    RETURN dropped;
END
$fn$;
-- +goose StatementEnd

-- raw_horizon: raw checks before dropped_before are gone (retention), so
-- rollups of those buckets are never recomputed from what strays remain
-- (on both paths: the upkeep moves it on TimescaleDB).
CREATE TABLE raw_horizon (dropped_before timestamptz NOT NULL);
INSERT INTO raw_horizon VALUES ('-infinity');

-- rollup_pending logs the buckets whose rollup must be (re)computed, one
-- row per insert statement and bucket, duplicates welcome: no unique key,
-- so concurrent writers never wait on each other, and a writer's entry
-- commits with its rows, so no rollup can miss a row committed late.
CREATE TABLE rollup_pending (
    level  text        NOT NULL,
    bucket timestamptz NOT NULL
);
CREATE INDEX rollup_pending_level_bucket ON rollup_pending (level, bucket);

-- +goose StatementBegin
CREATE FUNCTION watcher_checks_inserted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $fn$
BEGIN
    INSERT INTO rollup_pending (level, bucket)
    SELECT DISTINCT 'minute', date_bin('1 minute', planned_at, timestamptz '2000-01-01 00:00:00+00') FROM inserted;
    RETURN NULL;
END
$fn$;
-- +goose StatementEnd

-- watcher_rollup recomputes up to max_buckets pending buckets of one level
-- that end at or before ready_before, oldest first, from the raw checks,
-- and returns how many it did (0: nothing left). A minute queues its hour
-- and its day. One transaction per call: an interrupted upkeep leaves each
-- bucket either old or new, and its pending entries until it is new.
-- +goose StatementBegin
CREATE FUNCTION watcher_rollup(lvl text, ready_before timestamptz, max_buckets integer) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    origin  constant timestamptz := timestamptz '2000-01-01 00:00:00+00';
    width   interval;
    pwidth  integer;
    tbl     constant text := 'checks_' || lvl;
    buckets timestamptz[];
    b       timestamptz;
    done    integer;
BEGIN
    CASE lvl
        WHEN 'minute' THEN width := interval '1 minute'; pwidth := 1;
        WHEN 'hour'   THEN width := interval '1 hour';   pwidth := 7;
        WHEN 'day'    THEN width := interval '1 day';    pwidth := 30;
        ELSE RAISE EXCEPTION 'rollup level %: not minute, hour or day', lvl;
    END CASE;
    PERFORM pg_advisory_xact_lock(hashtext('watcher_rollup'));
    SELECT array_agg(p.bucket ORDER BY p.bucket) INTO buckets FROM (
        SELECT DISTINCT bucket FROM rollup_pending
        WHERE level = lvl AND bucket + width <= ready_before
        ORDER BY bucket LIMIT max_buckets) p;
    IF buckets IS NULL THEN
        RETURN 0;
    END IF;
    DELETE FROM rollup_pending WHERE level = lvl AND bucket = ANY (buckets);
    done := cardinality(buckets);
    SELECT array_agg(x ORDER BY x) INTO buckets FROM unnest(buckets) x
    WHERE x >= (SELECT dropped_before FROM raw_horizon);
    IF buckets IS NULL THEN
        RETURN done;
    END IF;
    EXECUTE format('DELETE FROM %I WHERE bucket = ANY ($1)', tbl) USING buckets;
    FOREACH b IN ARRAY buckets LOOP
        PERFORM watcher_ensure_range_partitions(tbl, 'bucket', pwidth, b, b + width);
        EXECUTE format('INSERT INTO %I SELECT %s FROM checks WHERE planned_at >= $1 AND planned_at < $2 GROUP BY 1, 2, 3',
                       tbl, watcher_rollup_columns(format('date_bin(%L, planned_at, %L)', width, origin)))
        USING b, b + width;
    END LOOP;
    IF lvl = 'minute' THEN
        INSERT INTO rollup_pending (level, bucket)
        SELECT DISTINCT l.level, date_bin(l.width, m, origin)
        FROM unnest(buckets) AS m,
             (VALUES ('hour', interval '1 hour'), ('day', interval '1 day')) AS l(level, width);
    END IF;
    RETURN done;
END
$fn$;
-- +goose StatementEnd

-- +goose StatementBegin
DO $migration$
DECLARE
    lvl    text;
    width  interval;
    view   text;
BEGIN
    IF watcher_storage() = 'partitions' THEN
        -- Rollup tables shaped by the one definition above.
        EXECUTE format('CREATE TEMP TABLE rollup_shape ON COMMIT DROP AS SELECT %s FROM checks GROUP BY 1, 2, 3 WITH NO DATA',
                       watcher_rollup_columns('date_bin(''1 minute'', planned_at, timestamptz ''2000-01-01 00:00:00+00'')'));
        FOREACH lvl IN ARRAY ARRAY['minute', 'hour', 'day'] LOOP
            EXECUTE format('CREATE TABLE %I (LIKE rollup_shape, PRIMARY KEY (endpoint_id, location, bucket)) PARTITION BY RANGE (bucket)',
                           'checks_' || lvl);
            EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', 'checks_' || lvl || '_default', 'checks_' || lvl);
        END LOOP;
        CREATE TRIGGER checks_rollup_pending AFTER INSERT ON checks
            REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION watcher_checks_inserted();
        -- Checks stored before this migration: every minute that has any.
        INSERT INTO rollup_pending (level, bucket)
        SELECT DISTINCT 'minute', date_bin('1 minute', planned_at, timestamptz '2000-01-01 00:00:00+00') FROM checks;
    ELSE
        ALTER TABLE checks SET (timescaledb.compress,
                                timescaledb.compress_segmentby = 'endpoint_id, location',
                                timescaledb.compress_orderby = 'planned_at');
        PERFORM add_compression_policy('checks', compress_after => interval '2 days');
        PERFORM add_retention_policy('checks', drop_after => interval '14 days');
        FOR lvl, width IN VALUES ('minute', interval '1 minute'), ('hour', interval '1 hour'), ('day', interval '1 day') LOOP
            view := 'checks_' || lvl;
            EXECUTE format('CREATE MATERIALIZED VIEW %I WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS '
                           'SELECT %s FROM checks GROUP BY 1, 2, 3 WITH NO DATA',
                           view, watcher_rollup_columns(format('time_bucket(%L::interval, planned_at)', width)));
            -- The server's own scheduler keeps recent buckets fresh between
            -- upkeeps; the upkeep refreshes everything raw rows still cover.
            PERFORM add_continuous_aggregate_policy(view,
                start_offset => 3 * greatest(width, interval '1 hour'), end_offset => width,
                schedule_interval => greatest(width, interval '5 minutes'));
        END LOOP;
        PERFORM add_retention_policy('checks_minute', drop_after => interval '2 days');
        PERFORM add_retention_policy('checks_hour', drop_after => interval '395 days');
        PERFORM add_retention_policy('checks_day', drop_after => interval '1825 days');
    END IF;
END
$migration$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$ BEGIN RAISE EXCEPTION 'migration 00009 (rollups) is not undone: restore a backup'; END $$;
-- +goose StatementEnd
