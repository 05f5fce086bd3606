-- A proxy token can ask for every relayed plain-HTTP answer to be signed
-- (waymark proxy token add --sign); the others get signatures when their
-- requests ask (Accept-Signature).
ALTER TABLE proxy_tokens ADD COLUMN sign INTEGER NOT NULL DEFAULT 0;
