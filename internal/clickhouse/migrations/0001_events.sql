-- Events and sessions: the same columns as the embedded store (see
-- internal/duckdb/migrations), in MergeTree tables partitioned by month
-- (retention drops whole months) and ordered by site and time, the prefix
-- every dashboard query filters on.
--
-- node and batch mark which collector wrote a row and in which batch (the
-- spool position after it): rows of a batch that was not checkpointed are
-- deleted before that collector writes again, so a retried batch never
-- counts twice (see WriteBatch).
--
-- Only SQL that ClickHouse 18.16 (Debian 12) and current releases both
-- accept: no LowCardinality, DateTime64, TTL or query parameters.
CREATE TABLE IF NOT EXISTS events (
    site            String,
    ts              DateTime('UTC'),
    name            String,
    session_id      UInt64,
    visitor_id      UInt64,
    pathname        String,
    hostname        String,
    entry_page      String,
    referrer        String,
    referrer_source String,
    channel         String,
    utm_source      String,
    utm_medium      String,
    utm_campaign    String,
    utm_term        String,
    utm_content     String,
    browser         String,
    browser_version String,
    os              String,
    os_version      String,
    device          String,
    screen_class    String,
    screen_w        UInt16,
    screen_h        UInt16,
    viewport_w      UInt16,
    viewport_h      UInt16,
    dpr             Float32,
    color_depth     UInt8,
    language        String,
    timezone        String,
    engaged_ms      UInt32,
    scroll_depth    UInt8,
    new_pageview    UInt8,
    prop_keys       Array(String),
    prop_values     Array(String),
    node            UInt32,
    batch           UInt64
) ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (site, ts);

-- Sessions, append-only with a sign, as in the embedded store.
CREATE TABLE IF NOT EXISTS sessions (
    site            String,
    session_id      UInt64,
    visitor_id      UInt64,
    version         UInt32,
    sign            Int8,
    start_ts        DateTime('UTC'),
    end_ts          DateTime('UTC'),
    entry_page      String,
    exit_page       String,
    hostname        String,
    pageviews       UInt32,
    events          UInt32,
    referrer        String,
    referrer_source String,
    channel         String,
    utm_source      String,
    utm_medium      String,
    utm_campaign    String,
    utm_term        String,
    utm_content     String,
    browser         String,
    browser_version String,
    os              String,
    os_version      String,
    device          String,
    screen_class    String,
    language        String,
    node            UInt32,
    batch           UInt64
) ENGINE = MergeTree
PARTITION BY toYYYYMM(start_ts)
ORDER BY (site, start_ts, session_id);

-- Each collector's spool position after its last stored batch. Positions
-- only grow; the highest row of a node is its checkpoint.
CREATE TABLE IF NOT EXISTS ingest_checkpoint (
    node     String,
    seg      UInt64,
    off      Int64,
    saved_at DateTime('UTC')
) ENGINE = ReplacingMergeTree
ORDER BY (node, seg, off);
