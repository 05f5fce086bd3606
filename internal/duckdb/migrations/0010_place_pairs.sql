-- Daily rollups keep places as code and name pairs (the dashboard's
-- Locations panel asks for both), so a long range reads them from the
-- rollups instead of the raw sessions. Days are built again, newest first.
DELETE FROM rollup_days;
