package duckdb

import (
	"fmt"
	"strings"
	"time"
)

// Dialect compiles the analytics query model's pieces to DuckDB SQL.
type Dialect struct{}

// Quote returns a SQL string literal. DuckDB's literals are standard SQL:
// only the quote is special; NUL bytes cannot be stored and are dropped.
func (Dialect) Quote(s string) string {
	s = strings.ReplaceAll(s, "\x00", "")
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// Time returns a UTC timestamp literal of the columns' type (seconds), so
// comparisons prune by zone maps without casting the column.
func (Dialect) Time(t time.Time) string {
	return "TIMESTAMP_S '" + t.UTC().Format("2006-01-02 15:04:05") + "'"
}

// AddSeconds shifts a timestamp.
func (Dialect) AddSeconds(ts, seconds string) string {
	return fmt.Sprintf("(%s + to_seconds(CAST(%s AS BIGINT)))", ts, seconds)
}

// Bucket truncates a timestamp.
func (Dialect) Bucket(unit, ts string) string {
	return fmt.Sprintf("date_trunc('%s', %s)", unit, ts)
}

// FormatBucket formats a truncated timestamp.
func (Dialect) FormatBucket(unit, ts string) string {
	if unit == "hour" {
		return "strftime(" + ts + ", '%Y-%m-%d %H:00:00')"
	}
	return "strftime(" + ts + ", '%Y-%m-%d')"
}

// Contains tests for a substring.
func (d Dialect) Contains(expr, sub string, caseSensitive bool) string {
	if caseSensitive {
		return fmt.Sprintf("contains(%s, %s)", expr, d.Quote(sub))
	}
	return fmt.Sprintf("contains(lower(%s), %s)", expr, d.Quote(strings.ToLower(sub)))
}

// Regex tests a regular expression (RE2 syntax).
func (d Dialect) Regex(expr, pattern string, caseSensitive bool) string {
	if caseSensitive {
		return fmt.Sprintf("regexp_matches(%s, %s)", expr, d.Quote(pattern))
	}
	return fmt.Sprintf("regexp_matches(%s, %s, 'i')", expr, d.Quote(pattern))
}

// Seconds is the whole seconds between two timestamps.
func (Dialect) Seconds(a, b string) string { return fmt.Sprintf("date_diff('second', %s, %s)", a, b) }

// Lower lower-cases.
func (Dialect) Lower(expr string) string { return "lower(" + expr + ")" }

// PropValue reads a custom property.
func (d Dialect) PropValue(alias, key string) string {
	return fmt.Sprintf("coalesce(%[1]s.prop_values[list_position(%[1]s.prop_keys, %[2]s)], '')", alias, d.Quote(key))
}

// CountDistinct counts exactly.
func (Dialect) CountDistinct(expr string) string { return "count(DISTINCT " + expr + ")" }

// ToFloat casts to DOUBLE.
func (Dialect) ToFloat(expr string) string { return "CAST(" + expr + " AS DOUBLE)" }

// ToString casts to VARCHAR.
func (Dialect) ToString(expr string) string { return "CAST(" + expr + " AS VARCHAR)" }

// VisitorDay is a visitor id's top 16 bits.
func (Dialect) VisitorDay(expr string) string { return "(" + expr + " >> 48)" }
