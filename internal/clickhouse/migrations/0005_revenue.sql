-- Revenue of custom events (see the embedded store's 0006_revenue.sql).
-- ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS: the migrator treats
-- "already exists" from ADD COLUMN as done, so the file stays idempotent.
ALTER TABLE events ADD COLUMN revenue_milli Int64 DEFAULT 0;
ALTER TABLE events ADD COLUMN revenue_currency String DEFAULT '';
