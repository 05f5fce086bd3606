package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"waymark.dev/waymark/internal/netguard"
	"waymark.dev/waymark/internal/proxytoken"
)

// memTokens is an in-memory TokenStore for tests.
type memTokens struct {
	mu   sync.Mutex
	toks []proxytoken.Token
}

func (m *memTokens) AddProxyToken(_ context.Context, t proxytoken.Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.toks = append(m.toks, t)
	return nil
}

func (m *memTokens) ProxyTokens(context.Context) ([]proxytoken.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]proxytoken.Token(nil), m.toks...), nil
}

func (m *memTokens) RevokeProxyToken(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.toks {
		if m.toks[i].ID == id {
			m.toks[i].Revoked = true
			return nil
		}
	}
	return fmt.Errorf("%w: %s", proxytoken.ErrNotFound, id)
}

type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// env is a proxy on a TLS listener (h2 and http/1.1) in front of loopback
// origins. 127.0.0.1 is allowed; 127.0.0.2 and friends stay denied.
type env struct {
	t       *testing.T
	srv     *Server
	auth    *proxytoken.Authenticator
	http    *httptest.Server // the proxy
	pool    *x509.CertPool
	secret  string
	tokenID string
	conns   atomic.Int32 // client connections the proxy accepted
	origin  *httptest.Server
	seen    chan *http.Request // requests the plain origin received
	served  *ConnServer
}

// heldListener stands in for httptest's listener: its Accept waits until
// Close, so httptest's own server never takes a connection.
type heldListener struct {
	addr net.Addr
	done chan struct{}
	once sync.Once
}

func (l *heldListener) Accept() (net.Conn, error) {
	<-l.done
	return nil, net.ErrClosed
}

func (l *heldListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *heldListener) Addr() net.Addr { return l.addr }

// countingListener counts the connections the proxy accepts.
type countingListener struct {
	net.Listener
	n *atomic.Int32
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func newEnv(t *testing.T, tune func(*Server)) *env {
	t.Helper()
	e := &env{t: t, seen: make(chan *http.Request, 100)}
	e.origin = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case e.seen <- r.Clone(context.Background()):
		default:
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Connection", "keep-alive")
		fmt.Fprintf(w, "hello from origin: %s %s %d", r.Method, r.URL.Path, len(body))
	}))
	t.Cleanup(e.origin.Close)
	originPort := uint16(e.origin.Listener.Addr().(*net.TCPAddr).Port)
	store := &memTokens{}
	e.auth = &proxytoken.Authenticator{Store: store, Now: time.Now}
	if err := e.auth.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	tok, secret, err := e.auth.Add(context.Background(), "alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	e.secret, e.tokenID = secret, tok.ID
	policy := &netguard.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, Ports: []uint16{80, 443, originPort}}
	e.srv = &Server{Auth: e.auth, Dialer: &netguard.Dialer{Policy: policy, Resolver: fakeResolver{
		"origin.test":   {netip.MustParseAddr("127.0.0.1")},
		"internal.test": {netip.MustParseAddr("10.0.0.1")},
		"rebind.test":   {netip.MustParseAddr("127.0.0.2")},
	}}}
	e.auth.Revoked = e.srv.CloseTokenTunnels
	if tune != nil {
		tune(e.srv)
	}
	// httptest provides the address, certificate and TLS configuration;
	// the proxy's ConnServer serves the connections, as in `waymark serve`.
	e.http = httptest.NewUnstartedServer(http.NotFoundHandler())
	e.http.EnableHTTP2 = true
	inner := e.http.Listener
	e.http.Listener = &heldListener{addr: inner.Addr(), done: make(chan struct{})}
	e.http.StartTLS()
	t.Cleanup(e.http.Close)
	fallback := NewHTTPServer(e.srv, slog.New(slog.DiscardHandler))
	fallback.MaxHeaderBytes = 16 << 10
	e.served = &ConnServer{Handler: e.srv, Fallback: fallback}
	served := make(chan error, 1)
	go func() {
		served <- e.served.Serve(tls.NewListener(countingListener{inner, &e.conns}, e.http.TLS))
	}()
	t.Cleanup(func() {
		e.served.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	e.pool = x509.NewCertPool()
	e.pool.AddCert(e.http.Certificate())
	e.srv.Dialer.Policy.Self = []netip.AddrPort{netip.MustParseAddrPort(e.http.Listener.Addr().String())}
	return e
}

func (e *env) originPort() int { return e.origin.Listener.Addr().(*net.TCPAddr).Port }

func (e *env) proxyURL(user, secret string) *url.URL {
	u, _ := url.Parse(e.http.URL)
	if secret != "" {
		u.User = url.UserPassword(user, secret)
	}
	return u
}

// client is Go's transport using the proxy over TLS (HTTP/1.1 to the
// proxy, as net/http does).
func (e *env) client(secret string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:           http.ProxyURL(e.proxyURL("alice", secret)),
		TLSClientConfig: &tls.Config{RootCAs: e.pool},
		// The proxy's certificate is for 127.0.0.1 and example.com.
	}, Timeout: 10 * time.Second}
}

func TestForwardHTTP1(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c := e.client(e.secret)
	for i := range 3 {
		resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/page%d", e.originPort(), i))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), fmt.Sprintf("GET /page%d", i)) {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
	}
	if n := e.conns.Load(); n != 1 {
		t.Errorf("client opened %d connections to the proxy for 3 requests; want 1 (keep-alive)", n)
	}
	// A name resolved by the proxy, with a body.
	resp, err := c.Post(fmt.Sprintf("http://origin.test:%d/form", e.originPort()), "text/plain", strings.NewReader("12345"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "POST /form 5") {
		t.Errorf("body %q", body)
	}
}

// TestForwardHeaders: what the origin sees carries no proxy credentials,
// no hop-by-hop headers and no client address.
func TestForwardHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://origin.test:%d/h", e.originPort()), nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	req.Header.Set("Forwarded", "for=203.0.113.9")
	req.Header.Set("Connection", "X-Secret-Hop")
	req.Header.Set("X-Secret-Hop", "1")
	req.Header.Set("Keep-Alive", "timeout=5")
	resp, err := e.client(e.secret).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := <-e.seen
	for _, h := range []string{"Proxy-Authorization", "X-Forwarded-For", "Forwarded", "X-Secret-Hop", "Keep-Alive", "Proxy-Connection"} {
		if v := got.Header.Get(h); v != "" {
			t.Errorf("origin received %s: %q", h, v)
		}
	}
	if got.Host != fmt.Sprintf("origin.test:%d", e.originPort()) {
		t.Errorf("origin saw Host %q", got.Host)
	}
	if got.Header.Get("Via") != "1.1 waymark" {
		t.Errorf("Via = %q", got.Header.Get("Via"))
	}
}

func TestConnectHTTP1ToTLSOrigin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	tlsOrigin := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "secret page")
	}))
	defer tlsOrigin.Close()
	port := uint16(tlsOrigin.Listener.Addr().(*net.TCPAddr).Port)
	e.srv.Dialer.Policy.Ports = append(e.srv.Dialer.Policy.Ports, port)
	pool := e.pool.Clone()
	pool.AddCert(tlsOrigin.Certificate())
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(e.proxyURL("alice", e.secret)), TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for range 2 {
		resp, err := c.Get(tlsOrigin.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "secret page" {
			t.Fatalf("body %q", body)
		}
	}
	if n := e.conns.Load(); n != 1 {
		t.Errorf("%d tunnels for 2 requests; want the tunnel reused", n)
	}
}

// h2Client speaks HTTP/2 to the proxy, as Chromium does: every
// connection goes to the proxy over TLS with ALPN h2, whatever the
// request's URL says.
func (e *env) h2Client() *http.Transport {
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		d := tls.Dialer{Config: &tls.Config{RootCAs: e.pool, NextProtos: []string{"h2"}, ServerName: "example.com"}}
		return d.DialContext(ctx, network, e.http.Listener.Addr().String())
	}
	var p http.Protocols
	p.SetHTTP2(true)
	p.SetUnencryptedHTTP2(true) // http:// URLs: the transport believes it speaks h2c; the dialer adds TLS
	return &http.Transport{Protocols: &p, DialContext: dial,
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) { return dial(ctx, network, addr) }}
}

func basic(secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:"+secret))
}

func TestConnectHTTP2FullDuplex(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	port := uint16(echo.Addr().(*net.TCPAddr).Port)
	e.srv.Dialer.Policy.Ports = append(e.srv.Dialer.Policy.Ports, port)
	tr := e.h2Client()
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodConnect, "https://"+echo.Addr().String(), pr)
	req.Host = echo.Addr().String()
	req.Header.Set("Proxy-Authorization", basic(e.secret))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("CONNECT over h2: %d %s", resp.StatusCode, resp.Proto)
	}
	br := bufio.NewReader(resp.Body)
	for _, msg := range []string{"ping\n", "second line\n"} {
		if _, err := io.WriteString(pw, msg); err != nil {
			t.Fatal(err)
		}
		got, err := br.ReadString('\n')
		if err != nil || got != msg {
			t.Fatalf("echo %q, %v; want %q", got, err, msg)
		}
	}
	pw.Close()
	if rest, _ := io.ReadAll(br); len(rest) != 0 {
		t.Errorf("after half-close: %q", rest)
	}
}

func TestForwardHTTP2(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	tr := e.h2Client()
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://origin.test:%d/over-h2", e.originPort()), nil)
	req.Header.Set("Proxy-Authorization", "Bearer "+e.secret)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 || !strings.Contains(string(body), "GET /over-h2") {
		t.Errorf("%d %s %q", resp.StatusCode, resp.Proto, body)
	}
}

// rawProxy sends one raw HTTP/1.1 request to the proxy and returns the
// response.
func (e *env) raw(req string) *http.Response {
	e.t.Helper()
	c, err := tls.Dial("tcp", e.http.Listener.Addr().String(), &tls.Config{RootCAs: e.pool, NextProtos: []string{"http/1.1"}})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, req); err != nil {
		e.t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

func TestDecisions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *Server) {
		s.Hosts = HostRules{Deny: []string{"*.blocked.test"}}
		s.UserHosts = map[string]HostRules{"alice": {Deny: []string{"alice-denied.test"}}}
	})
	auth := "Proxy-Authorization: " + basic(e.secret) + "\r\n"
	op := e.originPort()
	cases := []struct {
		name, req string
		status    int
		decision  string
	}{
		{"no credentials", "GET http://127.0.0.1:80/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 407, "deny; reason=auth_required"},
		{"bad token", "GET http://127.0.0.1/ HTTP/1.1\r\nHost: 127.0.0.1\r\nProxy-Authorization: Bearer wmp_nope\r\n\r\n", 407, "deny; reason=bad_credentials"},
		{"wrong user", "GET http://127.0.0.1/ HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("bob:"+e.secret)) + "\r\n\r\n", 407, "deny; reason=bad_credentials"},
		{"loopback 127.0.0.2", fmt.Sprintf("GET http://127.0.0.2:%d/ HTTP/1.1\r\nHost: 127.0.0.2\r\n%s\r\n", op, auth), 403, "deny; reason=loopback"},
		{"decimal loopback", fmt.Sprintf("GET http://2130706434:%d/ HTTP/1.1\r\nHost: x\r\n%s\r\n", op, auth), 403, "deny; reason=loopback"},
		{"octal loopback", fmt.Sprintf("GET http://0177.0.0.2:%d/ HTTP/1.1\r\nHost: x\r\n%s\r\n", op, auth), 403, "deny; reason=loopback"},
		{"hex loopback", fmt.Sprintf("GET http://0x7f000002:%d/ HTTP/1.1\r\nHost: x\r\n%s\r\n", op, auth), 403, "deny; reason=loopback"},
		{"mapped loopback", fmt.Sprintf("GET http://[::ffff:127.0.0.2]:%d/ HTTP/1.1\r\nHost: x\r\n%s\r\n", op, auth), 403, "deny; reason=ipv4_mapped:loopback"},
		{"metadata", "GET http://169.254.169.254/latest/meta-data/ HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 403, "deny; reason=cloud_metadata"},
		{"name to private", "GET http://internal.test/ HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 403, "deny; reason=private"},
		{"name to loopback", fmt.Sprintf("GET http://rebind.test:%d/ HTTP/1.1\r\nHost: x\r\n%s\r\n", op, auth), 403, "deny; reason=loopback"},
		{"port", "GET http://origin.test:22/ HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 403, "deny; reason=port_not_allowed"},
		{"proxy itself", fmt.Sprintf("GET http://%s/ HTTP/1.1\r\nHost: x\r\n%s\r\n", e.http.Listener.Addr(), auth), 403, ""},
		{"host rule", "GET http://www.blocked.test/ HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 403, "deny; reason=host_denied"},
		{"user host rule", "GET http://alice-denied.test/ HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 403, "deny; reason=host_denied"},
		{"unknown name", "GET http://nowhere.test/ HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 502, "error; reason=dns"},
		{"https absolute", "GET https://origin.test/ HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 400, "deny; reason=scheme"},
		{"origin form", "GET /etc/passwd HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 400, "deny; reason=not_a_proxy_request"},
		{"connect loopback", fmt.Sprintf("CONNECT 127.0.0.2:%d HTTP/1.1\r\nHost: 127.0.0.2:%d\r\n%s\r\n", op, op, auth), 403, "deny; reason=loopback"},
		{"connect metadata", "CONNECT 169.254.169.254:443 HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 403, "deny; reason=cloud_metadata"},
		{"connect without port", "CONNECT origin.test HTTP/1.1\r\nHost: origin.test\r\n" + auth + "\r\n", 400, "deny; reason=bad_destination"},
		{"connect userinfo", "CONNECT user@origin.test:443 HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 400, ""},
		{"connect no auth", "CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\n\r\n", 407, "deny; reason=auth_required"},
		{"header too large", "GET http://origin.test/ HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 70<<10) + "\r\n" + auth + "\r\n", 431, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := e.raw(c.req)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d; body %q", resp.StatusCode, c.status, body)
			}
			if c.decision != "" && resp.Header.Get("Waymark-Decision") != c.decision {
				t.Errorf("Waymark-Decision %q, want %q", resp.Header.Get("Waymark-Decision"), c.decision)
			}
			if c.status == 407 && len(resp.Header.Values("Proxy-Authenticate")) == 0 {
				t.Error("407 without Proxy-Authenticate")
			}
			if c.status == 403 && !strings.HasPrefix(c.req, "CONNECT") && !strings.Contains(string(body), "This page was not opened") {
				t.Errorf("denial page missing: %q", body)
			}
		})
	}
	// JSON when asked.
	resp := e.raw("GET http://internal.test/ HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n" + auth + "\r\n")
	var j struct {
		Error struct{ Code, Destination, Explanation string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&j); err != nil || j.Error.Code != "private" || j.Error.Destination != "internal.test:80" {
		t.Errorf("JSON denial: %+v %v", j, err)
	}
}

func TestRateAndTunnelLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *Server) { s.Limits = Limits{Rate: 0.001, Burst: 2, Tunnels: 1} })
	c := e.client(e.secret)
	url := fmt.Sprintf("http://127.0.0.1:%d/", e.originPort())
	var codes []int
	for range 3 {
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	if fmt.Sprint(codes) != "[200 200 429]" {
		t.Errorf("statuses %v; want [200 200 429]", codes)
	}

	e2 := newEnv(t, func(s *Server) { s.Limits = Limits{Tunnels: 1} })
	op := e2.originPort()
	auth := "Proxy-Authorization: " + basic(e2.secret) + "\r\n"
	first := e2.raw(fmt.Sprintf("CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: x\r\n%s\r\n", op, auth))
	if first.StatusCode != 200 {
		t.Fatalf("first tunnel: %d", first.StatusCode)
	}
	second := e2.raw(fmt.Sprintf("CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: x\r\n%s\r\n", op, auth))
	if second.StatusCode != 429 || second.Header.Get("Waymark-Decision") != "deny; reason=tunnel_limit" {
		t.Errorf("second tunnel: %d %q", second.StatusCode, second.Header.Get("Waymark-Decision"))
	}
}

// openTunnel opens a CONNECT tunnel to the origin and returns the
// connection, ready for HTTP inside.
func (e *env) openTunnel(secret string) (net.Conn, *bufio.Reader) {
	e.t.Helper()
	c, err := tls.Dial("tcp", e.http.Listener.Addr().String(), &tls.Config{RootCAs: e.pool, NextProtos: []string{"http/1.1"}})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: x\r\nProxy-Authorization: %s\r\n\r\n", e.originPort(), basic(secret))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		e.t.Fatalf("CONNECT: %v %v", resp, err)
	}
	return c, br
}

func waitClosed(t *testing.T, c net.Conn, br *bufio.Reader, within time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	if _, err := br.ReadByte(); err == nil || errors.Is(err, net.ErrClosed) {
		return
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("tunnel still open after %s", within)
	}
}

func TestRevocationClosesTunnels(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c, br := e.openTunnel(e.secret)
	if err := e.auth.Revoke(context.Background(), e.tokenID); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, c, br, 5*time.Second)
	resp := e.raw(fmt.Sprintf("GET http://127.0.0.1:%d/ HTTP/1.1\r\nHost: x\r\nProxy-Authorization: %s\r\n\r\n", e.originPort(), basic(e.secret)))
	if resp.StatusCode != 407 {
		t.Errorf("revoked token: %d", resp.StatusCode)
	}
}

func TestIdleTunnelClosed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *Server) { s.IdleTimeout = 300 * time.Millisecond })
	c, br := e.openTunnel(e.secret)
	// Traffic keeps it open past the timeout...
	for range 3 {
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: origin\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		time.Sleep(150 * time.Millisecond)
	}
	// ...silence closes it.
	waitClosed(t, c, br, 5*time.Second)
}

func TestShutdownDrainsTunnels(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	c, br := e.openTunnel(e.secret)
	if e.srv.Tunnels() != 1 {
		t.Fatalf("tunnels %d", e.srv.Tunnels())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	e.srv.Shutdown(ctx)
	waitClosed(t, c, br, 5*time.Second)
	for deadline := time.Now().Add(5 * time.Second); e.srv.Tunnels() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d tunnels after shutdown", e.srv.Tunnels())
		}
	}
}

func TestPAC(t *testing.T) {
	t.Parallel()
	if got := PAC("proxy.example:8443"); !strings.Contains(got, `return "HTTPS proxy.example:8443";`) {
		t.Errorf("PAC:\n%s", got)
	}
	if CheckPlainAddr("0.0.0.0:8080") == nil || CheckPlainAddr("127.0.0.1:8080") != nil {
		t.Error("CheckPlainAddr")
	}
}

func TestHostRules(t *testing.T) {
	t.Parallel()
	r := HostRules{Allow: []string{"*.example.com", "example.org"}, Deny: []string{"bad.example.com"}}
	for host, want := range map[string]bool{
		"www.example.com": true, "example.com": false, "bad.example.com": false, "example.org": true,
		"www.example.org": false, "evilexample.com": false,
	} {
		if ok, _ := r.Decide(host); ok != want {
			t.Errorf("Decide(%s) = %v, want %v", host, ok, want)
		}
	}
	if (HostRules{Allow: []string{"Bad.com"}}).Validate() == nil || (HostRules{Deny: []string{"a.*.com"}}).Validate() == nil {
		t.Error("Validate accepted a bad pattern")
	}
}

func TestParseAuthority(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		def  uint16
		want string // "" for an error
	}{
		{"example.com:443", 0, "example.com:443"},
		{"Example.COM.:443", 0, "example.com:443"},
		{"example.com", 80, "example.com:80"},
		{"example.com", 0, ""},
		{"[::1]:443", 0, "[::1]:443"},
		{"[::ffff:127.0.0.1]:80", 0, "[::ffff:127.0.0.1]:80"},
		{"::1:443", 0, ""},
		{"0x7f.1:80", 0, "127.0.0.1:80"},
		{"2130706433:443", 0, "127.0.0.1:443"},
		{"user@example.com:443", 0, ""},
		{"example.com:0", 0, ""},
		{"example.com:65536", 0, ""},
		{"example.com:+80", 0, ""},
		{"example.com:http", 0, ""},
		{"exa mple.com:80", 0, ""},
		{"[1.2.3.4]:80", 0, ""},
		{"", 80, ""},
		{":80", 0, ""},
		{"a..b:80", 0, ""},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			d, err := ParseAuthority(c.in, c.def)
			if c.want == "" {
				if err == nil {
					t.Errorf("ParseAuthority(%q) = %v; want an error", c.in, d)
				}
				return
			}
			if err != nil || d.String() != c.want {
				t.Errorf("ParseAuthority(%q) = %v, %v; want %s", c.in, d, err, c.want)
			}
		})
	}
}

func FuzzParseAuthority(f *testing.F) {
	for _, s := range []string{"example.com:443", "[::1]:80", "0x7f.1:80", "user@x:1", "a:b:c", "[::1", "xn--bcher-kva.example:443"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseAuthority(s, 443)
		if err != nil {
			return
		}
		if d.Port == 0 || d.Host == "" {
			t.Fatalf("ParseAuthority(%q) = %+v", s, d)
		}
		// Its own text form reads back the same (canonical).
		again, err := ParseAuthority(d.String(), 0)
		if err != nil || again != d {
			t.Fatalf("ParseAuthority(%q) = %v, but %q reads as %v, %v", s, d, d.String(), again, err)
		}
	})
}

func BenchmarkDecision(b *testing.B) {
	// A denied request's whole decision: authentication, parsing, policy.
	store := &memTokens{}
	a := &proxytoken.Authenticator{Store: store, Now: time.Now}
	a.Load(context.Background())
	_, secret, _ := a.Add(context.Background(), "alice", 0)
	s := &Server{Auth: a, Dialer: &netguard.Dialer{Policy: &netguard.Policy{}}}
	req := httptest.NewRequest("GET", "http://127.0.0.2/", nil)
	req.Header.Set("Proxy-Authorization", basic(secret))
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != 403 {
			b.Fatal(w.Code)
		}
	}
}

// TestReportOnly: the policy logs what it would deny and lets it through.
func TestReportOnly(t *testing.T) {
	t.Parallel()
	var reported []string
	var mu sync.Mutex
	e := newEnv(t, func(s *Server) {
		s.Dialer.ReportOnly = true
		s.Dialer.Report = func(d *netguard.DeniedError) { mu.Lock(); reported = append(reported, d.Reason); mu.Unlock() }
	})
	resp := e.raw(fmt.Sprintf("GET http://127.0.0.2:%d/ HTTP/1.1\r\nHost: x\r\nProxy-Authorization: %s\r\n\r\n", e.originPort(), basic(e.secret)))
	resp.Body.Close()
	// Nothing listens on 127.0.0.2, so the dial fails: but it was tried.
	if resp.StatusCode != http.StatusBadGateway || resp.Header.Get("Waymark-Decision") != "error; reason=upstream" {
		t.Errorf("report-only: %d %q", resp.StatusCode, resp.Header.Get("Waymark-Decision"))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 1 || reported[0] != netguard.ReasonLoopback {
		t.Errorf("reported %v", reported)
	}
}

// BenchmarkForward measures plain-HTTP forwarding with keep-alive client
// and upstream connections (the proxy, client and origin share the
// machine; waymark bench proxy runs them apart).
func BenchmarkForward(b *testing.B) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer origin.Close()
	c := benchProxy(b, origin, nil)
	b.ReportAllocs()
	benchGets(b, c, origin.URL)
}

// TestForwardStreamsAndRetries: chunked uploads, streamed answers with
// trailers, an origin that drops idle connections, and an upgrade
// request (which takes the reverse-proxy path).
func TestForwardStreamsAndRetries(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	origin := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/upload":
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "got %d bytes, te=%v", len(b), r.TransferEncoding)
		case "/stream":
			w.Header().Set("Trailer", "X-Sum")
			for i := range 3 {
				fmt.Fprintf(w, "part%d;", i)
				w.(http.Flusher).Flush()
			}
			w.Header().Set("X-Sum", "3")
		case "/close":
			w.Header().Set("Connection", "close")
			fmt.Fprint(w, "bye")
		case "/upgrade":
			fmt.Fprintf(w, "upgrade=%q", r.Header.Get("Upgrade"))
		default:
			fmt.Fprint(w, "ok")
		}
	}))
	origin.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	origin.Start()
	defer origin.Close()
	e := newEnv(t, nil)
	port := uint16(origin.Listener.Addr().(*net.TCPAddr).Port)
	e.srv.Dialer.Policy.Ports = append(e.srv.Dialer.Policy.Ports, port)
	c := e.client(e.secret)
	get := func(req *http.Request) (*http.Response, string) { t.Helper(); return fetch(t, c, req) }
	pr, pw := io.Pipe()
	go func() { pw.Write(bytes.Repeat([]byte("z"), 100000)); pw.Close() }()
	req, _ := http.NewRequest("POST", origin.URL+"/upload", pr) // unknown length: sent chunked
	if _, body := get(req); body != "got 100000 bytes, te=[chunked]" {
		t.Errorf("chunked upload: %q", body)
	}
	req, _ = http.NewRequest("GET", origin.URL+"/stream", nil)
	resp, body := get(req)
	if body != "part0;part1;part2;" || resp.Trailer.Get("X-Sum") != "3" {
		t.Errorf("stream: %q trailer %v", body, resp.Trailer)
	}
	// The origin closes after /close; the next request still succeeds.
	for _, p := range []string{"/close", "/a", "/b"} {
		req, _ = http.NewRequest("GET", origin.URL+p, nil)
		if resp, _ := get(req); resp.StatusCode != 200 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	// The origin went idle-closed under a pooled connection: simulate by
	// closing every idle connection on the origin's side.
	origin.CloseClientConnections()
	req, _ = http.NewRequest("GET", origin.URL+"/after-drop", nil)
	if resp, _ := get(req); resp.StatusCode != 200 {
		t.Errorf("after the origin dropped idle connections: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest("GET", origin.URL+"/upgrade", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	if _, body := get(req); body != `upgrade="websocket"` {
		t.Errorf("upgrade request: %q", body)
	}
}

// benchProxy starts a plain proxy (tune may change it) that may reach
// origin, and returns a client that uses it.
func benchProxy(b *testing.B, origin *httptest.Server, tune func(*Server)) *http.Client {
	b.Helper()
	store := &memTokens{}
	a := &proxytoken.Authenticator{Store: store, Now: time.Now}
	a.Load(context.Background())
	_, secret, _ := a.Add(context.Background(), "alice", 0)
	port := uint16(origin.Listener.Addr().(*net.TCPAddr).Port)
	s := &Server{Auth: a, Dialer: &netguard.Dialer{Policy: &netguard.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, Ports: []uint16{port}}}}
	if tune != nil {
		tune(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	px := &ConnServer{Handler: s, Fallback: NewHTTPServer(s, slog.New(slog.DiscardHandler))}
	go px.Serve(ln)
	b.Cleanup(func() { px.Close() })
	pu, _ := url.Parse("http://" + ln.Addr().String())
	pu.User = url.UserPassword("alice", secret)
	return &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu), MaxIdleConnsPerHost: 64}}
}

// fetch sends req with c and returns the response and its whole body.
func fetch(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// benchGets asks for u with c from parallel goroutines until the
// benchmark ends.
func benchGets(b *testing.B, c *http.Client, u string) {
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Get(u)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// TestStaleTokensFailClosed: while the token store does not answer, the
// last copy is trusted for MaxStale, then every request gets 503.
func TestStaleTokensFailClosed(t *testing.T) {
	t.Parallel()
	now := time.Now()
	a := &proxytoken.Authenticator{Store: &memTokens{}, Now: func() time.Time { return now }, MaxStale: time.Minute}
	a.Load(context.Background())
	_, secret, err := a.Add(context.Background(), "alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Auth: a, Dialer: &netguard.Dialer{Policy: &netguard.Policy{}}}
	ask := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "http://127.0.0.2/", nil)
		req.Header.Set("Proxy-Authorization", basic(secret))
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		return w
	}
	now = now.Add(59 * time.Second)
	if w := ask(); w.Code != http.StatusForbidden {
		t.Errorf("within MaxStale: %d, want 403 (authenticated, then denied by the egress policy)", w.Code)
	}
	now = now.Add(2 * time.Second)
	w := ask()
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Header().Get("Waymark-Decision"), "token_store_unavailable") {
		t.Errorf("after MaxStale: %d %v, want 503 with Retry-After", w.Code, w.Header())
	}
	a.Load(context.Background()) // the store answers again
	if w := ask(); w.Code != http.StatusForbidden {
		t.Errorf("after a successful reload: %d, want 403", w.Code)
	}
}

// lockedBuffer is an audit log that the test reads while tunnels write.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestTunnelOutlivesHandler: an HTTP/1.1 tunnel goes on after the handler
// returns (so an idle tunnel holds no server goroutine); when it ends it
// still writes one audit line with the bytes each way, leaves the
// tracked tunnels, and gives the user's tunnel back to the limit.
func TestTunnelOutlivesHandler(t *testing.T) {
	t.Parallel()
	var audit lockedBuffer
	e := newEnv(t, func(s *Server) {
		s.Audit = slog.New(slog.NewJSONHandler(&audit, nil))
		s.Limits = Limits{Tunnels: 1}
	})
	for round := range 2 { // the second tunnel fits the limit only if the first gave its place back
		c, err := tls.Dial("tcp", e.http.Listener.Addr().String(), &tls.Config{RootCAs: e.pool, ServerName: "example.com", NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		fmt.Fprintf(c, "CONNECT origin.test:%d HTTP/1.1\r\nHost: origin.test\r\nProxy-Authorization: %s\r\n\r\n", e.originPort(), basic(e.secret))
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("round %d: CONNECT: %v %v", round, resp, err)
		}
		fmt.Fprintf(c, "GET /through HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n")
		resp, err = http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(body), "hello from origin: GET /through") {
			t.Fatalf("round %d: body %q", round, body)
		}
		c.Close()
		deadline := time.Now().Add(5 * time.Second)
		for e.srv.Tunnels() > 0 || strings.Count(audit.String(), `"method":"CONNECT"`) < round+1 {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d tunnels open, audit:\n%s", round, e.srv.Tunnels(), audit.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	lines := strings.Split(strings.TrimSpace(audit.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d audit lines, want one per tunnel:\n%s", len(lines), audit.String())
	}
	for _, l := range lines {
		var rec struct {
			Decision string `json:"decision"`
			Status   int    `json:"status"`
			Up       int64  `json:"bytes_up"`
			Down     int64  `json:"bytes_down"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Decision != "allow" || rec.Status != 200 || rec.Up == 0 || rec.Down == 0 {
			t.Errorf("audit line %s: want an allowed tunnel with bytes both ways", l)
		}
	}
}
