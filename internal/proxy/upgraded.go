package proxy

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"waymark.dev/waymark/internal/integrity"
	"waymark.dev/waymark/internal/netguard"
)

// upgradeHeaderTimeout bounds the wait for the origin's answer to an
// Upgrade request.
const upgradeHeaderTimeout = 30 * time.Second

// forwardUpgrade forwards a plain-HTTP request that asks to switch
// protocols (a WebSocket handshake, say). An origin that agrees turns the
// exchange into a raw two-way stream, and that stream is a tunnel in
// every respect: counted against the user's tunnel limit before the
// origin is dialled, closed when the token is revoked or the proxy shuts
// down, closed after the idle timeout, parked while quiet, and audited
// with its bytes and duration when it ends. An origin that answers
// normally has its answer relayed (and signed) like any other.
func (s *Server) forwardUpgrade(w http.ResponseWriter, r *http.Request, q *request, vt netguard.Target) {
	if r.ProtoMajor != 1 {
		q.decision, q.reason = "deny", ReasonUpgradeNotHTTP1
		s.deny(w, r, q, http.StatusBadRequest, "Protocol upgrades are forwarded over HTTP/1.1 only.")
		return
	}
	if r.ContentLength != 0 {
		q.decision, q.reason = "deny", ReasonUpgradeWithBody
		s.deny(w, r, q, http.StatusBadRequest, "A request that asks to switch protocols must not carry a body.")
		return
	}
	if !s.limiter.openTunnel(q.user) {
		q.decision, q.reason = "deny", ReasonTunnelLimit
		s.deny(w, r, q, http.StatusTooManyRequests, "Too many open tunnels for this user; close some first.")
		return
	}
	counted := true
	release := func() {
		if counted {
			s.limiter.closeTunnel(q.user)
			counted = false
		}
	}
	defer release()
	up, err := s.Dialer.DialTarget(r.Context(), vt)
	if err != nil {
		s.forwardFailed(w, r, q, err)
		return
	}
	out := &http.Request{
		Method: r.Method, URL: &url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery},
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: cleanHeader(r.Header, true), Host: q.dest.Host,
	}
	if q.dest.Port != 80 {
		out.Host = q.dest.String()
	}
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = nil
	}
	// cleanHeader drops Upgrade and Connection as hop-by-hop fields; an
	// upgrade is the one exchange that must name them to the next hop.
	out.Header.Set("Connection", "Upgrade")
	out.Header["Upgrade"] = r.Header.Values("Upgrade")
	out.Header.Add("Via", "1.1 waymark")
	stop := context.AfterFunc(r.Context(), func() { up.Close() })
	br := bufio.NewReaderSize(up, 4096)
	up.SetDeadline(time.Now().Add(upgradeHeaderTimeout))
	resp, err := func() (*http.Response, error) {
		if err := out.Write(up); err != nil {
			return nil, err
		}
		for {
			resp, err := http.ReadResponse(br, out)
			if err != nil || resp.StatusCode == http.StatusSwitchingProtocols || resp.StatusCode >= 200 {
				return resp, err
			}
		}
	}()
	if !stop() || err != nil {
		up.Close()
		if err == nil {
			err = context.Cause(r.Context())
		}
		s.forwardFailed(w, r, q, err)
		return
	}
	up.SetDeadline(time.Time{})
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer up.Close()
		defer resp.Body.Close()
		n, err := s.relayResponse(w, r, q, resp)
		q.down = n
		if err != nil && err != io.EOF {
			s.forwardFailed(w, r, q, err)
		}
		return
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), r.Header.Get("Upgrade")) {
		up.Close()
		q.decision, q.reason = "error", ReasonUpstream
		s.deny(w, r, q, http.StatusBadGateway, "The destination switched to a protocol the client did not ask for.")
		return
	}
	s.upgraded(w, q, resp, br, up)
	counted = false // the tunnel releases its count when it ends
}

// upgraded turns an exchange the origin switched to another protocol into
// a tracked tunnel: it takes over the client's connection, passes the 101
// answer on, and relays both ways on the tunnel machinery.
func (s *Server) upgraded(w http.ResponseWriter, q *request, resp *http.Response, upBuf *bufio.Reader, upConn net.Conn) {
	t := &tunnel{tokenID: q.tokenID, upstream: upConn, done: make(chan struct{}), parker: s.parker}
	finish := func() {
		s.untrack(t)
		s.limiter.closeTunnel(q.user)
	}
	if !s.track(t) {
		upConn.Close()
		s.limiter.closeTunnel(q.user)
		q.decision, q.reason, q.status = "error", ReasonShuttingDown, http.StatusServiceUnavailable
		http.Error(w, "The proxy is shutting down.", http.StatusServiceUnavailable)
		return
	}
	h := cleanHeader(resp.Header, false)
	for _, f := range integrity.Fields {
		h.Del(f) // nothing is signed here: no HTTP body follows a 101
	}
	h.Set("Connection", "Upgrade")
	h["Upgrade"] = resp.Header.Values("Upgrade")
	var head bytes.Buffer
	head.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	h.Write(&head)
	head.WriteString("\r\n")
	// Bytes the origin sent right behind its 101 go out with it.
	if n := upBuf.Buffered(); n > 0 {
		b, _ := upBuf.Peek(n)
		head.Write(b)
		q.down += int64(n)
	}
	conn, client, ok := s.takeOver(w, q, t, http.StatusSwitchingProtocols, head.Bytes(), finish)
	if !ok {
		return
	}
	q.detached = true
	before := q.down
	s.relay(q, t, deadlineReader{client, conn.SetReadDeadline}, socketOf(conn), conn, upConn, func() {
		q.down += before
		s.audit(q)
		finish()
	})
}
