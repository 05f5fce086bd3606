// Package duckdb is the embedded event store: events and sessions in one
// DuckDB file, written with the Appender in transactions that also hold the
// spool checkpoint, and read through the analytics query planner.
package duckdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/duckdb/duckdb-go/v2"
	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/migrate"
	"waymark.dev/waymark/internal/site"
	"waymark.dev/waymark/internal/spool"
	"waymark.dev/waymark/internal/stats"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options tune the database.
type Options struct {
	MemoryLimit string // DuckDB memory_limit, e.g. "1GB"
	Threads     int
	// RawOnly answers every query from the raw tables, ignoring daily
	// rollups (benchmarks compare both).
	RawOnly bool
}

// Store is an open event store.
type Store struct {
	db      *sql.DB
	connMu  sync.Mutex
	writer  *sql.Conn
	planner stats.Planner
}

var (
	_ analytics.EventWriter = (*Store)(nil)
	_ stats.StatsReader     = (*Store)(nil)
	_ stats.RollupStore     = (*Store)(nil)
)

// Open opens or creates the DuckDB file at path ("" for in-memory).
func Open(ctx context.Context, path string, o Options) (*Store, error) {
	dsn := path
	var params []string
	if o.MemoryLimit != "" {
		params = append(params, "memory_limit="+o.MemoryLimit)
	}
	if o.Threads > 0 {
		params = append(params, "threads="+strconv.Itoa(o.Threads))
	}
	if len(params) > 0 {
		dsn += "?" + strings.Join(params, "&")
	}
	db, err := sql.Open("duckdb", dsn)
	if err != nil {
		return nil, fmt.Errorf("duckdb: open %s: %w", path, err)
	}
	s := &Store{db: db}
	s.planner = stats.Planner{D: Dialect{}, R: s, Imports: s.Imports}
	if !o.RawOnly {
		s.planner.Rollups = s
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if s.writer, err = db.Conn(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("duckdb: writer connection: %w", err)
	}
	if err := s.dropIncompleteImports(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	if s.writer != nil {
		s.writer.Close()
	}
	return s.db.Close()
}

// DB exposes the database for benchmarks and tests.
func (s *Store) DB() *sql.DB { return s.db }

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL)`); err != nil {
		return fmt.Errorf("duckdb: migrations table: %w", err)
	}
	files, err := migrate.List(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("duckdb: %w", err)
	}
	for _, f := range files {
		v, base := f.Version, f.Name
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, v).Scan(&n); err != nil {
			return fmt.Errorf("duckdb: migration %s: %w", base, err)
		}
		if n > 0 {
			continue
		}
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, f.SQL); err != nil {
			tx.Rollback()
			return fmt.Errorf("duckdb: migration %s: %w", base, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations VALUES (?, now())`, v); err != nil {
			tx.Rollback()
			return fmt.Errorf("duckdb: migration %s: %w", base, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("duckdb: migration %s: %w", base, err)
		}
		// Keep schema changes out of the write-ahead log: this DuckDB
		// version fails to replay some ALTER TABLE records after a crash.
		if _, err := s.db.ExecContext(ctx, "CHECKPOINT"); err != nil {
			return fmt.Errorf("duckdb: checkpoint after migration %s: %w", base, err)
		}
	}
	return nil
}

// WriteBatch appends a batch's events and session rows and moves the
// checkpoint, all in one transaction.
func (s *Store) WriteBatch(ctx context.Context, b *analytics.Batch) (err error) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if _, err := s.writer.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		return fmt.Errorf("duckdb: begin: %w", err)
	}
	defer func() {
		if err != nil {
			s.writer.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	err = s.writer.Raw(func(dc any) error {
		conn, ok := dc.(driver.Conn)
		if !ok {
			return fmt.Errorf("unexpected driver connection %T", dc)
		}
		if err := appendEvents(conn, b.Events); err != nil {
			return err
		}
		return appendSessions(conn, b.Sessions)
	})
	if err != nil {
		return fmt.Errorf("duckdb: append: %w", err)
	}
	if err = s.unmarkRollups(ctx, b); err != nil {
		return fmt.Errorf("duckdb: rollup marks: %w", err)
	}
	if _, err = s.writer.ExecContext(ctx, `UPDATE ingest_checkpoint SET seg = ?, off = ? WHERE id = 1`, b.Checkpoint.Seg, b.Checkpoint.Off); err != nil {
		return fmt.Errorf("duckdb: checkpoint: %w", err)
	}
	if _, err = s.writer.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("duckdb: commit: %w", err)
	}
	return nil
}

// unmarkRollups deletes the rollup marks of the days a batch writes into,
// and of the day after each (whose new-visitor counts look back a day).
func (s *Store) unmarkRollups(ctx context.Context, b *analytics.Batch) error {
	type span struct{ min, max time.Time }
	spans := map[string]*span{}
	see := func(site string, t time.Time) {
		sp := spans[site]
		if sp == nil {
			spans[site] = &span{t, t}
			return
		}
		if t.Before(sp.min) {
			sp.min = t
		}
		if t.After(sp.max) {
			sp.max = t
		}
	}
	for i := range b.Events {
		see(b.Events[i].Site, b.Events[i].Time)
	}
	for i := range b.Sessions {
		see(b.Sessions[i].Site, b.Sessions[i].Start)
	}
	for site, sp := range spans {
		if _, err := s.writer.ExecContext(ctx, `DELETE FROM rollup_days WHERE site = ? AND to_ts > ? AND from_ts <= ?`,
			site, sp.min.UTC().Truncate(time.Second), sp.max.UTC().Add(24*time.Hour)); err != nil {
			return err
		}
	}
	return nil
}

// Dialect is DuckDB's SQL dialect.
func (s *Store) Dialect() stats.Dialect { return Dialect{} }

// BuiltDays lists a site's days whose rollups, cut in zone, are current:
// those with a mark (writes delete the marks of the days they touch).
func (s *Store) BuiltDays(ctx context.Context, site, zone, from, to string) ([]stats.BuiltDay, error) {
	q := `SELECT CAST(day AS VARCHAR) FROM rollup_days WHERE site = ? AND zone = ?`
	args := []any{site, zone}
	if from != "" {
		q += ` AND day >= CAST(? AS DATE)`
		args = append(args, from)
	}
	if to != "" {
		q += ` AND day < CAST(? AS DATE)`
		args = append(args, to)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY day`, args...)
	if err != nil {
		return nil, fmt.Errorf("duckdb: built days: %w", err)
	}
	defer rows.Close()
	var out []stats.BuiltDay
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, fmt.Errorf("duckdb: built days: %w", err)
		}
		out = append(out, stats.BuiltDay{Day: d})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("duckdb: built days: %w", err)
	}
	return out, nil
}

// ReplaceRollup replaces a day's rollup rows and mark in one transaction,
// serialised with batch writes: a write that lands after it deletes the
// new mark again.
func (s *Store) ReplaceRollup(ctx context.Context, d stats.RollupDay, inserts func(build uint64) []string) error {
	q := Dialect{}.Quote
	S, D := q(d.Site), q(d.Day)
	st := []string{
		fmt.Sprintf("DELETE FROM rollup_days WHERE site = %s AND day = %s", S, D),
		fmt.Sprintf("DELETE FROM rollup_visits WHERE site = %s AND day = %s", S, D),
		fmt.Sprintf("DELETE FROM rollup_events WHERE site = %s AND day = %s", S, D),
	}
	st = append(st, inserts(0)...)
	st = append(st, fmt.Sprintf("INSERT INTO rollup_days VALUES (%s, %s, %s, %s, %s, %s)", S, D, q(d.Zone),
		Dialect{}.Time(d.From), Dialect{}.Time(d.To), Dialect{}.Time(time.Now())))
	return s.ExecTx(ctx, st)
}

// ExecTx runs statements in one transaction on the writing connection.
func (s *Store) ExecTx(ctx context.Context, stmts []string) (err error) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if _, err := s.writer.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		return fmt.Errorf("duckdb: begin: %w", err)
	}
	for _, st := range stmts {
		if _, err = s.writer.ExecContext(ctx, st); err != nil {
			s.writer.ExecContext(context.Background(), "ROLLBACK")
			return fmt.Errorf("duckdb: %w", err)
		}
	}
	if _, err = s.writer.ExecContext(ctx, "COMMIT"); err != nil {
		s.writer.ExecContext(context.Background(), "ROLLBACK")
		return fmt.Errorf("duckdb: commit: %w", err)
	}
	return nil
}

func appendEvents(conn driver.Conn, evs []analytics.Event) error {
	if len(evs) == 0 {
		return nil
	}
	a, err := duckdb.NewAppenderFromConn(conn, "", "events")
	if err != nil {
		return err
	}
	// One row slice for the batch: AppendRow copies the values into its
	// chunk, and a fresh variadic slice per row was 560 bytes of garbage.
	row := make([]driver.Value, 0, 44)
	var noProps driver.Value = []string{} // boxed once
	for i := range evs {
		e := &evs[i]
		keys, vals := noProps, noProps
		if len(e.Props) > 0 {
			k, v := make([]string, len(e.Props)), make([]string, len(e.Props))
			for j, p := range e.Props {
				k[j], v[j] = p.Key, p.Value
			}
			keys, vals = k, v
		}
		row = append(row[:0], e.Site, e.Time, e.Name, e.SessionID, e.VisitorID, e.Path, e.Hostname, e.EntryPage,
			e.Referrer, e.ReferrerSource, e.Channel, e.UTMSource, e.UTMMedium, e.UTMCampaign, e.UTMTerm, e.UTMContent,
			e.Browser, e.BrowserVersion, e.OS, e.OSVersion, e.Device, e.ScreenClass,
			e.ScreenW, e.ScreenH, e.ViewportW, e.ViewportH, e.DPR, e.ColorDepth, e.Language, e.TimeZone,
			e.EngagedMS, e.ScrollDepth, e.NewPageview, keys, vals,
			e.Country, e.CountryName, e.Region, e.RegionName, e.CityText(), e.CityName,
			e.RevenueMilli, e.RevenueCurrency)
		if err := a.AppendRow(row...); err != nil {
			a.Close()
			return err
		}
	}
	return a.Close()
}

func appendSessions(conn driver.Conn, rows []analytics.SessionRow) error {
	if len(rows) == 0 {
		return nil
	}
	a, err := duckdb.NewAppenderFromConn(conn, "", "sessions")
	if err != nil {
		return err
	}
	for i := range rows {
		r := &rows[i]
		if err := a.AppendRow(r.Site, r.ID, r.VisitorID, r.Version, r.Sign, r.Start, r.End, r.EntryPage, r.ExitPage, r.Hostname,
			r.Pageviews, r.Events, r.Referrer, r.ReferrerSource, r.Channel, r.UTMSource, r.UTMMedium, r.UTMCampaign, r.UTMTerm, r.UTMContent,
			r.Browser, r.BrowserVersion, r.OS, r.OSVersion, r.Device, r.ScreenClass, r.Language,
			r.Country, r.CountryName, r.Region, r.RegionName, r.CityText(), r.CityName, r.ExitHostname, r.NonInteractive); err != nil {
			a.Close()
			return err
		}
	}
	return a.Close()
}

// Checkpoint returns the spool position after the last stored batch.
func (s *Store) Checkpoint(ctx context.Context) (spool.Pos, error) {
	var p spool.Pos
	err := s.db.QueryRowContext(ctx, `SELECT seg, off FROM ingest_checkpoint WHERE id = 1`).Scan(&p.Seg, &p.Off)
	if err != nil {
		return p, fmt.Errorf("duckdb: checkpoint: %w", err)
	}
	return p, nil
}

// RecentSessions returns the live state of sessions active within the
// session timeout of the newest activity.
func (s *Store) RecentSessions(ctx context.Context) ([]analytics.Session, error) {
	rows, err := s.db.QueryContext(ctx, fmt.Sprintf(`SELECT site, session_id, visitor_id, version, start_ts, end_ts, entry_page, exit_page, hostname,
		pageviews, events, referrer, referrer_source, channel, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
		browser, browser_version, os, os_version, device, screen_class, language,
		country, country_name, region, region_name, city, city_name, exit_hostname, noninteractive
	FROM sessions
	WHERE sign = 1 AND end_ts >= (SELECT max(end_ts) FROM sessions) - INTERVAL %d SECOND
	QUALIFY row_number() OVER (PARTITION BY session_id ORDER BY version DESC) = 1`, int(analytics.SessionTimeout/time.Second)))
	if err != nil {
		return nil, fmt.Errorf("duckdb: recent sessions: %w", err)
	}
	defer rows.Close()
	var out []analytics.Session
	for rows.Next() {
		var x analytics.Session
		var city string
		if err := rows.Scan(&x.Site, &x.ID, &x.VisitorID, &x.Version, &x.Start, &x.End, &x.EntryPage, &x.ExitPage, &x.Hostname,
			&x.Pageviews, &x.Events, &x.Referrer, &x.ReferrerSource, &x.Channel, &x.UTMSource, &x.UTMMedium, &x.UTMCampaign, &x.UTMTerm, &x.UTMContent,
			&x.Browser, &x.BrowserVersion, &x.OS, &x.OSVersion, &x.Device, &x.ScreenClass, &x.Language,
			&x.Country, &x.CountryName, &x.Region, &x.RegionName, &city, &x.CityName, &x.ExitHostname, &x.NonInteractive); err != nil {
			return nil, fmt.Errorf("duckdb: recent sessions: %w", err)
		}
		x.SetCityText(city)
		x.Start, x.End = x.Start.UTC(), x.End.UTC()
		out = append(out, x)
	}
	return out, rows.Err()
}

// DeleteBefore removes a site's events and sessions older than t.
func (s *Store) DeleteBefore(ctx context.Context, site string, t time.Time) (int64, error) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	res, err := s.writer.ExecContext(ctx, `DELETE FROM events WHERE site = ? AND ts < ?`, site, t.UTC())
	if err != nil {
		return 0, fmt.Errorf("duckdb: retention: %w", err)
	}
	n, _ := res.RowsAffected()
	if _, err := s.writer.ExecContext(ctx, `DELETE FROM sessions WHERE site = ? AND start_ts < ?`, site, t.UTC()); err != nil {
		return n, fmt.Errorf("duckdb: retention: %w", err)
	}
	// Days that began before t lost raw data: their rollups go too.
	for _, table := range []string{"rollup_visits", "rollup_events"} {
		if _, err := s.writer.ExecContext(ctx, `DELETE FROM `+table+` WHERE site = ? AND day IN (SELECT day FROM rollup_days WHERE site = ? AND from_ts < ?)`, site, site, t.UTC()); err != nil {
			return n, fmt.Errorf("duckdb: retention: %w", err)
		}
	}
	if _, err := s.writer.ExecContext(ctx, `DELETE FROM rollup_days WHERE site = ? AND from_ts < ?`, site, t.UTC()); err != nil {
		return n, fmt.Errorf("duckdb: retention: %w", err)
	}
	return n, nil
}

// Query answers a stats query.
func (s *Store) Query(ctx context.Context, q *stats.Query) (*stats.Result, error) {
	return s.planner.Query(ctx, q)
}

// QueryAll answers a dashboard's queries together.
func (s *Store) QueryAll(ctx context.Context, qs []*stats.Query) ([]*stats.Result, error) {
	return s.planner.QueryAll(ctx, qs)
}

// EarliestEvent returns the time of a site's first stored event.
func (s *Store) EarliestEvent(ctx context.Context, site string) (time.Time, error) {
	var t sql.NullTime
	if err := s.db.QueryRowContext(ctx, `SELECT min(ts) FROM events WHERE site = ?`, site).Scan(&t); err != nil {
		return time.Time{}, fmt.Errorf("duckdb: earliest event: %w", err)
	}
	if !t.Valid {
		return time.Time{}, nil
	}
	return t.Time.UTC(), nil
}

// RecentPageviews returns a site's latest pageviews that q's filters
// select.
func (s *Store) RecentPageviews(ctx context.Context, q *stats.Query, n int) ([]stats.RecentPageview, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT e.ts, e.pathname, e.referrer_source, e.browser, e.device, e.screen_class FROM events e
		WHERE e.site = ? AND e.ts >= ? AND e.name = ?`+s.planner.EventFilters(q, "e")+` ORDER BY e.ts DESC LIMIT ?`,
		q.Site.Domain, q.From.UTC().Truncate(time.Second), analytics.EventPageview, n)
	if err != nil {
		return nil, fmt.Errorf("duckdb: recent pageviews: %w", err)
	}
	defer rows.Close()
	var out []stats.RecentPageview
	for rows.Next() {
		var p stats.RecentPageview
		if err := rows.Scan(&p.Time, &p.Path, &p.Source, &p.Browser, &p.Device, &p.Screen); err != nil {
			return nil, fmt.Errorf("duckdb: recent pageviews: %w", err)
		}
		p.Time = p.Time.UTC()
		out = append(out, p)
	}
	return out, rows.Err()
}

// PropKeys lists an event's property names in a query's range.
func (s *Store) PropKeys(ctx context.Context, q *stats.Query, name string, n int) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT k FROM (SELECT unnest(prop_keys) AS k FROM events
		WHERE site = ? AND ts >= ? AND ts < ? AND name = ?) GROUP BY k ORDER BY count(*) DESC, k LIMIT ?`,
		q.Site.Domain, q.From.UTC().Truncate(time.Second), q.To.UTC().Truncate(time.Second), name, n)
	if err != nil {
		return nil, fmt.Errorf("duckdb: property names: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("duckdb: property names: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// toFloat converts a numeric value as the driver returns it (NULL is 0):
// DOUBLE and BIGINT directly, a 128-bit sum through big.Float, anything
// else through its text.
func toFloat(v any) (float64, error) {
	switch v := v.(type) {
	case nil:
		return 0, nil
	case float64:
		return v, nil
	case int64:
		return float64(v), nil
	case *big.Int:
		f, _ := new(big.Float).SetInt(v).Float64()
		return f, nil
	}
	f, err := strconv.ParseFloat(fmt.Sprint(v), 64)
	if err != nil {
		return 0, fmt.Errorf("not a number: %T %v", v, v)
	}
	return f, nil
}

// Funnel counts a funnel's steps.
func (s *Store) Funnel(ctx context.Context, q *stats.Query, f site.Funnel) ([]stats.FunnelStep, error) {
	return s.planner.Funnel(ctx, q, f)
}

// Rows runs a planner query.
func (s *Store) Rows(ctx context.Context, query string, ndims int) ([]stats.RawRow, error) {
	rows, err := s.db.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("duckdb: query: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	// Values are scanned as the driver hands them over and converted here:
	// database/sql would turn every integer into text and parse it back.
	var out []stats.RawRow
	vals := make([]any, len(cols))
	dest := make([]any, len(cols))
	for i := range vals {
		dest[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("duckdb: query: %w", err)
		}
		r := stats.RawRow{Dims: make([]string, ndims), Vals: make([]float64, len(cols)-ndims)}
		for i := range ndims {
			switch v := vals[i].(type) {
			case nil:
			case string:
				r.Dims[i] = v
			case []byte:
				r.Dims[i] = string(v)
			default:
				r.Dims[i] = fmt.Sprint(v)
			}
		}
		for i := range r.Vals {
			f, err := toFloat(vals[ndims+i])
			if err != nil {
				return nil, fmt.Errorf("duckdb: query: column %q: %w", cols[ndims+i], err)
			}
			r.Vals[i] = f
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
