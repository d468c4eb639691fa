-- +goose Up
-- One row per shard a probe started: a second attempt at the same shard
-- (Lambda's asynchronous retry after a timeout or crash) finds its row and
-- knows it is a retry, so it leaves the instants that have passed missing
-- instead of measuring them late. Probes insert only (ON CONFLICT DO NOTHING).
CREATE TABLE shard_attempts (
    location   text        NOT NULL,
    shard      integer     NOT NULL,
    span_start timestamptz NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (location, shard, span_start)
);

-- +goose Down
DROP TABLE shard_attempts;
