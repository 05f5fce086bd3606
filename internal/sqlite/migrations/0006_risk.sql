-- Account security: trusted devices (only hashes of their secrets; retired
-- holds the earlier secrets' hashes, 32 bytes each, to recognise a replay)
-- and each account's events (logins and device changes), times in Unix ms.
CREATE TABLE risk_devices (
    id         BLOB PRIMARY KEY,
    account    TEXT NOT NULL,
    name       TEXT NOT NULL DEFAULT '',
    current    BLOB NOT NULL,
    previous   BLOB NOT NULL,
    prev_until INTEGER NOT NULL,
    retired    BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    network    TEXT NOT NULL DEFAULT '',
    browser    TEXT NOT NULL DEFAULT '',
    os         TEXT NOT NULL DEFAULT '',
    revoked    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX risk_devices_account ON risk_devices (account);

CREATE TABLE risk_events (
    id       INTEGER PRIMARY KEY,
    account  TEXT NOT NULL,
    kind     TEXT NOT NULL,
    at       INTEGER NOT NULL,
    network  TEXT NOT NULL DEFAULT '',
    device   BLOB,
    decision TEXT NOT NULL DEFAULT '',
    detail   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX risk_events_account ON risk_events (account, kind, at);
CREATE INDEX risk_events_network ON risk_events (network, at);
