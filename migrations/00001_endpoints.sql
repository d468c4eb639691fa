-- +goose Up
-- Endpoints are imported from the operators' YAML file. key is the import
-- identity (endpoint.Endpoint.Key()); id is the endpoint's identity
-- everywhere else (phase, metrics). Rows are never deleted by an import,
-- only disabled, so that their history stays meaningful.
CREATE TABLE endpoints (
    id                  bigserial   PRIMARY KEY,
    key                 text        NOT NULL UNIQUE,
    name                text,
    url                 text        NOT NULL,
    method              text        NOT NULL DEFAULT 'GET',
    headers             jsonb       NOT NULL DEFAULT '{}',
    body                text,
    basic_auth_username text,
    -- Where the password lives ("env:NAME" or "secret:ARN"); never the password.
    password_ref        text,
    regex               text,
    interval_ms         integer     NOT NULL CHECK (interval_ms BETWEEN 5000 AND 300000),
    timeout_ms          integer     NOT NULL CHECK (timeout_ms > 0 AND timeout_ms <= interval_ms),
    location            text        NOT NULL,
    enabled             boolean     NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (password_ref IS NULL OR password_ref LIKE 'env:%' OR password_ref LIKE 'secret:%')
);

-- +goose Down
DROP TABLE endpoints;
