package duckdb

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strings"

	"github.com/duckdb/duckdb-go/v2"
	"waymark.dev/waymark/internal/imported"
)

var _ imported.Store = (*Store)(nil)

// BeginImport records an incomplete import.
func (s *Store) BeginImport(ctx context.Context, imp imported.Import) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?, ?, ?, false)`,
		imp.ID, imp.Site, imp.Source, imp.Label, imp.From, imp.To, imp.Rows, imp.Created)
	if err != nil {
		return fmt.Errorf("duckdb: begin import: %w", err)
	}
	return nil
}

// AppendRows writes rows of one table for an import with the Appender.
func (s *Store) AppendRows(ctx context.Context, imp *imported.Import, t *imported.Table, rows []imported.Row) error {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	return s.writer.Raw(func(dc any) error {
		conn, ok := dc.(driver.Conn)
		if !ok {
			return fmt.Errorf("duckdb: unexpected driver connection %T", dc)
		}
		a, err := duckdb.NewAppenderFromConn(conn, "", t.Name)
		if err != nil {
			return fmt.Errorf("duckdb: append %s: %w", t.Name, err)
		}
		vals := make([]driver.Value, 3+len(t.Text)+len(t.Nums))
		vals[0], vals[1] = imp.Site, imp.ID
		for _, r := range rows {
			vals[2] = r.Date
			for i, v := range r.Text {
				vals[3+i] = v
			}
			for i, v := range r.Nums {
				vals[3+len(t.Text)+i] = v
			}
			if err := a.AppendRow(vals...); err != nil {
				a.Close()
				return fmt.Errorf("duckdb: append %s: %w", t.Name, err)
			}
		}
		if err := a.Close(); err != nil {
			return fmt.Errorf("duckdb: append %s: %w", t.Name, err)
		}
		return nil
	})
}

// FinishImport makes an import complete.
func (s *Store) FinishImport(ctx context.Context, imp imported.Import) error {
	_, err := s.db.ExecContext(ctx, `UPDATE imports SET from_day = ?, to_day = ?, rows = ?, complete = true WHERE id = ?`,
		imp.From, imp.To, imp.Rows, imp.ID)
	if err != nil {
		return fmt.Errorf("duckdb: finish import: %w", err)
	}
	return nil
}

// DeleteImport removes an import and its rows in one transaction.
func (s *Store) DeleteImport(ctx context.Context, site string, id int64) error {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM imports WHERE site = ? AND id = ?`, site, id).Scan(&n); err != nil {
		return fmt.Errorf("duckdb: delete import: %w", err)
	}
	if n == 0 {
		return imported.ErrNotFound
	}
	stmts := []string{fmt.Sprintf("DELETE FROM imports WHERE id = %d", id)}
	for _, t := range imported.Tables {
		stmts = append(stmts, fmt.Sprintf("DELETE FROM %s WHERE import_id = %d", t.Name, id))
	}
	return s.ExecTx(ctx, stmts)
}

// Imports lists a site's imports, oldest first.
func (s *Store) Imports(ctx context.Context, site string) ([]imported.Import, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, site, source, label, from_day, to_day, rows, created, complete FROM imports WHERE site = ? ORDER BY created, id`, site)
	if err != nil {
		return nil, fmt.Errorf("duckdb: imports: %w", err)
	}
	defer rows.Close()
	var out []imported.Import
	for rows.Next() {
		var im imported.Import
		if err := rows.Scan(&im.ID, &im.Site, &im.Source, &im.Label, &im.From, &im.To, &im.Rows, &im.Created, &im.Complete); err != nil {
			return nil, fmt.Errorf("duckdb: imports: %w", err)
		}
		out = append(out, im)
	}
	return out, rows.Err()
}

// ScanRows streams the rows of a table from a site's complete imports.
func (s *Store) ScanRows(ctx context.Context, site string, t *imported.Table, from, to int32, fn func(imported.Row) error) error {
	cols := []string{"date"}
	for _, c := range t.Text {
		cols = append(cols, c.Store)
	}
	for _, c := range t.Nums {
		cols = append(cols, c.Store)
	}
	rows, err := s.db.QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE site = ? AND date >= ? AND date <= ?
		AND import_id IN (SELECT id FROM imports WHERE site = ? AND complete) ORDER BY date`, strings.Join(cols, ", "), t.Name),
		site, from, to, site)
	if err != nil {
		return fmt.Errorf("duckdb: scan %s: %w", t.Name, err)
	}
	defer rows.Close()
	dest := make([]any, len(cols))
	for rows.Next() {
		r := imported.Row{Text: make([]string, len(t.Text)), Nums: make([]int64, len(t.Nums))}
		dest[0] = &r.Date
		for i := range r.Text {
			dest[1+i] = &r.Text[i]
		}
		for i := range r.Nums {
			dest[1+len(r.Text)+i] = &r.Nums[i]
		}
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("duckdb: scan %s: %w", t.Name, err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// dropIncompleteImports deletes what imports cut short by a crash wrote:
// one process owns the embedded store, so at start nothing is importing.
func (s *Store) dropIncompleteImports(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT site, id FROM imports WHERE NOT complete`)
	if err != nil {
		return fmt.Errorf("duckdb: incomplete imports: %w", err)
	}
	type ref struct {
		site string
		id   int64
	}
	var refs []ref
	for rows.Next() {
		var r ref
		if err := rows.Scan(&r.site, &r.id); err != nil {
			rows.Close()
			return err
		}
		refs = append(refs, r)
	}
	rows.Close()
	for _, r := range refs {
		if err := s.DeleteImport(ctx, r.site, r.id); err != nil {
			return err
		}
	}
	return nil
}
