package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"waymark.dev/waymark/internal/risk"
)

var _ risk.Store = (*DB)(nil)

const deviceColumns = `id, account, name, current, previous, prev_until, retired, created_at, last_seen, network, browser, os, revoked`

func scanDevice(row pgx.Row) (*risk.Device, error) {
	var d risk.Device
	var id, cur, prev, retired []byte
	var prevUntil, created, seen int64
	if err := row.Scan(&id, &d.Account, &d.Name, &cur, &prev, &prevUntil, &retired, &created, &seen, &d.Network, &d.Browser, &d.OS, &d.Revoked); err != nil {
		return nil, err
	}
	copy(d.ID[:], id)
	copy(d.Current[:], cur)
	copy(d.Previous[:], prev)
	d.Retired = risk.UnpackHashes(retired)
	d.PrevUntil, d.Created, d.LastSeen = time.UnixMilli(prevUntil).UTC(), time.UnixMilli(created).UTC(), time.UnixMilli(seen).UTC()
	return &d, nil
}

func deviceArgs(d *risk.Device) []any {
	retired := risk.PackHashes(d.Retired)
	return []any{d.ID[:], d.Account, d.Name, d.Current[:], d.Previous[:], d.PrevUntil.UnixMilli(), retired, d.Created.UnixMilli(), d.LastSeen.UnixMilli(),
		d.Network, d.Browser, d.OS, d.Revoked}
}

// Device returns a device, or risk.ErrNotFound.
func (s *DB) Device(ctx context.Context, id risk.DeviceID) (*risk.Device, error) {
	d, err := scanDevice(s.pool.QueryRow(ctx, deviceSQL, id[:]))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, risk.ErrNotFound
	}
	if err != nil {
		return nil, failed("postgres: device: %w", err)
	}
	return d, nil
}

// SaveDevice stores a device, replacing its earlier state.
func (s *DB) SaveDevice(ctx context.Context, d *risk.Device) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO risk_devices (`+deviceColumns+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, current = excluded.current, previous = excluded.previous,
		prev_until = excluded.prev_until, retired = excluded.retired, last_seen = excluded.last_seen, network = excluded.network,
		browser = excluded.browser, os = excluded.os, revoked = excluded.revoked`, deviceArgs(d)...)
	if err != nil {
		return failed("postgres: save device: %w", err)
	}
	return nil
}

// SaveRotated stores a rotated device only if no other node rotated it
// since it was read: the stored current secret must still be the one d
// rotated away (d.Previous).
func (s *DB) SaveRotated(ctx context.Context, d *risk.Device) (bool, error) {
	tag, err := s.pool.Exec(ctx, saveRotatedSQL, rotatedArgs(d)...)
	if err != nil {
		return false, failed("postgres: save rotated device: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

var _ risk.RotationStore = (*DB)(nil)

// Devices lists an account's devices, most recently seen first.
func (s *DB) Devices(ctx context.Context, account string) ([]*risk.Device, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+deviceColumns+` FROM risk_devices WHERE account = $1 ORDER BY last_seen DESC`, account)
	if err != nil {
		return nil, failed("postgres: devices: %w", err)
	}
	defer rows.Close()
	var out []*risk.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, failed("postgres: devices: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// AddEvent appends a login or device event; a successful login also
// records its network as known for the account, in the same statement.
func (s *DB) AddEvent(ctx context.Context, e risk.Event) error {
	_, err := s.pool.Exec(ctx, addEventSQL, eventArgs(e)...)
	if err != nil {
		return failed("postgres: risk event: %w", err)
	}
	return nil
}

// Events returns an account's latest events, newest first.
func (s *DB) Events(ctx context.Context, account string, limit int) ([]risk.Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT account, kind, at, network, device, decision, detail FROM risk_events WHERE account = $1 ORDER BY at DESC, id DESC LIMIT $2`, account, max(limit, 0))
	if err != nil {
		return nil, failed("postgres: risk events: %w", err)
	}
	defer rows.Close()
	var out []risk.Event
	for rows.Next() {
		var e risk.Event
		var at int64
		var dev []byte
		if err := rows.Scan(&e.Account, &e.Kind, &at, &e.Network, &dev, &e.Decision, &e.Detail); err != nil {
			return nil, failed("postgres: risk events: %w", err)
		}
		e.Time = time.UnixMilli(at).UTC()
		copy(e.Device[:], dev)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Counts answers a decision's velocity questions in one round trip, each
// count stopping at its limit. All nodes share them: a burst of failures
// spread over many identity nodes is counted whole.
func (s *DB) Counts(ctx context.Context, account, network string, since time.Time, limit risk.Counts) (risk.Counts, error) {
	c, err := scanCounts(s.pool.QueryRow(ctx, countsSQL, countsArgs(account, network, since, limit)...))
	if err != nil {
		return c, failed("postgres: risk counts: %w", err)
	}
	return c, nil
}

// The statements of a decision, shared by the single calls and the
// batches of Lookup and Record.
const (
	addEventSQL = `WITH e AS (
			INSERT INTO risk_events (account, kind, at, network, device, decision, detail) VALUES ($1,$2,$3,$4,$5,$6,$7)
			RETURNING account, kind, at, network)
		INSERT INTO risk_networks (account, network, first_seen)
			SELECT account, network, at FROM e WHERE kind = 'success' AND network <> ''
		ON CONFLICT (account, network) DO NOTHING`
	saveRotatedSQL = `UPDATE risk_devices SET name = $2, current = $3, previous = $4, prev_until = $5, retired = $6,
		last_seen = $7, network = $8, browser = $9, os = $10, revoked = $11 WHERE id = $1 AND current = $4`
	countsSQL = `SELECT
		(SELECT count(*) FROM (SELECT 1 FROM risk_events WHERE account = $1 AND kind = 'failure' AND at >= $3 LIMIT $4) a),
		(SELECT count(*) FROM (SELECT 1 FROM risk_events WHERE network = $2 AND network <> '' AND kind = 'failure' AND at >= $3 LIMIT $5) b),
		(SELECT count(*) FROM (SELECT DISTINCT account FROM risk_events WHERE network = $2 AND network <> '' AND kind IN ('attempt', 'success', 'failure') AND at >= $3 LIMIT $6) c),
		EXISTS (SELECT 1 FROM risk_networks WHERE account = $1 AND network = $2 AND $2 <> '')`
	deviceSQL = `SELECT ` + deviceColumns + ` FROM risk_devices WHERE id = $1`
)

func eventArgs(e risk.Event) []any {
	var dev []byte
	if e.Device != (risk.DeviceID{}) {
		dev = e.Device[:]
	}
	return []any{e.Account, e.Kind, e.Time.UnixMilli(), e.Network, dev, e.Decision, e.Detail}
}

func rotatedArgs(d *risk.Device) []any {
	return []any{d.ID[:], d.Name, d.Current[:], d.Previous[:], d.PrevUntil.UnixMilli(), risk.PackHashes(d.Retired), d.LastSeen.UnixMilli(),
		d.Network, d.Browser, d.OS, d.Revoked}
}

func countsArgs(account, network string, since time.Time, limit risk.Counts) []any {
	return []any{account, network, since.UnixMilli(), max(limit.AccountFailures, 1), max(limit.ClientFailures, 1), max(limit.AccountsFromClient, 1)}
}

func scanCounts(row pgx.Row) (risk.Counts, error) {
	var c risk.Counts
	var acct, client, accts int64
	if err := row.Scan(&acct, &client, &accts, &c.KnownNetwork); err != nil {
		return c, err
	}
	c.AccountFailures, c.ClientFailures, c.AccountsFromClient = int(acct), int(client), int(accts)
	return c, nil
}

var (
	_ risk.LookupStore = (*DB)(nil)
	_ risk.RecordStore = (*DB)(nil)
)

// Lookup reads a decision's device (id nil: none; not found: nil) and its
// counts in one round trip: the two statements go out as one batch.
func (s *DB) Lookup(ctx context.Context, id *risk.DeviceID, account, network string, since time.Time, limit risk.Counts) (*risk.Device, risk.Counts, error) {
	if id == nil {
		c, err := s.Counts(ctx, account, network, since, limit)
		return nil, c, err
	}
	b := &pgx.Batch{}
	b.Queue(deviceSQL, id[:])
	b.Queue(countsSQL, countsArgs(account, network, since, limit)...)
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	d, err := scanDevice(br.QueryRow())
	if errors.Is(err, pgx.ErrNoRows) {
		d = nil
	} else if err != nil {
		return nil, risk.Counts{}, failed("postgres: device: %w", err)
	}
	c, err := scanCounts(br.QueryRow())
	if err != nil {
		return nil, c, failed("postgres: risk counts: %w", err)
	}
	if err := br.Close(); err != nil {
		return nil, c, failed("postgres: device and counts: %w", err)
	}
	return d, c, nil
}

// Record writes a decision's event and, when its device rotated, the
// device (only if no other node rotated it since it was read), in one
// round trip and one transaction.
func (s *DB) Record(ctx context.Context, e risk.Event, rotated *risk.Device) (bool, error) {
	if rotated == nil {
		return true, s.AddEvent(ctx, e)
	}
	b := &pgx.Batch{}
	b.Queue(addEventSQL, eventArgs(e)...)
	b.Queue(saveRotatedSQL, rotatedArgs(rotated)...)
	br := s.pool.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return false, failed("postgres: risk event: %w", err)
	}
	tag, err := br.Exec()
	if err != nil {
		return false, failed("postgres: save rotated device: %w", err)
	}
	if err := br.Close(); err != nil {
		return false, failed("postgres: risk event and device: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// VacuumRisk runs VACUUM ANALYZE on the risk tables, as autovacuum would
// in time. Right after a bulk import the tables have no visibility map
// and no statistics, and the first reads set every page's hint bits (a
// write per page): a benchmark measured then measures the cleanup.
func (s *DB) VacuumRisk(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, `VACUUM ANALYZE risk_devices, risk_events, risk_networks`); err != nil {
		return failed("postgres: vacuum risk tables: %w", err)
	}
	return nil
}

// ImportRisk adds devices and events in one transaction (bench risk and
// migrations from another store).
func (s *DB) ImportRisk(ctx context.Context, devices []*risk.Device, events []risk.Event) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		drows := make([][]any, len(devices))
		for i, d := range devices {
			drows[i] = deviceArgs(d)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"risk_devices"},
			[]string{"id", "account", "name", "current", "previous", "prev_until", "retired", "created_at", "last_seen", "network", "browser", "os", "revoked"},
			pgx.CopyFromRows(drows)); err != nil {
			return failed("postgres: import devices: %w", err)
		}
		erows := make([][]any, len(events))
		for i, e := range events {
			var dev []byte
			if e.Device != (risk.DeviceID{}) {
				dev = e.Device[:]
			}
			erows[i] = []any{e.Account, e.Kind, e.Time.UnixMilli(), e.Network, dev, e.Decision, e.Detail}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"risk_events"}, []string{"account", "kind", "at", "network", "device", "decision", "detail"},
			pgx.CopyFromRows(erows)); err != nil {
			return failed("postgres: import events: %w", err)
		}
		// The networks of this import's successful logins only (a
		// statement over the whole table would make chunked imports
		// quadratic).
		first := map[[2]string]int64{}
		for _, e := range events {
			if e.Kind != risk.EventSuccess || e.Network == "" {
				continue
			}
			k := [2]string{e.Account, e.Network}
			if at, ok := first[k]; !ok || e.Time.UnixMilli() < at {
				first[k] = e.Time.UnixMilli()
			}
		}
		if len(first) > 0 {
			accts, nets, ats := make([]string, 0, len(first)), make([]string, 0, len(first)), make([]int64, 0, len(first))
			for k, at := range first {
				accts, nets, ats = append(accts, k[0]), append(nets, k[1]), append(ats, at)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO risk_networks (account, network, first_seen)
				SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
				ON CONFLICT (account, network) DO UPDATE SET first_seen = least(risk_networks.first_seen, excluded.first_seen)`, accts, nets, ats); err != nil {
				return failed("postgres: import networks: %w", err)
			}
		}
		return nil
	})
}
