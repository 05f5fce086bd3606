package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"waymark.dev/waymark/internal/risk"
)

var _ risk.Store = (*DB)(nil)

const deviceColumns = `id, account, name, current, previous, prev_until, retired, created_at, last_seen, network, browser, os, revoked`

func scanDevice(sc interface{ Scan(...any) error }) (*risk.Device, error) {
	var d risk.Device
	var id, cur, prev, retired []byte
	var prevUntil, created, seen int64
	var revoked int
	if err := sc.Scan(&id, &d.Account, &d.Name, &cur, &prev, &prevUntil, &retired, &created, &seen, &d.Network, &d.Browser, &d.OS, &revoked); err != nil {
		return nil, err
	}
	copy(d.ID[:], id)
	copy(d.Current[:], cur)
	copy(d.Previous[:], prev)
	d.Retired = risk.UnpackHashes(retired)
	d.PrevUntil, d.Created, d.LastSeen = time.UnixMilli(prevUntil).UTC(), time.UnixMilli(created).UTC(), time.UnixMilli(seen).UTC()
	d.Revoked = revoked != 0
	return &d, nil
}

// Device returns a device.
func (s *DB) Device(ctx context.Context, id risk.DeviceID) (*risk.Device, error) {
	if s.journal != nil {
		if d, ok := s.journal.pendingDevice(id); ok {
			return d, nil
		}
	}
	st, err := s.stmt(ctx, `SELECT `+deviceColumns+` FROM risk_devices WHERE id = ?`)
	if err != nil {
		return nil, err
	}
	d, err := scanDevice(st.QueryRowContext(ctx, id[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, risk.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: device: %w", err)
	}
	return d, nil
}

const upsertDevice = `INSERT INTO risk_devices (` + deviceColumns + `) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, current = excluded.current, previous = excluded.previous,
		prev_until = excluded.prev_until, retired = excluded.retired, last_seen = excluded.last_seen, network = excluded.network,
		browser = excluded.browser, os = excluded.os, revoked = excluded.revoked`

func deviceArgs(d *risk.Device) []any {
	retired := risk.PackHashes(d.Retired)
	revoked := 0
	if d.Revoked {
		revoked = 1
	}
	return []any{d.ID[:], d.Account, d.Name, d.Current[:], d.Previous[:], d.PrevUntil.UnixMilli(), retired, d.Created.UnixMilli(), d.LastSeen.UnixMilli(),
		d.Network, d.Browser, d.OS, revoked}
}

// SaveDevice inserts or updates a device (through the journal when it is
// on).
func (s *DB) SaveDevice(ctx context.Context, d *risk.Device) error {
	if s.journal != nil {
		c := *d
		c.Retired = append([]risk.Hash(nil), d.Retired...)
		return s.journal.append(journalRecord{Device: &c})
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	st, err := s.stmt(ctx, upsertDevice)
	if err != nil {
		return err
	}
	if _, err := st.ExecContext(ctx, deviceArgs(d)...); err != nil {
		return fmt.Errorf("sqlite: save device: %w", err)
	}
	return nil
}

// Devices lists an account's devices, newest first.
func (s *DB) Devices(ctx context.Context, account string) ([]*risk.Device, error) {
	// The journal's pending devices are taken before the table is read: a
	// device applied in between is then in both, and the newer copy wins.
	// (Taken after, a device applied in between would be in neither.)
	var pending []*risk.Device
	if s.journal != nil {
		pending = s.journal.pendingDevicesOf(account)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+deviceColumns+` FROM risk_devices WHERE account = ? ORDER BY last_seen DESC`, account)
	if err != nil {
		return nil, fmt.Errorf("sqlite: devices: %w", err)
	}
	defer rows.Close()
	var out []*risk.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: devices: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(pending) > 0 {
		for _, p := range pending {
			if i := slices.IndexFunc(out, func(d *risk.Device) bool { return d.ID == p.ID }); i < 0 {
				out = append(out, p)
			} else if !p.LastSeen.Before(out[i].LastSeen) {
				out[i] = p
			}
		}
		slices.SortStableFunc(out, func(a, b *risk.Device) int { return b.LastSeen.Compare(a.LastSeen) })
	}
	return out, nil
}

// AddEvent appends to an account's audit trail.
func (s *DB) AddEvent(ctx context.Context, e risk.Event) error {
	if err := s.ensureRecent(ctx); err != nil {
		return err
	}
	at := e.Time.UnixMilli()
	if s.journal != nil {
		c := e
		r := journalRecord{Event: &c}
		if e.Device != (risk.DeviceID{}) {
			r.Dev = append([]byte(nil), e.Device[:]...)
		}
		if err := s.journal.append(r); err != nil {
			return err
		}
		s.countLogin(e, at)
		return nil
	}
	var dev any
	if e.Device != (risk.DeviceID{}) {
		dev = e.Device[:]
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	st, err := s.stmt(ctx, `INSERT INTO risk_events (account, kind, at, network, device, decision, detail) VALUES (?,?,?,?,?,?,?)`)
	if err != nil {
		return err
	}
	if _, err := st.ExecContext(ctx,
		e.Account, e.Kind, at, e.Network, dev, e.Decision, e.Detail); err != nil {
		return fmt.Errorf("sqlite: risk event: %w", err)
	}
	s.countLogin(e, at) // under writeMu: a rebuild cannot read it and count it too
	return nil
}

// countLogin adds a stored login event to the recent counts.
func (s *DB) countLogin(e risk.Event, at int64) {
	if !isLogin(e.Kind) {
		return
	}
	s.recent.mu.Lock()
	s.recent.add(at, e.Account, e.Network, e.Kind == risk.EventFailure)
	s.recent.mu.Unlock()
}

// Events returns an account's latest events, newest first (pending ones
// of the journal included).
func (s *DB) Events(ctx context.Context, account string, limit int) ([]risk.Event, error) {
	var pending []risk.Event
	var seqs map[uint64]bool
	if s.journal != nil {
		pending, seqs = s.journal.pendingEventsOf(account)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT account, kind, at, network, device, decision, detail, jseq FROM risk_events WHERE account = ? ORDER BY at DESC, id DESC LIMIT ?`, account, limit+len(pending))
	if err != nil {
		return nil, fmt.Errorf("sqlite: risk events: %w", err)
	}
	defer rows.Close()
	var out []risk.Event
	for rows.Next() {
		var e risk.Event
		var at int64
		var dev []byte
		var jseq sql.NullInt64
		if err := rows.Scan(&e.Account, &e.Kind, &at, &e.Network, &dev, &e.Decision, &e.Detail, &jseq); err != nil {
			return nil, fmt.Errorf("sqlite: risk events: %w", err)
		}
		if jseq.Valid && seqs[uint64(jseq.Int64)] {
			continue // applied while we looked: it is among the pending ones
		}
		e.Time = time.UnixMilli(at).UTC()
		copy(e.Device[:], dev)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(pending) > 0 {
		slices.Reverse(pending)
		out = append(pending, out...)
		slices.SortStableFunc(out, func(a, b risk.Event) int { return b.Time.Compare(a.Time) })
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Counts answers the recent-activity questions of a login decision: the
// velocity counts from memory (riskrecent.go), whether the account has
// logged in from the network before from risk_networks.
func (s *DB) Counts(ctx context.Context, account, network string, since time.Time, limit risk.Counts) (risk.Counts, error) {
	if err := s.ensureRecent(ctx); err != nil {
		return risk.Counts{}, err
	}
	c := s.recentCounts(account, network, since)
	if network == "" {
		return c, nil
	}
	st, err := s.stmt(ctx, `SELECT EXISTS (SELECT 1 FROM risk_networks WHERE account = ? AND network = ?)`)
	if err != nil {
		return c, err
	}
	if s.journal != nil && s.journal.pendingNetwork(account, network) {
		c.KnownNetwork = true
		return c, nil
	}
	if err := st.QueryRowContext(ctx, account, network).Scan(&c.KnownNetwork); err != nil {
		return c, fmt.Errorf("sqlite: risk counts: %w", err)
	}
	return c, nil
}

// ImportRisk stores many devices and events in one transaction (imports
// and benchmarks).
func (s *DB) ImportRisk(ctx context.Context, devices []*risk.Device, events []risk.Event) error {
	if s.journal != nil {
		if err := s.journal.flush(ctx); err != nil {
			return err
		}
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: import: %w", err)
	}
	defer tx.Rollback()
	ds, err := tx.PrepareContext(ctx, `INSERT INTO risk_devices (`+deviceColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`)
	if err != nil {
		return fmt.Errorf("sqlite: import: %w", err)
	}
	defer ds.Close()
	for _, d := range devices {
		if _, err := ds.ExecContext(ctx, deviceArgs(d)...); err != nil {
			return fmt.Errorf("sqlite: import device: %w", err)
		}
	}
	es, err := tx.PrepareContext(ctx, `INSERT INTO risk_events (account, kind, at, network, device, decision, detail) VALUES (?,?,?,?,?,?,?)`)
	if err != nil {
		return fmt.Errorf("sqlite: import: %w", err)
	}
	defer es.Close()
	for _, e := range events {
		var dev any
		if e.Device != (risk.DeviceID{}) {
			dev = e.Device[:]
		}
		if _, err := es.ExecContext(ctx, e.Account, e.Kind, e.Time.UnixMilli(), e.Network, dev, e.Decision, e.Detail); err != nil {
			return fmt.Errorf("sqlite: import event: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: import: %w", err)
	}
	// The next decision rebuilds the recent counts with what came in.
	s.recent.loaded.Store(false)
	// A bulk import outruns the background checkpointer; the importer
	// pays for its own checkpoint so the WAL does not grow without bound.
	if _, err := s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("sqlite: import checkpoint: %w", err)
	}
	return nil
}
