// Package clickhouse is the event store for deployments that outgrow one
// machine: events and sessions in ClickHouse MergeTree tables, written by
// any number of collectors over the server's HTTP interface in RowBinary
// batches, and read through the same analytics query planner as the
// embedded DuckDB store.
//
// ClickHouse has no transactions, so a batch is made exactly-once by marks:
// every row carries its collector (node) and the spool position after its
// batch, and the collector's checkpoint row is written last. A collector
// that does not know whether its last write landed (a restart, a timeout,
// an error) deletes its rows beyond its checkpoint before writing again,
// and skips a batch the checkpoint already covers.
//
// Daily rollups are kept as in the embedded store, with builds tagged
// instead of replaced in a transaction (rollups.go). With cluster= and
// shard= in the URL, events and sessions are spread over shards through
// Distributed tables (see Open and docs/DEPLOYMENT.md).
package clickhouse

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/migrate"
	"waymark.dev/waymark/internal/site"
	"waymark.dev/waymark/internal/spool"
	"waymark.dev/waymark/internal/stats"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options configure a store.
type Options struct {
	// Node names the collector that writes through this store: its spool
	// checkpoint and the marks on its rows. Every collector sharing a
	// database needs its own (the app uses the data folder's node id).
	Node string
	// Timeout bounds one request to the server (default 60 s).
	Timeout time.Duration
	// MutationTimeout bounds the wait for a delete to finish (default 5 min).
	MutationTimeout time.Duration
	// RawOnly answers every query from the raw tables, ignoring the
	// daily rollups (benchmarks compare both).
	RawOnly bool
	// Log, when set, lets Open succeed while the server is unreachable
	// (a collector starting during an outage keeps accepting hits into
	// its spool): the problem is logged and the migrations run on first
	// use. Without it Open fails.
	Log *slog.Logger
}

// Store is an open ClickHouse event store.
type Store struct {
	c *client
	// shards are the servers of a sharded layout, c first; nil for one
	// server. Events and sessions live in events_local and
	// sessions_local on each, and every shard's events and sessions are
	// Distributed tables over them; the other tables Waymark uses are
	// the first server's.
	shards  []*client
	node    string
	nodeID  uint32
	planner stats.Planner
	mutWait time.Duration

	migrateMu sync.Mutex
	migrated  atomic.Bool

	mu      sync.Mutex // serialises writes
	dirty   bool       // rows beyond the checkpoint may exist
	cp      spool.Pos  // the checkpoint as this store last wrote or read it
	cpKnown bool

	// Recoveries counts the times this store deleted the rows of a batch
	// whose write had not finished.
	Recoveries atomic.Int64
}

var (
	_ analytics.EventWriter = (*Store)(nil)
	_ stats.StatsReader     = (*Store)(nil)
)

// Open connects to the server named by rawURL
// (clickhouse://user:password@host:8123/database?secure=false), creates the
// database if needed and applies the migrations. A sharded layout adds
// cluster=NAME (the cluster in the servers' remote_servers) and one
// shard=host:port (HTTP) per shard after the URL's own server; the
// database is then created and migrated on every shard.
func Open(ctx context.Context, rawURL string, o Options) (*Store, error) {
	c, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if o.Node == "" {
		return nil, errors.New("clickhouse: a node name is required (each collector needs its own)")
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.MutationTimeout <= 0 {
		o.MutationTimeout = 5 * time.Minute
	}
	c.http = newHTTPClient(o.Timeout)
	if c.cluster != "" {
		// Inserts reach every shard before they return (the batch marks
		// depend on it). A subquery over a distributed table inside a
		// distributed query runs as written on each shard, over the whole
		// cluster: 18.16's rewrites for the other modes (local, global)
		// lose the subqueries' table aliases and fail.
		c.settings = url.Values{"insert_distributed_sync": {"1"}, "distributed_product_mode": {"allow"}}
	}
	h := fnv.New32a()
	h.Write([]byte(o.Node))
	s := &Store{c: c, node: o.Node, nodeID: h.Sum32(), mutWait: o.MutationTimeout, dirty: true}
	if c.cluster != "" {
		s.shards = []*client{c}
		for _, addr := range c.shards {
			s.shards = append(s.shards, c.shard(addr))
		}
	}
	// Four queries of a dashboard at a time: the server runs each on its
	// own threads, and a round trip's wait is better spent on the next.
	s.planner = stats.Planner{D: Dialect{}, R: s, Imports: s.Imports, Parallel: 4}
	if !o.RawOnly {
		s.planner.Rollups = s
	}
	if err := s.ready(ctx); err != nil {
		var se *ServerError
		var le *LayoutError
		if o.Log == nil || errors.As(err, &se) || errors.As(err, &le) || ctx.Err() != nil {
			return nil, err
		}
		o.Log.Warn("ClickHouse unreachable; hits wait in the spool until it answers", "err", err)
	}
	return s, nil
}

// ready applies the migrations once they have not been yet.
func (s *Store) ready(ctx context.Context) error {
	if s.migrated.Load() {
		return nil
	}
	s.migrateMu.Lock()
	defer s.migrateMu.Unlock()
	if s.migrated.Load() {
		return nil
	}
	if err := s.migrate(ctx); err != nil {
		return err
	}
	s.migrated.Store(true)
	return nil
}

// Close releases idle connections.
func (s *Store) Close() error {
	s.c.http.CloseIdleConnections()
	return nil
}

// Ping checks that the server answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.c.query(ctx, "SELECT 1", func([]string) error { return nil })
}

func (s *Store) migrate(ctx context.Context) error {
	if err := s.checkLayout(ctx); err != nil {
		return err
	}
	if s.shards == nil {
		return migrateOn(ctx, s.c, false)
	}
	for i, c := range s.shards {
		if err := migrateOn(ctx, c, true); err != nil {
			return fmt.Errorf("shard %d (%s): %w", i+1, c.base, err)
		}
	}
	for i, c := range s.shards {
		if err := distributedTables(ctx, c); err != nil {
			return fmt.Errorf("shard %d (%s): %w", i+1, c.base, err)
		}
	}
	return nil
}

// rawTables are the tables a sharded layout spreads over its shards.
var rawTables = []string{"events", "sessions"}

// local names a raw table's own part on each shard: the table itself on
// one server, table_local in a sharded layout.
func (s *Store) local(table string) string {
	if s.shards == nil {
		return table
	}
	return table + "_local"
}

// servers are the servers holding raw rows: every shard, or the one.
func (s *Store) servers() []*client {
	if s.shards == nil {
		return []*client{s.c}
	}
	return s.shards
}

// LayoutError says the URL does not describe the database or the
// servers: a misconfiguration, which waiting will not mend (Open fails
// even when it would otherwise start during an outage).
type LayoutError struct{ msg string }

func (e *LayoutError) Error() string { return "clickhouse: " + e.msg }

func layoutErrorf(format string, args ...any) error {
	return &LayoutError{msg: fmt.Sprintf(format, args...)}
}

// checkLayout refuses a database laid out the other way (one server or
// shards) from what the URL says, and a cluster the server does not know
// as the URL describes it.
func (s *Store) checkLayout(ctx context.Context) error {
	d := Dialect{}
	resp, err := s.c.do(ctx, "", "CREATE DATABASE IF NOT EXISTS "+s.c.database, nil)
	if err != nil {
		return fmt.Errorf("clickhouse: create database %s: %w", s.c.database, err)
	}
	resp.Body.Close()
	var engine string
	err = s.c.query(ctx, "SELECT engine FROM system.tables WHERE database = "+d.Quote(s.c.database)+" AND name = 'events'", func(f []string) error {
		engine = f[0]
		return nil
	})
	if err != nil {
		return fmt.Errorf("clickhouse: layout: %w", err)
	}
	switch {
	case s.shards == nil && engine == "Distributed":
		return layoutErrorf("database %s is sharded (events is a Distributed table): add cluster= and shard= to the URL", s.c.database)
	case s.shards != nil && engine != "" && engine != "Distributed":
		return layoutErrorf("database %s keeps its events on one server (events is a %s table); shards need a new database (docs/DEPLOYMENT.md, \"Shards\": moving a one-server database to shards)", s.c.database, engine)
	case s.shards == nil:
		return nil
	}
	var n int
	err = s.c.query(ctx, "SELECT uniqExact(shard_num) FROM system.clusters WHERE cluster = "+d.Quote(s.c.cluster), func(f []string) error {
		var err error
		n, err = strconv.Atoi(f[0])
		return err
	})
	if err != nil {
		return fmt.Errorf("clickhouse: cluster %s: %w", s.c.cluster, err)
	}
	switch {
	case n == 0:
		return layoutErrorf("the server at %s has no cluster %q in its remote_servers configuration", s.c.base, s.c.cluster)
	case n != len(s.shards):
		return layoutErrorf("cluster %q has %d shards in the server's remote_servers, the URL names %d (its host and %d shard=)", s.c.cluster, n, len(s.shards), len(s.shards)-1)
	}
	return nil
}

// distributedTables creates a server's Distributed tables over the
// shards' raw tables, sharded by site and visitor: a visitor id lives one
// local day, so a visit and its events stay on one shard. Every shard has
// them: a shard answering its part of a query may read the whole cluster
// in a subquery. A Distributed table whose columns no longer match (a
// migration added some) is made again; it holds no data.
func distributedTables(ctx context.Context, c *client) error {
	d := Dialect{}
	for _, t := range rawTables {
		cols := map[string]string{}
		err := c.query(ctx, fmt.Sprintf("SELECT table, arraySort(groupArray(concat(name, ' ', type))) FROM system.columns WHERE database = %s AND table IN (%s, %s) GROUP BY table",
			d.Quote(c.database), d.Quote(t), d.Quote(t+"_local")), func(f []string) error {
			cols[f[0]] = f[1]
			return nil
		})
		if err != nil {
			return fmt.Errorf("clickhouse: distributed table %s: %w", t, err)
		}
		if have, ok := cols[t]; ok {
			if have == cols[t+"_local"] {
				continue
			}
			if err := c.exec(ctx, "DROP TABLE IF EXISTS "+t); err != nil {
				return fmt.Errorf("clickhouse: distributed table %s: %w", t, err)
			}
		}
		err = c.exec(ctx, fmt.Sprintf("CREATE TABLE IF NOT EXISTS %[1]s AS %[1]s_local ENGINE = Distributed(%[2]s, %[3]s, %[1]s_local, cityHash64(site, visitor_id))",
			t, c.cluster, c.database))
		if err != nil {
			return fmt.Errorf("clickhouse: distributed table %s: %w", t, err)
		}
	}
	return nil
}

// localName renames a migration statement's raw table to its shard-local
// name.
var localName = regexp.MustCompile(`^((?:CREATE TABLE IF NOT EXISTS|ALTER TABLE) )(events|sessions)\b`)

// migrateOn applies the migrations on one server; sharded, the raw
// tables are made as their shard-local parts.
func migrateOn(ctx context.Context, c *client, sharded bool) error {
	resp, err := c.do(ctx, "", "CREATE DATABASE IF NOT EXISTS "+c.database, nil)
	if err != nil {
		return fmt.Errorf("clickhouse: create database %s: %w", c.database, err)
	}
	resp.Body.Close()
	if err := c.exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, applied_at DateTime('UTC')) ENGINE = MergeTree ORDER BY version`); err != nil {
		return fmt.Errorf("clickhouse: migrations table: %w", err)
	}
	applied := map[int]bool{}
	err = c.query(ctx, "SELECT DISTINCT version FROM schema_migrations", func(f []string) error {
		v, err := strconv.Atoi(f[0])
		applied[v] = true
		return err
	})
	if err != nil {
		return fmt.Errorf("clickhouse: migrations: %w", err)
	}
	files, err := migrate.List(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("clickhouse: %w", err)
	}
	for _, f := range files {
		v, base := f.Version, f.Name
		if applied[v] {
			continue
		}
		// Statements are idempotent (IF NOT EXISTS), so two nodes
		// migrating at once, or a migration cut short, are harmless.
		for _, st := range statements(f.SQL) {
			if sharded {
				st = localName.ReplaceAllString(st, "${1}${2}_local")
			}
			err := c.exec(ctx, st)
			if err != nil && strings.Contains(st, " ADD COLUMN ") && strings.Contains(err.Error(), "already exists") {
				err = nil // added by another node, or by a run cut short
			}
			if err != nil {
				return fmt.Errorf("clickhouse: migration %s: %w", base, err)
			}
		}
		if err := c.exec(ctx, fmt.Sprintf("INSERT INTO schema_migrations VALUES (%d, now())", v)); err != nil {
			return fmt.Errorf("clickhouse: migration %s: %w", base, err)
		}
	}
	return nil
}

// statements splits a migration file into statements: comment lines are
// dropped and a statement ends with a line ending in ';'.
func statements(file string) []string {
	var out []string
	var cur strings.Builder
	for line := range strings.Lines(file) {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, strings.TrimSpace(cur.String()))
	}
	return out
}

// mark packs a spool position into the batch mark stored with each row:
// segment number in the top 24 bits, offset in the low 40.
func mark(p spool.Pos) (uint64, error) {
	if p.Off < 0 || p.Off >= 1<<40 || p.Seg >= 1<<24 {
		return 0, fmt.Errorf("clickhouse: spool position %d/%d out of the mark's range", p.Seg, p.Off)
	}
	return p.Seg<<40 | uint64(p.Off), nil
}

// WriteBatch stores a batch exactly once: rows with this node's marks,
// then the checkpoint. After any failure the next call first removes what
// the failed one may have left (see recover). The guarantee is for the
// ingester's batches, whose checkpoint always moves forward; a batch that
// keeps the checkpoint where it is (synthetic traffic) is written as is.
func (s *Store) WriteBatch(ctx context.Context, b *analytics.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ready(ctx); err != nil {
		return err
	}
	m, err := mark(b.Checkpoint)
	if err != nil {
		return err
	}
	if s.dirty {
		before, known := s.cp, s.cpKnown
		cp, err := s.recover(ctx)
		if err != nil {
			return err
		}
		if known && before.Less(cp) && !cp.Less(b.Checkpoint) {
			// The checkpoint moved to this batch's while the answer to
			// writing it was lost: the batch is stored already.
			return nil
		}
	}
	s.dirty = true
	if len(b.Events) > 0 {
		w := rowWriter{b: make([]byte, 0, len(b.Events)*256)}
		for i := range b.Events {
			w.event(&b.Events[i], s.nodeID, m)
		}
		if err := s.c.insert(ctx, "INSERT INTO events ("+eventColumns+") FORMAT RowBinary", w.b); err != nil {
			return fmt.Errorf("clickhouse: insert events: %w", err)
		}
	}
	if len(b.Sessions) > 0 {
		w := rowWriter{b: make([]byte, 0, len(b.Sessions)*200)}
		for i := range b.Sessions {
			w.session(&b.Sessions[i], s.nodeID, m)
		}
		if err := s.c.insert(ctx, "INSERT INTO sessions ("+sessionColumns+") FORMAT RowBinary", w.b); err != nil {
			return fmt.Errorf("clickhouse: insert sessions: %w", err)
		}
	}
	// The write is counted once its rows are stored (see rollups.go).
	if err := s.markDirty(ctx, dirtySpans(b)); err != nil {
		return err
	}
	if err := s.c.exec(ctx, fmt.Sprintf("INSERT INTO ingest_checkpoint VALUES (%s, %d, %d, now())",
		Dialect{}.Quote(s.node), b.Checkpoint.Seg, b.Checkpoint.Off)); err != nil {
		return fmt.Errorf("clickhouse: checkpoint: %w", err)
	}
	s.dirty, s.cp, s.cpKnown = false, b.Checkpoint, true
	return nil
}

// recover deletes this node's rows beyond its checkpoint (a batch whose
// write did not finish) and returns the checkpoint.
func (s *Store) recover(ctx context.Context) (spool.Pos, error) {
	cp, err := s.Checkpoint(ctx)
	if err != nil {
		return cp, err
	}
	m, err := mark(cp)
	if err != nil {
		return cp, err
	}
	cond := fmt.Sprintf("node = %d AND batch > %d", s.nodeID, m)
	// The days the unfinished rows fall in: a rollup built meanwhile may
	// have counted them, so their removal counts as a write there.
	dirty := map[string][]string{}
	err = s.c.query(ctx, "SELECT site, toUnixTimestamp(min(ts)), toUnixTimestamp(max(ts)) FROM events WHERE "+cond+" GROUP BY site", func(f []string) error {
		var t0, t1 int64
		if _, err := fmt.Sscan(f[1]+" "+f[2], &t0, &t1); err != nil {
			return err
		}
		dirty[f[0]] = utcDays(time.Unix(t0, 0), time.Unix(t1, 0).Add(24*time.Hour))
		return nil
	})
	if err != nil {
		return cp, fmt.Errorf("clickhouse: look for an unfinished batch: %w", err)
	}
	var mutated bool
	for _, table := range rawTables {
		n, err := s.count(ctx, "SELECT count() FROM "+table+" WHERE "+cond)
		if err != nil {
			return cp, fmt.Errorf("clickhouse: look for an unfinished batch: %w", err)
		}
		if n == 0 {
			continue
		}
		if err := s.mutateRaw(ctx, table, cond); err != nil {
			return cp, fmt.Errorf("clickhouse: remove an unfinished batch: %w", err)
		}
		mutated = true
	}
	if mutated {
		if err := s.waitMutations(ctx); err != nil {
			return cp, err
		}
		if err := s.markDirty(ctx, dirty); err != nil {
			return cp, err
		}
		s.Recoveries.Add(1)
	}
	s.dirty, s.cp, s.cpKnown = false, cp, true
	return cp, nil
}

// mutateRaw deletes a raw table's rows that match cond, on every server
// that holds some.
func (s *Store) mutateRaw(ctx context.Context, table, cond string) error {
	for _, c := range s.servers() {
		if err := c.exec(ctx, "ALTER TABLE "+s.local(table)+" DELETE WHERE "+cond); err != nil {
			return err
		}
	}
	return nil
}

// waitMutations waits until the database's deletes have been applied on
// every server: ALTER ... DELETE returns before the rows are gone.
func (s *Store) waitMutations(ctx context.Context) error {
	for _, c := range s.servers() {
		if err := s.waitMutationsOn(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) waitMutationsOn(ctx context.Context, c *client) error {
	deadline := time.Now().Add(s.mutWait)
	for {
		n, err := countOn(ctx, c, "SELECT count() FROM system.mutations WHERE database = "+Dialect{}.Quote(c.database)+" AND is_done = 0")
		if err != nil {
			return fmt.Errorf("clickhouse: wait for a delete: %w", err)
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("clickhouse: %d deletes still running after %s", n, s.mutWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *Store) count(ctx context.Context, stmt string) (int64, error) {
	return countOn(ctx, s.c, stmt)
}

func countOn(ctx context.Context, c *client, stmt string) (int64, error) {
	var n int64
	err := c.query(ctx, stmt, func(f []string) error {
		var err error
		n, err = strconv.ParseInt(f[0], 10, 64)
		return err
	})
	return n, err
}

// Checkpoint returns this node's spool position after its last stored
// batch.
func (s *Store) Checkpoint(ctx context.Context) (spool.Pos, error) {
	var p spool.Pos
	if err := s.ready(ctx); err != nil {
		return p, err
	}
	err := s.c.query(ctx, "SELECT seg, off FROM ingest_checkpoint WHERE node = "+Dialect{}.Quote(s.node)+" ORDER BY seg DESC, off DESC LIMIT 1",
		func(f []string) error {
			var err error
			if p.Seg, err = strconv.ParseUint(f[0], 10, 64); err != nil {
				return err
			}
			p.Off, err = strconv.ParseInt(f[1], 10, 64)
			return err
		})
	if err != nil {
		return p, fmt.Errorf("clickhouse: checkpoint: %w", err)
	}
	return p, nil
}

// RecentSessions returns the live state of this node's sessions active
// within the session timeout of its newest stored activity. Rows beyond
// the checkpoint (an unfinished batch, deleted before the next write) are
// left out.
func (s *Store) RecentSessions(ctx context.Context) ([]analytics.Session, error) {
	cp, err := s.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	m, err := mark(cp)
	if err != nil {
		return nil, err
	}
	mine := fmt.Sprintf("node = %d AND batch <= %d", s.nodeID, m)
	stmt := fmt.Sprintf(`SELECT site, session_id, visitor_id, version, toUnixTimestamp(start_ts), toUnixTimestamp(end_ts), entry_page, exit_page, hostname,
		pageviews, events, referrer, referrer_source, channel, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
		browser, browser_version, os, os_version, device, screen_class, language,
		country, country_name, region, region_name, city, city_name, exit_hostname, noninteractive
	FROM sessions
	WHERE %[1]s AND sign = 1 AND end_ts >= (SELECT max(end_ts) FROM sessions WHERE %[1]s) - %[2]d`, mine, int(analytics.SessionTimeout/time.Second))
	latest := map[uint64]analytics.Session{}
	err = s.c.query(ctx, stmt, func(f []string) error {
		if len(f) != 34 {
			return fmt.Errorf("%d columns, want 34", len(f))
		}
		var x analytics.Session
		var start, end int64
		var pv, ev, ver uint64
		var err error
		parse := func(dst *uint64, v string) {
			if err == nil {
				*dst, err = strconv.ParseUint(v, 10, 64)
			}
		}
		parse(&x.ID, f[1])
		parse(&x.VisitorID, f[2])
		parse(&ver, f[3])
		if err == nil {
			start, err = strconv.ParseInt(f[4], 10, 64)
		}
		if err == nil {
			end, err = strconv.ParseInt(f[5], 10, 64)
		}
		parse(&pv, f[9])
		parse(&ev, f[10])
		if err != nil {
			return err
		}
		x.Site, x.Version, x.Start, x.End = f[0], uint32(ver), time.Unix(start, 0).UTC(), time.Unix(end, 0).UTC()
		x.EntryPage, x.ExitPage, x.Hostname, x.Pageviews, x.Events = f[6], f[7], f[8], uint32(pv), uint32(ev)
		x.Referrer, x.ReferrerSource, x.Channel = f[11], f[12], f[13]
		x.UTMSource, x.UTMMedium, x.UTMCampaign, x.UTMTerm, x.UTMContent = f[14], f[15], f[16], f[17], f[18]
		x.Browser, x.BrowserVersion, x.OS, x.OSVersion, x.Device, x.ScreenClass, x.Language = f[19], f[20], f[21], f[22], f[23], f[24], f[25]
		x.Country, x.CountryName, x.Region, x.RegionName, x.CityName = f[26], f[27], f[28], f[29], f[31]
		x.SetCityText(f[30])
		x.ExitHostname = f[32]
		var ni uint64
		parse(&ni, f[33])
		if err != nil {
			return err
		}
		x.NonInteractive = uint32(ni)
		if old, ok := latest[x.ID]; !ok || old.Version < x.Version {
			latest[x.ID] = x
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse: recent sessions: %w", err)
	}
	out := make([]analytics.Session, 0, len(latest))
	for _, x := range latest {
		out = append(out, x)
	}
	slices.SortFunc(out, func(a, b analytics.Session) int {
		return cmp.Or(strings.Compare(a.Site, b.Site), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// DeleteBefore removes a site's events and sessions older than t. The
// delete is a mutation that rewrites the affected parts; it runs only when
// there is something to remove.
func (s *Store) DeleteBefore(ctx context.Context, site string, t time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ready(ctx); err != nil {
		return 0, err
	}
	d := Dialect{}
	evCond := fmt.Sprintf("site = %s AND ts < %s", d.Quote(site), d.Time(t))
	sesCond := fmt.Sprintf("site = %s AND start_ts < %s", d.Quote(site), d.Time(t))
	n, err := s.count(ctx, "SELECT count() FROM events WHERE "+evCond)
	if err != nil {
		return 0, fmt.Errorf("clickhouse: retention: %w", err)
	}
	ns, err := s.count(ctx, "SELECT count() FROM sessions WHERE "+sesCond)
	if err != nil {
		return 0, fmt.Errorf("clickhouse: retention: %w", err)
	}
	if n == 0 && ns == 0 {
		return 0, nil
	}
	if err := s.mutateRaw(ctx, "events", evCond); err != nil {
		return 0, fmt.Errorf("clickhouse: retention: %w", err)
	}
	if err := s.mutateRaw(ctx, "sessions", sesCond); err != nil {
		return n, fmt.Errorf("clickhouse: retention: %w", err)
	}
	// Rollups of the days that began before t go too: their marks, and
	// the rows of the days that certainly ended before t (the rows of the
	// one or two days around t, without marks, are never read).
	for _, st := range []string{
		fmt.Sprintf("ALTER TABLE rollup_days DELETE WHERE site = %s AND from_ts < %s", d.Quote(site), d.Time(t)),
		fmt.Sprintf("ALTER TABLE rollup_visits DELETE WHERE site = %s AND day < %s", d.Quote(site), d.Quote(t.UTC().AddDate(0, 0, -1).Format(time.DateOnly))),
		fmt.Sprintf("ALTER TABLE rollup_events DELETE WHERE site = %s AND day < %s", d.Quote(site), d.Quote(t.UTC().AddDate(0, 0, -1).Format(time.DateOnly))),
	} {
		if err := s.c.exec(ctx, st); err != nil {
			return n, fmt.Errorf("clickhouse: retention: %w", err)
		}
	}
	return n, s.waitMutations(ctx)
}

// Query answers a stats query.
func (s *Store) Query(ctx context.Context, q *stats.Query) (*stats.Result, error) {
	return s.planner.Query(ctx, q)
}

// QueryAll answers a dashboard's queries together, sharing what they
// have in common (see stats.Planner.QueryAll).
func (s *Store) QueryAll(ctx context.Context, qs []*stats.Query) ([]*stats.Result, error) {
	return s.planner.QueryAll(ctx, qs)
}

// Dialect is ClickHouse's SQL dialect.
func (s *Store) Dialect() stats.Dialect { return Dialect{} }

// Funnel counts a funnel's steps.
func (s *Store) Funnel(ctx context.Context, q *stats.Query, f site.Funnel) ([]stats.FunnelStep, error) {
	return s.planner.Funnel(ctx, q, f)
}

// EarliestEvent returns the time of a site's first stored event.
func (s *Store) EarliestEvent(ctx context.Context, site string) (time.Time, error) {
	if err := s.ready(ctx); err != nil {
		return time.Time{}, err
	}
	var t time.Time
	err := s.c.query(ctx, fmt.Sprintf(`SELECT toUnixTimestamp(min(ts)), count() FROM events WHERE site = %s`, Dialect{}.Quote(site)), func(f []string) error {
		sec, err := strconv.ParseInt(f[0], 10, 64)
		if err == nil && f[1] != "0" {
			t = time.Unix(sec, 0).UTC()
		}
		return err
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("clickhouse: earliest event: %w", err)
	}
	return t, nil
}

// RecentPageviews returns a site's latest pageviews that q's filters
// select.
func (s *Store) RecentPageviews(ctx context.Context, q *stats.Query, n int) ([]stats.RecentPageview, error) {
	d := Dialect{}
	stmt := fmt.Sprintf(`SELECT toUnixTimestamp(e.ts), e.pathname, e.referrer_source, e.browser, e.device, e.screen_class FROM events e
		WHERE e.site = %s AND e.ts >= %s AND e.name = %s%s ORDER BY e.ts DESC LIMIT %d`,
		d.Quote(q.Site.Domain), d.Time(q.From), d.Quote(analytics.EventPageview), s.planner.EventFilters(q, "e"), max(n, 0))
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	var out []stats.RecentPageview
	err := s.c.query(ctx, stmt, func(f []string) error {
		sec, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return err
		}
		out = append(out, stats.RecentPageview{Time: time.Unix(sec, 0).UTC(), Path: f[1], Source: f[2], Browser: f[3], Device: f[4], Screen: f[5]})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse: recent pageviews: %w", err)
	}
	return out, nil
}

// PropKeys lists an event's property names in a query's range.
func (s *Store) PropKeys(ctx context.Context, q *stats.Query, name string, n int) ([]string, error) {
	d := Dialect{}
	stmt := fmt.Sprintf(`SELECT k FROM events ARRAY JOIN prop_keys AS k
		WHERE site = %s AND ts >= %s AND ts < %s AND name = %s GROUP BY k ORDER BY count() DESC, k LIMIT %d`,
		d.Quote(q.Site.Domain), d.Time(q.From), d.Time(q.To), d.Quote(name), max(n, 0))
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	var out []string
	err := s.c.query(ctx, stmt, func(f []string) error {
		out = append(out, f[0])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse: property names: %w", err)
	}
	return out, nil
}

// Rows runs a planner query: the first ndims columns are strings, the
// rest numbers (NULL and NaN read as 0).
func (s *Store) Rows(ctx context.Context, query string, ndims int) ([]stats.RawRow, error) {
	if err := s.ready(ctx); err != nil {
		return nil, err
	}
	var out []stats.RawRow
	err := s.c.query(ctx, query, func(f []string) error {
		if len(f) < ndims {
			return fmt.Errorf("%d columns, want at least %d", len(f), ndims)
		}
		r := stats.RawRow{Dims: make([]string, ndims), Vals: make([]float64, len(f)-ndims)}
		copy(r.Dims, f)
		for i, v := range f[ndims:] {
			if v == "" { // NULL
				continue
			}
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("column %d: %w", ndims+i, err)
			}
			if x == x { // not NaN
				r.Vals[i] = x
			}
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse: query: %w", err)
	}
	return out, nil
}

// Extent describes what the store holds: its events, the oldest and
// newest event's time and the bytes its event and session tables take on disk.
type Extent struct {
	Events    int64
	Oldest    time.Time
	Newest    time.Time
	DiskBytes int64
}

// Extent measures the store (benchmarks and sizing).
func (s *Store) Extent(ctx context.Context) (Extent, error) {
	var e Extent
	if err := s.ready(ctx); err != nil {
		return e, err
	}
	err := s.c.query(ctx, "SELECT count(), toUnixTimestamp(min(ts)), toUnixTimestamp(max(ts)) FROM events", func(f []string) error {
		var oldest, newest int64
		if _, err := fmt.Sscan(f[0]+" "+f[1]+" "+f[2], &e.Events, &oldest, &newest); err != nil {
			return err
		}
		e.Oldest, e.Newest = time.Unix(oldest, 0).UTC(), time.Unix(newest, 0).UTC()
		return nil
	})
	for _, c := range s.servers() {
		if err != nil {
			break
		}
		err = c.query(ctx, fmt.Sprintf("SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = %s AND table IN ('%s', '%s')",
			Dialect{}.Quote(c.database), s.local("events"), s.local("sessions")),
			func(f []string) error {
				var b int64
				_, err := fmt.Sscan(f[0], &b)
				e.DiskBytes += b
				return err
			})
	}
	if err != nil {
		return e, fmt.Errorf("clickhouse: extent: %w", err)
	}
	return e, nil
}
