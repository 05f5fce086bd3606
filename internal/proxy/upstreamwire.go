package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// writableDirect says whether writeUpstream can write out: a body of
// known length (or none) and no trailers. Others go through
// http.Request.Write (chunked uploads arrive through net/http).
func writableDirect(out *http.Request) bool {
	return out.ContentLength >= 0 && len(out.Trailer) == 0 && len(out.TransferEncoding) == 0 &&
		(out.ContentLength == 0) == (out.Body == nil)
}

// writeUpstream writes out to bw as http.Request.Write does for a
// request of known length (TestWriteUpstreamMatches): the request line,
// Host, Content-Length where Request.Write sends one, the fields with
// invalid names left out and line breaks in values turned into spaces,
// then the body. It does not sort the fields or allocate for them.
func writeUpstream(bw *bufio.Writer, out *http.Request) error {
	bw.WriteString(out.Method)
	bw.WriteByte(' ')
	bw.WriteString(out.URL.RequestURI())
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(out.Host)
	bw.WriteString("\r\n")
	switch {
	case out.ContentLength > 0, out.Method == http.MethodPost, out.Method == http.MethodPut, out.Method == http.MethodPatch:
		bw.WriteString("Content-Length: ")
		bw.WriteString(strconv.FormatInt(out.ContentLength, 10))
		bw.WriteString("\r\n")
	}
	for k, vs := range out.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		if !isToken(k) {
			continue
		}
		writeField(bw, k, vs)
	}
	if _, err := bw.WriteString("\r\n"); err != nil {
		return err
	}
	if out.Body == nil {
		return nil
	}
	n, err := io.CopyN(bw, out.Body, out.ContentLength)
	if err != nil {
		return fmt.Errorf("proxy: request body: %d of %d bytes: %w", n, out.ContentLength, err)
	}
	return nil
}

// readUpstream reads an origin's answer to out. An answer of the simple
// shape (HTTP/1.1, a status from 200, not 204 or 304, to a request other
// than HEAD, one plain Content-Length, no Transfer-Encoding or Trailer,
// strict CRLF lines and token field names) is read here; anything else,
// and any failure, by http.ReadResponse, the authority on the unusual.
// What this reads, ReadResponse reads the same
// (FuzzSimpleResponseMatchesNetHTTP).
func readUpstream(br *bufio.Reader, out *http.Request, uc *upConn) (*http.Response, error) {
	if head, err := readHead(br, nil); err == nil {
		if resp, ok := parseSimpleResponse(head, out.Method); ok {
			br.Discard(len(head))
			resp.Request = out
			resp.Body = &upBody{r: io.LimitedReader{R: br, N: resp.ContentLength}, uc: uc}
			return resp, nil
		}
	}
	return http.ReadResponse(br, out)
}

// parseSimpleResponse parses an answer head of the simple shape (see
// readUpstream) to a request with method; false leaves it to net/http.
func parseSimpleResponse(head []byte, method string) (*http.Response, bool) {
	if method == http.MethodHead {
		return nil, false
	}
	line, rest, ok := cutLine(head)
	if !ok || len(line) < 12 || string(line[:9]) != "HTTP/1.1 " {
		return nil, false
	}
	status := line[9:]
	code := 0
	for _, c := range status[:3] {
		if c < '0' || c > '9' {
			return nil, false
		}
		code = code*10 + int(c-'0')
	}
	if code < 200 || code == http.StatusNoContent || code == http.StatusNotModified ||
		len(status) > 3 && status[3] != ' ' || !fieldValue(status) {
		return nil, false
	}
	h := make(http.Header, 8)
	f := newFieldStrings(head)
	length := int64(-1)
	simple := readFields(rest, f, h, func(name string, value []byte) (ok, drop bool) {
		switch name {
		case "Transfer-Encoding", "Trailer":
			return false, false
		case "Content-Length":
			if length >= 0 {
				return false, false
			}
			length, ok = parseLength(value)
			return ok, false
		}
		return true, false
	})
	if !simple || length < 0 {
		return nil, false
	}
	resp := &http.Response{Status: f.str(status), StatusCode: code, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, ContentLength: length}
	if hasToken(h["Connection"], "close") {
		resp.Close = true
		delete(h, "Connection") // as net/http does for an answer that closes
	}
	return resp, true
}

// upBody is an answer's body of known length on a pooled connection.
// Closed before its end, it marks the connection as not reusable.
type upBody struct {
	r  io.LimitedReader
	uc *upConn
}

func (b *upBody) Read(p []byte) (int, error) {
	if b.r.N <= 0 {
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	if err == io.EOF && b.r.N > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *upBody) Close() error {
	if b.r.N > 0 {
		b.uc.broken = true
	}
	return nil
}
