-- The dashboard's administrator: one password hash (argon2id, PHC string)
-- and the login sessions, stored by the SHA-256 of their token.
CREATE TABLE admin (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    password_hash TEXT NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE admin_sessions (
    token_hash BLOB PRIMARY KEY,
    csrf       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
