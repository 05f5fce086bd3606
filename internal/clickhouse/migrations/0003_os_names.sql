-- Operating systems under the names Plausible reports: "Mac", not
-- "MacOS" (see the embedded store's 0004_os_names.sql). Mutations run in
-- the background and are idempotent.
ALTER TABLE events UPDATE os = 'Mac' WHERE os = 'MacOS';
ALTER TABLE sessions UPDATE os = 'Mac' WHERE os = 'MacOS';
