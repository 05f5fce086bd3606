-- Daily rollups: per site and local day, the figures the dashboard's
-- panels need, built from the raw tables once a day has ended (see
-- analytics.RollupBuilder). Visitor ids live one local day, so visitor
-- counts of different days add up; visitors_new leaves out visitors of a
-- visit that crossed midnight and already had the value the day before,
-- so that adding days counts them once.

-- A day's rollup rows are only read while its mark exists. Writing raw
-- data inside [from_ts, to_ts) deletes the mark; the builder then builds
-- the day again. zone is the site's time zone the day was cut in.
CREATE TABLE rollup_days (
    site     VARCHAR NOT NULL,
    day      DATE NOT NULL,
    zone     VARCHAR NOT NULL,
    from_ts  TIMESTAMP_S NOT NULL,
    to_ts    TIMESTAMP_S NOT NULL,
    built_at TIMESTAMP NOT NULL
);

-- Visits that started on the day, per visit dimension ('' for all).
CREATE TABLE rollup_visits (
    site      VARCHAR NOT NULL,
    day       DATE NOT NULL,
    dim       VARCHAR NOT NULL,
    value     VARCHAR NOT NULL,
    visitors  BIGINT NOT NULL,
    visits    BIGINT NOT NULL,
    bounces   BIGINT NOT NULL,
    duration  BIGINT NOT NULL,
    pageviews BIGINT NOT NULL,
    events    BIGINT NOT NULL
);

-- Events of the day: kind 0 all events (value ''), 1 per page, 2 per
-- event name. pv_visitors count pageviews only (page goals).
CREATE TABLE rollup_events (
    site            VARCHAR NOT NULL,
    day             DATE NOT NULL,
    kind            UTINYINT NOT NULL,
    value           VARCHAR NOT NULL,
    visitors        BIGINT NOT NULL,
    visitors_new    BIGINT NOT NULL,
    pv_visitors     BIGINT NOT NULL,
    pv_visitors_new BIGINT NOT NULL,
    pageviews       BIGINT NOT NULL,
    events          BIGINT NOT NULL,
    engaged_ms      BIGINT NOT NULL,
    engaged_views   BIGINT NOT NULL,
    scroll          BIGINT NOT NULL
);
