package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"waymark.dev/waymark/internal/consent"
)

var _ consent.Store = (*DB)(nil)

// receiptWriter is the connection receipts are written on: synchronous=FULL,
// so a committed batch is on disk (the rest of the store uses NORMAL).
type receiptWriter struct {
	once sync.Once
	conn *sql.Conn
	err  error
	mu   sync.Mutex
}

func (s *DB) receiptConn(ctx context.Context) (*sql.Conn, error) {
	w := &s.receipts
	w.once.Do(func() {
		w.conn, w.err = s.db.Conn(context.WithoutCancel(ctx))
		if w.err == nil {
			_, w.err = w.conn.ExecContext(ctx, `PRAGMA synchronous=FULL`)
		}
	})
	return w.conn, w.err
}

// AddReceipts stores receipts in one durable transaction.
func (s *DB) AddReceipts(ctx context.Context, rs []*consent.Receipt) error {
	conn, err := s.receiptConn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: receipts connection: %w", err)
	}
	s.receipts.mu.Lock()
	defer s.receipts.mu.Unlock()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: add receipts: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO consent_receipts (id, site, visitor_id, policy_version, text_hash, language, choices, created_at, source, ip_prefix, ua_family)
		VALUES (?,?,?,?,?,?,?,?,?,?,?)`)
	if err != nil {
		return fmt.Errorf("sqlite: add receipts: %w", err)
	}
	defer stmt.Close()
	for _, r := range rs {
		choices, _ := json.Marshal(r.Choices)
		if _, err := stmt.ExecContext(ctx, r.ID, r.Site, r.VisitorID, r.PolicyVersion, r.TextHash, r.Language, string(choices),
			r.Time.UnixMilli(), string(r.Source), r.IPPrefix, r.UAFamily); err != nil {
			return fmt.Errorf("sqlite: add receipt %s: %w", r.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: add receipts: %w", err)
	}
	return nil
}

const receiptColumns = `id, site, visitor_id, policy_version, text_hash, language, choices, created_at, source, ip_prefix, ua_family`

func scanReceipt(sc interface{ Scan(...any) error }) (*consent.Receipt, error) {
	var r consent.Receipt
	var choices, source string
	var ms int64
	if err := sc.Scan(&r.ID, &r.Site, &r.VisitorID, &r.PolicyVersion, &r.TextHash, &r.Language, &choices, &ms, &source, &r.IPPrefix, &r.UAFamily); err != nil {
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
	r, err := scanReceipt(s.db.QueryRowContext(ctx, `SELECT `+receiptColumns+` FROM consent_receipts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, consent.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: receipt: %w", err)
	}
	return r, nil
}

// ReceiptsByVisitor returns a visitor's receipts, oldest first.
func (s *DB) ReceiptsByVisitor(ctx context.Context, visitorID string) ([]*consent.Receipt, error) {
	var out []*consent.Receipt
	err := s.eachReceipt(ctx, `SELECT `+receiptColumns+` FROM consent_receipts WHERE visitor_id = ? AND visitor_id <> '' ORDER BY created_at, id`,
		func(r *consent.Receipt) error { out = append(out, r); return nil }, visitorID)
	return out, err
}

// EachReceipt calls fn for every receipt since t, oldest first.
func (s *DB) EachReceipt(ctx context.Context, since time.Time, fn func(*consent.Receipt) error) error {
	return s.eachReceipt(ctx, `SELECT `+receiptColumns+` FROM consent_receipts WHERE created_at >= ? ORDER BY created_at, id`, fn, since.UnixMilli())
}

func (s *DB) eachReceipt(ctx context.Context, query string, fn func(*consent.Receipt) error, args ...any) error {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("sqlite: receipts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanReceipt(rows)
		if err != nil {
			return fmt.Errorf("sqlite: receipts: %w", err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ForgetVisitor removes a visitor's receipts.
func (s *DB) ForgetVisitor(ctx context.Context, visitorID string) (int64, error) {
	if visitorID == "" {
		return 0, nil
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM consent_receipts WHERE visitor_id = ?`, visitorID)
	if err != nil {
		return 0, fmt.Errorf("sqlite: forget visitor: %w", err)
	}
	return res.RowsAffected()
}
