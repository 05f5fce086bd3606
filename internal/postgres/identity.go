package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"waymark.dev/waymark/internal/admin"
	"waymark.dev/waymark/internal/identity"
	"waymark.dev/waymark/internal/proxytoken"
)

var (
	_ admin.Store            = (*DB)(nil)
	_ identity.KeyStore      = (*DB)(nil)
	_ identity.RememberStore = (*DB)(nil)
	_ proxytoken.TokenStore  = (*DB)(nil)
)

// PasswordHash returns the dashboard's admin password hash.
func (s *DB) PasswordHash(ctx context.Context) (string, error) {
	var h string
	err := s.pool.QueryRow(ctx, `SELECT password_hash FROM admin WHERE id = 1`).Scan(&h)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", admin.ErrNotFound
	}
	if err != nil {
		return "", failed("postgres: admin password: %w", err)
	}
	return h, nil
}

// SetPasswordHash stores the admin password hash.
func (s *DB) SetPasswordHash(ctx context.Context, hash string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO admin (id, password_hash, updated_at) VALUES (1, $1, $2)
		ON CONFLICT (id) DO UPDATE SET password_hash = excluded.password_hash, updated_at = excluded.updated_at`, hash, s.now().Unix())
	if err != nil {
		return failed("postgres: set admin password: %w", err)
	}
	return nil
}

// PutSession stores a dashboard session (times to the second).
func (s *DB) PutSession(ctx context.Context, x admin.Session) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO admin_sessions (token_hash, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		x.TokenHash, x.CSRF, x.Created.Unix(), x.Expires.Unix())
	if err != nil {
		return failed("postgres: put admin session: %w", err)
	}
	return nil
}

// SessionByHash finds a dashboard session by its token's hash.
func (s *DB) SessionByHash(ctx context.Context, tokenHash []byte) (admin.Session, error) {
	x := admin.Session{TokenHash: tokenHash}
	var created, expires int64
	err := s.pool.QueryRow(ctx, `SELECT csrf, created_at, expires_at FROM admin_sessions WHERE token_hash = $1`, tokenHash).Scan(&x.CSRF, &created, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return x, admin.ErrNotFound
	}
	if err != nil {
		return x, failed("postgres: admin session: %w", err)
	}
	x.Created, x.Expires = time.Unix(created, 0).UTC(), time.Unix(expires, 0).UTC()
	return x, nil
}

// DeleteSession logs one session out.
func (s *DB) DeleteSession(ctx context.Context, tokenHash []byte) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM admin_sessions WHERE token_hash = $1`, tokenHash); err != nil {
		return failed("postgres: delete admin session: %w", err)
	}
	return nil
}

// DeleteSessionsBefore removes sessions that expired before t.
func (s *DB) DeleteSessionsBefore(ctx context.Context, t time.Time) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM admin_sessions WHERE expires_at < $1`, t.Unix()); err != nil {
		return failed("postgres: expire admin sessions: %w", err)
	}
	return nil
}

// DeleteAllSessions logs everyone out.
func (s *DB) DeleteAllSessions(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM admin_sessions`); err != nil {
		return failed("postgres: delete admin sessions: %w", err)
	}
	return nil
}

// IdentityKeys returns the keys that are not retired, oldest first.
func (s *DB) IdentityKeys(ctx context.Context) ([]identity.Key, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, secret, created_at FROM identity_keys WHERE retired_at IS NULL ORDER BY created_at, id`)
	if err != nil {
		return nil, failed("postgres: identity keys: %w", err)
	}
	defer rows.Close()
	var out []identity.Key
	for rows.Next() {
		var k identity.Key
		var id, created int64
		var secret []byte
		if err := rows.Scan(&id, &secret, &created); err != nil {
			return nil, failed("postgres: identity keys: %w", err)
		}
		if len(secret) != len(k.Secret) {
			return nil, failed("postgres: identity key %d has a %d-byte secret", id, len(secret))
		}
		k.ID = uint32(id)
		copy(k.Secret[:], secret)
		k.Created = time.Unix(created, 0).UTC()
		out = append(out, k)
	}
	return out, rows.Err()
}

// AddIdentityKey stores a new key.
func (s *DB) AddIdentityKey(ctx context.Context, k identity.Key) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO identity_keys (id, secret, created_at) VALUES ($1, $2, $3)`, int64(k.ID), k.Secret[:], k.Created.Unix()); err != nil {
		return failed("postgres: add identity key: %w", err)
	}
	return nil
}

// RetireIdentityKey retires a key.
func (s *DB) RetireIdentityKey(ctx context.Context, id uint32, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE identity_keys SET retired_at = $1 WHERE id = $2 AND retired_at IS NULL`, at.Unix(), int64(id))
	if err != nil {
		return failed("postgres: retire identity key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("key %d: %w", id, identity.ErrKeyNotFound)
	}
	return nil
}

// PutRemembered stores (replaces) a visitor's sealed details.
func (s *DB) PutRemembered(ctx context.Context, id identity.ID, sealed identity.Sealed, expires time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO remembered (visitor_id, key_id, data, updated_at, expires_at) VALUES ($1,$2,$3,$4,$5)
		ON CONFLICT (visitor_id) DO UPDATE SET key_id = excluded.key_id, data = excluded.data, updated_at = excluded.updated_at, expires_at = excluded.expires_at`,
		id[:], int64(sealed.KeyID), sealed.Data, s.now().UnixMilli(), expires.UnixMilli())
	if err != nil {
		return failed("postgres: remember: %w", err)
	}
	return nil
}

// Remembered returns a visitor's details that have not expired at now.
func (s *DB) Remembered(ctx context.Context, id identity.ID, now time.Time) (identity.Sealed, bool, error) {
	var sealed identity.Sealed
	var key int64
	err := s.pool.QueryRow(ctx, `SELECT key_id, data FROM remembered WHERE visitor_id = $1 AND expires_at > $2`, id[:], now.UnixMilli()).Scan(&key, &sealed.Data)
	if errors.Is(err, pgx.ErrNoRows) {
		return sealed, false, nil
	}
	if err != nil {
		return sealed, false, failed("postgres: remembered: %w", err)
	}
	sealed.KeyID = uint32(key)
	return sealed, true, nil
}

// ForgetRemembered deletes a visitor's details and expired ones.
func (s *DB) ForgetRemembered(ctx context.Context, id identity.ID, now time.Time) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM remembered WHERE visitor_id = $1 OR expires_at <= $2`, id[:], now.UnixMilli()); err != nil {
		return failed("postgres: forget remembered: %w", err)
	}
	return nil
}

// ErrProxyTokenNotFound is returned (wrapped) when revoking an unknown
// token; it is proxytoken.ErrNotFound, which callers match.
var ErrProxyTokenNotFound = proxytoken.ErrNotFound

// AddProxyToken stores a proxy token (hash only).
func (s *DB) AddProxyToken(ctx context.Context, t proxytoken.Token) error {
	var exp int64
	if !t.Expires.IsZero() {
		exp = t.Expires.UnixMilli()
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO proxy_tokens (id, "user", hash, created_at, expires_at, sign) VALUES ($1,$2,$3,$4,$5,$6)`,
		t.ID, t.User, t.Hash[:], t.Created.UnixMilli(), exp, t.Sign)
	if isUnique(err) {
		return failed("postgres: proxy token %s exists", t.ID)
	}
	if err != nil {
		return failed("postgres: add proxy token: %w", err)
	}
	return nil
}

// ProxyTokens lists all proxy tokens, oldest first.
func (s *DB) ProxyTokens(ctx context.Context) ([]proxytoken.Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, "user", hash, created_at, expires_at, revoked_at, sign FROM proxy_tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, failed("postgres: proxy tokens: %w", err)
	}
	defer rows.Close()
	var out []proxytoken.Token
	for rows.Next() {
		var t proxytoken.Token
		var hash []byte
		var created, exp, revoked int64
		if err := rows.Scan(&t.ID, &t.User, &hash, &created, &exp, &revoked, &t.Sign); err != nil {
			return nil, failed("postgres: proxy tokens: %w", err)
		}
		copy(t.Hash[:], hash)
		t.Created = time.UnixMilli(created).UTC()
		if exp != 0 {
			t.Expires = time.UnixMilli(exp).UTC()
		}
		t.Revoked = revoked != 0
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeProxyToken revokes a token; revoking twice is not an error.
func (s *DB) RevokeProxyToken(ctx context.Context, id string) error {
	var exists bool
	err := s.pool.QueryRow(ctx, `WITH u AS (UPDATE proxy_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at = 0 RETURNING 1)
		SELECT EXISTS (SELECT 1 FROM proxy_tokens WHERE id = $2)`, s.now().UnixMilli(), id).Scan(&exists)
	if err != nil {
		return failed("postgres: revoke proxy token: %w", err)
	}
	if !exists {
		return fmt.Errorf("%w: %s", ErrProxyTokenNotFound, id)
	}
	return nil
}
