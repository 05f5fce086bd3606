package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"waymark.dev/waymark/internal/integrity"
)

// TestHTTPSFirst: an http:// URL is fetched over HTTPS when the origin
// has it (and the answer says so), falls back to HTTP when it does not
// (remembered for the next request), and never falls back for an
// HTTPS-only host.
func TestHTTPSFirst(t *testing.T) {
	t.Parallel()
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		fmt.Fprintf(w, "secure %s %s", r.Host, r.URL.RequestURI())
	}))
	defer secure.Close()
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "plain %s %s", r.Host, r.URL.RequestURI())
	}))
	defer plain.Close()
	roots := x509Pool(secure)
	ring, _ := integrity.OpenKeyring(t.TempDir(), time.Now())
	lo := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	e := newEnv(t, func(s *Server) {
		s.Upgrade = Upgrade{Enabled: true, HTTPSOnly: []string{"*.bank.test"}, TLS: &tls.Config{RootCAs: roots}, Timeout: 2 * time.Second}
		s.Signer = &integrity.ResponseSigner{Keys: ring}
		// example.com has HTTPS (the test certificate's name); plain.test
		// answers port 443 with a certificate for another name.
		s.Dialer.Resolver = fakeResolver{"example.com": lo, "plain.test": lo, "www.bank.test": lo}
		s.Dialer.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			switch addr {
			case "127.0.0.1:443":
				addr = secure.Listener.Addr().String()
			case "127.0.0.1:80":
				addr = plain.Listener.Addr().String()
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}
	})
	c := e.client(e.secret)
	get := func(u string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Accept-Signature", integrity.AcceptSignature)
		return fetch(t, c, req)
	}
	resp, body := get("http://example.com/page?q=1")
	if resp.Header.Get("Waymark-Upgrade") != "https" || body != "secure example.com /page?q=1" {
		t.Errorf("upgrade: %q %q", resp.Header.Get("Waymark-Upgrade"), body)
	}
	target, _ := url.Parse("http://example.com/page?q=1")
	if _, err := integrity.VerifyResponse(resp.Trailer, resp.Header, resp.StatusCode, []byte(body), "GET", target, ring.KeySet(), time.Now(), time.Minute); err != nil {
		t.Errorf("upgraded answer not signed for the URL asked: %v", err)
	}
	if st, ok := e.srv.upgrades.get("example.com", time.Now()); !ok || !st.https || time.Until(st.until) < 300*24*time.Hour {
		t.Errorf("HSTS max-age not remembered: %+v %v", st, ok)
	}

	resp, body = get("http://plain.test/x")
	if resp.Header.Get("Waymark-Upgrade") != "http; reason=certificate" || body != "plain plain.test /x" {
		t.Errorf("fallback: %q %q", resp.Header.Get("Waymark-Upgrade"), body)
	}
	resp, _ = get("http://plain.test/y")
	if resp.Header.Get("Waymark-Upgrade") != "http; reason=remembered" {
		t.Errorf("second request: %q", resp.Header.Get("Waymark-Upgrade"))
	}

	resp, body = get("http://www.bank.test/login")
	if resp.StatusCode != http.StatusBadGateway || resp.Header.Get("Waymark-Decision") != "error; reason=https_required" {
		t.Errorf("HTTPS-only host over HTTP: %d %q %.100s", resp.StatusCode, resp.Header.Get("Waymark-Decision"), body)
	}
}

func x509Pool(s *httptest.Server) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.Certificate())
	return p
}
