package clickhouse

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"waymark.dev/waymark/internal/imported"
)

var _ imported.Store = (*Store)(nil)

// importVersion orders the records of an import (ReplacingMergeTree keeps
// the latest): started, completed, deleted.
const (
	importStarted = iota + 1
	importCompleted
	importDeleted
)

func (s *Store) writeImport(ctx context.Context, imp imported.Import, version int, deleted bool) error {
	d := Dialect{}
	del, done := 0, 0
	if deleted {
		del = 1
	}
	if imp.Complete {
		done = 1
	}
	return s.c.exec(ctx, fmt.Sprintf("INSERT INTO imports (id, site, source, label, from_day, to_day, rows, created, complete, deleted, version) VALUES (%d, %s, %s, %s, %d, %d, %d, %s, %d, %d, %d)",
		imp.ID, d.Quote(imp.Site), d.Quote(imp.Source), d.Quote(imp.Label), imp.From, imp.To, imp.Rows,
		d.Quote(imp.Created.UTC().Format(time.DateTime)), done, del, version))
}

// BeginImport records an incomplete import.
func (s *Store) BeginImport(ctx context.Context, imp imported.Import) error {
	if err := s.writeImport(ctx, imp, importStarted, false); err != nil {
		return fmt.Errorf("clickhouse: begin import: %w", err)
	}
	return nil
}

// AppendRows writes rows of one table for an import, as TabSeparated.
func (s *Store) AppendRows(ctx context.Context, imp *imported.Import, t *imported.Table, rows []imported.Row) error {
	var b bytes.Buffer
	site := escapeTSV(imp.Site)
	id := strconv.FormatInt(imp.ID, 10)
	for _, r := range rows {
		b.WriteString(site)
		b.WriteByte('\t')
		b.WriteString(id)
		b.WriteByte('\t')
		b.WriteString(strconv.Itoa(int(r.Date)))
		for _, v := range r.Text {
			b.WriteByte('\t')
			b.WriteString(escapeTSV(v))
		}
		for _, v := range r.Nums {
			b.WriteByte('\t')
			b.WriteString(strconv.FormatInt(v, 10))
		}
		b.WriteByte('\n')
	}
	if err := s.c.insert(ctx, "INSERT INTO "+t.Name+" FORMAT TabSeparated", b.Bytes()); err != nil {
		return fmt.Errorf("clickhouse: append %s: %w", t.Name, err)
	}
	return nil
}

// escapeTSV escapes a TabSeparated field.
func escapeTSV(s string) string {
	if !strings.ContainsAny(s, "\\\t\n\r\x00'") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`, "\r", `\r`, "\x00", `\0`, "'", `\'`)
	return r.Replace(s)
}

// FinishImport makes an import complete.
func (s *Store) FinishImport(ctx context.Context, imp imported.Import) error {
	imp.Complete = true
	if err := s.writeImport(ctx, imp, importCompleted, false); err != nil {
		return fmt.Errorf("clickhouse: finish import: %w", err)
	}
	return nil
}

// DeleteImport marks an import deleted (queries stop reading it at once)
// and deletes its rows.
func (s *Store) DeleteImport(ctx context.Context, site string, id int64) error {
	list, err := s.Imports(ctx, site)
	if err != nil {
		return err
	}
	var imp *imported.Import
	for i := range list {
		if list[i].ID == id {
			imp = &list[i]
		}
	}
	if imp == nil {
		return imported.ErrNotFound
	}
	imp.Complete = false
	if err := s.writeImport(ctx, *imp, importDeleted, true); err != nil {
		return fmt.Errorf("clickhouse: delete import: %w", err)
	}
	for _, t := range imported.Tables {
		if err := s.c.exec(ctx, fmt.Sprintf("ALTER TABLE %s DELETE WHERE import_id = %d", t.Name, id)); err != nil {
			return fmt.Errorf("clickhouse: delete import rows: %w", err)
		}
	}
	return s.waitMutations(ctx)
}

// importsSQL selects the latest record of each of a site's imports.
func importsSQL(site string) string {
	return fmt.Sprintf(`SELECT id, argMax(source, version), argMax(label, version), argMax(from_day, version), argMax(to_day, version),
		argMax(rows, version), argMax(created, version), argMax(complete, version), argMax(deleted, version)
		FROM imports WHERE site = %s GROUP BY id`, Dialect{}.Quote(site))
}

// Imports lists a site's imports, oldest first.
func (s *Store) Imports(ctx context.Context, site string) ([]imported.Import, error) {
	var out []imported.Import
	err := s.c.query(ctx, "SELECT * FROM ("+importsSQL(site)+") ORDER BY 7, 1", func(f []string) error {
		if f[8] == "1" {
			return nil
		}
		im := imported.Import{Site: site, Source: f[1], Label: f[2], Complete: f[7] == "1"}
		var err error
		if im.ID, err = strconv.ParseInt(f[0], 10, 64); err != nil {
			return err
		}
		a, _ := strconv.ParseInt(f[3], 10, 32)
		b, _ := strconv.ParseInt(f[4], 10, 32)
		im.From, im.To = int32(a), int32(b)
		im.Rows, _ = strconv.ParseInt(f[5], 10, 64)
		im.Created, _ = time.Parse(time.DateTime, f[6])
		out = append(out, im)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse: imports: %w", err)
	}
	return out, nil
}

// ScanRows streams the rows of a table from a site's complete imports.
func (s *Store) ScanRows(ctx context.Context, site string, t *imported.Table, from, to int32, fn func(imported.Row) error) error {
	list, err := s.Imports(ctx, site)
	if err != nil {
		return err
	}
	var ids []string
	for _, im := range list {
		if im.Complete {
			ids = append(ids, strconv.FormatInt(im.ID, 10))
		}
	}
	if len(ids) == 0 {
		return nil
	}
	cols := []string{"date"}
	for _, c := range t.Text {
		cols = append(cols, c.Store)
	}
	for _, c := range t.Nums {
		cols = append(cols, c.Store)
	}
	stmt := fmt.Sprintf("SELECT %s FROM %s WHERE site = %s AND import_id IN (%s) AND date >= %d AND date <= %d ORDER BY date",
		strings.Join(cols, ", "), t.Name, Dialect{}.Quote(site), strings.Join(ids, ", "), from, to)
	return s.c.query(ctx, stmt, func(f []string) error {
		r := imported.Row{Text: make([]string, len(t.Text)), Nums: make([]int64, len(t.Nums))}
		d, err := strconv.ParseInt(f[0], 10, 32)
		if err != nil {
			return err
		}
		r.Date = int32(d)
		copy(r.Text, f[1:1+len(t.Text)])
		for i := range r.Nums {
			if r.Nums[i], err = strconv.ParseInt(f[1+len(t.Text)+i], 10, 64); err != nil {
				return err
			}
		}
		return fn(r)
	})
}
