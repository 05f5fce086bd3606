-- Where visitors came from (see analytics.Place): country (ISO 3166-1
-- alpha-2) and its English name, region (ISO 3166-2) and name, city (a
-- GeoNames id in decimal, or an id of the database's city name) and name.
-- '' where no geolocation database was given or it had no answer.
ALTER TABLE events ADD COLUMN country VARCHAR DEFAULT '';
ALTER TABLE events ADD COLUMN country_name VARCHAR DEFAULT '';
ALTER TABLE events ADD COLUMN region VARCHAR DEFAULT '';
ALTER TABLE events ADD COLUMN region_name VARCHAR DEFAULT '';
ALTER TABLE events ADD COLUMN city VARCHAR DEFAULT '';
ALTER TABLE events ADD COLUMN city_name VARCHAR DEFAULT '';
ALTER TABLE sessions ADD COLUMN country VARCHAR DEFAULT '';
ALTER TABLE sessions ADD COLUMN country_name VARCHAR DEFAULT '';
ALTER TABLE sessions ADD COLUMN region VARCHAR DEFAULT '';
ALTER TABLE sessions ADD COLUMN region_name VARCHAR DEFAULT '';
ALTER TABLE sessions ADD COLUMN city VARCHAR DEFAULT '';
ALTER TABLE sessions ADD COLUMN city_name VARCHAR DEFAULT '';
-- Rollups now keep the location dimensions: build every day again.
DELETE FROM rollup_days;
