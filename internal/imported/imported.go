// Package imported is history brought from other analytics tools: daily
// aggregates kept apart from native events in the tables of Plausible's
// CSV export (imported_visitors, imported_sources, ...), each row tagged
// with the import it came from. It reads Plausible's export (a zip of
// imported_*.csv files or the files themselves), GoatCounter's CSV export
// and Umami's CSV export, writes Plausible's format back out, and declares
// the Store the event stores implement.
package imported

import (
	"context"
	"fmt"
	"time"
)

// Sources of imports.
const (
	SourcePlausible   = "plausible"
	SourceGoatCounter = "goatcounter"
	SourceUmami       = "umami"
)

// Import is one import of a site's history.
type Import struct {
	ID     int64
	Site   string
	Source string // SourcePlausible, SourceGoatCounter or SourceUmami
	Label  string // the file names it came from
	// From and To are the first and last day of the data (the site's
	// local dates), as day numbers (see Day).
	From, To int32
	Rows     int64 // rows written, over all tables
	Created  time.Time
	// Complete imports are the only ones queries read; an import stays
	// incomplete while it is written and is deleted if writing fails.
	Complete bool
}

// Day is a date as the number of days since 1970-01-01.
func Day(t time.Time) int32 {
	y, m, d := t.Date()
	return int32(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// Date is the midnight (UTC) of a day number.
func Date(day int32) time.Time { return time.Unix(int64(day)*86400, 0).UTC() }

// FormatDay writes a day number as 2006-01-02.
func FormatDay(day int32) string { return Date(day).Format(time.DateOnly) }

// Column is one column of a table: its name in Plausible's CSV files and
// in the stores (the stores use Waymark's column names, so the query
// planner's filters apply to both).
type Column struct {
	CSV, Store string
}

// Table is one of the tables of Plausible's export.
type Table struct {
	Name string // imported_visitors, ...
	// Text and Nums are its text and numeric columns, after the date, in
	// the order of Row's values and of Plausible's CSV files.
	Text, Nums []Column
	// CSVOrder is the order of the columns in Plausible's files ("date"
	// first), when text and numeric columns interleave differently.
	CSVOrder []string
}

// Row is one row of a table: a day, then its text and numeric values in
// the table's column order.
type Row struct {
	Date int32
	Text []string
	Nums []int64
}

// visitNums are the numeric columns the visit tables share.
var visitNums = []Column{{"visitors", "visitors"}, {"visits", "visits"}, {"visit_duration", "visit_duration"}, {"bounces", "bounces"}, {"pageviews", "pageviews"}}

// Tables are the ten tables, in Plausible's order.
var Tables = []*Table{
	{Name: "imported_visitors",
		Nums: []Column{{"visitors", "visitors"}, {"pageviews", "pageviews"}, {"bounces", "bounces"}, {"visits", "visits"}, {"visit_duration", "visit_duration"}}},
	{Name: "imported_sources",
		Text: []Column{{"source", "referrer_source"}, {"referrer", "referrer"}, {"utm_source", "utm_source"}, {"utm_medium", "utm_medium"},
			{"utm_campaign", "utm_campaign"}, {"utm_content", "utm_content"}, {"utm_term", "utm_term"}, {"", "channel"}},
		Nums: []Column{{"pageviews", "pageviews"}, {"visitors", "visitors"}, {"visits", "visits"}, {"visit_duration", "visit_duration"}, {"bounces", "bounces"}}},
	{Name: "imported_pages",
		Text: []Column{{"hostname", "hostname"}, {"page", "pathname"}},
		Nums: []Column{{"visits", "visits"}, {"visitors", "visitors"}, {"pageviews", "pageviews"},
			{"total_scroll_depth", "total_scroll_depth"}, {"total_scroll_depth_visits", "total_scroll_depth_visits"},
			{"total_time_on_page", "total_time_on_page"}, {"total_time_on_page_visits", "total_time_on_page_visits"}}},
	{Name: "imported_entry_pages",
		Text: []Column{{"entry_page", "entry_page"}},
		Nums: []Column{{"visitors", "visitors"}, {"entrances", "entrances"}, {"visit_duration", "visit_duration"}, {"bounces", "bounces"}, {"pageviews", "pageviews"}}},
	{Name: "imported_exit_pages",
		Text: []Column{{"exit_page", "exit_page"}},
		Nums: []Column{{"visitors", "visitors"}, {"visit_duration", "visit_duration"}, {"exits", "exits"}, {"bounces", "bounces"}, {"pageviews", "pageviews"}}},
	{Name: "imported_custom_events",
		Text: []Column{{"name", "name"}, {"link_url", "link_url"}, {"path", "path"}},
		Nums: []Column{{"visitors", "visitors"}, {"events", "events"}}},
	{Name: "imported_locations",
		Text: []Column{{"country", "country"}, {"region", "region"}, {"city", "city"}, {"", "country_name"}, {"", "region_name"}, {"", "city_name"}},
		Nums: visitNums},
	{Name: "imported_devices",
		Text: []Column{{"device", "device"}},
		Nums: visitNums},
	{Name: "imported_browsers",
		Text: []Column{{"browser", "browser"}, {"browser_version", "browser_version"}},
		Nums: visitNums},
	{Name: "imported_operating_systems",
		Text: []Column{{"operating_system", "os"}, {"operating_system_version", "os_version"}},
		Nums: visitNums},
}

// TableNamed returns the table of that name ("imported_pages"), or nil.
func TableNamed(name string) *Table {
	for _, t := range Tables {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// TextIndex returns the index of the text column stored as name, or -1.
func (t *Table) TextIndex(store string) int {
	for i, c := range t.Text {
		if c.Store == store {
			return i
		}
	}
	return -1
}

// NumIndex returns the index of the numeric column stored as name, or -1.
func (t *Table) NumIndex(store string) int {
	for i, c := range t.Nums {
		if c.Store == store {
			return i
		}
	}
	return -1
}

// Store keeps imports: the event stores implement it. Rows of an import
// are written in chunks while it is incomplete; queries read complete
// imports only, so a failed or interrupted import is never half visible.
type Store interface {
	// BeginImport records an incomplete import (its ID chosen by the
	// caller).
	BeginImport(ctx context.Context, imp Import) error
	// AppendRows writes rows of one table for an import.
	AppendRows(ctx context.Context, imp *Import, t *Table, rows []Row) error
	// FinishImport records the import's range and row count and makes it
	// complete.
	FinishImport(ctx context.Context, imp Import) error
	// DeleteImport removes an import and every row it wrote.
	DeleteImport(ctx context.Context, site string, id int64) error
	// Imports lists a site's imports, complete or not, oldest first.
	Imports(ctx context.Context, site string) ([]Import, error)
	// ScanRows calls fn with the rows of a table from a site's complete
	// imports dated within [from, to], by date.
	ScanRows(ctx context.Context, site string, t *Table, from, to int32, fn func(Row) error) error
}

// ErrNotFound is returned for an import that does not exist.
var ErrNotFound = fmt.Errorf("imported: no such import")
