-- Keys of the identity key ring (signed visitor and consent cookies). The
-- newest key that is not retired signs; every key that is not retired
-- verifies. Retiring a key invalidates the values it signed.
CREATE TABLE identity_keys (
    id         INTEGER PRIMARY KEY,
    secret     BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER
);
