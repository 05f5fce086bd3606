package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// TestWriteUpstreamMatches: what the proxy writes to an origin reads the
// same as what http.Request.Write writes for the same request.
func TestWriteUpstreamMatches(t *testing.T) {
	cases := []struct {
		method, uri string
		header      http.Header
		body        string
	}{
		{"GET", "/", http.Header{"User-Agent": nil, "Accept": {"*/*"}}, ""},
		{"GET", "/a%20b/c?q=1&r=%2F", http.Header{"User-Agent": {"curl/8"}, "Cookie": {"a=1", "b=2"}}, ""},
		{"POST", "/up", http.Header{"Content-Type": {"text/plain"}, "User-Agent": nil}, "hello"},
		{"POST", "/empty", http.Header{"User-Agent": nil}, ""},
		{"DELETE", "/x", http.Header{"User-Agent": nil}, ""},
		{"HEAD", "/x", http.Header{"User-Agent": nil}, ""},
		{"OPTIONS", "/x", http.Header{"User-Agent": nil, "X-Break": {"a\r\nInjected: 1", " padded "}, "Bad Name": {"x"}}, ""},
		{"PUT", "/x", http.Header{"User-Agent": nil, "Via": {"1.1 waymark"}}, strings.Repeat("z", 10000)},
	}
	for _, c := range cases {
		u, _ := url.ParseRequestURI(c.uri)
		mk := func() *http.Request {
			r := &http.Request{Method: c.method, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: c.header.Clone(),
				Host: "example.com:8080", ContentLength: int64(len(c.body))}
			if c.body != "" {
				r.Body = io.NopCloser(strings.NewReader(c.body))
			}
			return r
		}
		direct := mk()
		if !writableDirect(direct) {
			t.Fatalf("%s %s: not writable directly", c.method, c.uri)
		}
		var a, b bytes.Buffer
		bw := bufio.NewWriter(&a)
		if err := writeUpstream(bw, direct); err != nil {
			t.Fatal(err)
		}
		bw.Flush()
		if err := mk().Write(&b); err != nil {
			t.Fatal(err)
		}
		got, want := readBack(t, a.Bytes()), readBack(t, b.Bytes())
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s %s:\ndirect        %q\nRequest.Write %q", c.method, c.uri, a.String(), b.String())
		}
	}
	// A body shorter than its length is an error, not a short request.
	r := &http.Request{Method: "POST", URL: &url.URL{Path: "/"}, Header: http.Header{}, Host: "h", ContentLength: 10,
		Body: io.NopCloser(strings.NewReader("abc"))}
	if err := writeUpstream(bufio.NewWriter(io.Discard), r); err == nil {
		t.Error("a short body was written without an error")
	}
}

func readBack(t *testing.T, raw []byte) []any {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	body, _ := io.ReadAll(r.Body)
	return []any{r.Method, r.RequestURI, r.Host, r.Header, r.ContentLength, r.TransferEncoding, string(body)}
}

var simpleResponses = []string{
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
	"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\nX-Obs: caf\xc3\xa9\r\n\r\n",
	"HTTP/1.1 200\r\nContent-Length: 2\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nok",
	"HTTP/1.1 599 Whatever It Says\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n",
}

// The answers left to net/http.
var notSimpleResponses = []string{
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
	"HTTP/1.1 200 OK\r\n\r\nuntil close",
	"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 204 No Content\r\n\r\n",
	"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
	"HTTP/1.1 100 Continue\r\n\r\n",
	"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX: a\r\n folded\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX : a\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX: a\x00\r\n\r\n",
	"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 20x OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nTrailer: X\r\n\r\n",
}

func TestSimpleResponses(t *testing.T) {
	for _, raw := range simpleResponses {
		head := []byte(raw[:strings.Index(raw, "\r\n\r\n")+4])
		resp, ok := parseSimpleResponse(head, "GET")
		if !ok {
			t.Errorf("refused %q", raw)
			continue
		}
		matchResponse(t, head, resp)
	}
	for _, raw := range notSimpleResponses {
		i := strings.Index(raw, "\r\n\r\n")
		if i < 0 {
			i = len(raw) - 4
		}
		if _, ok := parseSimpleResponse([]byte(raw[:i+4]), "GET"); ok {
			t.Errorf("accepted %q", raw)
		}
	}
	if _, ok := parseSimpleResponse([]byte(simpleResponses[0][:strings.Index(simpleResponses[0], "\r\n\r\n")+4]), "HEAD"); ok {
		t.Error("an answer to HEAD was read as having a body")
	}
	// Through readUpstream, both kinds give their bodies.
	for _, raw := range append([]string{simpleResponses[0]}, notSimpleResponses[0]) {
		resp, err := readUpstream(bufio.NewReader(strings.NewReader(raw)), &http.Request{Method: "GET"}, &upConn{})
		if err != nil {
			t.Fatal(err)
		}
		if body, err := io.ReadAll(resp.Body); err != nil || string(body) != "hello" {
			t.Errorf("%q: body %q, %v", raw, body, err)
		}
	}
	// A body cut short is an error, and its connection is not reused.
	uc := &upConn{}
	resp, err := readUpstream(bufio.NewReader(strings.NewReader("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhel")), &http.Request{Method: "GET"}, uc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(resp.Body); err != io.ErrUnexpectedEOF {
		t.Errorf("short body: %v", err)
	}
	resp.Body.Close()
	if !uc.broken {
		t.Error("a connection with an unread body left would be reused")
	}
}

func matchResponse(t *testing.T, head []byte, resp *http.Response) {
	t.Helper()
	want, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), &http.Request{Method: "GET"})
	if err != nil {
		t.Fatalf("net/http refuses what the proxy read, %q: %v", head, err)
	}
	got := []any{resp.Status, resp.StatusCode, resp.Proto, resp.Header, resp.ContentLength, resp.Close}
	exp := []any{want.Status, want.StatusCode, want.Proto, want.Header, want.ContentLength, want.Close}
	if !reflect.DeepEqual(got, exp) {
		t.Fatalf("%q:\nproxy    %v\nnet/http %v", head, got, exp)
	}
}

// FuzzSimpleResponseMatchesNetHTTP: an origin's answer head the proxy
// reads itself, net/http reads the same way.
func FuzzSimpleResponseMatchesNetHTTP(f *testing.F) {
	for _, r := range append(append([]string{}, simpleResponses...), notSimpleResponses...) {
		f.Add([]byte(r))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		i := bytes.Index(b, []byte("\r\n\r\n"))
		if i < 0 {
			return
		}
		head := b[:i+4]
		if resp, ok := parseSimpleResponse(head, "GET"); ok {
			matchResponse(t, head, resp)
		}
	})
}
