// Package spool is a durable, append-only log of records on disk: an
// append returns once its records are fsynced (appends that arrive
// together share one fsync), a reader follows the log from a position,
// and segments wholly before a released position are deleted. A torn
// record at the tail after a crash is cut off at open. It knows nothing
// of what the records hold; the collector spools hits in it.
package spool

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Pos is a position in the spool: a segment number and a byte offset in it.
type Pos struct {
	Seg uint64
	Off int64
}

// Less orders positions.
func (p Pos) Less(q Pos) bool { return p.Seg < q.Seg || p.Seg == q.Seg && p.Off < q.Off }

// ErrFull is returned by Append when the spool holds its maximum size:
// the caller should ask the sender to retry later.
var ErrFull = errors.New("spool: full")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("spool: closed")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const (
	recordHeader = 8 // length uint32 + CRC-32C uint32
	maxRecord    = 1 << 20
	segSuffix    = ".spool"
)

// Spool is an append-only log of records on disk. Append returns only after
// the record is fsynced; concurrent appends share one write and one fsync
// (group commit). A single reader follows the log behind the writer, and
// Release deletes segments the reader's consumer has stored for good.
type Spool struct {
	dir     string
	segMax  int64
	maxSize int64
	log     *slog.Logger

	mu       sync.Mutex
	pending  []byte
	waiters  []chan error
	closed   bool
	size     int64 // bytes in segments on disk plus pending
	kick     chan struct{}
	durable  Pos // end of fsynced data
	segSizes map[uint64]int64
	grow     *sync.Cond // signalled when durable advances or on close
	chans    sync.Pool  // reusable wait channels (chan error, capacity 1)

	f      *os.File // current segment, owned by the flusher
	seg    uint64
	segLen int64
	done   chan struct{}
	syncs  uint64 // fsyncs done, under mu
}

// Open opens the spool in dir, checking every segment and cutting off
// a torn record at the end of the last one (it was never acknowledged).
// New records go to a fresh segment. maxSize bounds the bytes on disk.
func Open(dir string, segMax, maxSize int64, log *slog.Logger) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &Spool{dir: dir, segMax: segMax, maxSize: maxSize, log: log, kick: make(chan struct{}, 1), segSizes: map[uint64]int64{}, done: make(chan struct{})}
	s.grow = sync.NewCond(&s.mu)
	segs, err := s.segments()
	if err != nil {
		return nil, err
	}
	for i, n := range segs {
		size, err := s.check(n, i == len(segs)-1)
		if err != nil {
			return nil, err
		}
		s.segSizes[n] = size
		s.size += size
		s.seg = n
	}
	s.seg++
	if err := s.openSegment(); err != nil {
		return nil, err
	}
	go s.flusher()
	return s, nil
}

func (s *Spool) segName(n uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", n, segSuffix))
}

func (s *Spool) segments() ([]uint64, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	var out []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), segSuffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

// check validates a segment's records and returns its good length. A bad
// record in the last segment is a torn write and is cut off; in an earlier
// segment it is corruption, reported, and the segment is cut there too so
// that replay stops at the damage instead of reading garbage.
func (s *Spool) check(n uint64, last bool) (int64, error) {
	f, err := os.OpenFile(s.segName(n), os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	var good int64
	var buf []byte
	for {
		rec, err := readRecord(r, buf)
		if err == io.EOF {
			return good, nil
		}
		if err != nil {
			if !last {
				s.log.Error("spool segment damaged; records after the damage are lost", "segment", n, "offset", good, "err", err)
			}
			if err := f.Truncate(good); err != nil {
				return 0, fmt.Errorf("spool: truncate torn record: %w", err)
			}
			return good, f.Sync()
		}
		buf = rec[:0]
		good += int64(recordHeader + len(rec))
	}
}

var errTorn = errors.New("torn or corrupt record")

func readRecord(r *bufio.Reader, buf []byte) ([]byte, error) {
	var hdr [recordHeader]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, errTorn
	}
	n := binary.LittleEndian.Uint32(hdr[:4])
	if n == 0 || n > maxRecord {
		return nil, errTorn
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, errTorn
	}
	if crc32.Checksum(buf, castagnoli) != binary.LittleEndian.Uint32(hdr[4:]) {
		return nil, errTorn
	}
	return buf, nil
}

func (s *Spool) openSegment() error {
	f, err := os.OpenFile(s.segName(s.seg), os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if d, err := os.Open(s.dir); err == nil {
		d.Sync() // make the new file's name durable
		d.Close()
	}
	s.f, s.segLen = f, 0
	s.mu.Lock()
	s.segSizes[s.seg] = 0
	s.durable = Pos{Seg: s.seg}
	s.mu.Unlock()
	return nil
}

// Append writes records and returns once they are durable on disk, or
// ErrFull without writing any when the spool is at its size bound.
func (s *Spool) Append(ctx context.Context, recs ...[]byte) error {
	var n int64
	for _, r := range recs {
		if len(r) == 0 || len(r) > maxRecord {
			return fmt.Errorf("spool: record of %d bytes", len(r))
		}
		n += int64(recordHeader + len(r))
	}
	ch, _ := s.chans.Get().(chan error)
	if ch == nil {
		ch = make(chan error, 1)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.size+n > s.maxSize {
		s.mu.Unlock()
		return ErrFull
	}
	for _, r := range recs {
		var hdr [recordHeader]byte
		binary.LittleEndian.PutUint32(hdr[:4], uint32(len(r)))
		binary.LittleEndian.PutUint32(hdr[4:], crc32.Checksum(r, castagnoli))
		s.pending = append(s.pending, hdr[:]...)
		s.pending = append(s.pending, r...)
	}
	s.size += n
	s.waiters = append(s.waiters, ch)
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	// Once queued the record will be written even if ctx ends; report the
	// real outcome so that no caller acknowledges a record that failed.
	err := <-ch
	s.chans.Put(ch)
	return err
}

// syncGap is the least time between the starts of two fsyncs while hits
// arrive concurrently. Under load an fsync every few hundred microseconds
// cost 7% of the collector's CPU for batches of six hits; waiting for more
// to join a batch costs each hit at most this much latency. A lone writer
// (the last batch had one record set) is never held back.
const syncGap = time.Millisecond

func (s *Spool) flusher() {
	defer close(s.done)
	var buf []byte
	var last time.Time
	busy := false // the last batch had several waiters
	for range s.kick {
		for {
			if d := syncGap - time.Since(last); busy && d > 0 {
				time.Sleep(d)
			}
			s.mu.Lock()
			buf, s.pending = s.pending, buf[:0]
			waiters := s.waiters
			s.waiters = nil
			closed := s.closed
			s.mu.Unlock()
			if len(waiters) == 0 {
				if closed {
					s.f.Close()
					return
				}
				break
			}
			last, busy = time.Now(), len(waiters) > 1
			err := s.write(buf)
			for _, w := range waiters {
				w <- err
			}
		}
	}
}

func (s *Spool) write(buf []byte) error {
	if _, err := s.f.Write(buf); err != nil {
		return fmt.Errorf("spool: write: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("spool: fsync: %w", err)
	}
	s.segLen += int64(len(buf))
	s.mu.Lock()
	s.syncs++
	s.segSizes[s.seg] = s.segLen
	s.durable = Pos{Seg: s.seg, Off: s.segLen}
	s.grow.Broadcast()
	s.mu.Unlock()
	if s.segLen >= s.segMax {
		old := s.f
		s.seg++
		if err := s.openSegment(); err != nil {
			s.seg--
			s.log.Error("spool: open next segment", "err", err)
			return nil // the records are durable; keep appending to the old file
		}
		old.Close()
	}
	return nil
}

// Syncs returns the number of fsyncs so far; with Append counts it shows
// how many hits share each one.
func (s *Spool) Syncs() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.syncs
}

// Size returns the bytes held (on disk and pending).
func (s *Spool) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// Release deletes whole segments before p's segment: their records are
// stored for good.
func (s *Spool) Release(p Pos) error {
	s.mu.Lock()
	var drop []uint64
	for n, size := range s.segSizes {
		if n < p.Seg && n != s.durable.Seg {
			drop = append(drop, n)
			s.size -= size
			delete(s.segSizes, n)
		}
	}
	s.mu.Unlock()
	for _, n := range drop {
		if err := os.Remove(s.segName(n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("spool: release: %w", err)
		}
	}
	return nil
}

// Close waits for pending appends to be written and stops the flusher.
// Readers blocked in Next return.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.grow.Broadcast()
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	close(s.kick)
	<-s.done
	return nil
}

// Reader follows the spool from a position, reading only durable records.
type Reader struct {
	s   *Spool
	pos Pos
	f   *os.File
	r   *bufio.Reader
	buf []byte
}

// NewReader starts reading at p (a checkpoint); positions in segments that
// were already released move to the oldest remaining one.
func (s *Spool) NewReader(p Pos) *Reader {
	return &Reader{s: s, pos: p}
}

// Pos is the position after the last record returned.
func (r *Reader) Pos() Pos { return r.pos }

// Close closes the reader's file.
func (r *Reader) Close() {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}

// Available reports whether a durable record lies beyond the reader.
func (r *Reader) Available() bool {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	return r.pos.Less(r.s.durable)
}

// Wait blocks until a record is available, the spool closes or ctx ends.
func (r *Reader) Wait(ctx context.Context) bool {
	stop := context.AfterFunc(ctx, func() {
		r.s.mu.Lock()
		r.s.grow.Broadcast()
		r.s.mu.Unlock()
	})
	defer stop()
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	for !r.pos.Less(r.s.durable) && !r.s.closed && ctx.Err() == nil {
		r.s.grow.Wait()
	}
	return r.pos.Less(r.s.durable)
}

// Next returns the next durable record, or ok=false if there is none now.
// The returned slice is valid until the next call.
func (r *Reader) Next() (rec []byte, at Pos, ok bool, err error) {
	for {
		r.s.mu.Lock()
		durable := r.s.durable
		segSize, known := r.s.segSizes[r.pos.Seg]
		var next uint64
		found := false
		for n := range r.s.segSizes {
			if n > r.pos.Seg && (!found || n < next) {
				next, found = n, true
			}
		}
		r.s.mu.Unlock()
		if !r.pos.Less(durable) {
			return nil, r.pos, false, nil
		}
		if !known || r.pos.Off >= segSize {
			// Past the end of this segment (or it is gone): go to the next.
			if !found {
				return nil, r.pos, false, nil
			}
			r.Close()
			r.pos = Pos{Seg: next}
			continue
		}
		if r.f == nil {
			f, err := os.Open(r.s.segName(r.pos.Seg))
			if err != nil {
				return nil, r.pos, false, fmt.Errorf("spool: read: %w", err)
			}
			if _, err := f.Seek(r.pos.Off, io.SeekStart); err != nil {
				f.Close()
				return nil, r.pos, false, fmt.Errorf("spool: read: %w", err)
			}
			r.f = f
			r.r = bufio.NewReaderSize(f, 1<<16)
		}
		at = r.pos
		rec, err := readRecord(r.r, r.buf)
		if err != nil {
			r.Close()
			return nil, r.pos, false, fmt.Errorf("spool: read at %d:%d: %w", r.pos.Seg, r.pos.Off, err)
		}
		r.buf = rec[:0]
		r.pos.Off += int64(recordHeader + len(rec))
		return rec, at, true, nil
	}
}
