-- Operating systems under the names Plausible reports (Matomo's device
-- detector): "Mac", not "MacOS". Rollups are built again with the new name.
UPDATE events SET os = 'Mac' WHERE os = 'MacOS';
UPDATE sessions SET os = 'Mac' WHERE os = 'MacOS';
DELETE FROM rollup_days;
