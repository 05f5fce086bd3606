-- Where visitors came from (see analytics.Place and the embedded store's
-- 0003_places.sql): '' where no geolocation database answered.
-- ClickHouse 18.16 has no ADD COLUMN IF NOT EXISTS: the migrator treats
-- "already exists" from ADD COLUMN as done, so the file stays idempotent.
ALTER TABLE events ADD COLUMN country String DEFAULT '';
ALTER TABLE events ADD COLUMN country_name String DEFAULT '';
ALTER TABLE events ADD COLUMN region String DEFAULT '';
ALTER TABLE events ADD COLUMN region_name String DEFAULT '';
ALTER TABLE events ADD COLUMN city String DEFAULT '';
ALTER TABLE events ADD COLUMN city_name String DEFAULT '';
ALTER TABLE sessions ADD COLUMN country String DEFAULT '';
ALTER TABLE sessions ADD COLUMN country_name String DEFAULT '';
ALTER TABLE sessions ADD COLUMN region String DEFAULT '';
ALTER TABLE sessions ADD COLUMN region_name String DEFAULT '';
ALTER TABLE sessions ADD COLUMN city String DEFAULT '';
ALTER TABLE sessions ADD COLUMN city_name String DEFAULT '';
