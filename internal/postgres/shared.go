package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"waymark.dev/waymark/internal/integrity"
	"waymark.dev/waymark/internal/threats"
)

var (
	_ threats.SharedStore = (*DB)(nil)
	_ integrity.KeyStore  = (*DB)(nil)
)

// ThreatVersion changes whenever the shared threat entries change.
func (s *DB) ThreatVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.pool.QueryRow(ctx, `SELECT version FROM threat_version WHERE id = 1`).Scan(&v); err != nil {
		return 0, failed("postgres: threat version: %w", err)
	}
	return v, nil
}

// ThreatEntries returns all shared threat entries.
func (s *DB) ThreatEntries(ctx context.Context) ([]threats.Entry, error) {
	rows, err := s.pool.Query(ctx, `SELECT source, expr, list, added_at FROM threat_entries ORDER BY source, expr, list`)
	if err != nil {
		return nil, failed("postgres: threat entries: %w", err)
	}
	defer rows.Close()
	var out []threats.Entry
	for rows.Next() {
		var e threats.Entry
		var list int16
		var added int64
		if err := rows.Scan(&e.Source, &e.Expr, &list, &added); err != nil {
			return nil, failed("postgres: threat entries: %w", err)
		}
		e.List, e.Added = threats.List(list), time.Unix(added, 0).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

// ReplaceThreatSource makes entries a source's whole content in one
// transaction and bumps the version; it returns the source's former
// number of entries.
func (s *DB) ReplaceThreatSource(ctx context.Context, source string, entries []threats.Entry) (int, error) {
	var before int64
	now := s.now()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM threat_entries WHERE source = $1`, source)
		if err != nil {
			return err
		}
		before = tag.RowsAffected()
		seen := map[[2]string]bool{}
		rows := make([][]any, 0, len(entries))
		for _, e := range entries {
			k := [2]string{e.Expr, e.List.String()}
			if seen[k] {
				continue // a feed may list an expression twice
			}
			seen[k] = true
			added := e.Added
			if added.IsZero() {
				added = now
			}
			rows = append(rows, []any{source, e.Expr, int16(e.List), added.Unix()})
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"threat_entries"}, []string{"source", "expr", "list", "added_at"}, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE threat_version SET version = version + 1 WHERE id = 1`)
		return err
	})
	if err != nil {
		return 0, failed("postgres: replace threat source %s: %w", source, err)
	}
	return int(before), nil
}

// SigningKeys returns the shared signing keys, oldest first.
func (s *DB) SigningKeys(ctx context.Context) ([]integrity.SigningKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, created_at, seed FROM signing_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, failed("postgres: signing keys: %w", err)
	}
	defer rows.Close()
	var out []integrity.SigningKey
	for rows.Next() {
		var k integrity.SigningKey
		var created int64
		if err := rows.Scan(&k.ID, &created, &k.Seed); err != nil {
			return nil, failed("postgres: signing keys: %w", err)
		}
		k.Created = time.Unix(0, created).UTC()
		out = append(out, k)
	}
	return out, rows.Err()
}

// AddSigningKey stores a new signing key.
func (s *DB) AddSigningKey(ctx context.Context, k integrity.SigningKey) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO signing_keys (id, created_at, seed) VALUES ($1, $2, $3)`, k.ID, k.Created.UnixNano(), k.Seed); err != nil {
		return failed("postgres: add signing key: %w", err)
	}
	return nil
}

// RemoveSigningKey removes a signing key.
func (s *DB) RemoveSigningKey(ctx context.Context, id string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM signing_keys WHERE id = $1`, id)
	if err != nil {
		return false, failed("postgres: remove signing key: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}
