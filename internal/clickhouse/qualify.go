package clickhouse

import "strings"

// rawTableNames are the tables qualify names with their database.
var rawTableNames = map[string]bool{"events": true, "sessions": true}

// qualify prefixes the raw tables a statement reads (an identifier events
// or sessions right after FROM or JOIN) with the database. In a sharded
// layout a shard runs a query's subqueries as written, in its default
// database, not the one the query was sent to. String literals (quoted as
// Dialect.Quote does), quoted identifiers and comments are left as they
// are.
func qualify(stmt, database string) string {
	var b strings.Builder
	b.Grow(len(stmt) + 32)
	prev := "" // the previous word, upper-cased
	for i := 0; i < len(stmt); {
		c := stmt[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			j := skipQuoted(stmt, i)
			b.WriteString(stmt[i:j])
			i, prev = j, ""
		case c == '-' && strings.HasPrefix(stmt[i:], "--"):
			j := strings.IndexByte(stmt[i:], '\n')
			if j < 0 {
				j = len(stmt) - i
			}
			b.WriteString(stmt[i : i+j])
			i += j
		case isWordByte(c):
			j := i
			for j < len(stmt) && (isWordByte(stmt[j]) || stmt[j] >= '0' && stmt[j] <= '9') {
				j++
			}
			w := stmt[i:j]
			// A qualified name (db.events) or a column (x.events) is not
			// a table to qualify.
			dotted := i > 0 && stmt[i-1] == '.' || j < len(stmt) && stmt[j] == '.'
			if (prev == "FROM" || prev == "JOIN") && rawTableNames[w] && !dotted {
				b.WriteString(database)
				b.WriteByte('.')
			}
			b.WriteString(w)
			prev = strings.ToUpper(w)
			i = j
		default:
			if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
				prev = ""
			}
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// skipQuoted returns the index after the quoted run starting at i: a
// backslash escapes the next byte, and an unterminated run ends the
// statement.
func skipQuoted(s string, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case q:
			return j + 1
		}
	}
	return len(s)
}
