-- +goose Up
-- watcher_record_span: a span claim replayed from a spill (the spool
-- locally, the record queue through the drain in AWS). The fanout dispatched
-- the span but could not record its claim, so the span is 'dispatched' even
-- where a later fanout, finding it absent, recorded it as 'missed' meanwhile:
-- its checks ran. Replaying it again changes nothing. It runs as the owner
-- (SECURITY DEFINER), so that the fanout's and the drain's roles may make
-- this one change to the ledger and no other; EXECUTE is granted by the
-- roles setup.
-- +goose StatementBegin
CREATE FUNCTION watcher_record_span(start timestamptz, n_shards integer, n_checks integer)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
    INSERT INTO spans (span_start, status, shards, checks) VALUES (start, 'dispatched', n_shards, n_checks)
    ON CONFLICT (span_start) DO UPDATE
        SET status = 'dispatched', shards = excluded.shards, checks = excluded.checks,
            recorded_at = now(), detail = NULL
        WHERE spans.status = 'missed'
$fn$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION watcher_record_span(timestamptz, integer, integer);
