-- +goose Up
-- A natural key for invocations, so that recording one is idempotent like
-- writing checks: the record queue delivers at least once, and the drain
-- stored a redelivered invocation record again (the serial id told the copies
-- apart), which counted its cost twice.
--
-- An invocation is identified by the function, where it ran (location and
-- region), its shard (none for the fanout) and the instant it started: the
-- same shard's retry starts later, and two invocations of one function, place
-- and shard do not start in the same microsecond. A unique index on
-- expressions, not a constraint, because location, region and shard may be
-- NULL (the fanout's) and a constraint would take NULLs as distinct (NULLS NOT
-- DISTINCT needs PostgreSQL 15). Inserts name no conflict target (ON CONFLICT
-- DO NOTHING), which needs the INSERT privilege only, all the probe and fanout
-- roles hold. The start time leads, as in checks_key: inserts land at the
-- index's right edge, and it serves the reads by time, so the index on
-- started_at alone goes.
--
-- Copies already stored go first, the first recorded (lowest id) kept. The
-- table is plain in every flavour (never a hypertable), so this runs alike on
-- PostgreSQL, RDS and TimescaleDB.
DELETE FROM invocations a
USING invocations b
WHERE a.id > b.id
  AND a.started_at = b.started_at
  AND a.function = b.function
  AND coalesce(a.location, '') = coalesce(b.location, '')
  AND coalesce(a.region, '') = coalesce(b.region, '')
  AND coalesce(a.shard, -1) = coalesce(b.shard, -1);

CREATE UNIQUE INDEX invocations_key
    ON invocations (started_at, function, coalesce(location, ''), coalesce(region, ''), coalesce(shard, -1));
DROP INDEX invocations_started_at;

-- +goose Down
CREATE INDEX invocations_started_at ON invocations (started_at);
DROP INDEX invocations_key;
