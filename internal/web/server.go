// Package web serves every HTTP surface of Waymark except the proxy: the
// beacon collector, the tracker script, the stats API, health and metrics,
// and the demo site.
package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"waymark.dev/waymark/internal/admin"
	"waymark.dev/waymark/internal/collect"
	"waymark.dev/waymark/internal/geo"
	"waymark.dev/waymark/internal/imported"
	"waymark.dev/waymark/internal/integrity"
	"waymark.dev/waymark/internal/proxytoken"
	"waymark.dev/waymark/internal/risk"
	"waymark.dev/waymark/internal/site"
	"waymark.dev/waymark/internal/stats"
	"waymark.dev/waymark/internal/threats"
)

// Deps are the parts the web surfaces use.
type Deps struct {
	Log       *slog.Logger
	Sites     *site.Registry
	SiteStore site.Store
	// Collector takes hits (nil: this node does not collect; the beacon
	// routes are off).
	Collector *collect.Collector
	// Stats answers the stats API and the dashboard (nil: this node
	// serves no dashboard).
	Stats stats.StatsReader
	// Imports keeps imported history (nil: imports are off); the event
	// stores implement it.
	Imports imported.Store
	// Agents parses user agents for the identity and risk endpoints
	// (default: the collector's parser).
	Agents         *collect.AgentParser
	Now            func() time.Time
	TrustedProxies []netip.Prefix
	Registry       *prometheus.Registry
	Demo           bool
	DemoDomain     string
	DataDir        string // shown in the front page's instructions
	// Ready reports whether the server is ready to serve (the ingester is
	// running and the stores answer).
	Ready func(ctx context.Context) error
	// Admin and Throttle guard the dashboard.
	Admin    *admin.Auth
	Throttle *admin.Throttle
	// Consent serves the consent and identity endpoints (nil: off).
	Consent *ConsentDeps
	// Geo is the geolocation databases: the dashboard's Locations panel
	// says how to add one when there are none, and shows the credits
	// some require (nil: none).
	Geo *geo.Resolver
	// Risk serves the account-security endpoints (nil: off).
	Risk *risk.Service
	// ProxyPAC is the proxy auto-config file served at /proxy.pac ("":
	// no proxy in this process).
	ProxyPAC string
	// ProxyAuth manages proxy tokens for the admin API (nil: off).
	ProxyAuth *proxytoken.Authenticator
	// Threats answers the link check API (nil: off).
	Threats *threats.Checker
	// SigningKeys are published at /.well-known/waymark/keys (nil: off).
	SigningKeys *integrity.Keyring
}

// Server holds the handlers.
type Server struct {
	Deps
	log        *slog.Logger
	metrics    *metrics
	gz         gzipCache
	earliest   earliestCache  // first stored event per site, for "all"
	grants     grants         // consent receipts' analytics grants, for the collector
	demo       demoChallenges // the demo login's pending one-time codes
	importJobs importJobs     // uploads being imported, for their progress bars
	secrets    newSecrets     // tokens and shared links just made, for the next page
}

// New builds the handler for all web surfaces.
func New(d Deps) http.Handler {
	s := &Server{Deps: d, log: d.Log.With("component", "web")}
	if s.Agents == nil && d.Collector != nil && d.Collector.Enricher != nil {
		s.Agents = d.Collector.Enricher.Agents
	}
	s.metrics = newMetrics(d.Registry, d.Collector, d.Admin)
	return s.routes()
}

// requestID returns the id withRequestID gave the response.
func requestID(w http.ResponseWriter) string {
	return w.Header().Get("X-Request-Id")
}

// withRequestID tags each request for logs: a random per-process prefix
// and a counter, cheap enough for the collector's hot path.
func withRequestID(h http.Handler) http.Handler {
	b := make([]byte, 4)
	rand.Read(b)
	prefix := hex.EncodeToString(b) + "-"
	var n atomic.Uint64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The id lives in the response header only: copying the request
		// to carry it in a context would cost an allocation per hit.
		var b [32]byte
		id := strconv.AppendUint(append(b[:0], prefix...), n.Add(1), 36)
		w.Header()["X-Request-Id"] = []string{string(id)}
		h.ServeHTTP(w, r)
	})
}

// Values of the security headers, shared by every response (net/http only
// reads them).
var (
	nosniff        = []string{"nosniff"}
	referrerPolicy = []string{"strict-origin-when-cross-origin"}
	contentPolicy  = []string{"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"}
)

// secure adds the browser security headers every page gets. The beacon
// endpoints, which answer a pixel or "ok" to other sites' pages, get only
// nosniff: a policy for documents means nothing on them, and they are
// the hot path (each header is written on every hit).
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd["X-Content-Type-Options"] = nosniff
		if p := r.URL.Path; p != "/api/event" && p != "/b.gif" { // the beacon routes of routes.go
			hd["Referrer-Policy"] = referrerPolicy
			if _, ok := hd["Content-Security-Policy"]; !ok {
				hd["Content-Security-Policy"] = contentPolicy
			}
		}
		h.ServeHTTP(w, r)
	})
}

// ClientIP returns the address of the client: the connection's peer, or,
// when the peer is a trusted proxy, the right-most address in
// X-Forwarded-For (without it, in the for= parameters of RFC 7239's
// Forwarded) that is not itself a trusted proxy. Entries may carry a port
// ("203.0.113.9:4711", "[2001:db8::1]:4711"), as some proxies write them.
func ClientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	peer = peer.Unmap()
	if !isTrusted(peer, trusted) {
		return peer
	}
	var hops []string
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		for _, h := range xff {
			hops = append(hops, strings.Split(h, ",")...)
		}
	} else {
		hops = forwardedFor(r.Header.Values("Forwarded"))
	}
	addr := peer
	for j := len(hops) - 1; j >= 0; j-- {
		a, err := parseHop(hops[j])
		if err != nil {
			return addr
		}
		addr = a.Unmap()
		if !isTrusted(addr, trusted) {
			return addr
		}
	}
	return addr
}

// parseHop reads one forwarded address: bare, quoted, with a port, or
// an IPv6 address in brackets with or without one.
func parseHop(s string) (netip.Addr, error) {
	s = strings.Trim(strings.TrimSpace(s), `"`)
	if a, err := netip.ParseAddr(s); err == nil {
		return a, nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr(), nil
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		return netip.ParseAddr(s[1 : len(s)-1])
	}
	return netip.Addr{}, errors.New("not an address")
}

// forwardedFor lists the for= values of Forwarded headers (RFC 7239),
// first hop first.
func forwardedFor(headers []string) []string {
	var out []string
	for _, h := range headers {
		for _, elem := range strings.Split(h, ",") {
			for _, pair := range strings.Split(elem, ";") {
				k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(k, "for") {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
