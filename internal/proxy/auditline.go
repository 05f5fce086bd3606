package proxy

import (
	"io"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// AuditLines writes the proxy's audit lines as JSON, the same lines
// slog's JSONHandler writes for Server.Audit (time, level, msg,
// component, then the request's fields), without slog's generic
// machinery: on the forwarding path the audit line was a tenth of the
// proxy's CPU. Safe for concurrent use.
type AuditLines struct {
	mu sync.Mutex
	w  io.Writer
}

// NewAuditLines writes audit lines to w.
func NewAuditLines(w io.Writer) *AuditLines { return &AuditLines{w: w} }

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func (a *AuditLines) write(q *request, at time.Time, duration time.Duration) {
	bp := lineBufs.Get().(*[]byte)
	b := (*bp)[:0]
	b = append(b, `{"time":"`...)
	b = at.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"proxy","component":"proxy_audit"`...)
	b = appendField(b, "user", q.user)
	b = appendField(b, "client", q.client)
	b = appendField(b, "method", q.method)
	b = appendField(b, "proto", q.proto)
	b = appendField(b, "host", q.dest.Host)
	b = append(b, `,"port":`...)
	b = strconv.AppendInt(b, int64(q.dest.Port), 10)
	b = appendField(b, "decision", q.decision)
	if q.ip.IsValid() {
		b = append(b, `,"ip":"`...)
		b = q.ip.AppendTo(b)
		b = append(b, '"')
	}
	if q.reason != "" {
		b = appendField(b, "reason", string(q.reason))
	}
	if q.status != 0 {
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(q.status), 10)
	}
	if q.threat != nil {
		b = appendField(b, "threat_list", q.threat.List)
		b = appendField(b, "threat_match", q.threat.Match)
		b = appendField(b, "threat_source", q.threat.Source)
	}
	b = append(b, `,"bytes_up":`...)
	b = strconv.AppendInt(b, q.up, 10)
	b = append(b, `,"bytes_down":`...)
	b = strconv.AppendInt(b, q.down, 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, float64(duration.Microseconds())/1000, 'f', -1, 64) // as encoding/json writes durations
	b = append(b, "}\n"...)
	a.mu.Lock()
	a.w.Write(b)
	a.mu.Unlock()
	*bp = b
	lineBufs.Put(bp)
}

// appendField appends ,"key":"value" with value escaped as slog's
// JSONHandler escapes it (quotes, backslashes, control characters, line
// separators and invalid UTF-8; not HTML characters).
func appendField(b []byte, key, value string) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, `":"`...)
	const hex = "0123456789abcdef"
	start := 0
	for i := 0; i < len(value); {
		c := value[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, value[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(value[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, value[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, value[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, value[start:]...)
	return append(b, '"')
}
