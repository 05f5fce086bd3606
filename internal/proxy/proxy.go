// Package proxy is the secure network channel: an authenticated forward
// proxy reached over TLS (HTTP/2 and HTTP/1.1) that tunnels CONNECT,
// forwards plain-HTTP requests, applies the egress policy to the address
// it actually dials, and writes one audit line per decision.
package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"waymark.dev/waymark/internal/integrity"
	"waymark.dev/waymark/internal/netguard"
	"waymark.dev/waymark/internal/proxytoken"
	"waymark.dev/waymark/internal/threats"
)

// Server is the proxy's HTTP handler and its tunnels.
type Server struct {
	Auth   *proxytoken.Authenticator
	Dialer *netguard.Dialer
	// Hosts are rules for every user; UserHosts add rules for one user.
	Hosts     HostRules
	UserHosts map[string]HostRules
	Limits    Limits
	// IdleTimeout closes a tunnel or forwarded exchange with no bytes in
	// either direction for this long (default 5 minutes).
	IdleTimeout time.Duration
	Log         *slog.Logger // errors
	Audit       *slog.Logger // one line per decision
	// AuditLines, when set, writes the same lines instead of Audit,
	// faster.
	AuditLines *AuditLines
	Metrics    *Metrics
	Now        func() time.Time
	// Threats, when set, judges every destination: blocked sites are
	// refused (a page for plain HTTP, 403 for CONNECT), and sites that
	// only warn (lookalikes) get an interstitial whose "continue anyway"
	// lets that user through to that host for WarnGrant (default 10
	// minutes).
	Threats   ThreatChecker
	WarnGrant time.Duration
	// Signer, when set, adds Content-Digest and an RFC 9421 signature to
	// relayed plain-HTTP responses as SignMode decides (see signWant);
	// SignHosts are hosts whose answers are always signed. Such fields an
	// origin sent are removed in every mode. SignBuffer (default
	// DefaultSignBuffer) bounds the body held to sign in the header,
	// longer ones get trailers.
	Signer     *integrity.ResponseSigner
	SignMode   SignMode
	SignHosts  []string
	SignBuffer int64
	wants      wantCache
	// Upgrade configures HTTPS-first for plain-HTTP requests.
	Upgrade        Upgrade
	upgrades       upgradeMemory
	httpsTransport *http.Transport
	grants         *grants

	initOnce  sync.Once
	limiter   *limiter
	transport *http.Transport
	reverse   *httputil.ReverseProxy
	upstream  *upstream

	// parkAfter is how long a tunnel direction waits for bytes on its
	// goroutine before it parks (default 1 second).
	parkAfter time.Duration
	parker    *parker

	mu      sync.Mutex
	tunnels map[*tunnel]struct{}
	closed  bool
}

func (s *Server) init() {
	s.initOnce.Do(func() {
		if s.Now == nil {
			s.Now = time.Now
		}
		s.grants = newGrants()
		if s.IdleTimeout <= 0 {
			s.IdleTimeout = 5 * time.Minute
		}
		if s.parkAfter <= 0 {
			s.parkAfter = time.Second
		}
		if s.Log == nil {
			s.Log = slog.New(slog.DiscardHandler)
		}
		if s.Audit == nil {
			s.Audit = slog.New(slog.DiscardHandler)
		}
		if s.Metrics == nil {
			s.Metrics = NewMetrics(nil)
		}
		s.parker = newParker(s.IdleTimeout, s.Metrics.parked)
		s.limiter = newLimiter(s.Limits, s.Now)
		s.tunnels = map[*tunnel]struct{}{}
		s.transport = &http.Transport{
			// Requests arrive with the URL's host replaced by the vetted
			// address; the dial re-checks it (no lookup happens here).
			DialContext:            s.dialVetted,
			MaxIdleConns:           1024,
			MaxIdleConnsPerHost:    256,
			IdleConnTimeout:        90 * time.Second,
			ResponseHeaderTimeout:  60 * time.Second,
			ExpectContinueTimeout:  time.Second,
			DisableCompression:     true,
			MaxResponseHeaderBytes: 64 << 10,
		}
		s.reverse = s.newReverseProxy()
		s.httpsTransport = s.newHTTPSTransport()
		s.upstream = newUpstream()
	})
}

// dialVetted dials an address the handler already checked; it checks
// again so that nothing else can reach the transport's dialer.
func (s *Server) dialVetted(ctx context.Context, network, addr string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, errors.New("proxy: transport asked to dial an unvetted address")
	}
	if v := s.Dialer.Policy.Check(ap.Addr(), ap.Port()); !v.Allowed && !s.Dialer.ReportOnly {
		return nil, &netguard.DeniedError{Host: ap.Addr().String(), IP: ap.Addr(), Port: ap.Port(), Reason: v.Reason}
	}
	return s.Dialer.DialTarget(ctx, netguard.Target{Host: ap.Addr().String(), Addr: ap})
}

// Request is what the audit line and the decision know about a request.
type request struct {
	start    time.Time
	user     string
	tokenID  string
	client   string
	method   string
	proto    string
	dest     Destination
	target   *url.URL // a forwarded request's absolute http URL (nil for CONNECT)
	ip       netip.Addr
	decision string // allow, deny, error, warn, continue
	reason   Reason
	threat   *threats.Verdict
	up, down int64
	status   int
	// signAll: the client's token always gets signatures; want is what
	// a forwarded answer gets (see signWant).
	signAll bool
	want    integrity.Want
	// detached: a tunnel outlives the handler and writes the audit line
	// itself when it ends.
	detached bool
}

// ServeHTTP handles CONNECT and absolute-URI requests.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.init()
	q := &request{start: s.Now(), client: clientAddr(r.RemoteAddr), method: r.Method, proto: r.Proto}
	defer func() {
		if !q.detached {
			s.audit(q)
		}
	}()

	tok, err := s.Auth.Check(r.Header.Get("Proxy-Authorization"))
	if errors.Is(err, proxytoken.ErrTokensStale) {
		q.decision, q.reason = "deny", ReasonTokenStoreUnavailable
		w.Header().Set("Retry-After", "30")
		s.deny(w, r, q, http.StatusServiceUnavailable, "The proxy cannot check tokens right now: its token store has not answered for too long. Try again shortly.")
		return
	}
	if err != nil {
		q.decision, q.reason = "deny", ReasonAuthRequired
		if errors.Is(err, proxytoken.ErrBadCredentials) {
			q.reason = ReasonBadCredentials
		}
		w.Header().Set("Proxy-Authenticate", `Basic realm="waymark", charset="UTF-8"`)
		w.Header().Add("Proxy-Authenticate", `Bearer realm="waymark"`)
		s.deny(w, r, q, http.StatusProxyAuthRequired, "This proxy needs a token: send Proxy-Authorization with Basic user:token or Bearer token.")
		return
	}
	q.user, q.tokenID, q.signAll = tok.User, tok.ID, tok.Sign

	connect := r.Method == http.MethodConnect
	var target string
	if connect {
		target = r.Host
		if r.URL.User != nil {
			target = "@" // user information is never part of a destination
		}
	} else {
		u, reason, msg := forwardTarget(r)
		if u == nil {
			q.decision, q.reason = "deny", reason
			s.deny(w, r, q, http.StatusBadRequest, msg)
			return
		}
		// From here on the request carries the one target every decision
		// reads and the dial goes to: threat check, HTTPS-first, signing
		// and the audit line cannot see another.
		r2 := *r
		r2.URL, r2.Host = u, u.Host
		r = &r2
		q.target = u
		target = u.Host
	}
	defaultPort := uint16(80)
	if connect {
		defaultPort = 0
	}
	dest, err := ParseAuthority(target, defaultPort)
	if err != nil {
		q.decision, q.reason = "deny", ReasonBadDestination
		s.deny(w, r, q, http.StatusBadRequest, err.Error())
		return
	}
	q.dest = dest
	if ok, reason := s.hostRules(q.user, dest.Host); !ok {
		q.decision, q.reason = "deny", reason
		s.deny(w, r, q, http.StatusForbidden, "The operator's rules do not allow this destination.")
		return
	}
	if s.Threats != nil && !s.checkThreats(w, r, q, connect) {
		return
	}
	if !s.limiter.allow(q.user) {
		q.decision, q.reason = "deny", ReasonRateLimited
		w.Header().Set("Retry-After", "1")
		s.deny(w, r, q, http.StatusTooManyRequests, "Too many requests from this user; slow down.")
		return
	}
	vt, err := s.Dialer.Resolve(r.Context(), dest.Host, dest.Port)
	if err != nil {
		var de *netguard.DeniedError
		if errors.As(err, &de) {
			q.decision, q.reason, q.ip = "deny", Reason(de.Reason), de.IP
			s.deny(w, r, q, http.StatusForbidden, "The egress policy does not allow this destination.")
			return
		}
		q.decision, q.reason = "error", ReasonDNS
		s.deny(w, r, q, http.StatusBadGateway, "The destination's name could not be resolved.")
		return
	}
	q.ip = vt.Addr.Addr()
	if connect {
		s.connect(w, r, q, vt)
		return
	}
	if q.want, err = s.signWant(r, q); err != nil {
		q.decision, q.reason = "deny", ReasonBadIntegrityRequest
		s.deny(w, r, q, http.StatusBadRequest, "The request asks for integrity fields in a way this proxy cannot read: "+err.Error()+".")
		return
	}
	if s.Upgrade.Enabled && q.dest.Port == 80 && leanable(r) {
		if _, err := netip.ParseAddr(strings.Trim(q.dest.Host, "[]")); err == nil {
			w.Header().Set("Waymark-Upgrade", "http; reason=address")
		} else if s.tryHTTPS(w, r, q) {
			return
		}
	}
	s.forward(w, r, q, vt)
}

// forwardTarget reads a forwarded request's one target, an absolute
// http:// URL. HTTP/1.1 names it in the request line. HTTP/2 names the
// host in :authority and the path in :path; a :path in absolute form must
// name the same host (net/http accepts it and would let the URL and the
// authority disagree), and its scheme must be http. On failure it returns
// nil with the reason and a message for the 400 answer.
func forwardTarget(r *http.Request) (*url.URL, Reason, string) {
	in := r.URL
	host := r.Host
	switch {
	case r.ProtoMajor < 2 && !in.IsAbs():
		return nil, ReasonNotAProxyRequest, "This is a forward proxy: send CONNECT host:port or an absolute http:// URL."
	case in.IsAbs() && in.Scheme != "http":
		return nil, ReasonScheme, "Only http:// URLs are forwarded; use CONNECT for https."
	case in.User != nil:
		return nil, ReasonBadDestination, "A destination URL must not carry user information."
	case in.IsAbs() && r.ProtoMajor >= 2 && !strings.EqualFold(in.Host, host):
		return nil, ReasonTargetMismatch, "The request names two destinations: :path says " + strconv.Quote(in.Host) + " and :authority says " + strconv.Quote(host) + "."
	case in.IsAbs():
		host = in.Host
	case !strings.HasPrefix(in.Path, "/"):
		return nil, ReasonNotAProxyRequest, "A forwarded request's path must start with /."
	}
	if host == "" {
		return nil, ReasonBadDestination, "The request names no destination host."
	}
	return &url.URL{Scheme: "http", Host: host, Path: in.Path, RawPath: in.RawPath, RawQuery: in.RawQuery}, "", ""
}

func (s *Server) hostRules(user, host string) (bool, Reason) {
	if ok, reason := s.Hosts.Decide(host); !ok {
		return false, reason
	}
	if u, ok := s.UserHosts[user]; ok {
		return u.Decide(host)
	}
	return true, ""
}

func clientAddr(remote string) string {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().String()
	}
	return remote
}

func (s *Server) audit(q *request) {
	if q.decision == "" {
		q.decision = "allow"
	}
	s.Metrics.decision(q.decision, string(q.reason))
	s.Metrics.bytes(q.up, q.down)
	if s.AuditLines != nil {
		now := s.Now()
		s.AuditLines.write(q, now, now.Sub(q.start))
		return
	}
	attrs := []slog.Attr{
		slog.String("user", q.user),
		slog.String("client", q.client),
		slog.String("method", q.method),
		slog.String("proto", q.proto),
		slog.String("host", q.dest.Host),
		slog.Int("port", int(q.dest.Port)),
		slog.String("decision", q.decision),
	}
	if q.ip.IsValid() {
		attrs = append(attrs, slog.String("ip", q.ip.String()))
	}
	if q.reason != "" {
		attrs = append(attrs, slog.String("reason", string(q.reason)))
	}
	if q.status != 0 {
		attrs = append(attrs, slog.Int("status", q.status))
	}
	if q.threat != nil {
		attrs = append(attrs, slog.String("threat_list", q.threat.List), slog.String("threat_match", q.threat.Match), slog.String("threat_source", q.threat.Source))
	}
	attrs = append(attrs, slog.Int64("bytes_up", q.up), slog.Int64("bytes_down", q.down),
		slog.Float64("duration_ms", float64(s.Now().Sub(q.start).Microseconds())/1000))
	s.Audit.LogAttrs(context.Background(), slog.LevelInfo, "proxy", attrs...)
}

// Shutdown waits for open tunnels to finish until ctx ends, then closes
// the rest. The listener's http.Server is shut down by its owner first.
func (s *Server) Shutdown(ctx context.Context) {
	s.init()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		s.mu.Lock()
		n := len(s.tunnels)
		s.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-ctx.Done():
			s.closeTunnels(func(*tunnel) bool { return true })
			return
		case <-t.C:
		}
	}
	s.transport.CloseIdleConnections()
	s.upstream.closeIdle()
}

// CloseTokenTunnels closes the tunnels opened with the given tokens (after
// a revocation).
func (s *Server) CloseTokenTunnels(ids []string) {
	s.init()
	s.closeTunnels(func(t *tunnel) bool {
		for _, id := range ids {
			if t.tokenID == id {
				return true
			}
		}
		return false
	})
}

func (s *Server) closeTunnels(match func(*tunnel) bool) {
	s.mu.Lock()
	var victims []*tunnel
	for t := range s.tunnels {
		if match(t) {
			victims = append(victims, t)
		}
	}
	s.mu.Unlock()
	for _, t := range victims {
		t.close()
	}
}

// Tunnels is the number of open tunnels.
func (s *Server) Tunnels() int {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tunnels)
}
