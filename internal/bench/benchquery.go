package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/cli"
	"waymark.dev/waymark/internal/clickhouse"
	"waymark.dev/waymark/internal/duckdb"
	"waymark.dev/waymark/internal/site"
	"waymark.dev/waymark/internal/statestore"
	"waymark.dev/waymark/internal/stats"
	"waymark.dev/waymark/internal/synth"
)

// DashboardQueries is the query set a 30-day dashboard view needs: the
// headline figures, the chart, and the top-10 panels.
var DashboardQueries = []string{
	`{"metrics":["visitors","visits","pageviews","views_per_visit","bounce_rate","visit_duration"],"date_range":"30d"}`,
	`{"metrics":["visitors","pageviews"],"date_range":"30d","dimensions":["time:day"]}`,
	`{"metrics":["visitors","pageviews","time_on_page"],"date_range":"30d","dimensions":["event:page"],"pagination":{"limit":10}}`,
	`{"metrics":["visitors","visits","bounce_rate"],"date_range":"30d","dimensions":["visit:entry_page"],"pagination":{"limit":10}}`,
	`{"metrics":["visitors","visits"],"date_range":"30d","dimensions":["visit:exit_page"],"pagination":{"limit":10}}`,
	`{"metrics":["visitors","bounce_rate"],"date_range":"30d","dimensions":["visit:source"],"pagination":{"limit":10}}`,
	`{"metrics":["visitors"],"date_range":"30d","dimensions":["visit:utm_campaign"],"pagination":{"limit":10}}`,
	`{"metrics":["visitors","percentage"],"date_range":"30d","dimensions":["visit:browser"],"pagination":{"limit":10}}`,
	`{"metrics":["visitors","percentage"],"date_range":"30d","dimensions":["visit:os"],"pagination":{"limit":10}}`,
	`{"metrics":["visitors","percentage"],"date_range":"30d","dimensions":["visit:device"],"pagination":{"limit":10}}`,
	`{"metrics":["visitors"],"date_range":"30d","dimensions":["visit:screen"],"pagination":{"limit":10}}`,
	`{"metrics":["visitors","events","conversion_rate"],"date_range":"30d","dimensions":["event:goal"]}`,
}

const benchSite = "bench.example"

// benchZone is the benchmark site's time zone: not UTC, so local days and
// the visitor salts' days differ from UTC days as they do for most sites.
func benchZone() *time.Location {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		return time.UTC
	}
	return loc
}

func benchQuery(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("bench query", stderr)
	n := fs.Int("events", 1_000_000, "synthetic events to generate (over --days)")
	days := fs.Int("days", 90, "days the synthetic events are spread over, ending now")
	periods := fs.String("periods", "30d", "dashboard periods to ask the query set for, comma-separated (30d, 7d, month, 6mo, 12mo, year, all, ...)")
	dir := fs.String("dir", "", "folder for the DuckDB file (default: a temporary folder, removed afterwards)")
	repeats := fs.Int("repeats", 5, "times to run the query set; the median is reported")
	mem := fs.String("duckdb-memory", "1GB", "DuckDB memory limit")
	reuse := fs.Bool("reuse", false, "query the events already in --dir instead of generating new ones")
	verbose := fs.Bool("v", false, "print each query's time")
	imports := fs.Bool("imports", true, "ask with include.imports, as the dashboard does (a site without imports pays one look-up a request)")
	mode := fs.String("mode", "batch", "how the set is asked: batch (one request, as the dashboard loads its panels), sequential or parallel (one request per query)")
	rollups := fs.Bool("rollups", true, "build the daily rollups before querying and read them (false: every query reads the raw tables)")
	chURL := fs.String("clickhouse", "", "generate into and query this ClickHouse database (clickhouse://host:8123/db); with --dir as well, DuckDB and ClickHouse side by side on the same data")
	if err := cli.Parse(fs, args, getenv); err != nil {
		return err
	}
	if *mode != "batch" && *mode != "sequential" && *mode != "parallel" {
		return cli.Usagef("--mode must be batch, sequential or parallel")
	}
	if *n < 1 || *repeats < 1 || *days < 1 {
		return cli.Usagef("--events, --days and --repeats must be positive")
	}
	set, err := periodList(*periods)
	if err != nil {
		return err
	}
	asked := *n // events asked for (*n becomes the count stored)
	if *chURL != "" && *dir == "" {
		ch, st, now, err := openClickHouseBench(ctx, *chURL, asked, *days, time.Now().UTC().Truncate(time.Hour), *reuse, *rollups, stdout, stderr)
		if err != nil {
			return err
		}
		defer ch.Close()
		for _, period := range set {
			if _, err := runQuerySet(ctx, "ClickHouse", ch, st, now, period, *repeats, *mode, *verbose, *imports, stdout); err != nil {
				return err
			}
		}
		return nil
	}
	if *reuse && *dir == "" {
		return cli.Usagef("--reuse needs --dir")
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "waymark-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	// The folder is a data folder serve can open: events.duckdb here, and
	// the site in state.db below.
	path := filepath.Join(*dir, "events.duckdb")
	if !*reuse {
		os.Remove(path)
		os.Remove(path + ".wal")
	}
	store, err := duckdb.Open(ctx, path, duckdb.Options{MemoryLimit: *mem, RawOnly: !*rollups})
	if err != nil {
		return err
	}
	defer store.Close()
	now := time.Now().UTC().Truncate(time.Hour)
	if *reuse {
		// The data's "now" is the newest event's hour.
		var newest time.Time
		if err := store.DB().QueryRowContext(ctx, `SELECT max(ts) FROM events`).Scan(&newest); err != nil {
			return err
		}
		now = newest.UTC().Truncate(time.Hour).Add(time.Hour)
		if err := store.DB().QueryRowContext(ctx, `SELECT count(*) FROM events`).Scan(n); err != nil {
			return err
		}
	} else {
		t0 := time.Now()
		span := time.Duration(*days) * 24 * time.Hour
		if *n, err = fillSynthetic(ctx, store, benchSite, benchZone(), now.Add(-span), span, *n); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "generated and stored %d events in %s (%.0f events/s)\n", *n, time.Since(t0).Round(time.Millisecond), float64(*n)/time.Since(t0).Seconds())
	}
	if _, err := store.DB().ExecContext(ctx, "CHECKPOINT"); err != nil {
		return err
	}
	if fi, err := os.Stat(path); err == nil {
		fmt.Fprintf(stdout, "on disk: %.1f MiB = %.1f bytes/event (events and sessions tables)\n", float64(fi.Size())/(1<<20), float64(fi.Size())/float64(*n))
	}
	var oldest sql.NullTime
	if err := store.DB().QueryRowContext(ctx, `SELECT min(ts) FROM events`).Scan(&oldest); err != nil {
		return err
	}
	if !oldest.Valid {
		oldest.Time = now
	}
	st := &site.Site{Domain: benchSite, TimeZone: benchZone().String(), CreatedAt: oldest.Time.UTC(), Goals: []site.Goal{{Event: "Signup"}, {Page: "/"}}}
	if err := registerBenchSite(ctx, *dir, st); err != nil {
		return err
	}
	if *rollups {
		t0 := time.Now()
		b := &stats.RollupBuilder{Store: store, Sites: func() []*site.Site { return []*site.Site{st} },
			Now: func() time.Time { return now }, Log: slog.New(slog.NewTextHandler(stderr, nil)), Budget: 24 * time.Hour}
		n, err := b.BuildDue(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "built %d daily rollups in %s\n", n, time.Since(t0).Round(time.Millisecond))
	}
	var ch *clickhouse.Store
	var chSite *site.Site
	if *chURL != "" {
		var chNow time.Time
		if ch, chSite, chNow, err = openClickHouseBench(ctx, *chURL, asked, *days, now, *reuse, *rollups, stdout, stderr); err != nil {
			return err
		}
		defer ch.Close()
		if !chNow.Equal(now) {
			return fmt.Errorf("the ClickHouse database's newest hour (%s) is not the DuckDB folder's (%s): they hold different data", chNow, now)
		}
	}
	for _, period := range set {
		label := ""
		if ch != nil {
			label = "DuckDB"
		}
		duck, err := runQuerySet(ctx, label, store, st, now, period, *repeats, *mode, *verbose, *imports, stdout)
		if err != nil {
			return err
		}
		if ch != nil {
			med, err := runQuerySet(ctx, "ClickHouse", ch, chSite, now, period, *repeats, *mode, *verbose, *imports, stdout)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "ClickHouse / DuckDB, %s: %.2fx\n", period, med.Seconds()/duck.Seconds())
		}
	}
	if rss, err := selfRSS(); err == nil {
		fmt.Fprintf(stdout, "process RSS: %.0f MiB\n", rss/(1<<20))
	}
	fmt.Fprintf(stdout, "see it in the dashboard: waymark serve --data %s (site %s)\n", *dir, benchSite)
	return nil
}

// periodList parses --periods.
func periodList(s string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		qr, err := stats.DecodeQueryRequest([]byte(`{"site_id":"x","metrics":["visitors"],"date_range":` + strconv.Quote(p) + `}`))
		if err == nil {
			_, err = qr.Build(&site.Site{Domain: "x", TimeZone: "UTC"}, time.Now())
		}
		if err != nil {
			return nil, cli.Usagef("--periods: %q is not a period: %v", p, err)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, cli.Usagef("--periods names no period")
	}
	return out, nil
}

// dashboardSet builds the dashboard's query set for a period: the
// DashboardQueries with its date range, and the chart in the unit the
// dashboard draws that range in.
func dashboardSet(st *site.Site, now time.Time, period string, imports bool) ([]*stats.Query, error) {
	build := func(body string) (*stats.Query, error) {
		body = strings.Replace(body, `"date_range":"30d"`, `"date_range":`+strconv.Quote(period), 1)
		qr, err := stats.DecodeQueryRequest([]byte(strings.Replace(body, "{", `{"site_id":"`+benchSite+`",`, 1)))
		if err != nil {
			return nil, err
		}
		q, err := qr.Build(st, now)
		if err != nil {
			return nil, err
		}
		q.IncludeImports = imports
		return q, nil
	}
	head, err := build(DashboardQueries[0])
	if err != nil {
		return nil, err
	}
	unit := stats.ChartUnit(head.From, head.To)
	queries := []*stats.Query{head}
	for _, body := range DashboardQueries[1:] {
		q, err := build(strings.Replace(body, `"time:day"`, strconv.Quote(unit), 1))
		if err != nil {
			return nil, err
		}
		queries = append(queries, q)
	}
	return queries, nil
}

// runQuerySet asks the dashboard's query set for a period repeats times,
// prints the median, fastest and slowest run (after label, when given)
// and returns the median.
func runQuerySet(ctx context.Context, label string, store stats.StatsReader, st *site.Site, now time.Time, period string, repeats int, mode string, verbose, imports bool, stdout io.Writer) (time.Duration, error) {
	queries, err := dashboardSet(st, now, period, imports)
	if err != nil {
		return 0, err
	}
	var runs []time.Duration
	for i := 0; i < repeats; i++ {
		start := time.Now()
		errs := make([]error, len(queries))
		took := make([]time.Duration, len(queries))
		if mode == "batch" {
			if _, err := store.QueryAll(ctx, queries); err != nil {
				return 0, fmt.Errorf("query set: %w", err)
			}
		} else {
			var wg sync.WaitGroup
			for k, q := range queries {
				run := func() {
					qs := time.Now()
					_, errs[k] = store.Query(ctx, q)
					took[k] = time.Since(qs)
				}
				if mode == "parallel" {
					wg.Go(run)
				} else {
					run()
				}
			}
			wg.Wait()
		}
		runs = append(runs, time.Since(start))
		for k, err := range errs {
			if err != nil {
				return 0, fmt.Errorf("query %d of the set (%s): %w", k+1, period, err)
			}
			if verbose && i == 0 && mode != "batch" {
				fmt.Fprintf(stdout, "%8s  %s %v\n", took[k].Round(time.Millisecond), queries[k].Dimensions, queries[k].Metrics)
			}
		}
	}
	slices.Sort(runs)
	if label != "" {
		fmt.Fprintf(stdout, "%s: ", label)
	}
	fmt.Fprintf(stdout, "dashboard query set, %s (%s to %s, %s, %d queries, %s): median %s, min %s, max %s over %d runs\n",
		period, queries[0].From.In(queries[0].Location).Format(time.DateOnly), queries[0].To.In(queries[0].Location).Format(time.DateOnly),
		strings.TrimPrefix(queries[1].TimeDimension(), "time:"), len(queries), mode, runs[len(runs)/2].Round(time.Millisecond), runs[0].Round(time.Millisecond), runs[len(runs)-1].Round(time.Millisecond), len(runs))
	return runs[len(runs)/2], nil
}

// openClickHouseBench opens the ClickHouse database of bench query,
// fills it with the synthetic data (ending at now) unless reuse, builds
// its daily rollups when asked, and returns it with the site and the
// data's "now".
func openClickHouseBench(ctx context.Context, url string, n, days int, now time.Time, reuse, rollups bool, stdout, stderr io.Writer) (*clickhouse.Store, *site.Site, time.Time, error) {
	store, err := clickhouse.Open(ctx, url, clickhouse.Options{Node: "bench", RawOnly: !rollups})
	if err != nil {
		return nil, nil, now, err
	}
	fail := func(err error) (*clickhouse.Store, *site.Site, time.Time, error) {
		store.Close()
		return nil, nil, now, err
	}
	ext, err := store.Extent(ctx)
	if err != nil {
		return fail(err)
	}
	if reuse {
		if ext.Events == 0 {
			return fail(fmt.Errorf("--reuse: the ClickHouse database holds no events"))
		}
		now = ext.Newest.Truncate(time.Hour).Add(time.Hour)
	} else {
		if ext.Events > 0 {
			return fail(fmt.Errorf("the ClickHouse database already holds %d events: use --reuse, or a new database name", ext.Events))
		}
		t0 := time.Now()
		span := time.Duration(days) * 24 * time.Hour
		if n, err = fillSynthetic(ctx, store, benchSite, benchZone(), now.Add(-span), span, n); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "ClickHouse: generated and stored %d events in %s (%.0f events/s)\n", n, time.Since(t0).Round(time.Millisecond), float64(n)/time.Since(t0).Seconds())
		if ext, err = store.Extent(ctx); err != nil {
			return fail(err)
		}
	}
	fmt.Fprintf(stdout, "ClickHouse holds %d events; on disk %.1f MiB = %.1f bytes/event (events and sessions tables)\n",
		ext.Events, float64(ext.DiskBytes)/(1<<20), float64(ext.DiskBytes)/float64(max(ext.Events, 1)))
	st := &site.Site{Domain: benchSite, TimeZone: benchZone().String(), CreatedAt: ext.Oldest.UTC(), Goals: []site.Goal{{Event: "Signup"}, {Page: "/"}}}
	if rollups {
		t0 := time.Now()
		b := &stats.RollupBuilder{Store: store, Sites: func() []*site.Site { return []*site.Site{st} },
			Now: func() time.Time { return now }, Log: slog.New(slog.NewTextHandler(stderr, nil)), Budget: 24 * time.Hour}
		built, err := b.BuildDue(ctx)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "ClickHouse: built %d daily rollups in %s\n", built, time.Since(t0).Round(time.Millisecond))
	}
	return store, st, now, nil
}

// fillSynthetic writes n synthetic events through the sessionizer in
// batches, as the ingester would.
func fillSynthetic(ctx context.Context, store analytics.EventWriter, domain string, loc *time.Location, from time.Time, span time.Duration, n int) (int, error) {
	gen := synth.New(domain, 42)
	gen.Loc = loc
	return gen.Fill(ctx, store, from, span, n)
}

func selfRSS() (float64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			var kb float64
			fmt.Sscanf(strings.TrimSpace(v), "%f", &kb)
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS")
}

// registerBenchSite adds the benchmark's site to the folder's state store,
// so that `waymark serve --data DIR` shows it.
func registerBenchSite(ctx context.Context, dir string, st *site.Site) error {
	state, err := statestore.Open(ctx, dir, "")
	if err != nil {
		return err
	}
	defer state.Close()
	cp := *st
	if err := state.AddSite(ctx, &cp); err != nil && !errors.Is(err, site.ErrExists) {
		return err
	}
	return nil
}
