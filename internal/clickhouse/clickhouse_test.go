package clickhouse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/analytics/analyticstest"
	"waymark.dev/waymark/internal/clickhouse/clickhousetest"
	"waymark.dev/waymark/internal/collect"
	"waymark.dev/waymark/internal/site"
	"waymark.dev/waymark/internal/spool"
	"waymark.dev/waymark/internal/stats"
	"waymark.dev/waymark/internal/synth"
)

func open(t testing.TB, rawURL, node string) *Store {
	s, err := Open(context.Background(), rawURL, Options{Node: node})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// layouts are the two ways to lay out a database: on one server, and
// sharded over two servers through Distributed tables. The suites run
// on both.
var layouts = []struct {
	name     string
	database func(testing.TB) string
}{
	{"one server", clickhousetest.Database},
	{"two shards", clickhousetest.ShardedDatabase},
}

func TestConformance(t *testing.T) {
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			analyticstest.Run(t, func(t *testing.T) analyticstest.Store {
				return open(t, l.database(t), "conformance")
			})
		})
	}
}

// TestImportsConformance runs the imported-history suite.
func TestImportsConformance(t *testing.T) {
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			analyticstest.RunImports(t, open(t, l.database(t), "imports"))
		})
	}
}

// TestMigrationsTwice opens the same database from two nodes at once and
// again afterwards: migrations are idempotent.
func TestMigrationsTwice(t *testing.T) {
	db := clickhousetest.Database(t)
	errs := make(chan error, 2)
	for _, node := range []string{"a", "b"} {
		go func() {
			s, err := Open(context.Background(), db, Options{Node: node})
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	open(t, db, "c")
}

func batch(t testing.TB, from, n int, seg uint64) *analytics.Batch {
	t.Helper()
	z := collect.NewSessionizer(nil)
	start := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	var evs []analytics.Event
	for i := from; i < from+n; i++ {
		h := analytics.Hit{ID: uint64(i + 1), Time: start.Add(time.Duration(i) * time.Second), Site: "x.test", Name: analytics.EventPageview,
			Path: fmt.Sprintf("/p%d", i%7), VisitorID: uint64(i%50 + 1), Browser: "Firefox", Device: "Desktop"}
		evs = append(evs, z.Add(&h, spool.Pos{Seg: seg, Off: int64(i+1) * 10}))
	}
	return &analytics.Batch{Events: evs, Sessions: z.Flush(), Checkpoint: spool.Pos{Seg: seg, Off: int64(from+n) * 10}}
}

func countEvents(t testing.TB, s *Store) int64 {
	t.Helper()
	n, err := s.count(context.Background(), "SELECT count() FROM events")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// failingProxy forwards to the server but can fail requests whose
// statement contains a string: before forwarding (the server never sees
// it) or after (the server applied it, the answer is lost).
type failingProxy struct {
	srv      *httptest.Server
	match    atomic.Value // string
	afterFwd atomic.Bool
}

func newFailingProxy(t *testing.T, target string) (*failingProxy, string) {
	u, _ := url.Parse(target)
	c, err := parseURL(target)
	if err != nil {
		t.Fatal(err)
	}
	up, _ := url.Parse(c.base)
	rp := httputil.NewSingleHostReverseProxy(up)
	fp := &failingProxy{}
	fp.match.Store("")
	fp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := fp.match.Load().(string)
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		stmt := r.URL.Query().Get("query")
		if stmt == "" {
			stmt = string(body)
		}
		if m == "" || !strings.Contains(stmt, m) {
			rp.ServeHTTP(w, r)
			return
		}
		if fp.afterFwd.Load() {
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
		}
		http.Error(w, "injected failure", http.StatusBadGateway)
	}))
	t.Cleanup(fp.srv.Close)
	pu, _ := url.Parse(fp.srv.URL)
	u.Host = pu.Host
	return fp, u.String()
}

// TestRetriedBatchCountsOnce: a batch whose write fails after the events
// reached the server (the checkpoint never did, or its answer was lost) is
// retried, and every event is stored once.
func TestRetriedBatchCountsOnce(t *testing.T) {
	for _, tc := range []struct {
		name  string
		match string
		after bool
	}{
		{"checkpoint refused", "ingest_checkpoint", false},
		{"checkpoint answer lost", "ingest_checkpoint", true},
		{"sessions answer lost", "INSERT INTO sessions", true},
		{"events refused", "INSERT INTO events", false},
	} {
		for _, l := range layouts {
			t.Run(tc.name+", "+l.name, func(t *testing.T) {
				dbURL := l.database(t)
				fp, via := newFailingProxy(t, dbURL)
				s := open(t, via, "n1")
				ctx := context.Background()
				if err := s.WriteBatch(ctx, batch(t, 0, 100, 1)); err != nil {
					t.Fatal(err)
				}
				b := batch(t, 100, 200, 1)
				fp.match.Store(tc.match)
				fp.afterFwd.Store(tc.after)
				if err := s.WriteBatch(ctx, b); err == nil {
					t.Fatal("write through the failing proxy succeeded")
				}
				fp.match.Store("")
				if err := s.WriteBatch(ctx, b); err != nil {
					t.Fatal(err)
				}
				if n := countEvents(t, s); n != 300 {
					t.Fatalf("stored %d events after the retry, want 300", n)
				}
				// A new store (a restart) with the same node picks up at the
				// checkpoint.
				s2 := open(t, dbURL, "n1")
				if cp, err := s2.Checkpoint(ctx); err != nil || cp != b.Checkpoint {
					t.Fatalf("checkpoint after restart %+v, %v; want %+v", cp, err, b.Checkpoint)
				}
				var sum int64
				s2.c.query(ctx, "SELECT sum(sign * pageviews) FROM sessions", func(f []string) error {
					_, err := fmt.Sscan(f[0], &sum)
					return err
				})
				if sum != 300 {
					t.Errorf("sessions hold %d pageviews, want 300", sum)
				}
			})
		}
	}
}

// TestRestartRemovesUnfinishedBatch: rows written without a checkpoint
// (a collector killed mid-batch) are gone once the node writes again, and
// RecentSessions never returns them.
func TestRestartRemovesUnfinishedBatch(t *testing.T) {
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) { restartRemovesUnfinishedBatch(t, l.database(t)) })
	}
}

func restartRemovesUnfinishedBatch(t *testing.T, db string) {
	ctx := context.Background()
	s := open(t, db, "n1")
	if err := s.WriteBatch(ctx, batch(t, 0, 10, 3)); err != nil {
		t.Fatal(err)
	}
	// Simulate the crash: the next batch's events land, nothing else.
	b := batch(t, 10, 10, 3)
	m, _ := mark(b.Checkpoint)
	w := rowWriter{}
	for i := range b.Events {
		w.event(&b.Events[i], s.nodeID, m)
	}
	if err := s.c.insert(ctx, "INSERT INTO events ("+eventColumns+") FORMAT RowBinary", w.b); err != nil {
		t.Fatal(err)
	}
	other := open(t, db, "n2") // another collector's rows stay
	if err := other.WriteBatch(ctx, batch(t, 0, 5, 1)); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, db, "n1")
	if err := s2.WriteBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	if n := countEvents(t, s2); n != 25 {
		t.Fatalf("stored %d events, want 25", n)
	}
	if s2.Recoveries.Load() != 1 {
		t.Errorf("recoveries = %d, want 1", s2.Recoveries.Load())
	}
}

func TestOpenErrors(t *testing.T) {
	for _, u := range []string{"postgres://x", "clickhouse://", "clickhouse://h/bad-name", "clickhouse://h/db?secure=maybe", "clickhouse://h/db?compress=1"} {
		if _, err := Open(context.Background(), u, Options{Node: "n"}); err == nil {
			t.Errorf("Open(%q) succeeded", u)
		}
	}
	if _, err := Open(context.Background(), "clickhouse://127.0.0.1:1/db", Options{Node: ""}); err == nil {
		t.Error("Open without a node name succeeded")
	}
	// A server that is not there: a clear error, not a hang.
	_, err := Open(context.Background(), "clickhouse://127.0.0.1:1/db", Options{Node: "n", Timeout: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "clickhouse") {
		t.Errorf("Open against a closed port: %v", err)
	}
	var se *ServerError
	if errors.As(err, &se) {
		t.Errorf("a refused connection is not a server answer: %v", err)
	}
}

// TestQuoteOnServer sends awkward strings through Quote and reads them
// back from the server.
func TestQuoteOnServer(t *testing.T) {
	s := open(t, clickhousetest.Database(t), "q")
	for _, in := range []string{"", "it's", `back\slash`, `\'; DROP TABLE events; --`, "tab\tnew\nline\r", "nul\x00byte", "ünï", "\xff\xfe", `\N`, "'\\'"} {
		var got string
		err := s.c.query(context.Background(), "SELECT "+(Dialect{}).Quote(in), func(f []string) error {
			got = f[0]
			return nil
		})
		if err != nil {
			t.Fatalf("quoted %q: %v", in, err)
		}
		if got != in {
			t.Errorf("quoted %q read back as %q", in, got)
		}
	}
}

// unquote reads a literal the way ClickHouse does, for FuzzQuote.
func unquote(lit string) (string, bool) {
	if len(lit) < 2 || lit[0] != '\'' || lit[len(lit)-1] != '\'' {
		return "", false
	}
	body := lit[1 : len(lit)-1]
	var b strings.Builder
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c == '\'':
			return "", false // an unescaped quote would end the literal
		case c == '\\':
			if i+1 == len(body) {
				return "", false
			}
			i++
			switch body[i] {
			case '0':
				b.WriteByte(0)
			case '\\', '\'':
				b.WriteByte(body[i])
			default:
				return "", false // Quote makes no other escapes
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

// FuzzQuote: every string quotes to one literal that reads back as itself.
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "it's", `\'; DROP TABLE events; --`, "a\\", "\x00", "ünï"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := unquote(Dialect{}.Quote(in))
		if !ok || got != in {
			t.Fatalf("Quote(%q) = %s, reads back as %q (ok %v)", in, Dialect{}.Quote(in), got, ok)
		}
	})
}

// FuzzSplitTSV: escaping a row of fields the way the server does and
// splitting it gives the fields back.
func FuzzSplitTSV(f *testing.F) {
	f.Add("a", "b\tc", "d\\e\n")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		esc := strings.NewReplacer("\\", `\\`, "\t", `\t`, "\n", `\n`, "\r", `\r`, "\x00", `\0`, "\b", `\b`, "\f", `\f`)
		line := esc.Replace(a) + "\t" + esc.Replace(b) + "\t" + esc.Replace(c)
		got := splitTSV(line, nil)
		want := []string{a, b, c}
		for i := range want {
			if len(got) != 3 || got[i] != want[i] {
				t.Fatalf("splitTSV(%q) = %q, want %q", line, got, want)
			}
		}
	})
}

// TestRollups runs the shared rollup suite on ClickHouse.
func TestRollups(t *testing.T) {
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) { testRollups(t, l.database) })
	}
}

func testRollups(t *testing.T, database func(testing.TB) string) {
	analyticstest.RunRollups(t, func(t *testing.T) (analyticstest.RollupStore, analyticstest.RollupHooks) {
		s := open(t, database(t), "rollups")
		exec := func(t *testing.T, st string) {
			if err := s.c.exec(context.Background(), st); err != nil {
				t.Fatal(err)
			}
		}
		return s, analyticstest.RollupHooks{
			Unbuild: func(t *testing.T, site, day string) {
				exec(t, "ALTER TABLE rollup_days DELETE WHERE site = "+Dialect{}.Quote(site)+" AND day = "+Dialect{}.Quote(day))
				if err := s.waitMutations(context.Background()); err != nil {
					t.Fatal(err)
				}
			},
			DropRaw: func(t *testing.T) {
				for _, c := range s.servers() {
					for _, table := range rawTables {
						if err := c.exec(context.Background(), "TRUNCATE TABLE "+s.local(table)); err != nil {
							t.Fatal(err)
						}
					}
				}
			},
		}
	})
}

// TestShardsMatchOneServer writes the same synthetic traffic to one
// server and to two shards: both shards get a share of it, every visit
// stays on one shard, and a dashboard's queries, from the raw tables and
// from the rollups, answer the same on both layouts.
func TestShardsMatchOneServer(t *testing.T) {
	ctx := context.Background()
	one := open(t, clickhousetest.Database(t), "one")
	two := open(t, clickhousetest.ShardedDatabase(t), "two")
	st := &site.Site{Domain: "shards.example", TimeZone: "Europe/Berlin", CreatedAt: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		Goals: []site.Goal{{Event: "Signup"}, {Page: "/"}}}
	from := time.Date(2024, 3, 1, 0, 0, 0, 0, st.Location())
	for _, s := range []*Store{one, two} {
		gen := synth.New(st.Domain, 3)
		gen.Loc = st.Location()
		if _, err := gen.Fill(ctx, s, from, 6*24*time.Hour, 30000); err != nil {
			t.Fatal(err)
		}
	}
	total := countEvents(t, one)
	if got := countEvents(t, two); got != total || total == 0 {
		t.Fatalf("the sharded layout holds %d events, one server %d", got, total)
	}
	var sum int64
	for i, c := range two.shards {
		n, err := countOn(ctx, c, "SELECT count() FROM events_local")
		if err != nil {
			t.Fatal(err)
		}
		if n < total/4 {
			t.Errorf("shard %d holds %d of %d events: the sharding key does not spread them", i+1, n, total)
		}
		sum += n
		// A visit's rows are on one shard: no session id is on both.
		split, err := countOn(ctx, c, fmt.Sprintf("SELECT count() FROM (SELECT DISTINCT session_id FROM sessions_local) WHERE session_id IN (SELECT session_id FROM remote('%s', %s.sessions_local))",
			tcpOf(t, two, 1-i), two.c.database))
		if err != nil {
			t.Fatal(err)
		}
		if split != 0 {
			t.Errorf("%d visits of shard %d also have rows on the other shard", split, i+1)
		}
	}
	if sum != total {
		t.Errorf("the shards hold %d events in all, want %d", sum, total)
	}
	now := from.AddDate(0, 0, 7)
	bodies := []string{
		`{"metrics":["visitors","visits","pageviews","views_per_visit","bounce_rate","visit_duration","time_on_page"]}`,
		`{"metrics":["visitors","pageviews"],"dimensions":["time:day"]}`,
		`{"metrics":["visitors","pageviews","visits","time_on_page"],"dimensions":["event:page"],"pagination":{"limit":10000}}`,
		`{"metrics":["visitors","visits","bounce_rate"],"dimensions":["visit:entry_page"],"pagination":{"limit":10000}}`,
		`{"metrics":["visitors","visits"],"dimensions":["visit:exit_page"],"pagination":{"limit":10000}}`,
		`{"metrics":["visitors","bounce_rate"],"dimensions":["visit:source"],"pagination":{"limit":10000}}`,
		`{"metrics":["visitors","percentage"],"dimensions":["visit:country","visit:country_name"],"pagination":{"limit":10000}}`,
		`{"metrics":["visitors","events","conversion_rate"],"dimensions":["event:goal"]}`,
		`{"metrics":["visitors"],"filters":[["has_done",["is","event:name",["Signup"]]]]}`,
		`{"metrics":["visitors","pageviews"],"filters":[["is","event:page",["/"]]],"dimensions":["visit:browser"],"pagination":{"limit":10000}}`,
	}
	compare := func(stage string) {
		t.Helper()
		for _, r := range []string{`["2024-03-01","2024-03-06"]`, `["2024-03-03","2024-03-03"]`} {
			for _, body := range bodies {
				q := analyticstest.BuildQuery(t, st, now, r, body)
				a, err := one.Query(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				b, err := two.Query(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if len(a.Rows) == 0 || !analyticstest.SameRows(b.Rows, a.Rows) {
					t.Errorf("%s, %s: two shards and one server differ (%d rows on one)\n%s", stage, body, len(a.Rows), analyticstest.DiffRows(b.Rows, a.Rows))
				}
			}
		}
	}
	compare("raw tables")
	for _, s := range []*Store{one, two} {
		b := &stats.RollupBuilder{Store: s, Sites: func() []*site.Site { return []*site.Site{st} }, Now: func() time.Time { return now }, Log: slog.Default()}
		if n, err := b.BuildDue(ctx); err != nil || n < 6 {
			t.Fatalf("BuildDue = %d, %v; want the 6 days with data", n, err)
		}
	}
	compare("rollups")
}

// tcpOf returns the native-protocol address of shard i, from the
// cluster's own description.
func tcpOf(t *testing.T, s *Store, i int) string {
	t.Helper()
	var addr string
	err := s.c.query(context.Background(), fmt.Sprintf("SELECT concat(host_address, ':', toString(port)) FROM system.clusters WHERE cluster = %s AND shard_num = %d",
		Dialect{}.Quote(s.c.cluster), i+1), func(f []string) error {
		addr = f[0]
		return nil
	})
	if err != nil || addr == "" {
		t.Fatalf("shard %d's address: %q, %v", i+1, addr, err)
	}
	return addr
}

// TestLayoutErrors: a URL that does not describe the database's layout,
// or a cluster the servers do not know, is refused with a clear error.
func TestLayoutErrors(t *testing.T) {
	sharded := clickhousetest.ShardedDatabase(t)
	open(t, sharded, "n").Close()
	u, _ := url.Parse(sharded)
	plain := *u
	plain.RawQuery = ""
	oneDB := clickhousetest.Database(t)
	open(t, oneDB, "n").Close()
	one, _ := url.Parse(oneDB)
	// A one-server database on the sharded servers' first.
	onFirst := plain
	onFirst.Path = "/" + strings.Trim(one.Path, "/") + "x"
	open(t, onFirst.String(), "n").Close()
	t.Cleanup(func() {
		clickhousetest.Exec(onFirst.String(), "DROP DATABASE IF EXISTS "+strings.Trim(onFirst.Path, "/"))
	})
	shardedOnFirst := *u
	shardedOnFirst.Path = onFirst.Path
	wrongCluster := *u
	q := u.Query()
	q.Set("cluster", "nosuch")
	wrongCluster.RawQuery = q.Encode()
	oneShard := *u
	q = u.Query()
	q.Del("shard")
	oneShard.RawQuery = q.Encode()
	for _, tc := range []struct {
		url, want string
	}{
		{plain.String(), "is sharded"},
		{shardedOnFirst.String(), "keeps its events on one server"},
		{wrongCluster.String(), `no cluster "nosuch"`},
		{oneShard.String(), "has 2 shards"},
		{"clickhouse://h/db?shard=h2:8123", "shard= needs cluster="},
		{"clickhouse://h/db?cluster=c&shard=h2", "want host:port"},
		{"clickhouse://h/db?cluster=bad-name", "cluster name"},
	} {
		_, err := Open(context.Background(), tc.url, Options{Node: "n", Timeout: 5 * time.Second})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%s) = %v, want an error saying %q", tc.url, err, tc.want)
		}
	}
	// A collector may start while ClickHouse is away (Options.Log), but
	// not with a URL that does not match the servers: that is refused.
	for _, u := range []string{plain.String(), shardedOnFirst.String(), wrongCluster.String(), oneShard.String()} {
		_, err := Open(context.Background(), u, Options{Node: "n", Timeout: 5 * time.Second, Log: slog.Default()})
		var le *LayoutError
		if !errors.As(err, &le) {
			t.Errorf("Open(%s) with a log = %v, want a LayoutError", u, err)
		}
	}
}
