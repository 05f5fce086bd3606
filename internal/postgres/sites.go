package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"waymark.dev/waymark/internal/analytics"
	"waymark.dev/waymark/internal/site"
)

var (
	_ site.Store          = (*DB)(nil)
	_ analytics.SaltStore = (*DB)(nil)
)

// AddSite stores a new site; site.ErrExists if its domain is taken.
func (s *DB) AddSite(ctx context.Context, st *site.Site) error {
	if err := st.Validate(); err != nil {
		return err
	}
	if st.CreatedAt.IsZero() {
		st.CreatedAt = s.now().UTC()
	}
	l := st.Lists()
	_, err := s.pool.Exec(ctx, `INSERT INTO sites (domain, time_zone, retention_days, ignore_ips, ignore_paths, keep_params, goals, funnels, settings, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`,
		st.Domain, st.TimeZone, st.RetentionDays, l.IgnoreIPs, l.IgnorePaths, l.KeepParams, l.Goals, l.Funnels, l.Settings, st.CreatedAt.Unix())
	if isUnique(err) {
		return fmt.Errorf("site %s: %w", st.Domain, site.ErrExists)
	}
	if err != nil {
		return failed("postgres: add site: %w", err)
	}
	return nil
}

// UpdateSite replaces a site's settings.
func (s *DB) UpdateSite(ctx context.Context, st *site.Site) error {
	if err := st.Validate(); err != nil {
		return err
	}
	l := st.Lists()
	tag, err := s.pool.Exec(ctx, `UPDATE sites SET time_zone=$1, retention_days=$2, ignore_ips=$3, ignore_paths=$4, keep_params=$5, goals=$6, funnels=$7, settings=$8 WHERE domain=$9`,
		st.TimeZone, st.RetentionDays, l.IgnoreIPs, l.IgnorePaths, l.KeepParams, l.Goals, l.Funnels, l.Settings, st.Domain)
	if err != nil {
		return failed("postgres: update site: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("site %s: %w", st.Domain, site.ErrNotFound)
	}
	return nil
}

// DeleteSite removes a site and its tokens.
func (s *DB) DeleteSite(ctx context.Context, domain string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM sites WHERE domain=$1`, domain)
		if err != nil {
			return failed("postgres: delete site: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("site %s: %w", domain, site.ErrNotFound)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM tokens WHERE site=$1`, domain); err != nil {
			return failed("postgres: delete site tokens: %w", err)
		}
		return nil
	})
}

// Sites lists all sites by domain.
func (s *DB) Sites(ctx context.Context) ([]*site.Site, error) {
	rows, err := s.pool.Query(ctx, `SELECT domain, time_zone, retention_days, ignore_ips, ignore_paths, keep_params, goals, funnels, settings, created_at FROM sites ORDER BY domain`)
	if err != nil {
		return nil, failed("postgres: list sites: %w", err)
	}
	defer rows.Close()
	var out []*site.Site
	for rows.Next() {
		var st site.Site
		var l site.StoredLists
		var created int64
		if err := rows.Scan(&st.Domain, &st.TimeZone, &st.RetentionDays, &l.IgnoreIPs, &l.IgnorePaths, &l.KeepParams, &l.Goals, &l.Funnels, &l.Settings, &created); err != nil {
			return nil, failed("postgres: list sites: %w", err)
		}
		if err := st.SetLists(l); err != nil {
			return nil, failed("postgres: %w", err)
		}
		st.CreatedAt = time.Unix(created, 0).UTC()
		out = append(out, &st)
	}
	return out, rows.Err()
}

// AddToken stores a token and returns its id.
func (s *DB) AddToken(ctx context.Context, t *site.Token) (int64, error) {
	if err := t.Check(); err != nil {
		return 0, err
	}
	if t.Site != "" {
		var ok bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sites WHERE domain=$1)`, t.Site).Scan(&ok); err != nil {
			return 0, failed("postgres: add token: %w", err)
		}
		if !ok {
			return 0, fmt.Errorf("site %s: %w", t.Site, site.ErrNotFound)
		}
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now().UTC()
	}
	err := s.pool.QueryRow(ctx, `INSERT INTO tokens (name, site, kind, hash, created_at, scopes, secret) VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING id`,
		t.Name, t.Site, t.Kind, t.Hash[:], t.CreatedAt.Unix(), strings.Join(t.Scopes, ","), t.Secret).Scan(&t.ID)
	if err != nil {
		return 0, failed("postgres: add token: %w", err)
	}
	return t.ID, nil
}

func scanToken(row pgx.Row) (*site.Token, error) {
	var t site.Token
	var hash []byte
	var created int64
	var scopes string
	if err := row.Scan(&t.ID, &t.Name, &t.Site, &t.Kind, &hash, &created, &scopes, &t.Secret); err != nil {
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
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT id, name, site, kind, hash, created_at, scopes, secret FROM tokens WHERE hash=$1`, hash[:]))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, site.ErrNotFound
	}
	if err != nil {
		return nil, failed("postgres: token: %w", err)
	}
	return t, nil
}

// Tokens lists all tokens (hashes only).
func (s *DB) Tokens(ctx context.Context) ([]*site.Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, site, kind, hash, created_at, scopes, secret FROM tokens ORDER BY id`)
	if err != nil {
		return nil, failed("postgres: tokens: %w", err)
	}
	defer rows.Close()
	var out []*site.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, failed("postgres: tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// DeleteToken revokes a token.
func (s *DB) DeleteToken(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM tokens WHERE id=$1`, id)
	if err != nil {
		return failed("postgres: delete token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("token %d: %w", id, site.ErrNotFound)
	}
	return nil
}

// Salts returns the stored daily salts, oldest first.
func (s *DB) Salts(ctx context.Context) ([]analytics.Salt, error) {
	rows, err := s.pool.Query(ctx, `SELECT day, salt FROM salts ORDER BY day`)
	if err != nil {
		return nil, failed("postgres: salts: %w", err)
	}
	defer rows.Close()
	var out []analytics.Salt
	for rows.Next() {
		var sl analytics.Salt
		var b []byte
		if err := rows.Scan(&sl.Day, &b); err != nil {
			return nil, failed("postgres: salts: %w", err)
		}
		copy(sl.Key[:], b)
		out = append(out, sl)
	}
	return out, rows.Err()
}

// PutSalt stores a day's salt unless the day has one, and returns the
// day's salt: every node hashes a day's visitors with the same one.
func (s *DB) PutSalt(ctx context.Context, salt analytics.Salt) (analytics.Salt, error) {
	var b []byte
	err := s.pool.QueryRow(ctx, `WITH ins AS (
			INSERT INTO salts (day, salt, created_at) VALUES ($1, $2, $3) ON CONFLICT (day) DO NOTHING RETURNING salt)
		SELECT salt FROM ins UNION ALL SELECT salt FROM salts WHERE day = $1 LIMIT 1`,
		salt.Day, salt.Key[:], s.now().Unix()).Scan(&b)
	if err != nil {
		return salt, failed("postgres: put salt: %w", err)
	}
	copy(salt.Key[:], b)
	return salt, nil
}

// DeleteSaltsBefore removes the salts of days before day.
func (s *DB) DeleteSaltsBefore(ctx context.Context, day string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM salts WHERE day < $1`, day); err != nil {
		return failed("postgres: delete salts: %w", err)
	}
	return nil
}

// AddAudit records a change made through an API.
func (s *DB) AddAudit(ctx context.Context, e site.AuditEntry) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO audit (at, actor, action, site, detail) VALUES ($1,$2,$3,$4,$5)`, e.At.UnixMilli(), e.Actor, e.Action, e.Site, e.Detail)
	if err != nil {
		return failed("postgres: audit: %w", err)
	}
	return nil
}

// Audit lists a site's latest audited changes (every site's with site
// ""), newest first.
func (s *DB) Audit(ctx context.Context, domain string, n int) ([]site.AuditEntry, error) {
	q := `SELECT id, at, actor, action, site, detail FROM audit WHERE site = $1 ORDER BY id DESC LIMIT $2`
	args := []any{domain, n}
	if domain == "" {
		q, args = `SELECT id, at, actor, action, site, detail FROM audit ORDER BY id DESC LIMIT $1`, []any{n}
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, failed("postgres: audit: %w", err)
	}
	defer rows.Close()
	var out []site.AuditEntry
	for rows.Next() {
		var e site.AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Site, &e.Detail); err != nil {
			return nil, failed("postgres: audit: %w", err)
		}
		e.At = time.UnixMilli(at).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}
