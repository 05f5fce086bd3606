package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"waymark.dev/waymark/internal/admin"
)

var _ admin.Store = (*DB)(nil)

// PasswordHash returns the administrator's password hash.
func (s *DB) PasswordHash(ctx context.Context) (string, error) {
	var h string
	err := s.db.QueryRowContext(ctx, `SELECT password_hash FROM admin WHERE id = 1`).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return "", admin.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("sqlite: admin password: %w", err)
	}
	return h, nil
}

// SetPasswordHash stores the administrator's password hash.
func (s *DB) SetPasswordHash(ctx context.Context, hash string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO admin (id, password_hash, updated_at) VALUES (1, ?, ?)
		ON CONFLICT (id) DO UPDATE SET password_hash = excluded.password_hash, updated_at = excluded.updated_at`, hash, s.now().Unix())
	if err != nil {
		return fmt.Errorf("sqlite: set admin password: %w", err)
	}
	return nil
}

// PutSession stores a login session.
func (s *DB) PutSession(ctx context.Context, x admin.Session) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO admin_sessions (token_hash, csrf, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		x.TokenHash, x.CSRF, x.Created.Unix(), x.Expires.Unix())
	if err != nil {
		return fmt.Errorf("sqlite: put admin session: %w", err)
	}
	return nil
}

// SessionByHash returns a login session.
func (s *DB) SessionByHash(ctx context.Context, tokenHash []byte) (admin.Session, error) {
	x := admin.Session{TokenHash: tokenHash}
	var created, expires int64
	err := s.db.QueryRowContext(ctx, `SELECT csrf, created_at, expires_at FROM admin_sessions WHERE token_hash = ?`, tokenHash).Scan(&x.CSRF, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return x, admin.ErrNotFound
	}
	if err != nil {
		return x, fmt.Errorf("sqlite: admin session: %w", err)
	}
	x.Created, x.Expires = time.Unix(created, 0).UTC(), time.Unix(expires, 0).UTC()
	return x, nil
}

// DeleteSession ends a login session.
func (s *DB) DeleteSession(ctx context.Context, tokenHash []byte) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM admin_sessions WHERE token_hash = ?`, tokenHash); err != nil {
		return fmt.Errorf("sqlite: delete admin session: %w", err)
	}
	return nil
}

// DeleteSessionsBefore removes sessions that expired before t.
func (s *DB) DeleteSessionsBefore(ctx context.Context, t time.Time) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM admin_sessions WHERE expires_at < ?`, t.Unix()); err != nil {
		return fmt.Errorf("sqlite: expire admin sessions: %w", err)
	}
	return nil
}

// DeleteAllSessions logs everyone out.
func (s *DB) DeleteAllSessions(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM admin_sessions`); err != nil {
		return fmt.Errorf("sqlite: delete admin sessions: %w", err)
	}
	return nil
}
