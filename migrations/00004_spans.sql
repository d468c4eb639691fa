-- +goose Up
-- The ledger of spans the fanout handled: 'dispatched' when it planned and
-- sent the span's shards, 'gap' when the span's event came too late to run
-- it. The primary key turns a duplicate delivery into a no-op claim.
CREATE TABLE spans (
    span_start  timestamptz PRIMARY KEY,
    status      text        NOT NULL CHECK (status IN ('dispatched', 'gap')),
    shards      integer     NOT NULL DEFAULT 0,
    checks      integer     NOT NULL DEFAULT 0,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    detail      text
);

-- +goose Down
DROP TABLE spans;
