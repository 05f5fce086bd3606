package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// HTTPS-first: for an absolute http:// URL on the default port, the proxy
// first asks for the same URL over HTTPS (certificate verified, a short
// handshake timeout) and falls back to HTTP only when HTTPS is not there
// and the host is not on the HTTPS-only list. It remembers per host, like
// HSTS, which one worked: HTTPS for the Strict-Transport-Security max-age
// the origin sends (at least a day), HTTP for an hour. The answer says
// what happened in Waymark-Upgrade.

// Upgrade configures HTTPS-first.
type Upgrade struct {
	// Enabled turns HTTPS-first on.
	Enabled bool
	// HTTPSOnly are hosts ("example.com", "*.example.com") that are never
	// fetched over plain HTTP.
	HTTPSOnly []string
	// TLS verifies origins (nil: the system's roots).
	TLS *tls.Config
	// Timeout bounds the HTTPS attempt's connection and handshake
	// (default 3 s).
	Timeout time.Duration
}

const (
	rememberHTTPS = 24 * time.Hour
	rememberHTTP  = time.Hour
	maxRemembered = 100000
)

type upgradeMemory struct {
	mu sync.Mutex
	m  map[string]upgradeState
}

type upgradeState struct {
	https bool
	until time.Time
}

func (u *upgradeMemory) get(host string, now time.Time) (upgradeState, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	st, ok := u.m[host]
	if ok && now.After(st.until) {
		delete(u.m, host)
		return st, false
	}
	return st, ok
}

func (u *upgradeMemory) set(host string, st upgradeState, now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = map[string]upgradeState{}
	}
	if len(u.m) >= maxRemembered {
		for k, v := range u.m {
			if now.After(v.until) {
				delete(u.m, k)
			}
		}
	}
	if len(u.m) < maxRemembered {
		u.m[host] = st
	}
}

// hstsMaxAge reads max-age from a Strict-Transport-Security field.
func hstsMaxAge(v string) (time.Duration, bool) {
	for _, part := range strings.Split(v, ";") {
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		if strings.EqualFold(strings.TrimSpace(k), "max-age") {
			n, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(val), `"`), 10, 64)
			if err == nil && n >= 0 {
				return time.Duration(n) * time.Second, true
			}
		}
	}
	return 0, false
}

func (s *Server) httpsOnly(host string) bool {
	for _, p := range s.Upgrade.HTTPSOnly {
		if hostMatch(p, host) {
			return true
		}
	}
	return false
}

// tryHTTPS forwards r over HTTPS when it should. It returns false when
// the request is still to be sent over plain HTTP, with the reason in
// the Waymark-Upgrade header already set.
func (s *Server) tryHTTPS(w http.ResponseWriter, r *http.Request, q *request) bool {
	now := s.Now()
	host := q.dest.Host
	only := s.httpsOnly(host)
	st, known := s.upgrades.get(host, now)
	if known && !st.https && !only {
		w.Header().Set("Waymark-Upgrade", "http; reason=remembered")
		return false
	}
	// A body can be sent once: without knowing HTTPS works, such a
	// request goes over HTTP (unless the host is HTTPS-only).
	if r.ContentLength != 0 && !known && !only {
		w.Header().Set("Waymark-Upgrade", "http; reason=request_body")
		return false
	}
	vt, err := s.Dialer.Resolve(r.Context(), host, 443)
	var resp *http.Response
	if err == nil {
		out := &http.Request{
			Method: r.Method,
			// The pool is keyed by the name, so a connection verified for one
			// name never carries another's requests.
			URL:    &url.URL{Scheme: "https", Host: net.JoinHostPort(host, "443"), Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery},
			Header: cleanHeader(r.Header, true), Host: host, ContentLength: r.ContentLength, Body: r.Body,
		}
		if r.ContentLength == 0 {
			out.Body = nil
		}
		out.Header.Add("Via", "1.1 waymark")
		resp, err = s.httpsTransport.RoundTrip(out.WithContext(r.Context()))
	}
	if err != nil {
		if only {
			q.decision, q.reason = "error", ReasonHTTPSRequired
			s.deny(w, r, q, http.StatusBadGateway, "This site is only reached over HTTPS, and HTTPS did not work: "+shortErr(err))
			return true
		}
		s.upgrades.set(host, upgradeState{https: false, until: now.Add(rememberHTTP)}, now)
		w.Header().Set("Waymark-Upgrade", "http; reason="+upgradeReason(err))
		return false
	}
	defer resp.Body.Close()
	keep := rememberHTTPS
	if d, ok := hstsMaxAge(resp.Header.Get("Strict-Transport-Security")); ok && d > keep {
		keep = d
	}
	s.upgrades.set(host, upgradeState{https: true, until: now.Add(keep)}, now)
	q.ip = vt.Addr.Addr()
	q.dest.Port = 443
	w.Header().Set("Waymark-Upgrade", "https")
	n, err := s.relayResponse(w, r, q, resp)
	q.down = n
	if errors.Is(err, errBadOrigin) {
		s.forwardFailed(w, r, q, err)
	} else if err != nil && !errors.Is(err, io.EOF) {
		q.decision, q.reason = "error", ReasonUpstream
	}
	return true
}

func upgradeReason(err error) string {
	var ce *tls.CertificateVerificationError
	var re tls.RecordHeaderError
	switch {
	case errors.As(err, &ce):
		return "certificate"
	case errors.As(err, &re):
		return "not_tls"
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timeout"):
		return "timeout"
	}
	return "unreachable"
}

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// newHTTPSTransport dials vetted addresses and verifies the origin's
// certificate for the name the client asked for.
func (s *Server) newHTTPSTransport() *http.Transport {
	timeout := s.Upgrade.Timeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	base := s.Upgrade.TLS
	if base == nil {
		base = &tls.Config{}
	}
	return &http.Transport{
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			vt, err := s.Dialer.Resolve(dctx, host, 443) // checked again: the answer may have changed
			if err != nil {
				return nil, err
			}
			raw, err := s.Dialer.DialTarget(dctx, vt)
			if err != nil {
				return nil, err
			}
			cfg := base.Clone()
			cfg.ServerName = host
			cfg.NextProtos = []string{"http/1.1"}
			c := tls.Client(raw, cfg)
			if err := c.HandshakeContext(dctx); err != nil {
				raw.Close()
				return nil, err
			}
			return c, nil
		},
		MaxIdleConnsPerHost:    64,
		IdleConnTimeout:        90 * time.Second,
		ResponseHeaderTimeout:  60 * time.Second,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
	}
}
