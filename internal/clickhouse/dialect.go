package clickhouse

import (
	"fmt"
	"strings"
	"time"
)

// Dialect compiles the analytics query model's pieces to ClickHouse SQL
// that both Debian's 18.16 server and current releases accept. Times are
// DateTime('UTC') columns; every function that depends on a time zone is
// given 'UTC' explicitly, so the server's own zone never matters.
type Dialect struct{}

// Quote returns a string literal. ClickHouse has no query parameters in
// 18.16, so this is the one place values enter SQL: backslash and quote
// are escaped with a backslash, NUL as \0; every other byte stands for
// itself inside the quotes.
func (Dialect) Quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '\'':
			b.WriteByte('\\')
			b.WriteByte(c)
		case 0:
			b.WriteString(`\0`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// Time returns a UTC instant as a DateTime of the columns' type.
func (Dialect) Time(t time.Time) string {
	return fmt.Sprintf("toDateTime(%d, 'UTC')", t.Unix())
}

// AddSeconds shifts a timestamp.
func (Dialect) AddSeconds(ts, seconds string) string {
	return fmt.Sprintf("(%s + (%s))", ts, seconds)
}

// Bucket truncates a timestamp. Day and hour keep a DateTime; week and
// month give a Date.
func (Dialect) Bucket(unit, ts string) string {
	switch unit {
	case "hour":
		return "toStartOfHour(" + ts + ", 'UTC')"
	case "week":
		return "toMonday(" + ts + ", 'UTC')"
	case "month":
		return "toStartOfMonth(" + ts + ", 'UTC')"
	}
	return "toDate(" + ts + ", 'UTC')"
}

// FormatBucket formats a truncated timestamp.
func (Dialect) FormatBucket(unit, ts string) string {
	if unit == "hour" {
		return "formatDateTime(" + ts + ", '%Y-%m-%d %H:00:00', 'UTC')"
	}
	return "toString(" + ts + ")"
}

// Contains tests for a substring; the case-insensitive form folds both
// sides the way lowerUTF8 does.
func (d Dialect) Contains(expr, sub string, caseSensitive bool) string {
	if caseSensitive {
		return fmt.Sprintf("(position(%s, %s) > 0)", expr, d.Quote(sub))
	}
	return fmt.Sprintf("(position(lowerUTF8(%s), %s) > 0)", expr, d.Quote(strings.ToLower(sub)))
}

// Regex tests a regular expression (RE2 syntax, as in DuckDB).
func (d Dialect) Regex(expr, pattern string, caseSensitive bool) string {
	if !caseSensitive {
		pattern = "(?i)" + pattern
	}
	return fmt.Sprintf("match(%s, %s)", expr, d.Quote(pattern))
}

// Seconds is the whole seconds between two timestamps.
func (Dialect) Seconds(a, b string) string {
	return fmt.Sprintf("(toInt64(%s) - toInt64(%s))", b, a)
}

// Lower lower-cases UTF-8.
func (Dialect) Lower(expr string) string { return "lowerUTF8(" + expr + ")" }

// PropValue reads a custom property: indexOf gives 0 when the key is
// absent, and element 0 of an array is the empty string.
func (d Dialect) PropValue(alias, key string) string {
	return fmt.Sprintf("%[1]s.prop_values[indexOf(%[1]s.prop_keys, %[2]s)]", alias, d.Quote(key))
}

// CountDistinct counts exactly. Over a Nullable expression with no value
// uniqExact gives NULL in 18.16; the count is 0.
func (Dialect) CountDistinct(expr string) string { return "coalesce(uniqExact(" + expr + "), 0)" }

// ToFloat casts to Float64.
func (Dialect) ToFloat(expr string) string { return "toFloat64(" + expr + ")" }

// ToString casts to String.
func (Dialect) ToString(expr string) string { return "toString(" + expr + ")" }

// VisitorDay is a visitor id's top 16 bits.
func (Dialect) VisitorDay(expr string) string { return "bitShiftRight(" + expr + ", 48)" }
