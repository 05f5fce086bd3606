-- What every node of a deployment loads from here rather than from its
-- data folder: threat entries added through any node, and the proxy's
-- Ed25519 signing keys (private seeds: guard this database as you would
-- the data folder's signing-keys.json).

-- Threat entries by source; added_at in Unix seconds, list as in
-- threats.List. Each change bumps threat_version, which nodes poll.
CREATE TABLE threat_entries (
    source   TEXT NOT NULL,
    expr     TEXT NOT NULL,
    list     SMALLINT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (source, expr, list)
);
CREATE TABLE threat_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO threat_version (id, version) VALUES (1, 0);

CREATE TABLE signing_keys (
    id         TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL, -- Unix nanoseconds: the newest key signs
    seed       BYTEA NOT NULL
);
