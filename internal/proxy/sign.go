package proxy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"waymark.dev/waymark/internal/integrity"
)

// DefaultSignBuffer is how much of a relayed body is held to send its
// digest and signature as header fields; longer or unsized bodies stream,
// and the fields follow as trailers.
const DefaultSignBuffer = 1 << 20

// SignMode says which relayed answers are signed.
type SignMode string

// Signing modes. Requested (the default) signs an answer when its request
// carries Accept-Signature, when the client's token always gets
// signatures, or when its host is one of SignHosts, and adds a
// Content-Digest alone when the request carries Want-Content-Digest.
// Always signs every answer; never signs none.
const (
	SignRequested SignMode = "requested"
	SignAlways    SignMode = "always"
	SignNever     SignMode = "never"
)

// ParseSignMode reads a --proxy-sign value.
func ParseSignMode(s string) (SignMode, error) {
	switch m := SignMode(s); m {
	case SignRequested, SignAlways, SignNever:
		return m, nil
	case "":
		return SignRequested, nil
	}
	return "", fmt.Errorf("proxy: signing mode %q: use requested, always or never", s)
}

// signWant decides what the answer to r gets: w.Sign for a signature,
// w.Digest for a Content-Digest; none when it gets neither. A malformed
// Accept-Signature or Want-Content-Digest is an error for a 400.
func (s *Server) signWant(r *http.Request, q *request) (w integrity.Want, err error) {
	if s.Signer == nil || s.SignMode == SignNever {
		return w, nil
	}
	if w, err = s.wants.parse(r.Header); err != nil {
		return w, err
	}
	if w.Sign {
		return w, nil
	}
	forced := s.SignMode == SignAlways || q.signAll
	for _, p := range s.SignHosts {
		forced = forced || hostMatch(p, q.dest.Host)
	}
	if forced {
		digest := w.Digest
		w = integrity.DefaultWant
		if digest != "" {
			w.Digest = digest
		}
	}
	return w, nil
}

// wantCache keeps parsed Accept-Signature and Want-Content-Digest
// values: a client sends the same ones with every request, and parsing
// them cost 3 us of a signed answer. At most wantCacheSize values are
// kept; then the cache starts over.
type wantCache struct {
	mu sync.RWMutex
	m  map[string]integrity.Want
}

const wantCacheSize = 1024

func (c *wantCache) parse(h http.Header) (integrity.Want, error) {
	as, wd := h["Accept-Signature"], h["Want-Content-Digest"]
	if len(as) == 0 && len(wd) == 0 {
		return integrity.Want{}, nil
	}
	if len(as) > 1 || len(wd) > 1 {
		return integrity.ParseWant(h) // rare: several field lines
	}
	var key string
	if len(as) == 1 {
		key = as[0]
	}
	key += "\x00"
	if len(wd) == 1 {
		key += wd[0]
	}
	c.mu.RLock()
	w, ok := c.m[key]
	c.mu.RUnlock()
	if ok {
		return w, nil
	}
	w, err := integrity.ParseWant(h)
	if err != nil {
		return w, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= wantCacheSize {
		c.m = map[string]integrity.Want{}
	}
	c.m[key] = w
	c.mu.Unlock()
	return w, nil
}

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

// relaySigned relays resp with what w asks for (Content-Digest, and an
// RFC 9421 signature when w.Sign): in the header when the body fits
// SignBuffer, else as trailers after the streamed body (chunked HTTP/1.1,
// or HTTP/2).
func (s *Server) relaySigned(w http.ResponseWriter, r *http.Request, q *request, resp *http.Response, want integrity.Want) (int64, error) {
	h := w.Header()
	req := &integrity.Message{Method: r.Method, URL: q.target, Header: r.Header}
	if resp.ContentLength >= 0 && resp.ContentLength <= s.signBuffer() && len(resp.Trailer) == 0 {
		body := make([]byte, resp.ContentLength)
		if _, err := io.ReadFull(resp.Body, body); err != nil {
			return 0, fmt.Errorf("%w: %v", errBadOrigin, err)
		}
		hash := integrity.DigestHash(want.Digest)
		hash.Write(body)
		if err := s.Signer.SignFor(h, h, resp.StatusCode, req, integrity.DigestField(want.Digest, hash.Sum(nil)), want); err != nil {
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
	names = append(names, "Content-Digest")
	if want.Sign {
		names = append(names, "Signature", "Signature-Input")
	}
	h.Set("Trailer", strings.Join(names, ", "))
	h.Del("Content-Length")
	w.WriteHeader(resp.StatusCode)
	hash := integrity.DigestHash(want.Digest)
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
	trailers := http.Header{}
	if err := s.Signer.SignFor(trailers, h, resp.StatusCode, req, integrity.DigestField(want.Digest, hash.Sum(nil)), want); err != nil {
		return n, err
	}
	for k, v := range trailers {
		h[k] = v
	}
	return n, nil
}
