package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"waymark.dev/waymark/internal/cli"
	"waymark.dev/waymark/internal/duckdb"
	"waymark.dev/waymark/internal/imported"
)

// benchImport measures "waymark import" of Plausible's export: it writes
// a pages table of the given rows (a long-tailed site: many pages a day
// for years), imports it into a fresh embedded store and reports rows a
// second and the process's peak memory (VmHWM), which must not grow with
// the file.
func benchImport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("bench import", stderr)
	rows := fs.Int("rows", 10_000_000, "rows of the generated imported_pages file")
	dir := fs.String("dir", "", "folder for the file and the store (default: a temporary one, removed after)")
	memory := fs.String("duckdb-memory", "1GB", "DuckDB memory_limit of the store")
	if err := cli.Parse(fs, args, getenv); err != nil {
		return err
	}
	if *rows < 1 || *rows > 200_000_000 {
		return cli.Usagef("--rows must be 1 to 200000000")
	}
	d := *dir
	if d == "" {
		tmp, err := os.MkdirTemp("", "waymark-bench-import-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		d = tmp
	}
	path := filepath.Join(d, "imported_pages_20100101_20261231.csv")
	t0 := time.Now()
	size, err := writePagesFile(path, *rows)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "generated %s rows (%.0f MB) in %s\n", strconv.Itoa(*rows), float64(size)/1e6, time.Since(t0).Round(time.Millisecond))
	runtime.GC()
	before, _ := peakRSS()
	st, err := duckdb.Open(ctx, filepath.Join(d, "events.duckdb"), duckdb.Options{MemoryLimit: *memory})
	if err != nil {
		return err
	}
	defer st.Close()
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	f.Close()
	t1 := time.Now()
	res, err := imported.Run(ctx, st, []imported.File{{Name: path, Size: size, Open: func() (io.ReadCloser, error) { return os.Open(path) }}},
		imported.Options{Site: "bench.example"})
	if err != nil {
		return err
	}
	el := time.Since(t1)
	peak, _ := peakRSS()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(stdout, "imported %d rows in %s: %.0f rows/s; peak memory (VmHWM) %d MB (%d MB before the import), of it Go's heap at most %d MB; DuckDB memory_limit %s, GOMAXPROCS %d\n",
		res.Rows, el.Round(time.Millisecond), float64(res.Rows)/el.Seconds(), peak>>20, before>>20, ms.HeapSys>>20, *memory, runtime.GOMAXPROCS(0))
	return nil
}

// writePagesFile writes n rows of Plausible's imported_pages table: 400
// pages a day with the traffic of a long tail, over as many days as that
// takes.
func writePagesFile(path string, n int) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString("date,hostname,page,visits,visitors,pageviews,total_scroll_depth,total_scroll_depth_visits,total_time_on_page,total_time_on_page_visits\n")
	day := time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)
	var b []byte
	for i := 0; i < n; i++ {
		if i > 0 && i%400 == 0 {
			day = day.AddDate(0, 0, 1)
		}
		p := i % 400
		v := 1 + 4000/(p+1)
		b = b[:0]
		b = day.AppendFormat(b, time.DateOnly)
		b = append(b, ",bench.example,/docs/"...)
		b = append(b, strings.Repeat("section/", p%3)...)
		b = strconv.AppendInt(b, int64(p), 10)
		for _, x := range []int{v + v/5, v, 2 * v, 55 * v, v, 40 * v, v} {
			b = append(b, ',')
			b = strconv.AppendInt(b, int64(x), 10)
		}
		b = append(b, '\n')
		w.Write(b)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return 0, err
	}
	return fi.Size(), f.Close()
}

// peakRSS is this process's peak resident memory (VmHWM), in bytes.
func peakRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/self/status")
}
