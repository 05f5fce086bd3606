package geo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"waymark.dev/waymark/internal/analytics"
)

// Config says where a Resolver finds its databases.
type Config struct {
	// Files are geolocation databases (city or country, MaxMind format);
	// an ip-location-db package's IPv4 and IPv6 files are two files.
	Files []string
	// ASNFiles are ASN databases: MaxMind format, or CSV ranges.
	ASNFiles []string
	// Dir is searched for *.mmdb (any kind) and *.csv (ASN ranges) files,
	// so operators can drop databases in without changing flags.
	Dir string
	// Precision is what Place keeps; 0 is PrecisionCity.
	Precision Precision
	// Logger reports reloads and files that failed to load.
	Logger *slog.Logger
}

// Resolver answers lookups from a set of databases, and swaps in files
// that changed (Reload) without stopping lookups.
type Resolver struct {
	cfg   Config
	set   atomic.Pointer[dbset]
	cache cache
	mu    sync.Mutex // one reload at a time
	// swap: lookups hold it shared while they read a set's databases, so
	// a reload frees a dropped database's memory only once none does.
	swap sync.RWMutex
}

type dbset struct {
	geo    []*database // city databases first, then country
	asn    []*database
	ranges []*ranges
}

// loaded is an open database file of either form.
type loaded interface {
	// meta describes the file and stamps it (modification time, size)
	// as it was when read.
	meta() (Info, [2]int64)
	// free returns its memory; only once no lookup can read it.
	free()
}

func (d *database) meta() (Info, [2]int64) { return d.info, [2]int64{d.mod.UnixNano(), d.size} }
func (d *database) free()                  { d.release() }
func (x *ranges) meta() (Info, [2]int64)   { return x.info, [2]int64{x.mod.UnixNano(), x.size} }
func (x *ranges) free()                    {} // on the Go heap

func (s *dbset) add(f loaded) {
	switch d := f.(type) {
	case *database:
		if d.info.Kind == KindASN {
			s.asn = append(s.asn, d)
		} else {
			s.geo = append(s.geo, d)
		}
	case *ranges:
		s.ranges = append(s.ranges, d)
	}
}

func (s *dbset) files() []loaded {
	var out []loaded
	for _, d := range s.geo {
		out = append(out, d)
	}
	for _, d := range s.asn {
		out = append(out, d)
	}
	for _, x := range s.ranges {
		out = append(out, x)
	}
	return out
}

func (s *dbset) infos() []Info {
	var out []Info
	for _, f := range s.files() {
		i, _ := f.meta()
		out = append(out, i)
	}
	return out
}

// New opens the configured databases. A file that cannot be read is an
// error: an operator who names a database wants it used.
func New(cfg Config) (*Resolver, error) {
	if cfg.Precision == 0 {
		cfg.Precision = PrecisionCity
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Resolver{cfg: cfg}
	r.set.Store(&dbset{})
	if _, err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// Precision is what Place keeps.
func (r *Resolver) Precision() Precision { return r.cfg.Precision }

// candidates lists the files the configuration names, each with whether
// it is an ASN file.
func (r *Resolver) candidates() (files []string, asn map[string]bool, err error) {
	asn = map[string]bool{}
	add := func(p string, isASN bool) {
		if !slices.Contains(files, p) {
			files = append(files, p)
		}
		if isASN {
			asn[p] = true
		}
	}
	for _, f := range r.cfg.Files {
		add(f, false)
	}
	for _, f := range r.cfg.ASNFiles {
		add(f, true)
	}
	if r.cfg.Dir != "" {
		ents, err := os.ReadDir(r.cfg.Dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, nil, err
		}
		for _, e := range ents {
			n := e.Name()
			if e.IsDir() || strings.HasPrefix(n, ".") {
				continue
			}
			switch strings.ToLower(filepath.Ext(n)) {
			case ".mmdb":
				add(filepath.Join(r.cfg.Dir, n), false)
			case ".csv":
				add(filepath.Join(r.cfg.Dir, n), true)
			}
		}
	}
	return files, asn, nil
}

// Reload opens files that are new or changed since the last load and
// drops those that went away; it reports whether anything changed. A file
// that fails to load keeps its previous version in use (an operator may
// be halfway through copying it) and is tried again on the next Reload.
func (r *Resolver) Reload() (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	files, isASN, err := r.candidates()
	if err != nil {
		return false, err
	}
	old := r.set.Load()
	byPath := map[string]loaded{}
	for _, f := range old.files() {
		i, _ := f.meta()
		byPath[i.Path] = f
	}
	next := &dbset{}
	changed := false
	var errs []error
	kept := map[string]bool{}
	for _, p := range files {
		prev, had := byPath[p]
		st, err := os.Stat(p)
		if err == nil && had {
			if _, stamp := prev.meta(); stamp == [2]int64{st.ModTime().UnixNano(), st.Size()} {
				kept[p] = true
				next.add(prev)
				continue
			}
		}
		var f loaded
		if err == nil {
			f, err = openFile(p, isASN[p])
		}
		if err != nil {
			errs = append(errs, err)
			if had { // keep the version that worked
				kept[p] = true
				next.add(prev)
			}
			continue
		}
		changed = true
		next.add(f)
		i, _ := f.meta()
		r.cfg.Logger.Info("geo database loaded", "path", p, "kind", i.Kind, "type", i.Type)
	}
	var dropped []loaded
	for p, f := range byPath {
		if !kept[p] {
			changed = true
			dropped = append(dropped, f)
		}
	}
	slices.SortStableFunc(next.geo, func(a, b *database) int {
		return rankKind(a.info.Kind) - rankKind(b.info.Kind)
	})
	if changed {
		r.swap.Lock() // waits for lookups in flight on the old set
		r.set.Store(next)
		r.swap.Unlock()
	}
	for _, f := range dropped {
		f.free()
	}
	return changed, errors.Join(errs...)
}

// openFile opens one database: CSV ranges, or MaxMind format; asn says it
// was given as an ASN database, so another kind is refused.
func openFile(p string, asn bool) (loaded, error) {
	if asn && strings.EqualFold(filepath.Ext(p), ".csv") {
		x, err := openRanges(p)
		if err != nil {
			return nil, err
		}
		return x, nil
	}
	d, err := openMMDB(p)
	if err != nil {
		return nil, err
	}
	if asn && d.info.Kind != KindASN {
		d.release()
		return nil, fmt.Errorf("%s: a %s database given as an ASN database", p, d.info.Kind)
	}
	return d, nil
}

func rankKind(k string) int {
	if k == KindCity {
		return 0
	}
	return 1
}

// Watch reloads changed files every interval until ctx ends.
func (r *Resolver) Watch(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := r.Reload(); err != nil {
				r.cfg.Logger.Warn("geo database reload", "err", err)
			}
		}
	}
}

// Databases describes the databases in use.
func (r *Resolver) Databases() []Info { return r.set.Load().infos() }

// HasGeo says whether a city or country database is in use.
func (r *Resolver) HasGeo() bool { return r != nil && len(r.set.Load().geo) > 0 }

// HasASN says whether an ASN database is in use.
func (r *Resolver) HasASN() bool {
	if r == nil {
		return false
	}
	s := r.set.Load()
	return len(s.asn)+len(s.ranges) > 0
}

// Attribution returns the credits the databases in use require shown,
// e.g. DBIPAttribution.
func (r *Resolver) Attribution() []string {
	if r == nil {
		return nil
	}
	var out []string
	for _, i := range r.Databases() {
		if i.Attribution != "" && !slices.Contains(out, i.Attribution) {
			out = append(out, i.Attribution)
		}
	}
	return out
}

// Lookup returns all the databases know of an address, at full precision.
func (r *Resolver) Lookup(ip netip.Addr) Location {
	if r == nil || !ip.IsValid() {
		return Location{}
	}
	ip = ip.Unmap()
	r.swap.RLock()
	defer r.swap.RUnlock()
	s := r.set.Load()
	loc := r.geo(s, ip)
	for _, d := range s.asn {
		if a, err := d.lookup(ip, &r.cache); err == nil && a.ASN != 0 {
			loc.ASN, loc.ASOrg = a.ASN, a.ASOrg
			return loc
		}
	}
	for _, x := range s.ranges {
		if n, org, ok := x.lookup(ip); ok && n != 0 {
			loc.ASN, loc.ASOrg = n, org
			return loc
		}
	}
	return loc
}

func (r *Resolver) geo(s *dbset, ip netip.Addr) Location {
	for _, d := range s.geo {
		if loc, err := d.lookup(ip, &r.cache); err == nil {
			return loc
		}
	}
	return Location{}
}

// Place returns where an address is, cut to the configured precision:
// what analytics stores.
func (r *Resolver) Place(ip netip.Addr) analytics.Place {
	if r == nil || !ip.IsValid() {
		return analytics.Place{}
	}
	r.swap.RLock()
	defer r.swap.RUnlock()
	return r.cfg.Precision.Cut(r.geo(r.set.Load(), ip.Unmap()).Place)
}
