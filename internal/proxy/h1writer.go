package proxy

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// h1Writer is the http.ResponseWriter of ConnServer's own loop. Like
// net/http's, it holds a short body back so that it can send its length,
// sends Content-Length when the handler set it, chunks a body of unknown
// length, writes declared trailers after the last chunk, adds Date, and
// sends no body where HTTP has none (HEAD, 1xx, 204, 304). It flushes
// when asked (http.ResponseController) and at the end of the exchange.
type h1Writer struct {
	bw     *bufio.Writer
	header http.Header
	head   bool // the request was HEAD
	close  bool // the connection closes after this answer

	status    int
	committed bool  // the status line and fields are in bw
	chunked   bool  // the body is sent in chunks
	length    int64 // the declared Content-Length, -1 for none
	written   int64 // body bytes accepted
	held      []byte
	err       error
	// reqBody is the request's body (nil for none): what the handler
	// left of it is read past before the answer's head, as net/http does.
	reqBody *h1Body
}

// heldMax is the body held back before the answer is committed: answers
// this short get a Content-Length.
const heldMax = 2048

func (w *h1Writer) reset(bw *bufio.Writer, head, close bool) {
	// The header map is the connection's, cleared for each answer: a
	// handler does not keep a ResponseWriter past its return.
	held, h := w.held[:0], w.header
	if h == nil {
		h = make(http.Header, 8)
	} else {
		clear(h)
	}
	*w = h1Writer{bw: bw, header: h, head: head, close: close, length: -1, held: held}
}

// Header is the answer's header.
func (w *h1Writer) Header() http.Header { return w.header }

// WriteHeader sets the status; 1xx answers other than 101 are sent at
// once, as interim answers.
func (w *h1Writer) WriteHeader(code int) {
	if w.status != 0 || w.committed {
		return
	}
	if code < 100 || code > 999 {
		code = http.StatusInternalServerError
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.writeStatus(code)
		writeFields(w.bw, w.header, nil)
		w.bw.WriteString("\r\n")
		return
	}
	w.status = code
	if v := w.header["Content-Length"]; len(v) == 1 {
		if n, err := strconv.ParseInt(v[0], 10, 64); err == nil && n >= 0 {
			w.length = n
		}
	}
	if w.length < 0 {
		delete(w.header, "Content-Length")
	}
}

func (w *h1Writer) bodyAllowed() bool {
	return !w.head && w.status != http.StatusNoContent && w.status != http.StatusNotModified
}

// Write sends body bytes.
func (w *h1Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.status == http.StatusNoContent || w.status == http.StatusNotModified {
		return 0, http.ErrBodyNotAllowed
	}
	if w.length >= 0 && w.written+int64(len(p)) > w.length {
		return 0, http.ErrContentLength
	}
	if w.head {
		w.written += int64(len(p))
		return len(p), nil
	}
	w.written += int64(len(p))
	if !w.committed {
		if w.length < 0 && len(w.held)+len(p) <= heldMax {
			w.held = append(w.held, p...)
			return len(p), nil
		}
		w.commit(w.length < 0)
		if len(w.held) > 0 {
			w.body(w.held)
			w.held = w.held[:0]
		}
	}
	w.body(p)
	if w.err != nil {
		return 0, w.err
	}
	return len(p), nil
}

// WriteString sends body bytes.
func (w *h1Writer) WriteString(s string) (int, error) {
	return w.Write([]byte(s))
}

func (w *h1Writer) body(p []byte) {
	if w.chunked {
		if len(p) == 0 {
			return
		}
		w.bw.WriteString(strconv.FormatInt(int64(len(p)), 16))
		w.bw.WriteString("\r\n")
		w.bw.Write(p)
		_, w.err = w.bw.WriteString("\r\n")
		return
	}
	_, w.err = w.bw.Write(p)
}

// FlushError sends what is buffered (http.ResponseController's Flush).
func (w *h1Writer) FlushError() error {
	if w.err != nil {
		return w.err
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		w.commit(w.length < 0 && w.bodyAllowed())
		if len(w.held) > 0 {
			w.body(w.held)
			w.held = w.held[:0]
		}
	}
	if err := w.bw.Flush(); err != nil {
		w.err = err
	}
	return w.err
}

// finish ends the answer after the handler returned; it reports whether
// the connection can carry another exchange.
func (w *h1Writer) finish() bool {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		_, trailers := w.header["Trailer"]
		if w.length < 0 && w.status != http.StatusNoContent && w.status != http.StatusNotModified {
			switch {
			case trailers:
				// Declared trailers go after the last chunk, even of a
				// short or empty body.
			case !w.head:
				w.length = int64(len(w.held))
			case w.written > 0 && w.written <= heldMax:
				w.length = w.written // HEAD: the length the body would have had, as net/http sends
			}
		}
		w.commit(trailers && w.length < 0 && w.bodyAllowed())
		if len(w.held) > 0 {
			w.body(w.held)
			w.held = w.held[:0]
		}
	}
	if w.chunked {
		w.bw.WriteString("0\r\n")
		for _, name := range w.header["Trailer"] {
			for n := range strings.SplitSeq(name, ",") {
				k := http.CanonicalHeaderKey(strings.TrimSpace(n))
				if vs, ok := w.header[k]; ok && k != "" {
					writeField(w.bw, k, vs)
				}
			}
		}
		_, w.err = w.bw.WriteString("\r\n")
	}
	if w.err != nil || w.close {
		return false
	}
	// A body shorter than its declared length leaves the client waiting
	// for bytes that will not come: end the connection.
	return !(w.length >= 0 && w.bodyAllowed() && w.written < w.length)
}

// maxUnreadBody is the most of a request body the handler left unread
// that is read past to keep the connection (net/http's figure).
const maxUnreadBody = 256 << 10

// settleBody deals with what the handler left of the request body
// before the answer starts, as net/http does: a client that sends its
// whole request before reading could otherwise stall. A body closed
// before its end, one with maxUnreadBody or more left, or one that fails
// while it is read past ends the connection after this answer.
func (w *h1Writer) settleBody() {
	b := w.reqBody
	if b == nil || w.close {
		return
	}
	switch {
	case b.closed:
		if !b.sawEOF {
			w.close = true
		}
	case b.r.N >= maxUnreadBody:
		w.close = true
	default:
		if _, err := io.CopyN(io.Discard, b, maxUnreadBody+1); err != io.EOF {
			w.close = true
		}
	}
}

// commit writes the status line and fields.
func (w *h1Writer) commit(chunked bool) {
	w.settleBody()
	w.committed = true
	w.chunked = chunked
	conn := firstValue(w.header["Connection"])
	if conn == "close" {
		w.close = true // net/http closes on this exact value only
	}
	if w.status == http.StatusNotModified {
		// No representation metadata on a 304, as net/http sends it.
		delete(w.header, "Content-Type")
		delete(w.header, "Content-Length")
		delete(w.header, "Transfer-Encoding")
		w.length = -1
	}
	w.writeStatus(w.status)
	extra := [3]string{}
	n := 0
	if _, ok := w.header["Date"]; !ok {
		extra[n] = "Date: " + httpDate()
		n++
	}
	switch {
	case chunked:
		delete(w.header, "Content-Length")
		extra[n] = "Transfer-Encoding: chunked"
		n++
	case w.length >= 0 && w.status >= 200 && w.status != http.StatusNoContent && w.status != http.StatusNotModified:
		if _, ok := w.header["Content-Length"]; !ok {
			extra[n] = "Content-Length: " + strconv.FormatInt(w.length, 10)
			n++
		}
	}
	if w.close && !namesClose(conn) {
		// The handler's Connection field gives way to close, as in net/http.
		delete(w.header, "Connection")
		extra[n] = "Connection: close"
		n++
	}
	writeFields(w.bw, w.header, extra[:n])
	if !chunked {
		// Trailers are only sent after chunks.
		delete(w.header, "Trailer")
	}
	w.bw.WriteString("\r\n")
}

func (w *h1Writer) writeStatus(code int) {
	w.bw.WriteString("HTTP/1.1 ")
	w.bw.WriteString(strconv.Itoa(code))
	w.bw.WriteByte(' ')
	text := http.StatusText(code)
	if text == "" {
		text = "status code " + strconv.Itoa(code)
	}
	w.bw.WriteString(text)
	w.bw.WriteString("\r\n")
}

// writeFields writes h (fields whose names are not tokens are left out,
// line breaks in values become spaces, as net/http does), then extra.
func writeFields(bw *bufio.Writer, h http.Header, extra []string) {
	for k, vs := range h {
		if !isToken(k) {
			continue
		}
		writeField(bw, k, vs)
	}
	for _, e := range extra {
		bw.WriteString(e)
		bw.WriteString("\r\n")
	}
}

var lineBreaks = strings.NewReplacer("\r", " ", "\n", " ")

func writeField(bw *bufio.Writer, k string, vs []string) {
	for _, v := range vs {
		if strings.ContainsAny(v, "\r\n") {
			v = lineBreaks.Replace(v)
		}
		bw.WriteString(k)
		bw.WriteString(": ")
		bw.WriteString(strings.TrimSpace(v))
		bw.WriteString("\r\n")
	}
}

// dateCache holds the Date field's value for the current second.
var dateCache atomic.Pointer[cachedDate]

type cachedDate struct {
	sec  int64
	text string
}

func httpDate() string {
	now := time.Now()
	if d := dateCache.Load(); d != nil && d.sec == now.Unix() {
		return d.text
	}
	d := &cachedDate{sec: now.Unix(), text: now.UTC().Format(http.TimeFormat)}
	dateCache.Store(d)
	return d.text
}
