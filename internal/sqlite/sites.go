package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
	"waymark.dev/waymark/internal/site"
)

var _ site.Store = (*DB)(nil)

// AddSite stores a new site; site.ErrExists if the domain is taken.
func (s *DB) AddSite(ctx context.Context, st *site.Site) error {
	if err := st.Validate(); err != nil {
		return err
	}
	if st.CreatedAt.IsZero() {
		st.CreatedAt = s.now().UTC()
	}
	l := st.Lists()
	_, err := s.db.ExecContext(ctx, `INSERT INTO sites (domain, time_zone, retention_days, ignore_ips, ignore_paths, keep_params, goals, funnels, settings, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)`,
		st.Domain, st.TimeZone, st.RetentionDays, l.IgnoreIPs, l.IgnorePaths, l.KeepParams, l.Goals, l.Funnels, l.Settings, st.CreatedAt.Unix())
	var se sqlite3.Error
	if errors.As(err, &se) && se.Code == sqlite3.ErrConstraint {
		return fmt.Errorf("site %s: %w", st.Domain, site.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("sqlite: add site: %w", err)
	}
	return nil
}

// UpdateSite replaces a site's settings.
func (s *DB) UpdateSite(ctx context.Context, st *site.Site) error {
	if err := st.Validate(); err != nil {
		return err
	}
	l := st.Lists()
	res, err := s.db.ExecContext(ctx, `UPDATE sites SET time_zone=?, retention_days=?, ignore_ips=?, ignore_paths=?, keep_params=?, goals=?, funnels=?, settings=? WHERE domain=?`,
		st.TimeZone, st.RetentionDays, l.IgnoreIPs, l.IgnorePaths, l.KeepParams, l.Goals, l.Funnels, l.Settings, st.Domain)
	if err != nil {
		return fmt.Errorf("sqlite: update site: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("site %s: %w", st.Domain, site.ErrNotFound)
	}
	return nil
}

// DeleteSite removes a site and its tokens.
func (s *DB) DeleteSite(ctx context.Context, domain string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM sites WHERE domain=?`, domain)
	if err != nil {
		return fmt.Errorf("sqlite: delete site: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("site %s: %w", domain, site.ErrNotFound)
	}
	_, err = s.db.ExecContext(ctx, `DELETE FROM tokens WHERE site=?`, domain)
	return err
}

// Sites lists every site.
func (s *DB) Sites(ctx context.Context) ([]*site.Site, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT domain, time_zone, retention_days, ignore_ips, ignore_paths, keep_params, goals, funnels, settings, created_at FROM sites ORDER BY domain`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list sites: %w", err)
	}
	defer rows.Close()
	var out []*site.Site
	for rows.Next() {
		var st site.Site
		var l site.StoredLists
		var created int64
		if err := rows.Scan(&st.Domain, &st.TimeZone, &st.RetentionDays, &l.IgnoreIPs, &l.IgnorePaths, &l.KeepParams, &l.Goals, &l.Funnels, &l.Settings, &created); err != nil {
			return nil, fmt.Errorf("sqlite: list sites: %w", err)
		}
		if err := st.SetLists(l); err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
		st.CreatedAt = time.Unix(created, 0).UTC()
		out = append(out, &st)
	}
	return out, rows.Err()
}

// AddToken stores a token's hash and returns its id.
func (s *DB) AddToken(ctx context.Context, t *site.Token) (int64, error) {
	if err := t.Check(); err != nil {
		return 0, err
	}
	if t.Site != "" {
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sites WHERE domain=?`, t.Site).Scan(&n); err != nil {
			return 0, fmt.Errorf("sqlite: add token: %w", err)
		}
		if n == 0 {
			return 0, fmt.Errorf("site %s: %w", t.Site, site.ErrNotFound)
		}
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now().UTC()
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO tokens (name, site, kind, hash, created_at, scopes, secret) VALUES (?,?,?,?,?,?,?)`, t.Name, t.Site, t.Kind, t.Hash[:], t.CreatedAt.Unix(), strings.Join(t.Scopes, ","), t.Secret)
	if err != nil {
		return 0, fmt.Errorf("sqlite: add token: %w", err)
	}
	t.ID, _ = res.LastInsertId()
	return t.ID, nil
}

func scanToken(sc interface{ Scan(...any) error }) (*site.Token, error) {
	var t site.Token
	var hash []byte
	var created int64
	var scopes string
	if err := sc.Scan(&t.ID, &t.Name, &t.Site, &t.Kind, &hash, &created, &scopes, &t.Secret); err != nil {
		return nil, err
	}
	if t.Kind == site.TokenAPI && scopes != "" {
		t.Scopes = strings.Split(scopes, ",")
	}
	copy(t.Hash[:], hash)
	t.CreatedAt = time.Unix(created, 0).UTC()
	return &t, nil
}

// TokenByHash finds a token by the hash of its secret.
func (s *DB) TokenByHash(ctx context.Context, hash [32]byte) (*site.Token, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, `SELECT id, name, site, kind, hash, created_at, scopes, secret FROM tokens WHERE hash=?`, hash[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, site.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: token: %w", err)
	}
	return t, nil
}

// Tokens lists every token (hashes only).
func (s *DB) Tokens(ctx context.Context) ([]*site.Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, site, kind, hash, created_at, scopes, secret FROM tokens ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: tokens: %w", err)
	}
	defer rows.Close()
	var out []*site.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// DeleteToken revokes a token.
func (s *DB) DeleteToken(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM tokens WHERE id=?`, id)
	if err != nil {
		return fmt.Errorf("sqlite: delete token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("token %d: %w", id, site.ErrNotFound)
	}
	return nil
}

// AddAudit records a change made through an API.
func (s *DB) AddAudit(ctx context.Context, e site.AuditEntry) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO audit (at, actor, action, site, detail) VALUES (?,?,?,?,?)`, e.At.UnixMilli(), e.Actor, e.Action, e.Site, e.Detail)
	if err != nil {
		return fmt.Errorf("sqlite: audit: %w", err)
	}
	return nil
}

// Audit lists a site's latest audited changes (every site's with site
// ""), newest first.
func (s *DB) Audit(ctx context.Context, domain string, n int) ([]site.AuditEntry, error) {
	q := `SELECT id, at, actor, action, site, detail FROM audit WHERE site = ? ORDER BY id DESC LIMIT ?`
	args := []any{domain, n}
	if domain == "" {
		q, args = `SELECT id, at, actor, action, site, detail FROM audit ORDER BY id DESC LIMIT ?`, []any{n}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: audit: %w", err)
	}
	defer rows.Close()
	var out []site.AuditEntry
	for rows.Next() {
		var e site.AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Site, &e.Detail); err != nil {
			return nil, fmt.Errorf("sqlite: audit: %w", err)
		}
		e.At = time.UnixMilli(at).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}
