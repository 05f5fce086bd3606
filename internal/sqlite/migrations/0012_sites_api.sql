-- The Sites API (Plausible's): per-site settings it manages (allowed
-- custom properties, tracker script configuration) as JSON, token scopes,
-- shared links' secrets (so the link can be shown again and found by
-- name), and the audit trail of changes made through it.
ALTER TABLE sites ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
ALTER TABLE tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT 'stats:read:*';
ALTER TABLE tokens ADD COLUMN secret TEXT NOT NULL DEFAULT '';
CREATE TABLE audit (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    site   TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_site ON audit (site, id);
