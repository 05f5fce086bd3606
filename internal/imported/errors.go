package imported

import "fmt"

// FormatError is a file that does not read as the export it claims to be,
// with where: the file, and the line and column when one value is wrong.
type FormatError struct {
	File         string
	Line, Column int // 1-based; 0 when the whole file is wrong
	Field        string
	Msg          string
}

func (e *FormatError) Error() string {
	switch {
	case e.Line > 0 && e.Field != "":
		return fmt.Sprintf("%s: line %d, column %d (%s): %s", e.File, e.Line, e.Column, e.Field, e.Msg)
	case e.Line > 0 && e.Column > 0:
		return fmt.Sprintf("%s: line %d, column %d: %s", e.File, e.Line, e.Column, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("%s: line %d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}
