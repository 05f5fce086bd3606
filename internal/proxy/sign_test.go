package proxy

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"waymark.dev/waymark/internal/integrity"
)

// page has a comment the router replaces with a script of the same
// length (so Content-Length still holds, as routers that inject fix it).
const page = "<html><body><p>the news</p><!--..............--></body></html>"

// signingEnv is a proxy that signs every answer (--proxy-sign always),
// in front of an origin with a small page (which also sends forged
// signature fields), a 3 MB file and a streamed answer.
func signingEnv(t *testing.T) (*env, *integrity.Keyring, int) {
	ring, err := integrity.OpenKeyring(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(s *Server) {
		s.Signer = &integrity.ResponseSigner{Keys: ring}
		s.SignMode = SignAlways
		s.SignBuffer = 1 << 20
	})
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/page":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Signature", "waymark=:AAAA:")
			w.Header().Set("Signature-Input", `waymark=("@status");keyid="forged"`)
			io.WriteString(w, page)
		case "/big":
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", fmt.Sprint(3<<20))
			w.Write(bytes.Repeat([]byte("0123456789abcdef"), 3<<20/16))
		case "/stream":
			w.Header().Set("Content-Type", "text/plain")
			for i := range 50 {
				fmt.Fprintf(w, "line %d\n", i)
				w.(http.Flusher).Flush()
			}
		}
	}))
	t.Cleanup(origin.Close)
	port := origin.Listener.Addr().(*net.TCPAddr).Port
	e.srv.Dialer.Policy.Ports = append(e.srv.Dialer.Policy.Ports, uint16(port))
	return e, ring, port
}

func verify(t *testing.T, resp *http.Response, body []byte, target string, ring *integrity.Keyring) (*integrity.Verified, error) {
	t.Helper()
	u, _ := url.Parse(target)
	return integrity.VerifyResponse(resp.Trailer, resp.Header, resp.StatusCode, body, "GET", u, ring.KeySet(), time.Now(), time.Minute)
}

func TestSignedRelay(t *testing.T) {
	t.Parallel()
	e, ring, port := signingEnv(t)
	c := e.client(e.secret)
	h2 := e.h2Client()
	for _, path := range []string{"/page", "/big", "/stream"} {
		target := fmt.Sprintf("http://127.0.0.1:%d%s", port, path)
		for _, proto := range []string{"HTTP/1.1", "HTTP/2"} {
			req, _ := http.NewRequest("GET", target, nil)
			var resp *http.Response
			var err error
			if proto == "HTTP/2" {
				req.Header.Set("Proxy-Authorization", "Bearer "+e.secret)
				resp, err = h2.RoundTrip(req)
			} else {
				resp, err = c.Do(req)
			}
			if err != nil {
				t.Fatalf("%s %s: %v", proto, path, err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("%s %s: %v", proto, path, err)
			}
			inTrailer := resp.Trailer.Get("Signature") != ""
			if want := path != "/page"; inTrailer != want {
				t.Errorf("%s %s: signature in trailers %v, want %v", proto, path, inTrailer, want)
			}
			v, err := verify(t, resp, body, target, ring)
			if err != nil {
				t.Errorf("%s %s: %v", proto, path, err)
				continue
			}
			if v.KeyID != ring.Current().ID {
				t.Errorf("%s %s: signed by %q", proto, path, v.KeyID)
			}
			// Verified against another target URI, it fails.
			if _, err := verify(t, resp, body, target+"?x", ring); !errors.Is(err, integrity.ErrMismatch) {
				t.Errorf("%s %s: another target: %v", proto, path, err)
			}
		}
	}
}

// evilRouter is a middlebox that forwards TCP both ways and writes an
// advertising script over the page's comment on the way back.
func evilRouter(t *testing.T, upstream string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("tcp", upstream)
				if err != nil {
					return
				}
				defer u.Close()
				go io.Copy(u, c)
				buf := make([]byte, 64<<10)
				for {
					n, err := u.Read(buf)
					if n > 0 {
						out := bytes.ReplaceAll(buf[:n], []byte("<!--..............-->"), []byte("<script>ad()</script>"))
						c.Write(out)
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestEvilRouter: a router that injects ads reaches a client that talks
// to the site directly, and the verifier cannot vouch for that page; the
// TLS channel to the proxy leaves the router nothing to change.
func TestEvilRouter(t *testing.T) {
	t.Parallel()
	e, ring, port := signingEnv(t)
	target := fmt.Sprintf("http://127.0.0.1:%d/page", port)

	// Without the channel: straight to the origin through the router.
	// (The injection keeps the length, so the client takes the page.)
	direct := evilRouter(t, fmt.Sprintf("127.0.0.1:%d", port))
	resp, err := http.Get("http://" + direct + "/page")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "<script>ad()</script>") {
		t.Fatalf("the router did not inject: %q", body)
	}
	if _, err := verify(t, resp, body, target, ring); err == nil {
		t.Error("an injected page without the channel verified")
	}

	// Through the proxy's TLS channel, with the router between client
	// and proxy: it cannot change anything it can read, so the page
	// arrives intact and verifies (or the connection fails).
	routed := evilRouter(t, e.http.Listener.Addr().String())
	pu, _ := url.Parse("https://" + routed)
	pu.User = url.UserPassword("alice", e.secret)
	c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu),
		TLSClientConfig: &tls.Config{RootCAs: e.pool, ServerName: "127.0.0.1"}}, Timeout: 10 * time.Second}
	resp, err = c.Get(target)
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if _, err := verify(t, resp, body, target, ring); err != nil || string(body) != page {
			t.Errorf("through the channel: %v %q", err, body)
		}
	}

	// A plain (loopback) proxy connection through the router: the ad
	// gets in, and the signature catches it.
	raw := evilRouter(t, plainProxy(t, e))
	conn, err := net.Dial("tcp", raw)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nProxy-Authorization: %s\r\n\r\n", target, basic(e.secret))
	resp, err = http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "ad()") {
		t.Fatalf("no injection on the plain connection: %q", body)
	}
	if _, err := verify(t, resp, body, target, ring); !errors.Is(err, integrity.ErrDigest) {
		t.Errorf("an injected body verified or failed for another reason: %v", err)
	}
}

// plainProxy serves the env's proxy handler without TLS.
func plainProxy(t *testing.T, e *env) string {
	srv := httptest.NewServer(e.srv)
	t.Cleanup(srv.Close)
	e.srv.Dialer.Policy.Self = append(e.srv.Dialer.Policy.Self, netip.MustParseAddrPort(srv.Listener.Addr().String()))
	return srv.Listener.Addr().String()
}

// BenchmarkRelaySigning forwards answers of 1 KB, 64 KB and 1 MB through
// the proxy with and without signing.
func BenchmarkRelaySigning(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20} {
		body := bytes.Repeat([]byte("x"), size)
		origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Write(body)
		}))
		ring, _ := integrity.OpenKeyring(b.TempDir(), time.Now())
		for _, signed := range []bool{false, true} {
			name := fmt.Sprintf("%dKB/unsigned", size>>10)
			if signed {
				name = fmt.Sprintf("%dKB/signed", size>>10)
			}
			b.Run(name, func(b *testing.B) {
				c := benchProxy(b, origin, func(s *Server) {
					if signed {
						s.Signer = &integrity.ResponseSigner{Keys: ring}
					}
				})
				b.SetBytes(int64(size))
				b.ReportAllocs()
				benchGets(b, c, origin.URL)
			})
		}
		origin.Close()
	}
}

// TestSignedReverseRelay: answers to requests the standard reverse proxy
// relays (Expect: 100-continue, Upgrade) are signed like the others, in
// the header or in trailers; a forged signature from the origin is gone.
func TestSignedReverseRelay(t *testing.T) {
	t.Parallel()
	e, ring, port := signingEnv(t)
	tr := &http.Transport{Proxy: http.ProxyURL(e.proxyURL("alice", e.secret)), TLSClientConfig: &tls.Config{RootCAs: e.pool}, ExpectContinueTimeout: 5 * time.Second}
	for _, tc := range []struct {
		name, method, path string
		header             http.Header
		inTrailer          bool
	}{
		{"100-continue, short", "POST", "/page", http.Header{"Expect": {"100-continue"}}, false},
		{"100-continue, streamed", "POST", "/stream", http.Header{"Expect": {"100-continue"}}, true},
		{"upgrade answered normally", "GET", "/page", http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := fmt.Sprintf("http://127.0.0.1:%d%s", port, tc.path)
			var body io.Reader
			if tc.method == "POST" {
				body = strings.NewReader("name=value")
			}
			req, _ := http.NewRequest(tc.method, target, body)
			for k, v := range tc.header {
				req.Header[k] = v
			}
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d %v", tc.name, resp.StatusCode, err)
			}
			if in := resp.Trailer.Get("Signature") != ""; in != tc.inTrailer {
				t.Errorf("%s: signature in trailers %v, want %v", tc.name, in, tc.inTrailer)
			}
			u, _ := url.Parse(target)
			v, err := integrity.VerifyResponse(resp.Trailer, resp.Header, resp.StatusCode, got, tc.method, u, ring.KeySet(), time.Now(), time.Minute)
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				return
			}
			if v.KeyID != ring.Current().ID {
				t.Errorf("%s: signed by %q", tc.name, v.KeyID)
			}
			if got := resp.Header.Values("Signature"); len(got) > 1 || strings.Contains(strings.Join(got, ","), "AAAA") {
				t.Errorf("%s: the origin's forged signature reached the client: %q", tc.name, got)
			}
		})
	}
}

// TestSignPolicy: under --proxy-sign requested an answer is signed when
// its request asks (Accept-Signature, with the label, key, tag, nonce and
// components asked for), when the token always gets signatures, or for a
// host of SignHosts; Want-Content-Digest alone gets a digest; "never"
// signs nothing; an origin's own fields are stripped in every mode; a
// malformed request field gets a 400.
func TestSignPolicy(t *testing.T) {
	t.Parallel()
	e, ring, port := signingEnv(t)
	e.srv.SignMode = SignRequested
	e.srv.SignHosts = []string{"*.signed.test"}
	lo := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	e.srv.Dialer.Resolver = fakeResolver{"origin.test": lo, "www.signed.test": lo}
	c := e.client(e.secret)
	_, alwaysSecret, err := e.auth.AddWith(t.Context(), "alice", 0, true)
	if err != nil {
		t.Fatal(err)
	}
	page := fmt.Sprintf("http://127.0.0.1:%d/page", port)
	get := func(c *http.Client, target string, h http.Header) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", target, nil)
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	unsigned := func(name string, resp *http.Response) {
		t.Helper()
		for _, f := range integrity.Fields {
			if v := resp.Header.Get(f) + resp.Trailer.Get(f); v != "" {
				t.Errorf("%s: %s %q, want none", name, f, v)
			}
		}
	}

	// Not asked: nothing, and the origin's forged fields are gone.
	resp, _ := get(c, page, nil)
	unsigned("not asked", resp)

	// Asked with a label, key, tag, nonce and components: honoured, with
	// what a relayed answer always covers; an unknown field is left out
	// and an algorithm other than Ed25519 is not taken.
	asked := fmt.Sprintf(`sig1=("@status" "content-type" "@method";req "@authority";req "x-absent");keyid=%q;tag="app-1";nonce="n-42";alg="rsa-pss-sha512"`, ring.Current().ID)
	resp, body := get(c, page, http.Header{"Accept-Signature": {asked}})
	v, err := verify(t, resp, body, page, ring)
	if err != nil {
		t.Fatalf("asked: %v", err)
	}
	in := resp.Header.Get("Signature-Input")
	if v.Label != "sig1" || !strings.HasPrefix(in, `sig1=("@status" "content-type" "@method";req "@authority";req "content-digest" "@target-uri";req)`) ||
		!strings.Contains(in, `;alg="ed25519"`) || !strings.Contains(in, `;nonce="n-42";tag="app-1"`) || strings.Contains(in, "x-absent") {
		t.Errorf("asked: label %q, Signature-Input %s", v.Label, in)
	}
	if strings.Contains(resp.Header.Get("Signature"), "AAAA") {
		t.Errorf("the origin's forged signature reached the client: %q", resp.Header.Values("Signature"))
	}
	// Waymark's own verifiers' request.
	resp, body = get(c, page, http.Header{"Accept-Signature": {integrity.AcceptSignature}})
	if v, err := verify(t, resp, body, page, ring); err != nil || v.Label != integrity.Label {
		t.Errorf("Waymark's request: %v %+v", err, v)
	}
	// Streamed and large answers sign in trailers when asked.
	for _, path := range []string{"/big", "/stream"} {
		target := fmt.Sprintf("http://127.0.0.1:%d%s", port, path)
		resp, body := get(c, target, http.Header{"Accept-Signature": {integrity.AcceptSignature}})
		if _, err := verify(t, resp, body, target, ring); err != nil || resp.Trailer.Get("Signature") == "" {
			t.Errorf("%s asked: %v (signature in trailers: %q)", path, err, resp.Trailer.Get("Signature"))
		}
	}

	// Want-Content-Digest alone: the digest it prefers, no signature.
	resp, body = get(c, page, http.Header{"Want-Content-Digest": {"sha-256=3, sha-512=10"}})
	if d := resp.Header.Get("Content-Digest"); !strings.HasPrefix(d, "sha-512=:") || integrity.VerifyDigest(d, body) != nil || resp.Header.Get("Signature") != "" {
		t.Errorf("digest asked: Content-Digest %q, Signature %q", d, resp.Header.Get("Signature"))
	}
	resp, _ = get(c, page, http.Header{"Want-Content-Digest": {"sha-256=0, md5=9"}})
	unsigned("no digest acceptable", resp)

	// A token made with --sign, and a host of SignHosts: signed unasked.
	resp, body = get(e.client(alwaysSecret), page, nil)
	if _, err := verify(t, resp, body, page, ring); err != nil {
		t.Errorf("token that always gets signatures: %v", err)
	}
	signedHost := fmt.Sprintf("http://www.signed.test:%d/page", port)
	resp, body = get(c, signedHost, nil)
	if _, err := verify(t, resp, body, signedHost, ring); err != nil {
		t.Errorf("host of --proxy-sign-hosts: %v", err)
	}
	resp, _ = get(c, fmt.Sprintf("http://origin.test:%d/page", port), nil)
	unsigned("another host", resp)

	// never: nothing, asked or not; the origin's fields still go.
	e.srv.SignMode = SignNever
	resp, _ = get(c, page, http.Header{"Accept-Signature": {integrity.AcceptSignature}})
	unsigned("never", resp)
	e.srv.SignMode = SignRequested

	// A malformed request field: 400, named.
	for _, h := range []http.Header{{"Accept-Signature": {"sig1=("}}, {"Accept-Signature": {`sig1="not a list"`}}, {"Want-Content-Digest": {"sha-256=high"}}} {
		resp, body := get(c, page, h)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(resp.Header.Get("Waymark-Decision"), string(ReasonBadIntegrityRequest)) {
			t.Errorf("%v: %d %q %s", h, resp.StatusCode, resp.Header.Get("Waymark-Decision"), body)
		}
	}

	// The request fields are the proxy's to answer: the origin does not
	// see them.
	origin := e.origin.Listener.Addr().String()
	get(c, "http://"+origin+"/seen", http.Header{"Accept-Signature": {integrity.AcceptSignature}, "Want-Content-Digest": {"sha-256=1"}})
	select {
	case r := <-e.seen:
		if r.Header.Get("Accept-Signature") != "" || r.Header.Get("Want-Content-Digest") != "" {
			t.Errorf("the origin saw %q %q", r.Header.Get("Accept-Signature"), r.Header.Get("Want-Content-Digest"))
		}
	case <-time.After(5 * time.Second):
		t.Error("the origin saw no request")
	}
}
