-- The hostname of a visit's last pageview (see the embedded store's
-- 0007_exit_hostname.sql). "Already exists" from ADD COLUMN counts as done.
ALTER TABLE sessions ADD COLUMN exit_hostname String DEFAULT '';
