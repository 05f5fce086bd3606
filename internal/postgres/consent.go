package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"waymark.dev/waymark/internal/consent"
)

var _ consent.Store = (*DB)(nil)

// AddReceipts stores a batch of receipts in one transaction: all or
// none. A receipt id that exists already fails the batch (receipts are
// append-only).
func (s *DB) AddReceipts(ctx context.Context, rs []*consent.Receipt) error {
	rows := make([][]any, len(rs))
	for i, r := range rs {
		choices, _ := json.Marshal(r.Choices)
		rows[i] = []any{r.ID, r.Site, r.VisitorID, r.PolicyVersion, r.TextHash, r.Language, string(choices),
			r.Time.UnixMilli(), string(r.Source), r.IPPrefix, r.UAFamily}
	}
	_, err := s.pool.CopyFrom(ctx, pgx.Identifier{"consent_receipts"},
		[]string{"id", "site", "visitor_id", "policy_version", "text_hash", "language", "choices", "created_at", "source", "ip_prefix", "ua_family"},
		pgx.CopyFromRows(rows))
	if err != nil {
		return failed("postgres: add receipts: %w", err)
	}
	return nil
}

const receiptColumns = `id, site, visitor_id, policy_version, text_hash, language, choices, created_at, source, ip_prefix, ua_family`

func scanReceipt(row pgx.Row) (*consent.Receipt, error) {
	var r consent.Receipt
	var choices, source string
	var ms int64
	if err := row.Scan(&r.ID, &r.Site, &r.VisitorID, &r.PolicyVersion, &r.TextHash, &r.Language, &choices, &ms, &source, &r.IPPrefix, &r.UAFamily); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(choices), &r.Choices); err != nil {
		return nil, fmt.Errorf("receipt %s: choices: %w", r.ID, err)
	}
	r.Time, r.Source = time.UnixMilli(ms).UTC(), consent.Source(source)
	return &r, nil
}

// ReceiptByID returns one receipt.
func (s *DB) ReceiptByID(ctx context.Context, id string) (*consent.Receipt, error) {
	r, err := scanReceipt(s.pool.QueryRow(ctx, `SELECT `+receiptColumns+` FROM consent_receipts WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, consent.ErrNotFound
	}
	if err != nil {
		return nil, failed("postgres: receipt: %w", err)
	}
	return r, nil
}

// ReceiptsByVisitor returns a visitor's receipts, oldest first.
func (s *DB) ReceiptsByVisitor(ctx context.Context, visitorID string) ([]*consent.Receipt, error) {
	var out []*consent.Receipt
	err := s.eachReceipt(ctx, `SELECT `+receiptColumns+` FROM consent_receipts WHERE visitor_id = $1 AND visitor_id <> '' ORDER BY created_at, id`,
		func(r *consent.Receipt) error { out = append(out, r); return nil }, visitorID)
	return out, err
}

// EachReceipt calls fn for every receipt since t, oldest first.
func (s *DB) EachReceipt(ctx context.Context, since time.Time, fn func(*consent.Receipt) error) error {
	return s.eachReceipt(ctx, `SELECT `+receiptColumns+` FROM consent_receipts WHERE created_at >= $1 ORDER BY created_at, id`, fn, since.UnixMilli())
}

func (s *DB) eachReceipt(ctx context.Context, query string, fn func(*consent.Receipt) error, args ...any) error {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return failed("postgres: receipts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanReceipt(rows)
		if err != nil {
			return failed("postgres: receipts: %w", err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ForgetVisitor removes a visitor's receipts and returns how many.
func (s *DB) ForgetVisitor(ctx context.Context, visitorID string) (int64, error) {
	if visitorID == "" {
		return 0, nil
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM consent_receipts WHERE visitor_id = $1`, visitorID)
	if err != nil {
		return 0, failed("postgres: forget visitor: %w", err)
	}
	return tag.RowsAffected(), nil
}
