-- The hostname of a visit's last pageview (Plausible's
-- visit:exit_page_hostname); hostname stays that of its first hit. Visits
-- stored before this have none.
ALTER TABLE sessions ADD COLUMN exit_hostname VARCHAR DEFAULT '';
