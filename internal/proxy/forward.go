package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httputil"
	"sync/atomic"

	"waymark.dev/waymark/internal/integrity"
	"waymark.dev/waymark/internal/netguard"
)

type forwardKey struct{}

// forwardState passes the vetted target and the audit record through the
// reverse proxy's hooks.
type forwardState struct {
	q      *request
	vt     netguard.Target
	header http.Header // the client's request header, for components signed with ;req
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
	if r.Header.Get("Upgrade") != "" {
		s.forwardUpgrade(w, r, q, vt)
		return
	}
	st := &forwardState{q: q, vt: vt, header: r.Header.Clone()}
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
			if s.Signer == nil {
				return nil
			}
			for _, f := range integrity.Fields {
				resp.Header.Del(f)
			}
			if st.q.want.Digest == "" || !signable(st.q.method, resp.StatusCode) {
				return nil
			}
			return s.signReverse(resp, st)
		},
		ErrorLog:   slog.NewLogLogger(s.Log.Handler(), slog.LevelDebug),
		BufferPool: copyBuffers{},
	}
}

// signReverse signs an answer the standard reverse proxy relays (to
// requests with Expect: 100-continue), as relaySigned does on
// the lean path: a short body of known length is read whole and the
// fields go in the header; otherwise the body streams through a hash and
// the fields are announced as trailers, filled in when it ends complete.
func (s *Server) signReverse(resp *http.Response, st *forwardState) error {
	want := st.q.want
	req := &integrity.Message{Method: st.q.method, URL: st.q.target, Header: st.header}
	if resp.ContentLength >= 0 && resp.ContentLength <= s.signBuffer() && len(resp.Trailer) == 0 {
		body := make([]byte, resp.ContentLength)
		_, err := io.ReadFull(resp.Body, body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("%w: %v", errBadOrigin, err)
		}
		hash := integrity.DigestHash(want.Digest)
		hash.Write(body)
		if err := s.Signer.SignFor(resp.Header, resp.Header, resp.StatusCode, req, integrity.DigestField(want.Digest, hash.Sum(nil)), want); err != nil {
			return fmt.Errorf("%w: signing: %v", errBadOrigin, err)
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return nil
	}
	if resp.Trailer == nil {
		resp.Trailer = http.Header{}
	}
	resp.Trailer["Content-Digest"] = nil
	if want.Sign {
		resp.Trailer["Signature"], resp.Trailer["Signature-Input"] = nil, nil
	}
	resp.Header.Del("Content-Length")
	resp.ContentLength = -1
	resp.Body = &signingBody{ReadCloser: resp.Body, hash: integrity.DigestHash(want.Digest), done: func(sum []byte) {
		fields := http.Header{}
		if err := s.Signer.SignFor(fields, resp.Header, resp.StatusCode, req, integrity.DigestField(want.Digest, sum), want); err != nil {
			s.Log.Error("signing a relayed answer", "err", err)
			return
		}
		maps.Copy(resp.Trailer, fields)
	}}
	return nil
}

// signingBody hashes a body as it is read and, when it ends complete,
// hands the digest to done. A body that breaks off gets no signature.
type signingBody struct {
	io.ReadCloser
	hash hash.Hash
	done func([]byte)
}

func (b *signingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.hash.Write(p[:n])
	if err == io.EOF && b.done != nil {
		b.done(b.hash.Sum(nil))
		b.done = nil
	}
	return n, err
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
	if s.Signer != nil {
		pr.Out.Header.Del("Accept-Signature")
		pr.Out.Header.Del("Want-Content-Digest")
	}
}

func (s *Server) forwardError(w http.ResponseWriter, r *http.Request, err error) {
	s.forwardFailed(w, r, r.Context().Value(forwardKey{}).(*forwardState).q, err)
}

// forwardFailed answers a forwarded request whose destination failed.
func (s *Server) forwardFailed(w http.ResponseWriter, r *http.Request, q *request, err error) {
	var de *netguard.DeniedError
	switch {
	case errors.As(err, &de):
		q.decision, q.reason = "deny", Reason(de.Reason)
		s.deny(w, r, q, http.StatusForbidden, "The egress policy does not allow this destination.")
	case errors.Is(err, context.Canceled):
		q.decision, q.reason = "error", ReasonClientGone
		q.status = 499
	default:
		q.decision, q.reason = "error", ReasonUpstream
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
