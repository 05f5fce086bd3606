package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"waymark.dev/waymark/internal/cli"
	"waymark.dev/waymark/internal/threats"
)

// benchThreats runs `waymark bench threats`: builds a database of many
// entries, then measures full URL checks (canonicalise, expressions,
// probes) of URLs that match nothing, on one core, and the prefix probe
// alone.
func benchThreats(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("bench threats", stderr)
	entries := fs.Int("entries", 1_000_000, "entries in the database")
	dir := fs.String("dir", "", "folder for the snapshot (default: a temporary one)")
	duration := fs.Duration("duration", 3*time.Second, "how long each measurement runs")
	quality := fs.Bool("quality", false, "measure the lookalike detector instead: recall on dnstwist's permutations and the phishing families, false alarms on the legitimate corpus")
	q := qualityFlags(fs)
	if err := cli.Parse(fs, args, getenv); err != nil {
		return err
	}
	if *quality {
		return benchLookalikes(q, stdout)
	}
	if *entries < 1 {
		return cli.Usagef("--entries must be positive")
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "waymark-bench-threats-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	r := rand.New(rand.NewPCG(7, 7))
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + r.IntN(26))
		}
		return string(b)
	}
	tlds := []string{"com", "net", "org", "info", "xyz", "top", "io", "ru", "de"}
	es := make([]threats.Entry, 0, *entries)
	var present []string
	for i := range *entries {
		host := word(6+r.IntN(10)) + "." + tlds[r.IntN(len(tlds))]
		expr := host + "/"
		if i%3 == 0 { // a third are URLs with a path, as phishing feeds list them
			expr = host + "/" + word(5) + "/" + word(8) + ".html"
		}
		es = append(es, threats.Entry{Expr: expr, List: threats.Phishing})
		if len(present) < 1<<16 {
			present = append(present, expr)
		}
	}
	db, err := threats.Open(*dir)
	if err != nil {
		return err
	}
	t0 := time.Now()
	if err := db.Replace("bench", es); err != nil {
		return err
	}
	build := time.Since(t0)
	fi, _ := os.Stat(filepath.Join(*dir, threats.SnapshotFile))
	snap := db.Snapshot()
	heap := snap.HeapBytes()
	fmt.Fprintf(stdout, "%d entries: built and swapped in %s; snapshot file %.1f MB (%.1f bytes/entry, memory-mapped, read on a match)\n",
		snap.Len(), build.Round(time.Millisecond), float64(fi.Size())/1e6, float64(fi.Size())/float64(snap.Len()))
	fmt.Fprintf(stdout, "heap held by the snapshot: %.1f MB = %.1f bytes/entry (4-byte prefixes, host hashes and their bitmap, a 256 KiB bucket index)\n",
		float64(heap)/1e6, float64(heap)/float64(snap.Len()))

	// URLs that match nothing, varied like real traffic.
	urls := make([]string, 4096)
	for i := range urls {
		urls[i] = fmt.Sprintf("https://www.%s.%s/%s/%s?id=%d", word(8), tlds[r.IntN(len(tlds))], word(6), word(10), r.IntN(1e6))
	}
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	n, blocked, el := timeChecks(&threats.Checker{DB: db}, urls[:1024], *duration)
	fmt.Fprintf(stdout, "full URL checks (canonicalise, expressions, probes), no match, one core: %.0f/s (%.0f ns each; %d matched)\n",
		float64(n)/el.Seconds(), float64(el.Nanoseconds())/float64(n), blocked)
	for _, brands := range []int{3, len(threats.QualityBrands)} {
		p, err := threats.NewProtector(threats.QualityBrands[:brands], nil, 1)
		if err != nil {
			return err
		}
		n, flagged, el := timeChecks(&threats.Checker{DB: db, Protect: p}, urls[:1024], *duration)
		fmt.Fprintf(stdout, "the same with lookalike detection for %d protected brands: %.0f/s (%.0f ns each; %d flagged)\n",
			brands, float64(n)/el.Seconds(), float64(el.Nanoseconds())/float64(n), flagged)
	}

	probes := make([]uint32, 1<<16)
	for i := range probes {
		probes[i] = r.Uint32()
	}
	ns, m, total := probeTime(snap, probes, *duration)
	fmt.Fprintf(stdout, "4-byte prefix probe alone, random prefixes: %.1f ns (%d of %d present)\n", ns, m, total)
	for i := range probes {
		h := threats.HashExpression(present[i%len(present)])
		probes[i] = binary.BigEndian.Uint32(h[:4])
	}
	ns, m, total = probeTime(snap, probes, *duration)
	fmt.Fprintf(stdout, "4-byte prefix probe alone, listed prefixes: %.1f ns (%d of %d present)\n", ns, m, total)
	return nil
}

// timeChecks checks the URLs round and round for d and returns how many
// checks it made, how many did not pass, and the time they took.
func timeChecks(c *threats.Checker, urls []string, d time.Duration) (n, flagged int, el time.Duration) {
	start := time.Now()
	for time.Since(start) < d {
		for _, u := range urls {
			if c.Check(u).Verdict != threats.Pass {
				flagged++
			}
		}
		n += len(urls)
	}
	return n, flagged, time.Since(start)
}

// probeTime probes the prefixes round and round for d and returns the
// time per probe, how many were present and how many were made.
func probeTime(snap *threats.Snapshot, probes []uint32, d time.Duration) (ns float64, present, total int) {
	start := time.Now()
	for time.Since(start) < d {
		for _, p := range probes {
			if snap.HasPrefix(p) {
				present++
			}
		}
		total += len(probes)
	}
	return float64(time.Since(start).Nanoseconds()) / float64(total), present, total
}
