-- +goose Up
-- One row per function invocation (fanout and probe), for cost accounting
-- and to see what each invocation planned, did and could not write.
CREATE TABLE invocations (
    id               bigserial        PRIMARY KEY,
    function         text             NOT NULL,
    location         text,
    region           text,
    arch             text,
    memory_mb        integer          NOT NULL DEFAULT 0,
    shard            integer,
    span_start       timestamptz,
    started_at       timestamptz      NOT NULL,
    duration_ms      double precision NOT NULL,
    billed_ms        integer          NOT NULL DEFAULT 0,
    checks_planned   integer          NOT NULL DEFAULT 0,
    checks_done      integer          NOT NULL DEFAULT 0,
    checks_written   integer          NOT NULL DEFAULT 0,
    checks_unwritten integer          NOT NULL DEFAULT 0,
    payload_bytes    integer          NOT NULL DEFAULT 0,
    cost_usd         double precision,
    error            text
);
CREATE INDEX invocations_started_at ON invocations (started_at);
CREATE INDEX invocations_span_start ON invocations (span_start);

-- +goose Down
DROP TABLE invocations;
