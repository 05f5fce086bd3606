package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"waymark.dev/waymark/internal/cli"
	"waymark.dev/waymark/internal/clickhouse"
	"waymark.dev/waymark/internal/config"
	"waymark.dev/waymark/internal/duckdb"
	"waymark.dev/waymark/internal/imported"
	"waymark.dev/waymark/internal/site"
	"waymark.dev/waymark/internal/statestore"
	"waymark.dev/waymark/internal/stats"
)

// historyStore is what import and export need of an event store.
type historyStore interface {
	imported.Store
	stats.StatsReader
	Close() error
}

// openHistory opens the site's state and event stores for import and
// export: the embedded DuckDB file (the server stopped) or ClickHouse.
func openHistory(ctx context.Context, data, stateURL, events, domain string) (*site.Site, historyStore, func(), error) {
	if domain == "" {
		return nil, nil, nil, cli.Usagef("--site is required (the site's domain)")
	}
	state, err := statestore.Open(ctx, data, stateURL)
	if err != nil {
		return nil, nil, nil, err
	}
	sites, err := state.Sites(ctx)
	if err != nil {
		state.Close()
		return nil, nil, nil, err
	}
	var s *site.Site
	for _, x := range sites {
		if x.Domain == domain {
			s = x
		}
	}
	if s == nil {
		state.Close()
		return nil, nil, nil, fmt.Errorf("no site %q: add it first with waymark site add --domain %s", domain, domain)
	}
	var st historyStore
	if events == "" {
		st, err = duckdb.Open(ctx, filepath.Join(data, "events.duckdb"), duckdb.Options{MemoryLimit: "1GB"})
		if err != nil {
			err = fmt.Errorf("%w (stop the server using %s first, or upload the file in the dashboard's settings)", err, data)
		}
	} else {
		var node string
		if node, err = nodeID(data); err == nil {
			st, err = clickhouse.Open(ctx, events, clickhouse.Options{Node: node})
		}
	}
	if err != nil {
		state.Close()
		return nil, nil, nil, err
	}
	return s, st, func() { st.Close(); state.Close() }, nil
}

// importCmd runs `waymark import`.
func importCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("import", stderr)
	data := fs.String("data", config.Defaults().Data, "data folder")
	stateURL := statestore.Flag(fs)
	events := fs.String("events", "", "event store: empty for the embedded file, or clickhouse://host:8123/database")
	domain := fs.String("site", "", "the site to import into (its domain)")
	list := fs.Bool("list", false, "list the site's imports")
	del := fs.Int64("delete", 0, "delete the import with this id (and every row it brought)")
	files, err := cli.ParseArgs(fs, args, getenv)
	if err != nil {
		return err
	}
	if !*list && *del == 0 && len(files) == 0 {
		return cli.Usagef("usage: waymark import --site DOMAIN FILE... (Plausible's export zip or CSV files, GoatCounter's or Umami's CSV export); --list; --delete ID")
	}
	s, st, closeAll, err := openHistory(ctx, *data, *stateURL, *events, *domain)
	if err != nil {
		return err
	}
	defer closeAll()
	switch {
	case *list:
		imps, err := st.Imports(ctx, s.Domain)
		if err != nil {
			return err
		}
		if len(imps) == 0 {
			fmt.Fprintf(stdout, "%s has no imports\n", s.Domain)
			return nil
		}
		for _, im := range imps {
			state := "complete"
			if !im.Complete {
				state = "incomplete"
			}
			fmt.Fprintf(stdout, "%d\t%s\t%s to %s\t%d rows\t%s\t%s\n", im.ID, im.Source, imported.FormatDay(im.From), imported.FormatDay(im.To), im.Rows, state, im.Label)
		}
		return nil
	case *del != 0:
		if err := st.DeleteImport(ctx, s.Domain, *del); err != nil {
			if errors.Is(err, imported.ErrNotFound) {
				return fmt.Errorf("%s has no import %d (see waymark import --list --site %s)", s.Domain, *del, s.Domain)
			}
			return err
		}
		fmt.Fprintf(stdout, "deleted import %d of %s\n", *del, s.Domain)
		return nil
	}
	var in []imported.File
	for _, name := range files {
		fi, err := os.Stat(name)
		if err != nil {
			return err
		}
		if fi.IsDir() {
			return cli.Usagef("%s is a folder: give the files", name)
		}
		in = append(in, osFile(name, fi.Size()))
	}
	p := newProgressLine(stderr)
	t0 := time.Now()
	res, err := imported.Run(ctx, st, in, imported.Options{Site: s.Domain, Location: s.Location(), Progress: p.update})
	p.done()
	if err != nil {
		return fmt.Errorf("import failed, nothing was imported: %w", err)
	}
	for f, cols := range res.Ignored {
		fmt.Fprintf(stderr, "%s: columns not read: %v\n", f, cols)
	}
	el := time.Since(t0)
	fmt.Fprintf(stdout, "imported %d rows of %s data for %s to %s into %s in %s (%.0f rows/s); import id %d\n",
		res.Rows, res.Source, imported.FormatDay(res.From), imported.FormatDay(res.To), s.Domain, el.Round(time.Millisecond),
		float64(res.Rows)/el.Seconds(), res.ID)
	return nil
}

// osFile is a file on disk for an import; zips are read in place.
func osFile(name string, size int64) imported.File {
	return imported.File{Name: name, Size: size,
		Open: func() (io.ReadCloser, error) { return os.Open(name) },
		OpenAt: func() (io.ReaderAt, int64, io.Closer, error) {
			f, err := os.Open(name)
			if err != nil {
				return nil, 0, nil, err
			}
			return f, size, f, nil
		}}
}

// progressLine redraws one line on stderr, at most five times a second.
// It stays quiet for imports that take under half a second.
type progressLine struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	last  time.Time
	any   bool
}

func newProgressLine(w io.Writer) *progressLine {
	return &progressLine{w: w, start: time.Now()}
}

func (p *progressLine) update(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.start) < 500*time.Millisecond || time.Since(p.last) < 200*time.Millisecond && done < total {
		return
	}
	p.last, p.any = time.Now(), true
	if total > 0 {
		fmt.Fprintf(p.w, "\rimporting: %3d%% (%s of %s)", done*100/total, mb(done), mb(total))
	} else {
		fmt.Fprintf(p.w, "\rimporting: %s", mb(done))
	}
}

func (p *progressLine) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.any {
		fmt.Fprintln(p.w)
	}
}

func mb(n int64) string { return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + " MB" }

// exportCmd runs `waymark export`.
func exportCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("export", stderr)
	data := fs.String("data", config.Defaults().Data, "data folder")
	stateURL := statestore.Flag(fs)
	events := fs.String("events", "", "event store: empty for the embedded file, or clickhouse://host:8123/database")
	domain := fs.String("site", "", "the site to export (its domain)")
	from := fs.String("from", "", "first day, YYYY-MM-DD (default: the first day with data)")
	to := fs.String("to", "", "last day, YYYY-MM-DD (default: today)")
	out := fs.String("out", "", "archive to write (default: Plausible's name, DOMAIN_YYYYMMDD.zip; - for stdout)")
	native := fs.Bool("native-only", false, "leave out imported history")
	if err := cli.Parse(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return cli.Usagef("export takes no arguments; see waymark export -h")
	}
	s, st, closeAll, err := openHistory(ctx, *data, *stateURL, *events, *domain)
	if err != nil {
		return err
	}
	defer closeAll()
	loc := s.Location()
	day := func(v string, def time.Time) (time.Time, error) {
		if v == "" {
			return def, nil
		}
		d, err := time.ParseInLocation(time.DateOnly, v, loc)
		if err != nil {
			return d, cli.Usagef("%q is not a date (YYYY-MM-DD)", v)
		}
		return d, nil
	}
	today := time.Now().In(loc)
	today = time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, loc)
	start, err := firstDay(ctx, st, s, *native)
	if err != nil {
		return err
	}
	e := &stats.Export{Reader: st, Site: s}
	if !*native {
		e.Imports = st
	}
	if e.From, err = day(*from, start); err != nil {
		return err
	}
	if e.To, err = day(*to, today); err != nil {
		return err
	}
	if e.To.Before(e.From) {
		return cli.Usagef("--to %s is before --from %s", e.To.Format(time.DateOnly), e.From.Format(time.DateOnly))
	}
	var w io.Writer = stdout
	name := *out
	if name == "" {
		name = e.FileName()
	}
	if name != "-" {
		f, err := os.Create(name)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	if err := e.WriteZip(ctx, w); err != nil {
		if name != "-" {
			os.Remove(name)
		}
		return err
	}
	if name != "-" {
		fmt.Fprintf(stderr, "wrote %s: %s, %s to %s, in Plausible's CSV export format\n", name, s.Domain, e.From.Format(time.DateOnly), e.To.Format(time.DateOnly))
	}
	return nil
}

// firstDay is the first local day with native events or imported data.
func firstDay(ctx context.Context, st historyStore, s *site.Site, nativeOnly bool) (time.Time, error) {
	loc := s.Location()
	first := s.CreatedAt
	if er, ok := st.(stats.EarliestReader); ok {
		t, err := er.EarliestEvent(ctx, s.Domain)
		if err != nil {
			return time.Time{}, err
		}
		if !t.IsZero() && (first.IsZero() || t.Before(first)) {
			first = t
		}
	}
	if !nativeOnly {
		imps, err := st.Imports(ctx, s.Domain)
		if err != nil {
			return time.Time{}, err
		}
		for _, im := range imps {
			if d := imported.Date(im.From); im.Complete && (first.IsZero() || d.Before(first)) {
				first = time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc)
			}
		}
	}
	if first.IsZero() {
		first = time.Now()
	}
	f := first.In(loc)
	return time.Date(f.Year(), f.Month(), f.Day(), 0, 0, 0, 0, loc), nil
}
