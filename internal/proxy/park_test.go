//go:build linux

package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// parkQuickly makes tunnel directions park after 20 ms without bytes.
func parkQuickly(s *Server) { s.parkAfter = 20 * time.Millisecond }

// gauge reads a gauge's value, as a scrape would.
func gauge(g prometheus.Gauge) float64 {
	reg := prometheus.NewRegistry()
	reg.MustRegister(g)
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 {
		return -1
	}
	return mfs[0].GetMetric()[0].GetGauge().GetValue()
}

// waitParked waits until n tunnel directions are parked.
func (e *env) waitParked(n int) {
	e.t.Helper()
	for deadline := time.Now().Add(5 * time.Second); e.srv.parker.parked() != n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			e.t.Fatalf("%d directions parked, want %d", e.srv.parker.parked(), n)
		}
	}
}

// waitAllEnded waits until no tunnel is tracked, nothing is parked, and
// the parker has closed its epoll set (its waiting goroutine then ends).
func (e *env) waitAllEnded() {
	e.t.Helper()
	for deadline := time.Now().Add(5 * time.Second); e.srv.Tunnels() != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			e.t.Fatalf("%d tunnels still tracked", e.srv.Tunnels())
		}
	}
	e.waitParked(0)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		e.srv.parker.mu.Lock()
		closed := e.srv.parker.epfd < 0
		e.srv.parker.mu.Unlock()
		if closed {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatal("the parker's epoll set is still open with nothing parked")
		}
	}
}

// roundTrip sends a GET for path through an open tunnel and checks the
// origin's answer.
func roundTrip(c io.Writer, br *bufio.Reader, path string) error {
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: origin\r\n\r\n", path)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "hello from origin: GET " + path; !strings.Contains(string(body), want) {
		return fmt.Errorf("GET %s: body %q", path, body)
	}
	return nil
}

// TestParkedTunnelWakes: both directions of a quiet tunnel park (no
// goroutine), traffic wakes them as often as it comes, and when the
// tunnel ends nothing stays parked and the parker lets its set go.
func TestParkedTunnelWakes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, parkQuickly)
	c, br := e.openTunnel(e.secret)
	for i := range 5 {
		e.waitParked(2)
		if err := roundTrip(c, br, fmt.Sprintf("/after-park-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	e.waitParked(2)
	if g := gauge(e.srv.Metrics.parked); g != 2 {
		t.Errorf("parked directions gauge %v, want 2", g)
	}
	c.Close()
	e.waitAllEnded()
	if g := gauge(e.srv.Metrics.parked); g != 0 {
		t.Errorf("parked directions gauge %v after the tunnel ended, want 0", g)
	}
}

// TestParkedTunnelEarlyBytes: bytes sent in the same packet as the
// CONNECT (buffered by the server before the tunnel exists) reach the
// destination, and the tunnel parks and wakes after them.
func TestParkedTunnelEarlyBytes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, parkQuickly)
	c, err := tls.Dial("tcp", e.http.Listener.Addr().String(), &tls.Config{RootCAs: e.pool, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: x\r\nProxy-Authorization: %s\r\n\r\nGET /early HTTP/1.1\r\nHost: origin\r\n\r\n", e.originPort(), basic(e.secret))
	br := bufio.NewReader(c)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "GET /early") {
		t.Fatalf("early request: %q", body)
	}
	e.waitParked(2)
	if err := roundTrip(c, br, "/later"); err != nil {
		t.Fatal(err)
	}
}

// TestParkedTunnelEnds: a parked tunnel still ends on each of the ways a
// tunnel ends: idle timeout, revocation of its token, and shutdown.
func TestParkedTunnelEnds(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		tune func(*Server)
		end  func(*env)
	}{
		{"idle timeout", func(s *Server) { parkQuickly(s); s.IdleTimeout = 300 * time.Millisecond }, func(*env) {}},
		{"revocation", parkQuickly, func(e *env) {
			if err := e.auth.Revoke(context.Background(), e.tokenID); err != nil {
				e.t.Fatal(err)
			}
		}},
		{"shutdown", parkQuickly, func(e *env) {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			e.srv.Shutdown(ctx)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.tune)
			c, br := e.openTunnel(e.secret)
			e.waitParked(2)
			tc.end(e)
			waitClosed(t, c, br, 5*time.Second)
			e.waitAllEnded()
		})
	}
}

// TestParkingUnderLoad: many tunnels whose pauses straddle the park
// delay, so directions park and wake while others run; every answer
// arrives whole. Run with -race.
func TestParkingUnderLoad(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *Server) { s.parkAfter = 2 * time.Millisecond })
	var wg sync.WaitGroup
	for i := range 16 {
		c, br := e.openTunnel(e.secret)
		wg.Go(func() {
			for j := range 30 {
				if err := roundTrip(c, br, fmt.Sprintf("/t%d/r%d", i, j)); err != nil {
					t.Error(err)
					break
				}
				time.Sleep(time.Duration(j%5) * time.Millisecond)
			}
			c.Close()
		})
	}
	wg.Wait()
	e.waitAllEnded()
}
