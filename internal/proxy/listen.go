package proxy

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// NewHTTPServer wraps the proxy handler in its own http.Server (never
// shared with the web surfaces) with header limits and timeouts. The TLS
// handshake and request headers must arrive within 10 seconds.
func NewHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetHTTP2(true)
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		Protocols:         &p,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

// CheckPlainAddr refuses a plain-HTTP proxy address that is not on
// loopback: credentials and traffic would cross the network in clear.
func CheckPlainAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("proxy: address %q: %w", addr, err)
	}
	ip, err := netip.ParseAddr(host)
	if host == "localhost" || err == nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("proxy: a plain-HTTP proxy listens on loopback only (got %q); drop --proxy-plain to use TLS", addr)
}

// PAC is a proxy auto-config script sending every request through the
// proxy at hostport over TLS ("HTTPS host:port").
func PAC(hostport string) string {
	return "// Waymark secure channel: every request goes through the proxy over TLS.\n" +
		"function FindProxyForURL(url, host) {\n" +
		"  return \"HTTPS " + hostport + "\";\n" +
		"}\n"
}
