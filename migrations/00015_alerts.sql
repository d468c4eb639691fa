-- +goose Up
-- Alerts: computed from stored checks by store.EvaluateAlerts (the fanout
-- every minute, `watcher run` locally), exactly once per transition, and
-- their notifications, waiting in an outbox until sent.

-- alerts: one row per alert, opened and later resolved. opened_at and
-- resolved_at are the planned instants of the checks that caused the
-- transitions (not when they were computed: created_at says that); cause
-- and resolve_cause hold those checks (JSON arrays of internal/alert.Check,
-- oldest first), detail and resolve_detail say why for people. notified_at
-- and resolved_notified_at are set once every channel's notification of
-- the transition was sent. At most one open alert per endpoint, location
-- and kind; endpoints are never deleted (only disabled), so the foreign key
-- costs nothing.
CREATE TABLE alerts (
    id                   bigserial   PRIMARY KEY,
    endpoint_id          bigint      NOT NULL REFERENCES endpoints (id),
    location             text        NOT NULL,
    kind                 text        NOT NULL CHECK (kind IN ('down', 'certificate')),
    opened_at            timestamptz NOT NULL,
    resolved_at          timestamptz CHECK (resolved_at >= opened_at),
    cause                jsonb       NOT NULL CHECK (jsonb_typeof(cause) = 'array'),
    resolve_cause        jsonb       CHECK (jsonb_typeof(resolve_cause) = 'array'),
    detail               text        NOT NULL,
    resolve_detail       text,
    notified_at          timestamptz,
    resolved_notified_at timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    CHECK ((resolved_at IS NULL) = (resolve_cause IS NULL))
);
CREATE UNIQUE INDEX alerts_one_open ON alerts (endpoint_id, location, kind) WHERE resolved_at IS NULL;
CREATE INDEX alerts_opened_at ON alerts (opened_at);

-- alert_state: what evaluation carries from one call to the next, per
-- endpoint, location and kind (internal/alert.State). watermark is the
-- planned instant of the last check consumed: later calls read only the
-- checks after it, and never consume a check at or before it again. streak
-- is the current run of failed (while up) or passed (while down) checks;
-- since is the planned instant of the last transition; open_alert is the
-- open alert, if any.
CREATE TABLE alert_state (
    endpoint_id bigint      NOT NULL REFERENCES endpoints (id),
    location    text        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('down', 'certificate')),
    watermark   timestamptz NOT NULL,
    since       timestamptz,
    streak      jsonb       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(streak) = 'array'),
    open_alert  bigint      REFERENCES alerts (id),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (endpoint_id, location, kind)
);

-- alert_notifications: the outbox. One row per transition and channel,
-- written with the transition in one transaction, so none is ever lost;
-- the unique key makes a second write of it a no-op. body is the
-- notify.Event JSON exactly as sent (json keeps its text). A sender claims
-- due rows by moving next_attempt_at ahead (a lease), records failures in
-- attempts and last_error, and success in sent_at.
CREATE TABLE alert_notifications (
    id              bigserial   PRIMARY KEY,
    alert_id        bigint      NOT NULL REFERENCES alerts (id),
    event           text        NOT NULL CHECK (event IN ('opened', 'resolved')),
    channel         text        NOT NULL,
    body            json        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    last_error      text,
    UNIQUE (alert_id, event, channel)
);
CREATE INDEX alert_notifications_due ON alert_notifications (next_attempt_at) WHERE sent_at IS NULL;

-- +goose Down
DROP TABLE alert_notifications;
DROP TABLE alert_state;
DROP TABLE alerts;
