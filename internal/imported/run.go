package imported

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// File is one file given to an import.
type File struct {
	Name string
	Size int64 // for progress; 0 when unknown
	// Open opens the file; a zip archive needs an io.ReaderAt, so Open's
	// reader is read whole into memory only when it is a zip and not an
	// *os.File (use OpenAt for large zips).
	Open func() (io.ReadCloser, error)
	// OpenAt, when set, opens a zip archive for random access.
	OpenAt func() (io.ReaderAt, int64, io.Closer, error)
}

// Options are an import's settings.
type Options struct {
	Site     string
	Location *time.Location // the site's time zone (raw hits are dated in it)
	// Progress is called now and then with the bytes read and the total.
	Progress func(done, total int64)
	Now      func() time.Time
	// BatchRows is how many rows of a table are written at once.
	BatchRows int
}

// Result is a finished import.
type Result struct {
	Import
	// Ignored lists columns that were not read, per file.
	Ignored map[string][]string
}

// Run imports files as one import: it writes every row, then makes the
// import complete. On any error the rows already written are deleted and
// the error names the file (and line and column where one value is
// wrong).
func Run(ctx context.Context, st Store, files []File, o Options) (res Result, err error) {
	if len(files) == 0 {
		return res, errors.New("imported: no files given")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.BatchRows <= 0 {
		o.BatchRows = 16384
	}
	var total int64
	names := make([]string, len(files))
	for i, f := range files {
		total += f.Size
		names[i] = path.Base(f.Name)
	}
	imp := Import{ID: rand.Int64N(1<<53) + 1, Site: o.Site, Label: strings.Join(names, ", "), Created: o.Now().UTC(), From: 1 << 30, To: -1 << 30}
	res.Ignored = map[string][]string{}
	w := &writer{ctx: ctx, st: st, imp: &imp, batch: o.BatchRows, pending: map[*Table][]Row{}}
	var done atomic.Int64
	progress := func(n int64) {
		if o.Progress != nil {
			o.Progress(done.Add(n), total)
		}
	}
	begun := false
	defer func() {
		if err != nil && begun {
			if derr := st.DeleteImport(context.WithoutCancel(ctx), o.Site, imp.ID); derr != nil {
				err = fmt.Errorf("%w (and removing the rows written failed: %v)", err, derr)
			}
		}
	}()
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		err := readFile(f, o, progress, func(source string) error {
			if imp.Source != "" && imp.Source != source {
				return &FormatError{File: f.Name, Msg: fmt.Sprintf("a %s export cannot be imported together with a %s export; import them one at a time", source, imp.Source)}
			}
			if imp.Source == "" {
				imp.Source = source
				begun = true
				return st.BeginImport(ctx, imp)
			}
			return nil
		}, w, res.Ignored)
		if err != nil {
			return res, err
		}
	}
	if err := w.flushAll(); err != nil {
		return res, err
	}
	if imp.Rows == 0 {
		return res, &FormatError{File: imp.Label, Msg: "no rows to import"}
	}
	imp.Complete = true
	if err := st.FinishImport(ctx, imp); err != nil {
		return res, err
	}
	if o.Progress != nil {
		o.Progress(total, total)
	}
	res.Import = imp
	return res, nil
}

// writer buffers rows per table and writes them in batches.
type writer struct {
	ctx     context.Context
	st      Store
	imp     *Import
	batch   int
	pending map[*Table][]Row
}

func (w *writer) add(t *Table, r Row) error {
	if r.Date < w.imp.From {
		w.imp.From = r.Date
	}
	if r.Date > w.imp.To {
		w.imp.To = r.Date
	}
	w.pending[t] = append(w.pending[t], r)
	if len(w.pending[t]) >= w.batch {
		return w.flush(t)
	}
	return nil
}

func (w *writer) flush(t *Table) error {
	rows := w.pending[t]
	if len(rows) == 0 {
		return nil
	}
	if err := w.st.AppendRows(w.ctx, w.imp, t, rows); err != nil {
		return fmt.Errorf("imported: write %s: %w", t.Name, err)
	}
	w.imp.Rows += int64(len(rows))
	w.pending[t] = rows[:0]
	return nil
}

func (w *writer) flushAll() error {
	for _, t := range Tables {
		if err := w.flush(t); err != nil {
			return err
		}
	}
	return nil
}

// countingReader reports bytes read.
type countingReader struct {
	r io.Reader
	n func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.n(int64(n))
	}
	return n, err
}

// readFile reads one file of any supported kind into w.
func readFile(f File, o Options, progress func(int64), start func(source string) error, w *writer, ignored map[string][]string) error {
	if strings.HasSuffix(strings.ToLower(f.Name), ".zip") {
		return readZip(f, o, progress, start, w, ignored)
	}
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	br := bufio.NewReaderSize(&countingReader{rc, progress}, 1<<20)
	magic, _ := br.Peek(4)
	if bytes.HasPrefix(magic, []byte("PK\x03\x04")) {
		return &FormatError{File: f.Name, Msg: "a zip archive: name it *.zip"}
	}
	var r io.Reader = br
	name := f.Name
	if bytes.HasPrefix(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return &FormatError{File: f.Name, Msg: "not a readable gzip file: " + err.Error()}
		}
		defer zr.Close()
		r = bufio.NewReaderSize(zr, 1<<20)
		name = strings.TrimSuffix(name, ".gz")
	}
	return readCSV(f.Name, name, r.(*bufio.Reader), o, start, w, ignored)
}

// readCSV reads one CSV stream, telling its kind from its name and header.
func readCSV(file, name string, br *bufio.Reader, o Options, start func(string) error, w *writer, ignored map[string][]string) error {
	line, _ := br.Peek(4096)
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	head, _ := csv.NewReader(bytes.NewReader(line)).Read()
	switch {
	case isGoatCounter(head):
		if err := start(SourceGoatCounter); err != nil {
			return err
		}
		return readHits(o, w, func(add func(hit) error) error { return readGoatCounter(file, br, add) })
	case isUmami(head):
		if err := start(SourceUmami); err != nil {
			return err
		}
		return readHits(o, w, func(add func(hit) error) error { return readUmami(file, br, add) })
	}
	t := plausibleTable(name)
	if t == nil {
		return &FormatError{File: file, Msg: "not an export Waymark reads: expected Plausible's imported_<table>_<from>_<to>.csv (or its zip), GoatCounter's CSV export (header 2Path,...) or Umami's event export (session_id, url_path, event_type, ...)"}
	}
	if err := start(SourcePlausible); err != nil {
		return err
	}
	return readPlausible(file, t, br, w, ignored)
}

func readPlausible(file string, t *Table, r io.Reader, w *writer, ignored map[string][]string) error {
	p, err := newPlausibleReader(file, t, r)
	if err != nil {
		return err
	}
	if len(p.Ignored) > 0 {
		ignored[file] = p.Ignored
	}
	for n := 0; ; n++ {
		row, err := p.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if n%4096 == 0 {
			if err := w.ctx.Err(); err != nil {
				return err
			}
		}
		if err := w.add(t, row); err != nil {
			return err
		}
	}
}

func readHits(o Options, w *writer, read func(add func(hit) error) error) error {
	a := newAggregator(o.Location, w.add)
	if err := read(a.add); err != nil {
		return err
	}
	return a.flush(true)
}

// readZip reads Plausible's export archive: its imported_*.csv entries.
func readZip(f File, o Options, progress func(int64), start func(string) error, w *writer, ignored map[string][]string) error {
	var ra io.ReaderAt
	var size int64
	if f.OpenAt != nil {
		r, n, c, err := f.OpenAt()
		if err != nil {
			return err
		}
		defer c.Close()
		ra, size = r, n
	} else {
		rc, err := f.Open()
		if err != nil {
			return err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		ra, size = bytes.NewReader(b), int64(len(b))
	}
	zr, err := zip.NewReader(ra, size)
	if err != nil {
		return &FormatError{File: f.Name, Msg: "not a readable zip archive: " + err.Error()}
	}
	entries := append([]*zip.File{}, zr.File...)
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	found := 0
	var ratio float64 = 1
	var unpacked uint64
	for _, e := range entries {
		unpacked += e.UncompressedSize64
	}
	if unpacked > 0 && f.Size > 0 {
		ratio = float64(f.Size) / float64(unpacked)
	}
	for _, e := range entries {
		if e.FileInfo().IsDir() {
			continue
		}
		t := plausibleTable(e.Name)
		if t == nil {
			continue
		}
		if found == 0 {
			if err := start(SourcePlausible); err != nil {
				return err
			}
		}
		found++
		rc, err := e.Open()
		if err != nil {
			return &FormatError{File: f.Name + ": " + e.Name, Msg: err.Error()}
		}
		var acc float64
		cr := &countingReader{rc, func(n int64) {
			acc += float64(n) * ratio
			if acc >= 1 {
				progress(int64(acc))
				acc -= float64(int64(acc))
			}
		}}
		err = readPlausible(f.Name+": "+e.Name, t, bufio.NewReaderSize(cr, 1<<20), w, ignored)
		rc.Close()
		if err != nil {
			return err
		}
	}
	if found == 0 {
		return &FormatError{File: f.Name, Msg: "the archive has no imported_*.csv files of Plausible's export"}
	}
	return nil
}
