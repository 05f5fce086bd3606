package duckdb

import (
	"context"
	"fmt"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/analytics/analyticstest"
	"waymark.dev/waymark/internal/collect"
	"waymark.dev/waymark/internal/imported"
	"waymark.dev/waymark/internal/site"
	"waymark.dev/waymark/internal/spool"
	"waymark.dev/waymark/internal/stats"
	"waymark.dev/waymark/internal/synth"
)

func TestConformance(t *testing.T) {
	analyticstest.Run(t, func(t *testing.T) analyticstest.Store {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "events.duckdb"), Options{MemoryLimit: "256MB"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestImportsConformance runs the imported-history suite.
func TestImportsConformance(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "events.duckdb"), Options{MemoryLimit: "256MB"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	analyticstest.RunImports(t, s)
}

// TestIncompleteImportDropped: rows of an import cut short by a crash
// are deleted when the store opens again.
func TestIncompleteImportDropped(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.duckdb")
	s, err := Open(ctx, path, Options{MemoryLimit: "256MB"})
	if err != nil {
		t.Fatal(err)
	}
	imp := imported.Import{ID: 7, Site: "crash.test", Source: imported.SourcePlausible, Created: time.Now()}
	if err := s.BeginImport(ctx, imp); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendRows(ctx, &imp, imported.TableNamed("imported_visitors"), []imported.Row{{Date: 19000, Nums: []int64{1, 1, 0, 1, 0}}}); err != nil {
		t.Fatal(err)
	}
	s.Close() // no FinishImport: the process died
	if s, err = Open(ctx, path, Options{MemoryLimit: "256MB"}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n int
	if err := s.DB().QueryRow(`SELECT (SELECT count(*) FROM imports) + (SELECT count(*) FROM imported_visitors)`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d rows of the incomplete import remain (%v)", n, err)
	}
}

// FuzzQuote checks that any string survives quoting as a literal: the
// stats planner builds SQL with Quote, so this is the injection guard.
func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "it's", `\'; DROP TABLE events; --`, "tab\tnew\nline", "ünï"} {
		f.Add(s)
	}
	s, err := Open(context.Background(), "", Options{MemoryLimit: "128MB"})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	f.Fuzz(func(t *testing.T, in string) {
		if !utf8.ValidString(in) {
			return
		}
		var got string
		if err := s.DB().QueryRow("SELECT " + (Dialect{}).Quote(in)).Scan(&got); err != nil {
			t.Fatalf("quoted %q: %v", in, err)
		}
		if want := strings.ReplaceAll(in, "\x00", ""); got != want {
			t.Fatalf("quoted %q read back as %q", in, got)
		}
	})
}

// BenchmarkWriteBatch measures the ingester's store write per event, in
// batches of 5,000 synthetic events with their session rows.
func BenchmarkWriteBatch(b *testing.B) {
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "events.duckdb"), Options{MemoryLimit: "512MB"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	z := collect.NewSessionizer(nil)
	var evs []analytics.Event
	var off int64
	synth.New("bench.example", 1).Visits(time.Now().Add(-time.Hour), time.Hour, 5000, func(h *analytics.Hit) {
		off++
		evs = append(evs, z.Add(h, spool.Pos{Seg: 1, Off: off}))
	})
	batch := &analytics.Batch{Events: evs, Sessions: z.Flush(), Checkpoint: spool.Pos{Seg: 1, Off: off}}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.WriteBatch(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(evs)), "ns/event")
}

// TestDSTBuckets checks local-time buckets across the start of summer
// time in Berlin (2024-03-31 02:00 CET -> 03:00 CEST).
func TestDSTBuckets(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "events.duckdb"), Options{MemoryLimit: "128MB"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	z := collect.NewSessionizer(nil)
	var evs []analytics.Event
	for i, ts := range []string{"2024-03-30T22:30:00Z", "2024-03-31T00:30:00Z", "2024-03-31T01:30:00Z", "2024-03-31T22:30:00Z"} {
		tm, _ := time.Parse(time.RFC3339, ts)
		h := analytics.Hit{Site: "dst.test", Name: analytics.EventPageview, Path: "/", Time: tm, VisitorID: uint64(i + 1)}
		evs = append(evs, z.Add(&h, spool.Pos{Seg: 1, Off: int64(i + 1)}))
	}
	if err := s.WriteBatch(ctx, &analytics.Batch{Events: evs, Sessions: z.Flush(), Checkpoint: spool.Pos{Seg: 1, Off: 4}}); err != nil {
		t.Fatal(err)
	}
	st := &site.Site{Domain: "dst.test", TimeZone: "Europe/Berlin"}
	run := func(body string) [][]string {
		qr, err := stats.DecodeQueryRequest([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		q, err := qr.Build(st, time.Date(2024, 4, 2, 0, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out [][]string
		for _, r := range res.Rows {
			out = append(out, append(r.Dimensions, fmt.Sprint(r.Metrics[0])))
		}
		return out
	}
	days := run(`{"site_id":"dst.test","metrics":["pageviews"],"date_range":["2024-03-30","2024-04-01"],"dimensions":["time:day"]}`)
	// 22:30Z on the 30th is 23:30 CET (the 30th); 00:30Z and 01:30Z on the
	// 31st are 01:30 CET and 03:30 CEST; 22:30Z on the 31st is 00:30 CEST
	// on April 1st.
	if want := "[[2024-03-30 1] [2024-03-31 2] [2024-04-01 1]]"; fmt.Sprint(days) != want {
		t.Errorf("days = %v, want %s", days, want)
	}
	hours := run(`{"site_id":"dst.test","metrics":["pageviews"],"date_range":["2024-03-31","2024-03-31"],"dimensions":["time:hour"]}`)
	if want := "[[2024-03-31 01:00:00 1] [2024-03-31 03:00:00 1]]"; fmt.Sprint(hours) != want {
		t.Errorf("hours = %v, want %s", hours, want)
	}
	// The visit figures (sessions table) bucket the same way.
	visits := run(`{"site_id":"dst.test","metrics":["visits"],"date_range":["2024-03-30","2024-04-01"],"dimensions":["time:day"]}`)
	if want := "[[2024-03-30 1] [2024-03-31 2] [2024-04-01 1]]"; fmt.Sprint(visits) != want {
		t.Errorf("visits by day = %v, want %s", visits, want)
	}
}

func TestToFloat(t *testing.T) {
	t.Parallel()
	huge, _ := new(big.Int).SetString("123456789012345678901234567890", 10)
	for _, tc := range []struct {
		in   any
		want float64
	}{
		{nil, 0}, {2.5, 2.5}, {int64(-7), -7}, {big.NewInt(42), 42}, {huge, 1.2345678901234568e29}, {int32(9), 9}, {uint8(3), 3},
	} {
		t.Run(fmt.Sprintf("%T %v", tc.in, tc.in), func(t *testing.T) {
			if got, err := toFloat(tc.in); err != nil || got != tc.want {
				t.Errorf("toFloat(%T %v) = %v, %v; want %v", tc.in, tc.in, got, err, tc.want)
			}
		})
	}
	if _, err := toFloat("abc"); err == nil {
		t.Error("toFloat(\"abc\"): no error")
	}
}

// TestRenameMigrations: rows stored before the OS and channel names
// changed get the new names (migrations 0004 and 0005 run again on rows
// written the old way).
func TestRenameMigrations(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "events.duckdb"), Options{MemoryLimit: "128MB"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []struct{ channel, medium string }{{"search", ""}, {"campaign", "cpc"}, {"campaign", "email"}, {"social", ""}, {"direct", ""}} {
		if _, err := s.db.ExecContext(ctx, `INSERT INTO sessions (site, session_id, visitor_id, version, sign, start_ts, end_ts, entry_page, exit_page, hostname,
			pageviews, events, referrer, referrer_source, channel, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
			browser, browser_version, os, os_version, device, screen_class, language)
			VALUES ('e.com', 1, 1, 1, 1, now(), now(), '/', '/', 'e.com', 1, 0, '', '', ?, '', ?, '', '', '', 'Chrome', '', 'MacOS', '', 'Desktop', '', '')`,
			c.channel, c.medium); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"migrations/0004_os_names.sql", "migrations/0005_channels.sql"} {
		b, err := migrations.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.db.ExecContext(ctx, string(b)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	rows, err := s.db.QueryContext(ctx, `SELECT channel, os FROM sessions ORDER BY channel`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var ch, os string
		rows.Scan(&ch, &os)
		got = append(got, ch+"/"+os)
	}
	want := "Direct/Mac Organic Search/Mac Organic Social/Mac Paid Other/Mac Referral/Mac"
	if strings.Join(got, " ") != want {
		t.Errorf("after the migrations: %v, want %s", got, want)
	}
}
