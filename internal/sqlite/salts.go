package sqlite

import (
	"context"
	"fmt"
	"time"

	"waymark.dev/waymark/internal/analytics"
)

var _ analytics.SaltStore = (*DB)(nil)

// Salts returns the stored daily salts.
func (s *DB) Salts(ctx context.Context) ([]analytics.Salt, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT day, salt FROM salts ORDER BY day`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: salts: %w", err)
	}
	defer rows.Close()
	var out []analytics.Salt
	for rows.Next() {
		var day string
		var b []byte
		if err := rows.Scan(&day, &b); err != nil {
			return nil, fmt.Errorf("sqlite: salts: %w", err)
		}
		var sl analytics.Salt
		sl.Day = day
		copy(sl.Key[:], b)
		out = append(out, sl)
	}
	return out, rows.Err()
}

// PutSalt stores a salt for a day unless one exists, and returns the salt
// in force for that day (so that several processes agree on one).
func (s *DB) PutSalt(ctx context.Context, salt analytics.Salt) (analytics.Salt, error) {
	if _, err := s.db.ExecContext(ctx, `INSERT OR IGNORE INTO salts (day, salt, created_at) VALUES (?,?,?)`, salt.Day, salt.Key[:], time.Now().Unix()); err != nil {
		return salt, fmt.Errorf("sqlite: put salt: %w", err)
	}
	var b []byte
	if err := s.db.QueryRowContext(ctx, `SELECT salt FROM salts WHERE day=?`, salt.Day).Scan(&b); err != nil {
		return salt, fmt.Errorf("sqlite: put salt: %w", err)
	}
	copy(salt.Key[:], b)
	return salt, nil
}

// DeleteSaltsBefore destroys salts of days before day (YYYY-MM-DD).
func (s *DB) DeleteSaltsBefore(ctx context.Context, day string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM salts WHERE day < ?`, day); err != nil {
		return fmt.Errorf("sqlite: delete salts: %w", err)
	}
	return nil
}
