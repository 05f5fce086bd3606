package sqlite

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"time"

	"waymark.dev/waymark/internal/risk"
)

// The risk journal takes SQLite's disk syncs off the path of a login
// decision. With it, SaveDevice and AddEvent append their record to a log
// file (one write, no sync: a process crash loses nothing, as with the
// WAL's synchronous=NORMAL) and to memory, and return. A background
// writer applies the records in batches, one transaction each, and notes
// the last record's number in the same transaction; on start any record
// the database has not seen is applied before anything else. Reads look
// at the records not yet applied first, so a decision always sees the
// writes before it.
//
// Only the server enables it (EnableRiskJournal); CLI commands that open
// the same database do not write risk data. An exclusive lock on the file
// keeps a second server from using it.
type riskJournal struct {
	db   *DB
	log  *slog.Logger
	f    *os.File
	path string

	mu      sync.Mutex
	size    int64 // bytes in the file
	seq     uint64
	pending []journalRecord
	devices map[risk.DeviceID]*journalRecord // newest pending save per device
	events  map[string][]*journalRecord      // pending events per account
	nets    map[string]uint64                // account\x00network of pending successes -> seq
	space   *sync.Cond                       // signalled when pending shrinks

	flushMu sync.Mutex // one batch at a time (the writer, Close, imports)

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

// journalRecord is one line of the journal.
type journalRecord struct {
	Seq    uint64       `json:"seq"`
	Device *risk.Device `json:"device,omitempty"`
	Event  *risk.Event  `json:"event,omitempty"`
	Dev    []byte       `json:"event_device,omitempty"` // the event's device id
}

// maxPending bounds the records in memory: past it, writers wait for the
// background writer (the disk is slower than the decisions for longer
// than a burst).
const maxPending = 200000

// journalBatchEvery is how long the background writer lets records
// gather when they come one at a time.
const journalBatchEvery = 5 * time.Millisecond

// EnableRiskJournal turns the journal on with its file at path, applying
// what a previous run left in it first.
func (s *DB) EnableRiskJournal(ctx context.Context, path string, log *slog.Logger) error {
	if s.journal != nil {
		return errors.New("sqlite: risk journal already enabled")
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: risk journal: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("sqlite: risk journal %s is in use by another process", path)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	j := &riskJournal{db: s, log: log, f: f, path: path, devices: map[risk.DeviceID]*journalRecord{}, events: map[string][]*journalRecord{},
		nets: map[string]uint64{}, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	j.space = sync.NewCond(&j.mu)
	if err := j.replay(ctx); err != nil {
		f.Close()
		return err
	}
	s.journal = j
	go j.run()
	return nil
}

// replay applies the records the database has not seen, then empties the
// file.
func (j *riskJournal) replay(ctx context.Context) error {
	var applied uint64
	if err := j.db.db.QueryRowContext(ctx, `SELECT applied FROM risk_journal WHERE id = 1`).Scan(&applied); err != nil {
		return fmt.Errorf("sqlite: risk journal: %w", err)
	}
	j.seq = applied
	var recs []journalRecord
	sc := bufio.NewScanner(j.f)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var r journalRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			// A torn last line (the process died mid-write): its decision
			// never returned, so nothing accepted is lost.
			j.log.Warn("risk journal: unreadable record skipped", "err", err)
			continue
		}
		j.seq = max(j.seq, r.Seq)
		if r.Seq > applied {
			recs = append(recs, r)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("sqlite: risk journal: %w", err)
	}
	if len(recs) > 0 {
		if err := j.apply(ctx, recs); err != nil {
			return err
		}
		j.log.Info("risk journal replayed", "records", len(recs))
	}
	if err := j.f.Truncate(0); err != nil {
		return fmt.Errorf("sqlite: risk journal: %w", err)
	}
	_, err := j.f.Seek(0, io.SeekStart)
	return err
}

// append writes a record and keeps it pending until applied.
func (j *riskJournal) append(r journalRecord) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for len(j.pending) >= maxPending {
		j.space.Wait()
	}
	j.seq++
	r.Seq = j.seq
	line, err := json.Marshal(r)
	if err != nil {
		j.seq--
		return fmt.Errorf("sqlite: risk journal: %w", err)
	}
	n, err := j.f.Write(append(line, '\n'))
	j.size += int64(n)
	if err != nil {
		j.seq--
		return fmt.Errorf("sqlite: risk journal: %w", err)
	}
	j.pending = append(j.pending, r)
	p := &j.pending[len(j.pending)-1]
	// Pointers into pending move when it grows; the maps hold copies.
	rec := *p
	switch {
	case r.Device != nil:
		j.devices[r.Device.ID] = &rec
	case r.Event != nil:
		j.events[r.Event.Account] = append(j.events[r.Event.Account], &rec)
		if r.Event.Kind == risk.EventSuccess && r.Event.Network != "" {
			j.nets[r.Event.Account+"\x00"+r.Event.Network] = r.Seq
		}
	}
	select {
	case j.wake <- struct{}{}:
	default:
	}
	return nil
}

func (j *riskJournal) run() {
	defer close(j.done)
	t := time.NewTicker(journalBatchEvery)
	defer t.Stop()
	backoff := time.Duration(0)
	for {
		select {
		case <-j.stop:
			j.flush(context.Background())
			return
		case <-j.wake:
		case <-t.C:
		}
		if backoff > 0 {
			time.Sleep(backoff)
		}
		if err := j.flush(context.Background()); err != nil {
			backoff = min(max(2*backoff, 10*time.Millisecond), time.Second)
			j.log.Error("risk journal: applying failed; the records stay in the journal and are retried", "err", err)
			continue
		}
		backoff = 0
	}
}

// flush applies every pending record.
func (j *riskJournal) flush(ctx context.Context) error {
	j.flushMu.Lock()
	defer j.flushMu.Unlock()
	j.mu.Lock()
	batch := append([]journalRecord(nil), j.pending...)
	j.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := j.apply(ctx, batch); err != nil {
		return err
	}
	last := batch[len(batch)-1].Seq
	j.mu.Lock()
	defer j.mu.Unlock()
	j.pending = j.pending[len(batch):]
	for id, r := range j.devices {
		if r.Seq <= last {
			delete(j.devices, id)
		}
	}
	for a, rs := range j.events {
		k := 0
		for k < len(rs) && rs[k].Seq <= last {
			k++
		}
		if k == len(rs) {
			delete(j.events, a)
		} else {
			j.events[a] = rs[k:]
		}
	}
	for n, seq := range j.nets {
		if seq <= last {
			delete(j.nets, n)
		}
	}
	switch {
	case len(j.pending) == 0:
		j.pending = nil
		// Everything is in the database: start the file over.
		if err := j.f.Truncate(0); err == nil {
			j.f.Seek(0, io.SeekStart)
			j.size = 0
		}
	case j.size > maxJournalBytes:
		// Never empty under steady load: rewrite it with what is pending.
		if err := j.rewrite(); err != nil {
			j.log.Error("risk journal: not rewritten; it keeps growing until the next try", "err", err)
		}
	}
	j.space.Broadcast()
	return nil
}

// maxJournalBytes is the size past which the journal is rewritten with
// only its pending records.
const maxJournalBytes = 64 << 20

// rewrite replaces the file with one holding the pending records; the
// caller holds mu.
func (j *riskJournal) rewrite() error {
	tmp := j.path + ".new"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return err
	}
	w := bufio.NewWriter(f)
	var size int64
	for _, r := range j.pending {
		line, err := json.Marshal(r)
		if err != nil {
			f.Close()
			return err
		}
		n, _ := w.Write(append(line, '\n'))
		size += int64(n)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := os.Rename(tmp, j.path); err != nil {
		f.Close()
		return err
	}
	j.f.Close()
	j.f, j.size = f, size
	return nil
}

// apply writes records to the database in one transaction, with the last
// one's number.
func (j *riskJournal) apply(ctx context.Context, recs []journalRecord) error {
	s := j.db
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ds, err := tx.PrepareContext(ctx, upsertDevice)
	if err != nil {
		return err
	}
	defer ds.Close()
	es, err := tx.PrepareContext(ctx, `INSERT INTO risk_events (account, kind, at, network, device, decision, detail, jseq) VALUES (?,?,?,?,?,?,?,?)`)
	if err != nil {
		return err
	}
	defer es.Close()
	for _, r := range recs {
		switch {
		case r.Device != nil:
			if _, err := ds.ExecContext(ctx, deviceArgs(r.Device)...); err != nil {
				return fmt.Errorf("sqlite: risk journal: device: %w", err)
			}
		case r.Event != nil:
			e := r.Event
			var dev any
			if len(r.Dev) > 0 {
				dev = r.Dev
			}
			if _, err := es.ExecContext(ctx, e.Account, e.Kind, e.Time.UnixMilli(), e.Network, dev, e.Decision, e.Detail, r.Seq); err != nil {
				return fmt.Errorf("sqlite: risk journal: event: %w", err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE risk_journal SET applied = ? WHERE id = 1`, recs[len(recs)-1].Seq); err != nil {
		return err
	}
	return tx.Commit()
}

// close applies what is pending and releases the file.
func (j *riskJournal) close() {
	close(j.stop)
	<-j.done
	j.f.Close()
}

// pendingDevice returns a copy of a device's newest pending state.
func (j *riskJournal) pendingDevice(id risk.DeviceID) (*risk.Device, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	r, ok := j.devices[id]
	if !ok {
		return nil, false
	}
	d := *r.Device
	d.Retired = append([]risk.Hash(nil), d.Retired...)
	return &d, true
}

// pendingDevicesOf returns the pending devices of an account.
func (j *riskJournal) pendingDevicesOf(account string) []*risk.Device {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []*risk.Device
	for _, r := range j.devices {
		if r.Device.Account == account {
			d := *r.Device
			out = append(out, &d)
		}
	}
	return out
}

// pendingEventsOf returns an account's pending events, oldest first,
// with their numbers.
func (j *riskJournal) pendingEventsOf(account string) ([]risk.Event, map[uint64]bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	seqs := map[uint64]bool{}
	var out []risk.Event
	for _, r := range j.events[account] {
		e := *r.Event
		copy(e.Device[:], r.Dev)
		out = append(out, e)
		seqs[r.Seq] = true
	}
	return out, seqs
}

func (j *riskJournal) pendingNetwork(account, network string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	_, ok := j.nets[account+"\x00"+network]
	return ok
}
