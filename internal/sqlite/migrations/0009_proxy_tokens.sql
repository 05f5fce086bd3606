-- Proxy credentials: only the SHA-256 of each secret is kept.
CREATE TABLE proxy_tokens (
    id         TEXT PRIMARY KEY,
    user       TEXT NOT NULL,
    hash       BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL DEFAULT 0, -- unix ms, 0 = never
    revoked_at INTEGER NOT NULL DEFAULT 0
);
