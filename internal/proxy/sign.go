package proxy

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"waymark.dev/waymark/internal/integrity"
)

// DefaultSignBuffer is how much of a relayed body is held to send its
// digest and signature as header fields; longer or unsized bodies stream,
// and the fields follow as trailers.
const DefaultSignBuffer = 1 << 20

// errBadOrigin: the origin's answer broke off before its declared length.
var errBadOrigin = errors.New("proxy: the origin's answer broke off")

// signBuffer is the longest body held to sign in the header.
func (s *Server) signBuffer() int64 {
	if s.SignBuffer <= 0 {
		return DefaultSignBuffer
	}
	return s.SignBuffer
}

func signable(method string, status int) bool {
	return method != http.MethodHead && status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// relaySigned relays resp with Content-Digest and an RFC 9421 signature:
// in the header when the body fits SignBuffer, else as trailers after
// the streamed body (chunked HTTP/1.1, or HTTP/2).
func (s *Server) relaySigned(w http.ResponseWriter, r *http.Request, q *request, resp *http.Response) (int64, error) {
	h := w.Header()
	target := q.target
	if resp.ContentLength >= 0 && resp.ContentLength <= s.signBuffer() && len(resp.Trailer) == 0 {
		body := make([]byte, resp.ContentLength)
		if _, err := io.ReadFull(resp.Body, body); err != nil {
			return 0, fmt.Errorf("%w: %v", errBadOrigin, err)
		}
		if err := s.Signer.Sign(h, h, resp.StatusCode, r.Method, target, sha256.Sum256(body)); err != nil {
			return 0, fmt.Errorf("%w: signing: %v", errBadOrigin, err)
		}
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(resp.StatusCode)
		n, err := w.Write(body)
		return int64(n), err
	}
	names := []string{}
	for k := range resp.Trailer {
		names = append(names, k)
	}
	names = append(names, integrity.Fields...)
	h.Set("Trailer", strings.Join(names, ", "))
	h.Del("Content-Length")
	w.WriteHeader(resp.StatusCode)
	hash := sha256.New()
	bp := bufPool.Get().(*[]byte)
	dst := io.MultiWriter(flushWriter{w, http.NewResponseController(w)}, hash)
	n, err := io.CopyBuffer(dst, resp.Body, *bp)
	bufPool.Put(bp)
	for k, v := range resp.Trailer {
		h[k] = v
	}
	if err != nil && !errors.Is(err, io.EOF) {
		// No signature for a body that broke off: the client sees an
		// unsigned, incomplete answer, not a signed wrong one.
		return n, err
	}
	var sum [32]byte
	hash.Sum(sum[:0])
	trailers := http.Header{}
	if err := s.Signer.Sign(trailers, h, resp.StatusCode, r.Method, target, sum); err != nil {
		return n, err
	}
	for k, v := range trailers {
		h[k] = v
	}
	return n, nil
}
