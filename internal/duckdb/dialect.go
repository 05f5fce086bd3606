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

// Time returns a UTC timestamp literal.
func (Dialect) Time(t time.Time) string {
	return "TIMESTAMP '" + t.UTC().Format("2006-01-02 15:04:05.000000") + "'"
}

// Bucket truncates col (naive UTC) to unit in zone tz and formats it.
func (d Dialect) Bucket(unit, col, tz string) string {
	f := "%Y-%m-%d"
	if unit == "hour" {
		f = "%Y-%m-%d %H:00:00"
	}
	return fmt.Sprintf("strftime(date_trunc('%s', timezone(%s, timezone('UTC', %s))), '%s')", unit, d.Quote(tz), col, f)
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
