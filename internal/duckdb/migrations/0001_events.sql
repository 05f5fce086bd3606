-- Events: one row per stored hit (pageviews, custom events, engagement
-- beacons). Visit-level columns (referrer .. utm_content, entry_page) hold
-- the values of the event's session, so most filters need no join.
-- Timestamps are kept to the second (engaged time has its own millisecond
-- column), which keeps an event near 40 bytes on disk. Engagement beacons
-- carry new_pageview (1 on a pageview's first report) and, in
-- scroll_depth, how much deeper than earlier reports the page was
-- scrolled, so time on page and scroll depth are plain sums.
CREATE TABLE events (
    site            VARCHAR NOT NULL,
    ts              TIMESTAMP_S NOT NULL,
    name            VARCHAR NOT NULL,
    session_id      UBIGINT NOT NULL,
    visitor_id      UBIGINT NOT NULL,
    pathname        VARCHAR NOT NULL,
    hostname        VARCHAR NOT NULL,
    entry_page      VARCHAR NOT NULL,
    referrer        VARCHAR NOT NULL,
    referrer_source VARCHAR NOT NULL,
    channel         VARCHAR NOT NULL,
    utm_source      VARCHAR NOT NULL,
    utm_medium      VARCHAR NOT NULL,
    utm_campaign    VARCHAR NOT NULL,
    utm_term        VARCHAR NOT NULL,
    utm_content     VARCHAR NOT NULL,
    browser         VARCHAR NOT NULL,
    browser_version VARCHAR NOT NULL,
    os              VARCHAR NOT NULL,
    os_version      VARCHAR NOT NULL,
    device          VARCHAR NOT NULL,
    screen_class    VARCHAR NOT NULL,
    screen_w        USMALLINT NOT NULL,
    screen_h        USMALLINT NOT NULL,
    viewport_w      USMALLINT NOT NULL,
    viewport_h      USMALLINT NOT NULL,
    dpr             FLOAT NOT NULL,
    color_depth     UTINYINT NOT NULL,
    language        VARCHAR NOT NULL,
    timezone        VARCHAR NOT NULL,
    engaged_ms      UINTEGER NOT NULL,
    scroll_depth    UTINYINT NOT NULL,
    new_pageview    UTINYINT NOT NULL,
    prop_keys       VARCHAR[] NOT NULL,
    prop_values     VARCHAR[] NOT NULL
);

-- Sessions, append-only with a sign: a changed session is written again
-- with sign -1 (its old state) and +1 (its new state). sum(sign * x) is
-- exact without updates or merges.
CREATE TABLE sessions (
    site            VARCHAR NOT NULL,
    session_id      UBIGINT NOT NULL,
    visitor_id      UBIGINT NOT NULL,
    version         UINTEGER NOT NULL,
    sign            TINYINT NOT NULL,
    start_ts        TIMESTAMP_S NOT NULL,
    end_ts          TIMESTAMP_S NOT NULL,
    entry_page      VARCHAR NOT NULL,
    exit_page       VARCHAR NOT NULL,
    hostname        VARCHAR NOT NULL,
    pageviews       UINTEGER NOT NULL,
    events          UINTEGER NOT NULL,
    referrer        VARCHAR NOT NULL,
    referrer_source VARCHAR NOT NULL,
    channel         VARCHAR NOT NULL,
    utm_source      VARCHAR NOT NULL,
    utm_medium      VARCHAR NOT NULL,
    utm_campaign    VARCHAR NOT NULL,
    utm_term        VARCHAR NOT NULL,
    utm_content     VARCHAR NOT NULL,
    browser         VARCHAR NOT NULL,
    browser_version VARCHAR NOT NULL,
    os              VARCHAR NOT NULL,
    os_version      VARCHAR NOT NULL,
    device          VARCHAR NOT NULL,
    screen_class    VARCHAR NOT NULL,
    language        VARCHAR NOT NULL
);

-- The spool position after the last stored batch, written in the batch's
-- own transaction.
CREATE TABLE ingest_checkpoint (
    id  INTEGER PRIMARY KEY,
    seg UBIGINT NOT NULL,
    off BIGINT NOT NULL
);
INSERT INTO ingest_checkpoint VALUES (1, 0, 0);
