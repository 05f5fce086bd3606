package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http/httpguts"
)

// netHTTPRead reads head as net/http's server does: ReadRequest, then
// the server's own checks, then the Host field dropped.
func netHTTPRead(head []byte) (*http.Request, error) {
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
	if err != nil {
		return nil, err
	}
	// ReadRequest drops the Host field; the server reads it first.
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(head)))
	tp.ReadLine()
	fields, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, err
	}
	hosts, ok := fields["Host"]
	if r.ProtoAtLeast(1, 1) && (!ok || len(hosts) == 0) && r.Method != http.MethodConnect {
		return nil, errors.New("missing required Host header")
	}
	if len(hosts) == 1 && !httpguts.ValidHostHeader(hosts[0]) {
		return nil, errors.New("malformed Host header")
	}
	for k, vv := range r.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return nil, errors.New("invalid header name")
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return nil, errors.New("invalid header value")
			}
		}
	}
	return r, nil
}

var simpleHeads = []string{
	"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
	"GET http://example.com:8080/a%20b?q=1&r=%2F HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: curl/8\r\nAccept: */*\r\n\r\n",
	"POST http://example.com/up HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\n",
	"GET http://[::1]:80/ HTTP/1.1\r\nHost: [::1]\r\nconnection: Close\r\nx-odd_name: a\tb \r\npragma: no-cache\r\n\r\n",
	"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nCookie: a=1\r\nCookie: b=2\r\nX-Obs: caf\xc3\xa9\r\n\r\n",
	"DELETE http://example.com/x HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\nConnection: keep-alive, close\r\n\r\n",
	// Connection values that read as close one way and not the other
	// (net/http's Request.Close and its server's close-after-answer
	// differ on the first; Unicode folding and spaces must not count).
	"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: e close\r\n\r\n",
	"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: clo\xc5\xbfe\r\n\r\n",
	"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\xc2\xa0\r\n\r\n",
	"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: foo\r\nConnection: x close\r\n\r\n",
	"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: x close\r\nConnection: foo\r\n\r\n",
}

// The request catalogue: each line is refused by the simple reader and
// left to net/http (request smuggling tricks, other protocols, forms the
// loop does not serve).
var notSimpleHeads = []string{
	"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
	"GET https://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
	"GET http://example.com/ HTTP/1.0\r\nHost: example.com\r\n\r\n",
	"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
	"GET http://example.com/ HTTP/1.1\nHost: example.com\n\n",
	"GET http://example.com/ HTTP/1.1\r\nHost: example.com\n\r\n",
	"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nX: a\rb\r\n\r\n",
	"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nX: a\r\n folded\r\n\r\n",
	"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nX : a\r\n\r\n",
	"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nX\x00: a\r\n\r\n",
	"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nX: a\x00b\r\n\r\n",
	"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nX: a\x7fb\r\n\r\n",
	"POST http://example.com/ HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n",
	"POST http://example.com/ HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
	"POST http://example.com/ HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding : chunked\r\n\r\n",
	"POST http://example.com/ HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
	"POST http://example.com/ HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
	"POST http://example.com/ HTTP/1.1\r\nHost: example.com\r\nContent-Length: +5\r\n\r\n",
	"POST http://example.com/ HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5, 5\r\n\r\n",
	"POST http://example.com/ HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0x5\r\n\r\n",
	"POST http://example.com/ HTTP/1.1\r\nHost: example.com\r\nContent-Length:\r\n\r\n",
	"POST http://example.com/ HTTP/1.1\r\nHost: example.com\r\nContent-Length: 99999999999999999999\r\n\r\n",
	"POST http://example.com/ HTTP/1.1\r\nHost: example.com\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
	"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
	"GET http://example.com/ HTTP/1.1\r\n\r\n",
	"GET http://example.com/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
	"GET http://example.com/ HTTP/1.1\r\nHost: a b\r\n\r\n",
	"GET http://example.com/ HTTP/1.1\r\nHost: a/b\r\n\r\n",
	"GET http://user:pw@example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
	"GET http:///path HTTP/1.1\r\nHost: example.com\r\n\r\n",
	"GET http://example.com/#frag HTTP/1.1\r\nHost: example.com\r\n\r\n",
	"GET  http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
	"GET http://example.com/ HTTP/1.1 \r\nHost: example.com\r\n\r\n",
	"G(T http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
	"GET http://exa\x80mple.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
	"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nTE: trailers\r\n\r\n",
}

func TestSimpleHeads(t *testing.T) {
	for _, h := range simpleHeads {
		sr, ok := parseSimpleHead([]byte(h))
		if !ok {
			t.Errorf("refused %q", h)
			continue
		}
		matchNetHTTP(t, []byte(h), sr)
	}
	for _, h := range notSimpleHeads {
		if _, ok := parseSimpleHead([]byte(h)); ok {
			t.Errorf("accepted %q", h)
		}
	}
	sr, _ := parseSimpleHead([]byte(simpleHeads[3]))
	if !sr.close || sr.header.Get("Cache-Control") != "no-cache" || sr.header.Get("X-Odd_name") != "a\tb" {
		t.Errorf("close %v, header %v", sr.close, sr.header)
	}
}

// matchNetHTTP fails t unless net/http's server reads head as sr says.
func matchNetHTTP(t *testing.T, head []byte, sr simpleRequest) {
	t.Helper()
	r, err := netHTTPRead(head)
	if err != nil {
		t.Fatalf("net/http refuses what the loop accepted, %q: %v", head, err)
	}
	if sr.header == nil {
		sr.header = http.Header{}
	}
	got := []any{sr.method, sr.target, sr.url.String(), sr.url.Host, sr.header, sr.contentLength, sr.close}
	want := []any{r.Method, r.RequestURI, r.URL.String(), r.Host, r.Header, r.ContentLength, r.Close}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\nloop     %v\nnet/http %v", head, got, want)
	}
}

// FuzzSimpleHeadMatchesNetHTTP: whatever the loop reads itself, net/http's
// server reads the same way: the same method, target, host, fields, body
// length and connection ending. (What it refuses goes to net/http.)
func FuzzSimpleHeadMatchesNetHTTP(f *testing.F) {
	for _, h := range append(slices.Clone(simpleHeads), notSimpleHeads...) {
		f.Add([]byte(h))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		i := bytes.Index(b, []byte("\r\n\r\n"))
		if i < 0 {
			return
		}
		head := b[:i+4]
		if sr, ok := parseSimpleHead(head); ok {
			matchNetHTTP(t, head, sr)
		}
	})
}

// echo answers with what it was asked, for comparing servers.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range r.Header {
			if !yield(k) {
				return
			}
		}
	})
	var h strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&h, "%s=%q;", k, r.Header[k])
	}
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintf(w, "%s %s host=%s cl=%d te=%v close=%v body=%q err=%v hdr=%s", r.Method, r.RequestURI, r.Host, r.ContentLength,
		r.TransferEncoding, r.Close, body, err, h.String())
})

// serveLoop serves h on a ConnServer on loopback, with the fallback's
// header and idle timeouts (0: NewHTTPServer's), until the test ends.
func serveLoop(t testing.TB, h http.Handler, headerTimeout, idleTimeout time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fb := NewHTTPServer(h, slog.New(slog.DiscardHandler))
	if headerTimeout > 0 {
		fb.ReadHeaderTimeout, fb.IdleTimeout = headerTimeout, idleTimeout
	}
	cs := &ConnServer{Handler: h, Fallback: fb}
	go cs.Serve(ln)
	t.Cleanup(func() { cs.Close() })
	return ln.Addr().String()
}

// startServers serves h on a ConnServer and on a net/http server alone.
func startServers(t testing.TB, h http.Handler) (loop, alone string) {
	t.Helper()
	loop = serveLoop(t, h, 0, 0)
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := NewHTTPServer(h, slog.New(slog.DiscardHandler))
	go hs.Serve(ln2)
	t.Cleanup(func() { hs.Close() })
	return loop, ln2.Addr().String()
}

// exchange sends raw on a new connection, half-closes it, and reads every
// answer until the server closes.
func exchangeRaw(t *testing.T, addr, raw string, methods ...string) []string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	br := bufio.NewReader(c)
	var out []string
	for {
		var req *http.Request
		if len(out) < len(methods) {
			req = &http.Request{Method: methods[len(out)]}
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return out
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			// Without the addresses, which differ between the servers.
			var op *net.OpError
			if errors.As(err, &op) {
				err = op.Err
			}
			out = append(out, fmt.Sprintf("%d body error %v", resp.StatusCode, err))
			return out
		}
		out = append(out, fmt.Sprintf("%d %s trailer=%v cl=%d te=%v ct=%q close=%v", resp.StatusCode, body, resp.Trailer,
			resp.ContentLength, resp.TransferEncoding, resp.Header["Content-Type"], resp.Close))
	}
}

// TestConnServerMatchesNetHTTP sends the same bytes to the loop (with
// its net/http fallback) and to net/http alone: every answer on the
// connection must be the same, for plain requests, pipelined ones, the
// smuggling catalogue above, and switches from the loop to the fallback
// mid-connection.
func TestConnServerMatchesNetHTTP(t *testing.T) {
	t.Parallel()
	loop, alone := startServers(t, echo)
	simple := "GET http://example.com/a HTTP/1.1\r\nHost: example.com\r\n\r\n"
	cases := map[string]string{
		"one":       simple,
		"pipelined": simple + "POST http://example.com/b HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello" + simple,
		"close":     "GET http://example.com/a HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n" + simple,
		"chunked upload after a simple request": simple + "POST http://example.com/c HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"5\r\nhello\r\n0\r\n\r\n" + simple,
		"body not read by the loop's handler": "POST http://example.com/b HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n\r\nabc" + simple,
		"head":                                "HEAD http://example.com/a HTTP/1.1\r\nHost: example.com\r\n\r\n" + simple,
		"short body":                          "POST http://example.com/b HTTP/1.1\r\nHost: example.com\r\nContent-Length: 10\r\n\r\nabc",
		"head longer than the loop's buffer":  "GET http://example.com/a HTTP/1.1\r\nHost: example.com\r\nX-Long: " + strings.Repeat("a", 6000) + "\r\n\r\n" + simple,
	}
	for i, h := range notSimpleHeads {
		cases[fmt.Sprintf("catalogue %d", i)] = simple + h + "hello" + simple
	}
	for name, raw := range cases {
		var methods []string
		if name == "head" {
			methods = []string{"HEAD", "GET"}
		}
		got, want := exchangeRaw(t, loop, raw, methods...), exchangeRaw(t, alone, raw, methods...)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %q\nloop     %q\nnet/http %q", name, raw, got, want)
		}
	}
}

// TestH1Writer: the loop's answers are framed as net/http frames them.
func TestH1Writer(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain") // net/http would sniff one; the loop does not
		switch r.URL.Path {
		case "/long": // past what is held back: chunked
			w.Write(bytes.Repeat([]byte("x"), 5000))
		case "/length":
			w.Header().Set("Content-Length", "3")
			w.Write([]byte("abc"))
		case "/short": // declared 10, wrote 3: the connection must end
			w.Header().Set("Content-Length", "10")
			w.Write([]byte("abc"))
		case "/too-long":
			w.Header().Set("Content-Length", "2")
			if _, err := w.Write([]byte("abc")); err == nil {
				panic("a body past its length was accepted")
			}
			w.Write([]byte("ab"))
		case "/trailers":
			w.Header().Set("Trailer", "X-Sum")
			w.Write([]byte("part;"))
			http.NewResponseController(w).Flush()
			w.Write([]byte("part;"))
			w.Header().Set("X-Sum", "2")
		case "/trailers-short": // declared trailers make even a short body chunked
			w.Header().Set("Trailer", "X-Sum")
			w.Write([]byte("x"))
			w.Header().Set("X-Sum", "1")
		case "/trailers-empty":
			w.Header().Set("Trailer", "X-Sum")
			w.Header().Set("X-Sum", "0")
		case "/notmodified":
			w.Header().Set("Content-Length", "5")
			w.Header().Set("Etag", `"a"`)
			w.WriteHeader(http.StatusNotModified)
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
			if _, err := w.Write([]byte("x")); !errors.Is(err, http.ErrBodyNotAllowed) {
				panic("a 204 took a body")
			}
		case "/interim":
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.Write([]byte("done"))
		case "/panic":
			panic("boom")
		case "/keep": // gives way to close when the connection ends
			w.Header().Set("Connection", "keep-alive")
			w.Write([]byte("ok"))
		case "/close-list": // net/http closes on "close" alone, not in a list
			w.Header().Set("Connection", "foo, close")
			w.Write([]byte("ok"))
		case "/close":
			w.Header().Set("Connection", "close")
			w.Write([]byte("ok"))
		default:
			w.Write([]byte("ok"))
		}
	})
	loop, alone := startServers(t, h)
	// A write past the declared length is refused whole (net/http counts
	// it and then cuts the answer off); a right one after it is sent.
	if got := exchangeRaw(t, loop, "GET http://example.com/too-long HTTP/1.1\r\nHost: example.com\r\n\r\n"); !reflect.DeepEqual(got, []string{`200 ab trailer=map[] cl=2 te=[] ct=["text/plain"] close=false`}) {
		t.Errorf("too long: %q", got)
	}
	for _, p := range []string{"/long", "/length", "/short", "/trailers", "/trailers-short", "/trailers-empty", "/notmodified", "/nocontent", "/interim", "/panic", "/keep", "/close-list", "/close", "/"} {
		// The second form asks to close the way only net/http's server
		// reads as close (Request.Close stays false).
		for _, conn := range []string{"", "Connection: e close\r\n"} {
			raw := "GET http://example.com" + p + " HTTP/1.1\r\nHost: example.com\r\n" + conn + "\r\n" +
				"HEAD http://example.com" + p + " HTTP/1.1\r\nHost: example.com\r\n\r\n" +
				"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n"
			got, want := exchangeRaw(t, loop, raw, "GET", "HEAD", "GET"), exchangeRaw(t, alone, raw, "GET", "HEAD", "GET")
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s %q:\nloop     %q\nnet/http %q", p, conn, got, want)
			}
		}
	}
	// The head of an answer: Date, the length, one Connection: close.
	c, err := net.Dial("tcp", loop)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET http://example.com/length HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
	all, _ := io.ReadAll(c)
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(all)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Date") == "" || resp.ContentLength != 3 || !resp.Close || bytes.Count(all, []byte("Connection: close\r\n")) != 1 {
		t.Errorf("head %q", all)
	}
}

// TestConnServerShutdown: idle connections are closed, an exchange in
// progress finishes, and Serve returns http.ErrServerClosed.
func TestConnServerShutdown(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var started atomic.Bool
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started.Store(true)
			<-release
		}
		w.Write([]byte("ok"))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cs := &ConnServer{Handler: h, Fallback: NewHTTPServer(h, slog.New(slog.DiscardHandler))}
	served := make(chan error, 1)
	go func() { served <- cs.Serve(ln) }()
	idle, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	io.WriteString(idle, "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n")
	br := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("first answer: %v", err)
	} else {
		io.ReadAll(resp.Body)
	}
	busy, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	io.WriteString(busy, "GET http://example.com/slow HTTP/1.1\r\nHost: example.com\r\n\r\n")
	for !started.Load() {
		time.Sleep(time.Millisecond)
	}
	done := make(chan error, 1)
	go func() { done <- cs.Shutdown(t.Context()) }()
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err == nil {
		t.Error("the idle connection stayed open")
	}
	close(release)
	busy.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the exchange in progress: %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("still accepting")
	}
}

// TestConnServerHeaderTimeout: a connection that sends nothing, or only
// part of a head, is closed after the header timeout; one that sent a
// request may then idle for the idle timeout.
func TestConnServerHeaderTimeout(t *testing.T) {
	t.Parallel()
	addr := serveLoop(t, echo, 300*time.Millisecond, 5*time.Second)
	for _, sent := range []string{"", "GET http://example.com/ HTTP/1.1\r\nHost: exa"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, sent)
		start := time.Now()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(make([]byte, 1))
		if n != 0 || err == nil || time.Since(start) > 4*time.Second {
			t.Errorf("after %q: read %d, %v after %v", sent, n, err, time.Since(start))
		}
		c.Close()
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := range 2 {
		if i == 1 {
			time.Sleep(600 * time.Millisecond) // past the header timeout, within the idle one
		}
		io.WriteString(c, "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		io.ReadAll(resp.Body)
	}
}

// TestConnServerPipelinedAfterSlowAnswer: part of the next head, sent
// while a slow answer was made, still gets the header timeout to finish
// after the deadline that was in force has passed.
func TestConnServerPipelinedAfterSlowAnswer(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(700 * time.Millisecond)
		}
		w.Write([]byte("ok"))
	})
	c, err := net.Dial("tcp", serveLoop(t, h, 300*time.Millisecond, 300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET http://example.com/slow HTTP/1.1\r\nHost: example.com\r\n\r\nGET http://example.com/ HTTP/1.1\r\nHo")
	br := bufio.NewReader(c)
	first, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(first.Body)
	time.Sleep(100 * time.Millisecond)
	io.WriteString(c, "st: example.com\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("the pipelined request after a slow answer: %v", err)
	}
	if body, _ := io.ReadAll(resp.Body); string(body) != "ok" {
		t.Errorf("body %q", body)
	}
}

// FuzzConnServerMatchesNetHTTP: any bytes a client sends get the same
// answers from the loop (with its net/http fallback) as from net/http
// alone.
func FuzzConnServerMatchesNetHTTP(f *testing.F) {
	simple := "GET http://example.com/a HTTP/1.1\r\nHost: example.com\r\n\r\n"
	for _, h := range append(slices.Clone(simpleHeads), notSimpleHeads...) {
		f.Add([]byte(h + "hello"))
		f.Add([]byte(simple + h + "hello" + simple))
	}
	f.Add([]byte("GET http://example.com/ HTTP/1.1\r\nHo"))
	f.Add([]byte("POST http://example.com/ HTTP/1.1\r\nHost: example.com\r\nContent-Length: 9\r\n\r\nabc"))
	loop, alone := startServers(f, echo)
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > 8<<10 {
			return
		}
		got, want := exchangeRaw(t, loop, string(raw)), exchangeRaw(t, alone, string(raw))
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\nloop     %q\nnet/http %q", raw, got, want)
		}
	})
}
