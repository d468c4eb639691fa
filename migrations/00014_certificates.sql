-- +goose Up
-- TLS certificates as checks see them. checks.tls_not_after is the expiry of
-- the leaf certificate of a check's last TLS handshake (NULL for plain HTTP
-- and before a handshake): 8 bytes on an HTTPS check, none on others. A
-- nullable column without a default is a catalog change only, on a
-- partitioned table and on a compressed hypertable alike.
ALTER TABLE checks ADD COLUMN tls_not_after timestamptz;

-- certificates names the issuer of each certificate once instead of on
-- every check: one row per endpoint, location and expiry, which is what
-- tells certificates apart in practice (a renewal moves the expiry). The
-- check writer inserts the certificates of a batch in the statement that
-- inserts its checks; first_seen and last_seen are the earliest and latest
-- started_at of the checks that saw it, last_seen moved at most once an
-- hour (so that a batch rewrites no row it need not). A few rows per
-- endpoint and renewal: no partitions, no retention.
CREATE TABLE certificates (
    endpoint_id bigint      NOT NULL,
    location    text        NOT NULL,
    not_after   timestamptz NOT NULL,
    issuer      text        NOT NULL,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    PRIMARY KEY (endpoint_id, location, not_after)
);

-- +goose Down
DROP TABLE certificates;
ALTER TABLE checks DROP COLUMN tls_not_after;
