-- The shared state store: the same tables as the embedded SQLite store
-- (internal/sqlite/migrations), in their current form. Times are integers
-- as there (Unix seconds, or milliseconds where the column says so), so
-- both stores round the same way; to_timestamp(x) or to_timestamp(x /
-- 1000.0) shows them as dates.

CREATE TABLE sites (
    domain         TEXT PRIMARY KEY,
    time_zone      TEXT NOT NULL DEFAULT 'UTC',
    retention_days INTEGER NOT NULL DEFAULT 0,
    ignore_ips     TEXT NOT NULL DEFAULT '',
    ignore_paths   TEXT NOT NULL DEFAULT '',
    keep_params    TEXT NOT NULL DEFAULT '',
    goals          TEXT NOT NULL DEFAULT '[]',
    funnels        TEXT NOT NULL DEFAULT '[]',
    created_at     BIGINT NOT NULL
);

-- API tokens and shared links, by the SHA-256 of their secret.
CREATE TABLE tokens (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT NOT NULL,
    site       TEXT NOT NULL DEFAULT '',
    kind       TEXT NOT NULL DEFAULT 'api',
    hash       BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE salts (
    day        TEXT PRIMARY KEY,
    salt       BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE admin (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    password_hash TEXT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE admin_sessions (
    token_hash BYTEA PRIMARY KEY,
    csrf       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE identity_keys (
    id         BIGINT PRIMARY KEY,
    secret     BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);

-- Consent receipts: append-only; created_at in Unix milliseconds.
CREATE TABLE consent_receipts (
    id             TEXT PRIMARY KEY,
    site           TEXT NOT NULL,
    visitor_id     TEXT NOT NULL DEFAULT '',
    policy_version TEXT NOT NULL,
    text_hash      TEXT NOT NULL,
    language       TEXT NOT NULL,
    choices        TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    source         TEXT NOT NULL,
    ip_prefix      TEXT NOT NULL DEFAULT '',
    ua_family      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX consent_receipts_visitor ON consent_receipts (visitor_id, created_at);
CREATE INDEX consent_receipts_time ON consent_receipts (created_at);

-- Trusted devices; times in Unix milliseconds. retired holds earlier
-- secrets' 32-byte hashes back to back.
CREATE TABLE risk_devices (
    id         BYTEA PRIMARY KEY,
    account    TEXT NOT NULL,
    name       TEXT NOT NULL DEFAULT '',
    current    BYTEA NOT NULL,
    previous   BYTEA NOT NULL,
    prev_until BIGINT NOT NULL,
    retired    BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL,
    network    TEXT NOT NULL DEFAULT '',
    browser    TEXT NOT NULL DEFAULT '',
    os         TEXT NOT NULL DEFAULT '',
    revoked    BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX risk_devices_account ON risk_devices (account, last_seen);

-- Login events and device changes; at in Unix milliseconds. The indexes
-- answer a decision's velocity counts: an account's failures, a
-- network's failures, and the accounts seen from a network.
CREATE TABLE risk_events (
    id       BIGSERIAL PRIMARY KEY,
    account  TEXT NOT NULL,
    kind     TEXT NOT NULL,
    at       BIGINT NOT NULL,
    network  TEXT NOT NULL DEFAULT '',
    device   BYTEA,
    decision TEXT NOT NULL DEFAULT '',
    detail   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX risk_events_account ON risk_events (account, kind, at);
CREATE INDEX risk_events_network ON risk_events (network, at, account) WHERE kind IN ('attempt', 'success', 'failure') AND network <> '';

-- Networks each account has logged in from successfully.
CREATE TABLE risk_networks (
    account    TEXT NOT NULL,
    network    TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    PRIMARY KEY (account, network)
);

-- Remembered registration details, sealed; times in Unix milliseconds.
CREATE TABLE remembered (
    visitor_id BYTEA PRIMARY KEY,
    key_id     BIGINT NOT NULL,
    data       BYTEA NOT NULL,
    updated_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Proxy tokens; times in Unix milliseconds, 0 = never / not revoked.
CREATE TABLE proxy_tokens (
    id         TEXT PRIMARY KEY,
    "user"     TEXT NOT NULL,
    hash       BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL DEFAULT 0,
    revoked_at BIGINT NOT NULL DEFAULT 0
);
