package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"waymark.dev/waymark/internal/integrity"
	"waymark.dev/waymark/internal/netguard"
)

// upstream is a pool of idle HTTP/1.1 connections to vetted addresses.
// A forwarded request is written and its answer read on the handler's own
// goroutine: net/http's Transport hands each exchange to two more
// goroutines, and on two cores those hand-offs were most of the proxy's
// added latency.
type upstream struct {
	mu       sync.Mutex
	idle     map[netip.AddrPort][]*upConn
	perHost  int
	idleTime time.Duration
}

type upConn struct {
	c      net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	since  time.Time
	reused bool
	broken bool // an answer's body was left unread: not reusable
}

func newUpstream() *upstream {
	return &upstream{idle: map[netip.AddrPort][]*upConn{}, perHost: 256, idleTime: 90 * time.Second}
}

func (u *upstream) get(addr netip.AddrPort) *upConn {
	u.mu.Lock()
	defer u.mu.Unlock()
	list := u.idle[addr]
	for len(list) > 0 {
		c := list[len(list)-1]
		list = list[:len(list)-1]
		if time.Since(c.since) < u.idleTime {
			u.idle[addr] = list
			c.reused = true
			return c
		}
		c.c.Close()
	}
	delete(u.idle, addr)
	return nil
}

func (u *upstream) put(addr netip.AddrPort, c *upConn) {
	c.since = time.Now()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.idle[addr]) >= u.perHost {
		c.c.Close()
		return
	}
	u.idle[addr] = append(u.idle[addr], c)
}

func (u *upstream) closeIdle() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for a, list := range u.idle {
		for _, c := range list {
			c.c.Close()
		}
		delete(u.idle, a)
	}
}

// cleanHeader copies h without hop-by-hop headers, those named in
// Connection, and (for requests) the client-address headers.
func cleanHeader(h http.Header, request bool) http.Header {
	out := make(http.Header, len(h))
	copyClean(out, h, request)
	return out
}

// copyClean copies src's fields into dst as cleanHeader keeps them:
// hop-by-hop fields (RFC 9110 section 7.6.1) and the proxy's own
// credentials are removed in both directions.
func copyClean(dst, src http.Header, request bool) {
	named := src["Connection"]
	for k, v := range src {
		switch k {
		case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
			"Te", "Trailer", "Transfer-Encoding", "Upgrade":
			continue
		case "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto":
			if request {
				continue
			}
		}
		if len(named) > 0 && hasToken(named, k) {
			continue
		}
		dst[k] = v
	}
}

// leanable says whether the lean path can forward r: protocol upgrades
// become tunnels (forwardUpgrade) and 100-continue exchanges go through
// httputil.ReverseProxy.
func leanable(r *http.Request) bool {
	return r.Header.Get("Upgrade") == "" && !strings.EqualFold(r.Header.Get("Expect"), "100-continue")
}

var errRetry = errors.New("proxy: reused upstream connection closed before answering")

// forwardLean forwards r to the vetted target over a pooled connection.
func (s *Server) forwardLean(w http.ResponseWriter, r *http.Request, q *request, vt netguard.Target) {
	out := &http.Request{
		Method:        r.Method,
		URL:           &url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery},
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        cleanHeader(r.Header, true),
		Host:          q.dest.Host,
		ContentLength: r.ContentLength,
		Body:          r.Body,
	}
	if q.dest.Port != 80 {
		out.Host = q.dest.String()
	}
	if r.ContentLength == 0 {
		out.Body = nil
	}
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = nil // Request.Write would add Go's own
	}
	out.Header.Add("Via", "1.1 waymark")
	if s.Signer != nil {
		// The proxy answers these itself; the origin's own would be
		// removed anyway.
		delete(out.Header, "Accept-Signature")
		delete(out.Header, "Want-Content-Digest")
	}
	var up counter
	if out.Body != nil {
		out.Body = &countingBody{ReadCloser: r.Body, n: &up}
	}
	var resp *http.Response
	var uc *upConn
	for attempt := 0; ; attempt++ {
		var err error
		uc, resp, err = s.exchange(r, out, vt, attempt > 0)
		if err == nil {
			break
		}
		if errors.Is(err, errRetry) && attempt == 0 {
			continue // a pooled connection the origin had closed: once more on a new one
		}
		q.up = up.Load()
		s.forwardFailed(w, r, q, err)
		return
	}
	defer resp.Body.Close()
	n, err := s.relayResponse(w, r, q, resp)
	if errors.Is(err, errBadOrigin) {
		q.up = up.Load()
		uc.c.Close()
		s.forwardFailed(w, r, q, err)
		return
	}
	q.up, q.down = up.Load(), n
	if err == nil && !resp.Close && !out.Close {
		resp.Body.Close()
		if !uc.broken {
			s.upstream.put(vt.Addr, uc)
			return
		}
	}
	uc.c.Close()
	if err != nil && !errors.Is(err, io.EOF) {
		q.decision, q.reason = "error", ReasonUpstream
	}
}

// relayResponse writes an origin's response to the client: its header without
// hop-by-hop fields, signed when the proxy signs, the body streamed, the
// trailers after it. errBadOrigin means nothing was written yet.
func (s *Server) relayResponse(w http.ResponseWriter, r *http.Request, q *request, resp *http.Response) (int64, error) {
	h := w.Header()
	copyClean(h, resp.Header, false)
	if _, ok := h["Content-Type"]; !ok {
		// A proxy relays the type the origin gave, or none: net/http
		// would otherwise add one it guessed from the body.
		h["Content-Type"] = nil
	}
	q.status = resp.StatusCode
	if s.Signer != nil {
		// Only the proxy's own signature fields reach the client.
		for _, f := range integrity.Fields {
			h.Del(f)
		}
		if q.want.Digest != "" && signable(r.Method, resp.StatusCode) {
			return s.relaySigned(w, r, q, resp, q.want)
		}
	}
	if len(resp.Trailer) > 0 {
		names := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			names = append(names, k)
		}
		h.Set("Trailer", strings.Join(names, ", "))
	}
	w.WriteHeader(resp.StatusCode)
	bp := bufPool.Get().(*[]byte)
	var dst io.Writer = w
	if resp.ContentLength == -1 { // streamed answers reach the client as they come
		dst = flushWriter{w, http.NewResponseController(w)}
	}
	n, err := io.CopyBuffer(dst, resp.Body, *bp)
	bufPool.Put(bp)
	for k, v := range resp.Trailer {
		h[k] = v
	}
	return n, err
}

// exchange writes out on a pooled (unless fresh) or new connection and
// reads the answer.
func (s *Server) exchange(r *http.Request, out *http.Request, vt netguard.Target, fresh bool) (*upConn, *http.Response, error) {
	var uc *upConn
	if !fresh {
		uc = s.upstream.get(vt.Addr)
	}
	if uc == nil {
		c, err := s.Dialer.DialTarget(r.Context(), vt)
		if err != nil {
			return nil, nil, err
		}
		uc = &upConn{c: c, br: bufio.NewReaderSize(c, 4096), bw: bufio.NewWriterSize(c, 4096)}
	}
	stop := context.AfterFunc(r.Context(), func() { uc.c.Close() }) // the client went away
	defer stop()
	write := out.Write
	if writableDirect(out) {
		write = func(w io.Writer) error { return writeUpstream(uc.bw, out) }
	}
	if err := write(uc.bw); err == nil {
		err = uc.bw.Flush()
		if err != nil {
			uc.c.Close()
			return nil, nil, retryable(uc, out, err)
		}
	} else {
		uc.c.Close()
		return nil, nil, retryable(uc, out, err)
	}
	uc.c.SetReadDeadline(time.Now().Add(60 * time.Second))
	for {
		resp, err := readUpstream(uc.br, out, uc)
		if err != nil {
			uc.c.Close()
			return nil, nil, retryable(uc, out, err)
		}
		uc.c.SetReadDeadline(time.Time{})
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue // interim answers (100 Continue, 103 Early Hints) are not passed on
		}
		if !stop() {
			// The client went away as the answer came: the connection is
			// closed, though a short answer may sit whole in the buffer.
			// It must not go back to the pool.
			return nil, nil, context.Cause(r.Context())
		}
		return uc, resp, nil
	}
}

// retryable marks a failure on a reused connection, before any answer,
// of a request without a body, as worth one more try.
func retryable(uc *upConn, out *http.Request, err error) error {
	if uc.reused && out.Body == nil && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "connection reset")) {
		return errRetry
	}
	return err
}
