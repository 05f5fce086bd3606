-- Daily rollups, as in the embedded store (see its 0002_rollups.sql), for
-- ClickHouse, which has no transactions: a day's rollup cannot be
-- replaced at once, so every build tags its rows with its own build
-- number and a day is read from the build its newest mark names.
--
-- rollup_dirty counts, per site and UTC day, the writes of raw data
-- around it (each batch adds 1 to the days it falls in and to the day
-- after each). A build notes that count for its day's UTC days before it
-- reads the raw tables (seen); its mark is current while the count is
-- still the same. No clock is compared, so collectors on other machines
-- need not agree on the time.
CREATE TABLE IF NOT EXISTS rollup_days (
    site     String,
    day      Date,
    zone     String,
    from_ts  DateTime('UTC'),
    to_ts    DateTime('UTC'),
    build    UInt64,
    seen     UInt64,
    built_at DateTime('UTC')
) ENGINE = MergeTree
ORDER BY (site, day);

CREATE TABLE IF NOT EXISTS rollup_visits (
    site      String,
    day       Date,
    dim       String,
    value     String,
    visitors  Int64,
    visits    Int64,
    bounces   Int64,
    duration  Int64,
    pageviews Int64,
    events    Int64,
    build     UInt64
) ENGINE = MergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (site, dim, day, value);

CREATE TABLE IF NOT EXISTS rollup_events (
    site            String,
    day             Date,
    kind            UInt8,
    value           String,
    visitors        Int64,
    visitors_new    Int64,
    pv_visitors     Int64,
    pv_visitors_new Int64,
    pageviews       Int64,
    events          Int64,
    engaged_ms      Int64,
    engaged_views   Int64,
    scroll          Int64,
    build           UInt64
) ENGINE = MergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (site, day, kind, value);

-- Merges add the counts up, leaving one row per site and day.
CREATE TABLE IF NOT EXISTS rollup_dirty (
    site String,
    day  Date,
    n    UInt64
) ENGINE = SummingMergeTree
ORDER BY (site, day);
