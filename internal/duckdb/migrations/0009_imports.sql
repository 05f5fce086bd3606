-- Imported history (package imported): daily aggregates in the tables of
-- Plausible's CSV export, with Waymark's column names, kept apart from
-- native events. Every row carries its import; queries read the rows of
-- complete imports only, so an import being written (or one that failed
-- before its rows were deleted) is never half visible. Dates are day
-- numbers (days since 1970-01-01) in the site's time zone.
CREATE TABLE imports (
    id       BIGINT NOT NULL PRIMARY KEY,
    site     VARCHAR NOT NULL,
    source   VARCHAR NOT NULL,
    label    VARCHAR NOT NULL,
    from_day INTEGER NOT NULL,
    to_day   INTEGER NOT NULL,
    rows     BIGINT NOT NULL,
    created  TIMESTAMP NOT NULL,
    complete BOOLEAN NOT NULL
);

CREATE TABLE imported_visitors (
    site      VARCHAR NOT NULL,
    import_id BIGINT NOT NULL,
    date      INTEGER NOT NULL,
    visitors BIGINT NOT NULL,
    pageviews BIGINT NOT NULL,
    bounces BIGINT NOT NULL,
    visits BIGINT NOT NULL,
    visit_duration BIGINT NOT NULL
);

CREATE TABLE imported_sources (
    site      VARCHAR NOT NULL,
    import_id BIGINT NOT NULL,
    date      INTEGER NOT NULL,
    referrer_source VARCHAR NOT NULL,
    referrer VARCHAR NOT NULL,
    utm_source VARCHAR NOT NULL,
    utm_medium VARCHAR NOT NULL,
    utm_campaign VARCHAR NOT NULL,
    utm_content VARCHAR NOT NULL,
    utm_term VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,
    pageviews BIGINT NOT NULL,
    visitors BIGINT NOT NULL,
    visits BIGINT NOT NULL,
    visit_duration BIGINT NOT NULL,
    bounces BIGINT NOT NULL
);

CREATE TABLE imported_pages (
    site      VARCHAR NOT NULL,
    import_id BIGINT NOT NULL,
    date      INTEGER NOT NULL,
    hostname VARCHAR NOT NULL,
    pathname VARCHAR NOT NULL,
    visits BIGINT NOT NULL,
    visitors BIGINT NOT NULL,
    pageviews BIGINT NOT NULL,
    total_scroll_depth BIGINT NOT NULL,
    total_scroll_depth_visits BIGINT NOT NULL,
    total_time_on_page BIGINT NOT NULL,
    total_time_on_page_visits BIGINT NOT NULL
);

CREATE TABLE imported_entry_pages (
    site      VARCHAR NOT NULL,
    import_id BIGINT NOT NULL,
    date      INTEGER NOT NULL,
    entry_page VARCHAR NOT NULL,
    visitors BIGINT NOT NULL,
    entrances BIGINT NOT NULL,
    visit_duration BIGINT NOT NULL,
    bounces BIGINT NOT NULL,
    pageviews BIGINT NOT NULL
);

CREATE TABLE imported_exit_pages (
    site      VARCHAR NOT NULL,
    import_id BIGINT NOT NULL,
    date      INTEGER NOT NULL,
    exit_page VARCHAR NOT NULL,
    visitors BIGINT NOT NULL,
    visit_duration BIGINT NOT NULL,
    exits BIGINT NOT NULL,
    bounces BIGINT NOT NULL,
    pageviews BIGINT NOT NULL
);

CREATE TABLE imported_custom_events (
    site      VARCHAR NOT NULL,
    import_id BIGINT NOT NULL,
    date      INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    link_url VARCHAR NOT NULL,
    path VARCHAR NOT NULL,
    visitors BIGINT NOT NULL,
    events BIGINT NOT NULL
);

CREATE TABLE imported_locations (
    site      VARCHAR NOT NULL,
    import_id BIGINT NOT NULL,
    date      INTEGER NOT NULL,
    country VARCHAR NOT NULL,
    region VARCHAR NOT NULL,
    city VARCHAR NOT NULL,
    country_name VARCHAR NOT NULL,
    region_name VARCHAR NOT NULL,
    city_name VARCHAR NOT NULL,
    visitors BIGINT NOT NULL,
    visits BIGINT NOT NULL,
    visit_duration BIGINT NOT NULL,
    bounces BIGINT NOT NULL,
    pageviews BIGINT NOT NULL
);

CREATE TABLE imported_devices (
    site      VARCHAR NOT NULL,
    import_id BIGINT NOT NULL,
    date      INTEGER NOT NULL,
    device VARCHAR NOT NULL,
    visitors BIGINT NOT NULL,
    visits BIGINT NOT NULL,
    visit_duration BIGINT NOT NULL,
    bounces BIGINT NOT NULL,
    pageviews BIGINT NOT NULL
);

CREATE TABLE imported_browsers (
    site      VARCHAR NOT NULL,
    import_id BIGINT NOT NULL,
    date      INTEGER NOT NULL,
    browser VARCHAR NOT NULL,
    browser_version VARCHAR NOT NULL,
    visitors BIGINT NOT NULL,
    visits BIGINT NOT NULL,
    visit_duration BIGINT NOT NULL,
    bounces BIGINT NOT NULL,
    pageviews BIGINT NOT NULL
);

CREATE TABLE imported_operating_systems (
    site      VARCHAR NOT NULL,
    import_id BIGINT NOT NULL,
    date      INTEGER NOT NULL,
    os VARCHAR NOT NULL,
    os_version VARCHAR NOT NULL,
    visitors BIGINT NOT NULL,
    visits BIGINT NOT NULL,
    visit_duration BIGINT NOT NULL,
    bounces BIGINT NOT NULL,
    pageviews BIGINT NOT NULL
);
