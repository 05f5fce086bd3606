package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// upgradeEnv is a proxy in front of an origin that switches any request
// with "Upgrade: websocket" to a raw echo stream.
func upgradeEnv(t *testing.T, tune func(*Server)) (*env, int) {
	e := newEnv(t, tune)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			io.WriteString(w, "no upgrade asked for")
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSignature: forged\r\n\r\nhello\n")
		io.Copy(c, brw)
	}))
	t.Cleanup(origin.Close)
	port := origin.Listener.Addr().(*net.TCPAddr).Port
	e.srv.Dialer.Policy.Ports = append(e.srv.Dialer.Policy.Ports, uint16(port))
	return e, port
}

// openUpgrade sends a WebSocket-style handshake through the proxy on a
// raw TLS connection (as a WebSocket client does over an HTTPS proxy
// without CONNECT) and returns the connection and the proxy's answer.
func (e *env) openUpgrade(port int) (net.Conn, *bufio.Reader, *http.Response) {
	e.t.Helper()
	c, err := tls.Dial("tcp", e.http.Listener.Addr().String(), &tls.Config{RootCAs: e.pool, NextProtos: []string{"http/1.1"}})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET http://127.0.0.1:%d/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nProxy-Authorization: %s\r\n\r\n", port, basic(e.secret))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return c, br, resp
}

// echoes checks that the upgraded stream is open: the origin's greeting
// (once), then a line echoed back.
func echoes(t *testing.T, c net.Conn, br *bufio.Reader, greet bool) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if greet {
		if l, err := br.ReadString('\n'); l != "hello\n" {
			t.Fatalf("greeting %q %v", l, err)
		}
	}
	io.WriteString(c, "ping\n")
	if l, err := br.ReadString('\n'); l != "ping\n" {
		t.Fatalf("echo %q %v", l, err)
	}
	c.SetReadDeadline(time.Time{})
}

// TestUpgradeIsATunnel is the probe's second finding: an upgraded
// plain-HTTP exchange became a raw stream outside the tunnel rules. It
// now counts against the tunnel limit, closes on revocation, shutdown
// and idleness, and is audited with its bytes when it ends.
func TestUpgradeIsATunnel(t *testing.T) {
	t.Parallel()
	t.Run("limit", func(t *testing.T) {
		t.Parallel()
		e, port := upgradeEnv(t, func(s *Server) { s.Limits = Limits{Tunnels: 2} })
		for range 2 {
			c, br, resp := e.openUpgrade(port)
			if resp.StatusCode != 101 || resp.Header.Get("Signature") != "" {
				t.Fatalf("upgrade: %d %v", resp.StatusCode, resp.Header)
			}
			echoes(t, c, br, true)
		}
		if _, _, resp := e.openUpgrade(port); resp.StatusCode != 429 || resp.Header.Get("Waymark-Decision") != "deny; reason=tunnel_limit" {
			t.Errorf("third upgrade: %d %q", resp.StatusCode, resp.Header.Get("Waymark-Decision"))
		}
		resp := e.raw(fmt.Sprintf("CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: x\r\nProxy-Authorization: %s\r\n\r\n", e.originPort(), basic(e.secret)))
		if resp.StatusCode != 429 {
			t.Errorf("CONNECT beside two upgrades: %d", resp.StatusCode)
		}
		if n := e.srv.Tunnels(); n != 2 {
			t.Errorf("%d tunnels tracked, want 2", n)
		}
	})
	t.Run("revocation", func(t *testing.T) {
		t.Parallel()
		e, port := upgradeEnv(t, nil)
		c, br, resp := e.openUpgrade(port)
		if resp.StatusCode != 101 {
			t.Fatalf("upgrade: %d", resp.StatusCode)
		}
		echoes(t, c, br, true)
		if err := e.auth.Revoke(context.Background(), e.tokenID); err != nil {
			t.Fatal(err)
		}
		waitClosed(t, c, br, 5*time.Second)
	})
	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		e, port := upgradeEnv(t, func(s *Server) { s.IdleTimeout = 300 * time.Millisecond })
		c, br, _ := e.openUpgrade(port)
		echoes(t, c, br, true)
		for range 3 { // traffic keeps it open past the timeout ...
			time.Sleep(150 * time.Millisecond)
			echoes(t, c, br, false)
		}
		waitClosed(t, c, br, 5*time.Second) // ... silence closes it
	})
	t.Run("shutdown and audit", func(t *testing.T) {
		t.Parallel()
		var audit lockedBuffer
		e, port := upgradeEnv(t, func(s *Server) { s.Audit = slog.New(slog.NewJSONHandler(&audit, nil)) })
		c, br, _ := e.openUpgrade(port)
		echoes(t, c, br, true)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		e.srv.Shutdown(ctx)
		waitClosed(t, c, br, 5*time.Second)
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(audit.String(), `"status":101`) {
			if time.Now().After(deadline) {
				t.Fatalf("no audit line for the upgraded stream:\n%s", audit.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		var rec struct {
			Decision string  `json:"decision"`
			Up       int64   `json:"bytes_up"`
			Down     int64   `json:"bytes_down"`
			Duration float64 `json:"duration_ms"`
		}
		json.Unmarshal([]byte(strings.TrimSpace(audit.String())), &rec)
		// up: "ping\n"; down: "hello\n" and the echo.
		if rec.Decision != "allow" || rec.Up != 5 || rec.Down != 11 || rec.Duration <= 0 {
			t.Errorf("audit %+v from %s", rec, audit.String())
		}
	})
	t.Run("origin declines", func(t *testing.T) {
		t.Parallel()
		e, port := upgradeEnv(t, func(s *Server) { s.Limits = Limits{Tunnels: 1} })
		c := e.client(e.secret)
		for range 2 { // an answer without a switch gives the tunnel's place back
			req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/", port), nil)
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "h2c")
			resp, body := fetch(t, c, req)
			if resp.StatusCode != 200 || body != "no upgrade asked for" {
				t.Fatalf("declined upgrade: %d %q", resp.StatusCode, body)
			}
		}
	})
}
