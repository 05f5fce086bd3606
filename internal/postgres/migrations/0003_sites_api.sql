-- The Sites API (see the embedded store's 0012_sites_api.sql).
ALTER TABLE sites ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
ALTER TABLE tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT 'stats:read:*';
ALTER TABLE tokens ADD COLUMN secret TEXT NOT NULL DEFAULT '';
CREATE TABLE audit (
    id     BIGSERIAL PRIMARY KEY,
    at     BIGINT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    site   TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_site ON audit (site, id);
