-- Consent receipts: append-only proof of each decision (removed only when
-- the visitor asks to be forgotten). choices is a JSON object of purpose
-- id -> granted; created_at is Unix milliseconds.
CREATE TABLE consent_receipts (
    id             TEXT PRIMARY KEY,
    site           TEXT NOT NULL,
    visitor_id     TEXT NOT NULL DEFAULT '',
    policy_version TEXT NOT NULL,
    text_hash      TEXT NOT NULL,
    language       TEXT NOT NULL,
    choices        TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    source         TEXT NOT NULL,
    ip_prefix      TEXT NOT NULL DEFAULT '',
    ua_family      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX consent_receipts_visitor ON consent_receipts (visitor_id, created_at);
CREATE INDEX consent_receipts_time ON consent_receipts (created_at);
