-- Remembered registration details: per visitor id, encrypted (AES-GCM
-- under a key of the identity key ring, bound to the visitor id); removed
-- after expires_at (Unix ms) or on the visitor's request.
CREATE TABLE remembered (
    visitor_id BLOB PRIMARY KEY,
    key_id     INTEGER NOT NULL,
    data       BLOB NOT NULL,
    updated_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
