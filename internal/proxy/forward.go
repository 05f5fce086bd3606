package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"sync/atomic"

	"waymark.dev/waymark/internal/netguard"
)

type forwardKey struct{}

// forwardState passes the vetted target and the audit record through the
// reverse proxy's hooks.
type forwardState struct {
	q  *request
	vt netguard.Target
}

// forward relays a plain-HTTP request to a vetted destination. The
// upstream request goes to the vetted address (the Host header keeps the
// name), without hop-by-hop headers, Proxy-Authorization or the client's
// address.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, q *request, vt netguard.Target) {
	if leanable(r) {
		s.forwardLean(w, r, q, vt)
		return
	}
	st := &forwardState{q: q, vt: vt}
	r = r.WithContext(context.WithValue(r.Context(), forwardKey{}, st))
	var up counter
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &countingBody{ReadCloser: r.Body, n: &up}
	}
	cw := &countingWriter{ResponseWriter: w}
	s.reverse.ServeHTTP(cw, r)
	q.up, q.down = up.Load(), cw.n
}

func (s *Server) newReverseProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite:      s.rewrite,
		Transport:    s.transport,
		ErrorHandler: s.forwardError,
		ModifyResponse: func(resp *http.Response) error {
			st := resp.Request.Context().Value(forwardKey{}).(*forwardState)
			st.q.status = resp.StatusCode
			return nil
		},
		ErrorLog:   slog.NewLogLogger(s.Log.Handler(), slog.LevelDebug),
		BufferPool: copyBuffers{},
	}
}

// copyBuffers lends the reverse proxy pooled buffers (it would allocate
// 32 KiB per response otherwise).
type copyBuffers struct{}

func (copyBuffers) Get() []byte  { return *bufPool.Get().(*[]byte) }
func (copyBuffers) Put(b []byte) { bufPool.Put(&b) }

func (s *Server) rewrite(pr *httputil.ProxyRequest) {
	st := pr.In.Context().Value(forwardKey{}).(*forwardState)
	u := *pr.In.URL
	u.Scheme = "http"
	u.Host = st.vt.Addr.String()
	u.User = nil
	pr.Out.URL = &u
	if st.q.dest.Port == 80 {
		pr.Out.Host = st.q.dest.Host
	} else {
		pr.Out.Host = st.q.dest.String()
	}
	pr.Out.RequestURI = ""
	pr.Out.Header.Del("Proxy-Authorization")
	pr.Out.Header.Del("Proxy-Connection")
	pr.Out.Header.Add("Via", "1.1 waymark")
}

func (s *Server) forwardError(w http.ResponseWriter, r *http.Request, err error) {
	s.forwardFailed(w, r, r.Context().Value(forwardKey{}).(*forwardState).q, err)
}

// forwardFailed answers a forwarded request whose destination failed.
func (s *Server) forwardFailed(w http.ResponseWriter, r *http.Request, q *request, err error) {
	var de *netguard.DeniedError
	switch {
	case errors.As(err, &de):
		q.decision, q.reason = "deny", de.Reason
		s.deny(w, r, q, http.StatusForbidden, "The egress policy does not allow this destination.")
	case errors.Is(err, context.Canceled):
		q.decision, q.reason = "error", "client_gone"
		q.status = 499
	default:
		q.decision, q.reason = "error", "upstream"
		s.Log.Debug("forward", "host", q.dest.Host, "err", err)
		s.deny(w, r, q, http.StatusBadGateway, "The destination did not answer properly.")
	}
}

type counter = atomic.Int64

type countingBody struct {
	io.ReadCloser
	n *counter
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (flushes,
// protocol upgrades).
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
