package threats

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// List is a threat list an entry belongs to.
type List uint8

// The lists. Allow entries override every other list.
const (
	Phishing List = iota + 1
	Malware
	Unwanted
	Lookalike
	Custom
	Allow
)

var listNames = [...]string{"", "phishing", "malware", "unwanted", "lookalike", "custom", "allow"}

func (l List) String() string {
	if int(l) < len(listNames) {
		return listNames[l]
	}
	return fmt.Sprintf("list(%d)", l)
}

// ParseList reads a list's name.
func ParseList(s string) (List, error) {
	for i, n := range listNames {
		if i > 0 && n == s {
			return List(i), nil
		}
	}
	return 0, fmt.Errorf("threats: unknown list %q (phishing, malware, unwanted, lookalike, custom or allow)", s)
}

// Entry is one expression on a list, from a source, added at a time.
type Entry struct {
	Expr   string // an expression: host and path, as Expressions writes them
	List   List
	Source string
	Added  time.Time
}

// A record is an entry in the snapshot file: the expression's SHA-256,
// a hash of its host (to skip URLs whose hosts have no entries without
// computing any SHA-256), the list, the source's index and when it was
// added (Unix seconds).
const recSize = 32 + 4 + 1 + 1 + 2 + 4

// hostHash is FNV-1a of a host.
func hostHash(h string) uint32 {
	v := uint32(2166136261)
	for i := 0; i < len(h); i++ {
		v ^= uint32(h[i])
		v *= 16777619
	}
	return v
}

// exprHost is an expression's host part.
func exprHost(e string) string {
	if i := bytes.IndexByte([]byte(e), '/'); i >= 0 {
		return e[:i]
	}
	return e
}

// Snapshot is an immutable set of entries. Lookups read it without
// locks; an update builds a new one and swaps it in.
type Snapshot struct {
	// prefixes holds the first 4 bytes of every record's hash in record
	// order (sorted); bucket[i] is where prefixes with top 16 bits i start.
	prefixes []uint32
	bucket   []uint32 // 65537 entries
	// prefixBits has a bit set for the top bits of every prefix (16 bits
	// per entry): most probes of a prefix that is absent end there, in a
	// bitmap small enough to stay in the processor's cache.
	prefixBits  []uint64
	prefixShift uint
	hosts       []uint32 // sorted, unique
	// hostBits has the bit (hash mod its size) set for every host in
	// hosts: a host whose bit is clear has no entries, known after one
	// memory access. Two bytes per entry keep false hits near 6%.
	hostBits []uint64
	recs     []byte // n*recSize, memory-mapped from the snapshot file
	exprs    []byte // the expressions, in record order, length-prefixed
	sources  []string
	Built    time.Time
}

// Len is the number of entries.
func (s *Snapshot) Len() int { return len(s.prefixes) }

// Match is an entry an expression of a URL matched.
type Match struct {
	Expr   string
	List   List
	Source string
	Added  time.Time
}

func (s *Snapshot) hasHost(h uint32) bool {
	b := h & uint32(len(s.hostBits)*64-1)
	if s.hostBits[b/64]&(1<<(b%64)) == 0 {
		return false
	}
	_, ok := slices.BinarySearch(s.hosts, h)
	return ok
}

// lookup appends the records whose hash is h.
func (s *Snapshot) lookup(h *Hash, expr string, out []Match) []Match {
	p := binary.BigEndian.Uint32(h[:4])
	i, found := s.find(p)
	if !found {
		return out
	}
	for j := i; j < len(s.prefixes) && s.prefixes[j] == p; j++ {
		r := s.recs[j*recSize : (j+1)*recSize]
		if !bytes.Equal(r[:32], h[:]) {
			continue
		}
		out = append(out, Match{Expr: expr, List: List(r[36]), Source: s.sources[binary.BigEndian.Uint16(r[38:40])],
			Added: time.Unix(int64(binary.BigEndian.Uint32(r[40:44])), 0).UTC()})
	}
	return out
}

// HasPrefix reports whether some entry's hash starts with p (the
// Safe Browsing-style first probe; benchmarks measure it alone).
func (s *Snapshot) HasPrefix(p uint32) bool {
	_, found := s.find(p)
	return found
}

// find returns the first index of prefix p. A bucket holds n/65536
// prefixes on average (15 at a million entries), few enough that a
// straight scan beats a binary search's mispredicted branches.
func (s *Snapshot) find(p uint32) (int, bool) {
	if b := p >> s.prefixShift; s.prefixBits[b/64]&(1<<(b%64)) == 0 {
		return 0, false
	}
	lo, hi := int(s.bucket[p>>16]), int(s.bucket[p>>16+1])
	if hi-lo > 32 {
		i, ok := slices.BinarySearch(s.prefixes[lo:hi], p)
		return lo + i, ok
	}
	for i, v := range s.prefixes[lo:hi] {
		if v >= p {
			return lo + i, v == p
		}
	}
	return hi, false
}

// HeapBytes is the memory the snapshot holds outside its mapped file.
func (s *Snapshot) HeapBytes() int {
	n := 4*(cap(s.prefixes)+cap(s.bucket)+cap(s.hosts)) + 8*(cap(s.hostBits)+cap(s.prefixBits))
	for _, src := range s.sources {
		n += len(src) + 16
	}
	return n
}

// Matches returns every entry one of the URL's expressions matches.
// Hosts without entries cost a small hash each and no SHA-256.
func (s *Snapshot) Matches(u *URL) []Match {
	if s == nil || len(s.prefixes) == 0 {
		return nil
	}
	var out []Match
	var ps []string
	var buf [5]string
	for _, h := range hostsInto(u, &buf) {
		if !s.hasHost(hostHash(h)) {
			continue
		}
		if ps == nil {
			ps = paths(u)
		}
		for _, p := range ps {
			e := h + p
			hash := HashExpression(e)
			out = s.lookup(&hash, e, out)
		}
	}
	return out
}

// Entries calls f for every entry, in hash order, until it returns false.
func (s *Snapshot) Entries(f func(Entry) bool) {
	off := 0
	for i := range s.prefixes {
		n, k := binary.Uvarint(s.exprs[off:])
		if k <= 0 {
			return
		}
		off += k
		e := string(s.exprs[off : off+int(n)])
		off += int(n)
		r := s.recs[i*recSize : (i+1)*recSize]
		if !f(Entry{Expr: e, List: List(r[36]), Source: s.sources[binary.BigEndian.Uint16(r[38:40])],
			Added: time.Unix(int64(binary.BigEndian.Uint32(r[40:44])), 0).UTC()}) {
			return
		}
	}
}

// Stats counts a snapshot's entries by list and source.
type Stats struct {
	Entries  int            `json:"entries"`
	ByList   map[string]int `json:"by_list"`
	BySource map[string]int `json:"by_source"`
	Built    time.Time      `json:"built"`
}

// Stats counts the entries.
func (s *Snapshot) Stats() Stats {
	st := Stats{Entries: s.Len(), ByList: map[string]int{}, BySource: map[string]int{}, Built: s.Built}
	for i := range s.prefixes {
		r := s.recs[i*recSize : (i+1)*recSize]
		st.ByList[List(r[36]).String()]++
		st.BySource[s.sources[binary.BigEndian.Uint16(r[38:40])]]++
	}
	return st
}

// The snapshot file: magic, build time, counts, the sources, the records
// sorted by hash, then the expressions.
var magic = []byte("WAYMARK-THREATS-1\n")

const maxSources = 65535

// build writes a snapshot of entries to w.
func build(w io.Writer, entries []Entry, now time.Time) error {
	type rec struct {
		h    Hash
		host uint32
		list List
		src  uint16
		at   uint32
		expr string
	}
	srcIdx := map[string]uint16{}
	var sources []string
	recs := make([]rec, 0, len(entries))
	for _, e := range entries {
		i, ok := srcIdx[e.Source]
		if !ok {
			if len(sources) >= maxSources {
				return errors.New("threats: more than 65535 sources")
			}
			i = uint16(len(sources))
			srcIdx[e.Source] = i
			sources = append(sources, e.Source)
		}
		at := e.Added.Unix()
		if at < 0 || at > 1<<32-1 {
			at = now.Unix()
		}
		recs = append(recs, rec{h: HashExpression(e.Expr), host: hostHash(exprHost(e.Expr)), list: e.List, src: i, at: uint32(at), expr: e.Expr})
	}
	slices.SortStableFunc(recs, func(a, b rec) int {
		if c := bytes.Compare(a.h[:], b.h[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.list, b.list)
	})
	// One record per expression and list: the first source wins.
	recs = slices.CompactFunc(recs, func(a, b rec) bool { return a.h == b.h && a.list == b.list })
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.Write(magic)
	var hdr [8 + 4 + 4]byte
	binary.BigEndian.PutUint64(hdr[0:], uint64(now.Unix()))
	binary.BigEndian.PutUint32(hdr[8:], uint32(len(recs)))
	binary.BigEndian.PutUint32(hdr[12:], uint32(len(sources)))
	bw.Write(hdr[:])
	for _, s := range sources {
		bw.Write(binary.AppendUvarint(nil, uint64(len(s))))
		bw.WriteString(s)
	}
	var rb [recSize]byte
	for _, r := range recs {
		copy(rb[:32], r.h[:])
		binary.BigEndian.PutUint32(rb[32:], r.host)
		rb[36], rb[37] = byte(r.list), 0
		binary.BigEndian.PutUint16(rb[38:], r.src)
		binary.BigEndian.PutUint32(rb[40:], r.at)
		bw.Write(rb[:])
	}
	var lb []byte
	for _, r := range recs {
		lb = binary.AppendUvarint(lb[:0], uint64(len(r.expr)))
		bw.Write(lb)
		bw.WriteString(r.expr)
	}
	return bw.Flush()
}

// parse reads a snapshot from data (the file's bytes, usually mapped).
func parse(data []byte) (*Snapshot, error) {
	bad := errors.New("threats: snapshot file is damaged")
	if !bytes.HasPrefix(data, magic) || len(data) < len(magic)+16 {
		return nil, bad
	}
	p := data[len(magic):]
	s := &Snapshot{Built: time.Unix(int64(binary.BigEndian.Uint64(p)), 0).UTC()}
	n, ns := int(binary.BigEndian.Uint32(p[8:])), int(binary.BigEndian.Uint32(p[12:]))
	p = p[16:]
	for range ns {
		l, k := binary.Uvarint(p)
		if k <= 0 || uint64(len(p)-k) < l {
			return nil, bad
		}
		s.sources = append(s.sources, string(p[k:k+int(l)]))
		p = p[k+int(l):]
	}
	if len(p) < n*recSize {
		return nil, bad
	}
	s.recs, s.exprs = p[:n*recSize], p[n*recSize:]
	s.prefixes = make([]uint32, n)
	hosts := make([]uint32, n)
	s.bucket = make([]uint32, 1<<16+1)
	for i := range n {
		r := s.recs[i*recSize:]
		s.prefixes[i] = binary.BigEndian.Uint32(r)
		hosts[i] = binary.BigEndian.Uint32(r[32:])
		if int(binary.BigEndian.Uint16(r[38:])) >= ns {
			return nil, bad
		}
		if i > 0 && s.prefixes[i] < s.prefixes[i-1] {
			return nil, bad
		}
	}
	// bucket[b] = first index whose prefix's top 16 bits are >= b.
	for b := range 1<<16 + 1 {
		s.bucket[b] = uint32(sort.Search(n, func(i int) bool { return s.prefixes[i]>>16 >= uint32(b) }))
	}
	pbits, shift := 64, uint(26)
	for pbits < 16*n && shift > 0 {
		pbits, shift = pbits*2, shift-1
	}
	s.prefixBits, s.prefixShift = make([]uint64, pbits/64), shift
	for _, p := range s.prefixes {
		b := p >> shift
		s.prefixBits[b/64] |= 1 << (b % 64)
	}
	slices.Sort(hosts)
	s.hosts = append([]uint32(nil), slices.Compact(hosts)...)
	bits := 64
	for bits < 16*len(s.hosts) {
		bits *= 2
	}
	s.hostBits = make([]uint64, bits/64)
	for _, h := range s.hosts {
		b := h & uint32(bits-1)
		s.hostBits[b/64] |= 1 << (b % 64)
	}
	return s, nil
}

// DB is the live threat database of a data folder: the current snapshot,
// swapped whole when a source is updated.
type DB struct {
	path string
	cur  atomic.Pointer[Snapshot]
	// loaded is the modification time of the file cur came from.
	loaded atomic.Pointer[time.Time]
	mu     sync.Mutex // one update at a time
	Now    func() time.Time
}

// SnapshotFile is the database's file in the folder.
const SnapshotFile = "threats.db"

// Open loads the snapshot in dir (an empty database when there is none).
func Open(dir string) (*DB, error) {
	d := &DB{path: filepath.Join(dir, SnapshotFile), Now: time.Now}
	if err := d.Reload(); err != nil {
		return nil, err
	}
	return d, nil
}

// Snapshot returns the current snapshot.
func (d *DB) Snapshot() *Snapshot { return d.cur.Load() }

// Reload reads the snapshot file again (another process updated it).
func (d *DB) Reload() error {
	var m time.Time
	if fi, err := os.Stat(d.path); err == nil {
		m = fi.ModTime()
	}
	s, err := load(d.path)
	if errors.Is(err, os.ErrNotExist) {
		s, err = parse(emptySnapshot())
	}
	if err != nil {
		return fmt.Errorf("threats: %s: %w", d.path, err)
	}
	d.cur.Store(s)
	d.loaded.Store(&m)
	return nil
}

// Changed tells whether the snapshot file is not the one loaded (another
// process updated it): servers poll it and Reload. An update this DB made
// itself does not count.
func (d *DB) Changed() bool {
	var m time.Time
	if fi, err := os.Stat(d.path); err == nil {
		m = fi.ModTime()
	}
	l := d.loaded.Load()
	return l == nil || !l.Equal(m)
}

func emptySnapshot() []byte {
	var b bytes.Buffer
	build(&b, nil, time.Unix(0, 0))
	return b.Bytes()
}

// load maps a snapshot file. The mapping is released when the snapshot
// is no longer referenced, so a lookup that still holds an old snapshot
// keeps reading it safely after a swap.
func load(path string) (*Snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() == 0 || fi.Size() > 1<<34 {
		return nil, errors.New("threats: snapshot file is empty or too large")
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(fi.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, err
	}
	s, err := parse(data)
	if err != nil {
		syscall.Munmap(data)
		return nil, err
	}
	runtime.AddCleanup(s, func(b []byte) { syscall.Munmap(b) }, data)
	return s, nil
}

// Replace makes entries the whole content of source (removing what the
// source had before) and swaps in the new snapshot. Entries with an
// empty Source get source.
func (d *DB) Replace(source string, entries []Entry) error {
	return d.replace(func(s string) bool { return s == source }, source, entries)
}

// replace drops the entries whose source drop reports, adds entries (an
// empty Source becomes source) and swaps in the new snapshot.
func (d *DB) replace(drop func(source string) bool, source string, entries []Entry) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	// Another process may have updated the file since it was loaded.
	if err := d.Reload(); err != nil {
		return err
	}
	var all []Entry
	d.Snapshot().Entries(func(e Entry) bool {
		if !drop(e.Source) {
			all = append(all, e)
		}
		return true
	})
	now := d.Now()
	for _, e := range entries {
		if e.Source == "" {
			e.Source = source
		}
		if e.Added.IsZero() {
			e.Added = now
		}
		all = append(all, e)
	}
	tmp, err := os.CreateTemp(filepath.Dir(d.path), ".threats-*.tmp")
	if err != nil {
		return fmt.Errorf("threats: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := build(tmp, all, now); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("threats: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("threats: %w", err)
	}
	if err := os.Rename(tmp.Name(), d.path); err != nil {
		return fmt.Errorf("threats: %w", err)
	}
	return d.Reload()
}
