-- Non-interactive custom events per visit (see the embedded store's
-- 0008_noninteractive.sql). "Already exists" from ADD COLUMN counts as done.
ALTER TABLE sessions ADD COLUMN noninteractive UInt32 DEFAULT 0;
