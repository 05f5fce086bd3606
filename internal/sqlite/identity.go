package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"waymark.dev/waymark/internal/identity"
)

var _ identity.KeyStore = (*DB)(nil)

// IdentityKeys returns the identity keys that are not retired.
func (s *DB) IdentityKeys(ctx context.Context) ([]identity.Key, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, secret, created_at FROM identity_keys WHERE retired_at IS NULL ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: identity keys: %w", err)
	}
	defer rows.Close()
	var out []identity.Key
	for rows.Next() {
		var k identity.Key
		var secret []byte
		var created int64
		if err := rows.Scan(&k.ID, &secret, &created); err != nil {
			return nil, fmt.Errorf("sqlite: identity keys: %w", err)
		}
		if len(secret) != len(k.Secret) {
			return nil, fmt.Errorf("sqlite: identity key %d has a %d-byte secret", k.ID, len(secret))
		}
		copy(k.Secret[:], secret)
		k.Created = time.Unix(created, 0).UTC()
		out = append(out, k)
	}
	return out, rows.Err()
}

// AddIdentityKey stores a new identity key.
func (s *DB) AddIdentityKey(ctx context.Context, k identity.Key) error {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO identity_keys (id, secret, created_at) VALUES (?, ?, ?)`, k.ID, k.Secret[:], k.Created.Unix()); err != nil {
		return fmt.Errorf("sqlite: add identity key: %w", err)
	}
	return nil
}

// RetireIdentityKey retires an identity key.
func (s *DB) RetireIdentityKey(ctx context.Context, id uint32, at time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE identity_keys SET retired_at = ? WHERE id = ? AND retired_at IS NULL`, at.Unix(), id)
	if err != nil {
		return fmt.Errorf("sqlite: retire identity key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("key %d: %w", id, identity.ErrKeyNotFound)
	}
	return nil
}

// PutRemembered stores a visitor's sealed details until expires.
func (s *DB) PutRemembered(ctx context.Context, id identity.ID, sealed identity.Sealed, expires time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO remembered (visitor_id, key_id, data, updated_at, expires_at) VALUES (?,?,?,?,?)
		ON CONFLICT (visitor_id) DO UPDATE SET key_id = excluded.key_id, data = excluded.data, updated_at = excluded.updated_at, expires_at = excluded.expires_at`,
		id[:], sealed.KeyID, sealed.Data, s.now().UnixMilli(), expires.UnixMilli())
	if err != nil {
		return fmt.Errorf("sqlite: remember: %w", err)
	}
	return nil
}

// Remembered returns a visitor's sealed details, if any that have not
// expired at now.
func (s *DB) Remembered(ctx context.Context, id identity.ID, now time.Time) (identity.Sealed, bool, error) {
	var sealed identity.Sealed
	err := s.db.QueryRowContext(ctx, `SELECT key_id, data FROM remembered WHERE visitor_id = ? AND expires_at > ?`, id[:], now.UnixMilli()).Scan(&sealed.KeyID, &sealed.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return sealed, false, nil
	}
	if err != nil {
		return sealed, false, fmt.Errorf("sqlite: remembered: %w", err)
	}
	return sealed, true, nil
}

// ForgetRemembered deletes a visitor's details, and every expired entry.
func (s *DB) ForgetRemembered(ctx context.Context, id identity.ID, now time.Time) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM remembered WHERE visitor_id = ? OR expires_at <= ?`, id[:], now.UnixMilli()); err != nil {
		return fmt.Errorf("sqlite: forget remembered: %w", err)
	}
	return nil
}
