-- How many of a visit's custom events were sent as not interactive
-- (Plausible's interactive: false): they do not keep the visit from
-- counting as a bounce. Visits stored before this have none.
ALTER TABLE sessions ADD COLUMN noninteractive UINTEGER DEFAULT 0;
