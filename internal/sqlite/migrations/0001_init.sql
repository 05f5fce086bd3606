CREATE TABLE sites (
    domain         TEXT PRIMARY KEY,
    time_zone      TEXT NOT NULL DEFAULT 'UTC',
    retention_days INTEGER NOT NULL DEFAULT 0,
    ignore_ips     TEXT NOT NULL DEFAULT '',
    ignore_paths   TEXT NOT NULL DEFAULT '',
    keep_params    TEXT NOT NULL DEFAULT '',
    goals          TEXT NOT NULL DEFAULT '[]',
    created_at     INTEGER NOT NULL
);

CREATE TABLE tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    site       TEXT NOT NULL DEFAULT '',
    hash       BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

-- Daily salts for cookieless visitor hashes. A salt is deleted (destroyed)
-- once no session that started under it can still continue.
CREATE TABLE salts (
    day        TEXT PRIMARY KEY,
    salt       BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
