package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"waymark.dev/waymark/internal/proxytoken"
)

var _ proxytoken.TokenStore = (*DB)(nil)

// ErrProxyTokenNotFound is returned (wrapped) when revoking an unknown
// token; it is proxytoken.ErrNotFound, which callers match.
var ErrProxyTokenNotFound = proxytoken.ErrNotFound

// AddProxyToken stores a proxy token (its hash).
func (s *DB) AddProxyToken(ctx context.Context, t proxytoken.Token) error {
	var exp int64
	if !t.Expires.IsZero() {
		exp = t.Expires.UnixMilli()
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO proxy_tokens (id, user, hash, created_at, expires_at, sign) VALUES (?,?,?,?,?,?)`,
		t.ID, t.User, t.Hash[:], t.Created.UnixMilli(), exp, t.Sign); err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return fmt.Errorf("sqlite: proxy token %s exists", t.ID)
		}
		return fmt.Errorf("sqlite: add proxy token: %w", err)
	}
	return nil
}

// ProxyTokens lists every proxy token, revoked ones included, oldest first.
func (s *DB) ProxyTokens(ctx context.Context) ([]proxytoken.Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, user, hash, created_at, expires_at, revoked_at, sign FROM proxy_tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: proxy tokens: %w", err)
	}
	defer rows.Close()
	var out []proxytoken.Token
	for rows.Next() {
		var t proxytoken.Token
		var hash []byte
		var created, exp, revoked int64
		if err := rows.Scan(&t.ID, &t.User, &hash, &created, &exp, &revoked, &t.Sign); err != nil {
			return nil, fmt.Errorf("sqlite: proxy tokens: %w", err)
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

// RevokeProxyToken revokes a proxy token by id.
func (s *DB) RevokeProxyToken(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE proxy_tokens SET revoked_at = ? WHERE id = ? AND revoked_at = 0`, s.now().UnixMilli(), id)
	if err != nil {
		return fmt.Errorf("sqlite: revoke proxy token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var exists int
		s.db.QueryRowContext(ctx, `SELECT count(*) FROM proxy_tokens WHERE id = ?`, id).Scan(&exists)
		if exists == 0 {
			return fmt.Errorf("%w: %s", ErrProxyTokenNotFound, id)
		}
	}
	return nil
}
