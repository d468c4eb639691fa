-- +goose Up
-- Each endpoint's status page group and alert rules, imported from the
-- endpoints file. "group" is the status page heading (NULL: none).
-- alert_rules is the JSON form of endpoint.AlertRules, the file's defaults
-- already merged with the entry's own: {"failures": N, "successes": M,
-- "failure_ratio": r, "window_ns": W, "certificate_days": D} (the last three
-- left out when unset). NULL: no alerts for this endpoint.
ALTER TABLE endpoints
    ADD COLUMN "group"     text,
    ADD COLUMN alert_rules jsonb,
    ADD CONSTRAINT endpoints_alert_rules_object
        CHECK (alert_rules IS NULL OR jsonb_typeof(alert_rules) = 'object');

-- +goose Down
ALTER TABLE endpoints
    DROP CONSTRAINT endpoints_alert_rules_object,
    DROP COLUMN alert_rules,
    DROP COLUMN "group";
