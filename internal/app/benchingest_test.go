package app

import (
	"bufio"
	"net/url"
	"strings"
	"testing"
)

func TestReadResponse(t *testing.T) {
	t.Parallel()
	br := bufio.NewReader(strings.NewReader("HTTP/1.1 202 Accepted\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok" +
		"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\ncontent-length: 0\r\n\r\n"))
	for _, want := range []int{202, 503} {
		code, err := readResponse(br)
		if err != nil || code != want {
			t.Fatalf("readResponse = %d, %v; want %d", code, err, want)
		}
	}
	if _, err := readResponse(br); err == nil {
		t.Error("read past the end")
	}
}

func TestBenchRequests(t *testing.T) {
	t.Parallel()
	u, _ := url.Parse("http://127.0.0.1:8080/api/event")
	for _, r := range benchRequests(u, "shop.example", 8) {
		s := string(r)
		head, body, _ := strings.Cut(s, "\r\n\r\n")
		if !strings.HasPrefix(s, "POST /api/event HTTP/1.1\r\n") || !strings.Contains(head, "Host: 127.0.0.1:8080") || !strings.Contains(body, `"d":"shop.example"`) {
			t.Errorf("bad request:\n%s", s)
		}
	}
}
