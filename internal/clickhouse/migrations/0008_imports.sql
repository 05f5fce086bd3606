-- Imported history (see the embedded store's 0009_imports.sql). The
-- imports table keeps versions of each import's record (written when it
-- starts, completes and is deleted); readers take the latest.
CREATE TABLE IF NOT EXISTS imports (
    id       Int64,
    site     String,
    source   String,
    label    String,
    from_day Int32,
    to_day   Int32,
    rows     Int64,
    created  DateTime,
    complete UInt8,
    deleted  UInt8,
    version  UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (site, id);

CREATE TABLE IF NOT EXISTS imported_visitors (
    site      String,
    import_id Int64,
    date      Int32,
    visitors Int64,
    pageviews Int64,
    bounces Int64,
    visits Int64,
    visit_duration Int64
) ENGINE = MergeTree
ORDER BY (site, import_id, date);

CREATE TABLE IF NOT EXISTS imported_sources (
    site      String,
    import_id Int64,
    date      Int32,
    referrer_source String,
    referrer String,
    utm_source String,
    utm_medium String,
    utm_campaign String,
    utm_content String,
    utm_term String,
    channel String,
    pageviews Int64,
    visitors Int64,
    visits Int64,
    visit_duration Int64,
    bounces Int64
) ENGINE = MergeTree
ORDER BY (site, import_id, date);

CREATE TABLE IF NOT EXISTS imported_pages (
    site      String,
    import_id Int64,
    date      Int32,
    hostname String,
    pathname String,
    visits Int64,
    visitors Int64,
    pageviews Int64,
    total_scroll_depth Int64,
    total_scroll_depth_visits Int64,
    total_time_on_page Int64,
    total_time_on_page_visits Int64
) ENGINE = MergeTree
ORDER BY (site, import_id, date);

CREATE TABLE IF NOT EXISTS imported_entry_pages (
    site      String,
    import_id Int64,
    date      Int32,
    entry_page String,
    visitors Int64,
    entrances Int64,
    visit_duration Int64,
    bounces Int64,
    pageviews Int64
) ENGINE = MergeTree
ORDER BY (site, import_id, date);

CREATE TABLE IF NOT EXISTS imported_exit_pages (
    site      String,
    import_id Int64,
    date      Int32,
    exit_page String,
    visitors Int64,
    visit_duration Int64,
    exits Int64,
    bounces Int64,
    pageviews Int64
) ENGINE = MergeTree
ORDER BY (site, import_id, date);

CREATE TABLE IF NOT EXISTS imported_custom_events (
    site      String,
    import_id Int64,
    date      Int32,
    name String,
    link_url String,
    path String,
    visitors Int64,
    events Int64
) ENGINE = MergeTree
ORDER BY (site, import_id, date);

CREATE TABLE IF NOT EXISTS imported_locations (
    site      String,
    import_id Int64,
    date      Int32,
    country String,
    region String,
    city String,
    country_name String,
    region_name String,
    city_name String,
    visitors Int64,
    visits Int64,
    visit_duration Int64,
    bounces Int64,
    pageviews Int64
) ENGINE = MergeTree
ORDER BY (site, import_id, date);

CREATE TABLE IF NOT EXISTS imported_devices (
    site      String,
    import_id Int64,
    date      Int32,
    device String,
    visitors Int64,
    visits Int64,
    visit_duration Int64,
    bounces Int64,
    pageviews Int64
) ENGINE = MergeTree
ORDER BY (site, import_id, date);

CREATE TABLE IF NOT EXISTS imported_browsers (
    site      String,
    import_id Int64,
    date      Int32,
    browser String,
    browser_version String,
    visitors Int64,
    visits Int64,
    visit_duration Int64,
    bounces Int64,
    pageviews Int64
) ENGINE = MergeTree
ORDER BY (site, import_id, date);

CREATE TABLE IF NOT EXISTS imported_operating_systems (
    site      String,
    import_id Int64,
    date      Int32,
    os String,
    os_version String,
    visitors Int64,
    visits Int64,
    visit_duration Int64,
    bounces Int64,
    pageviews Int64
) ENGINE = MergeTree
ORDER BY (site, import_id, date);
