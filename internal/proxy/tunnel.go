package proxy

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"waymark.dev/waymark/internal/netguard"
)

// tunnel is an open CONNECT tunnel, tracked so that shutdown and token
// revocation can close it.
type tunnel struct {
	tokenID  string
	upstream net.Conn
	client   io.Closer // the hijacked connection (HTTP/1.1), nil for HTTP/2
	once     sync.Once
	done     chan struct{} // closed by close()
	last     atomic.Int64  // when bytes last moved either way (Unix ns)
	// parker, when set, may hold the tunnel's quiet directions; parked
	// are their ids there (guarded by the parker's lock).
	parker *parker
	parked [2]uint64
}

func (t *tunnel) close() {
	t.once.Do(func() {
		close(t.done)
		t.upstream.Close()
		if t.client != nil {
			t.client.Close()
		}
		if t.parker != nil {
			t.parker.cancel(t)
		}
	})
}

func (s *Server) track(t *tunnel) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.tunnels[t] = struct{}{}
	s.Metrics.tunnels.Inc()
	return true
}

func (s *Server) untrack(t *tunnel) {
	s.mu.Lock()
	delete(s.tunnels, t)
	s.mu.Unlock()
	s.Metrics.tunnels.Dec()
	t.close()
}

// connect opens a tunnel to a vetted destination: over HTTP/1.1 by taking
// over the connection, over HTTP/2 as a full-duplex stream.
func (s *Server) connect(w http.ResponseWriter, r *http.Request, q *request, vt netguard.Target) {
	if !s.limiter.openTunnel(q.user) {
		q.decision, q.reason = "deny", ReasonTunnelLimit
		s.deny(w, r, q, http.StatusTooManyRequests, "Too many open tunnels for this user; close some first.")
		return
	}
	up, err := s.Dialer.DialTarget(r.Context(), vt)
	if err != nil {
		s.limiter.closeTunnel(q.user)
		q.decision, q.reason = "error", ReasonUpstream
		s.deny(w, r, q, http.StatusBadGateway, "The destination did not accept a connection.")
		return
	}
	t := &tunnel{tokenID: q.tokenID, upstream: up, done: make(chan struct{})}
	if r.ProtoMajor == 1 { // an HTTP/2 tunnel is a stream of its handler, which stays
		t.parker = s.parker
	}
	if !s.track(t) {
		up.Close()
		s.limiter.closeTunnel(q.user)
		q.decision, q.reason = "error", ReasonShuttingDown
		s.deny(w, r, q, http.StatusServiceUnavailable, "The proxy is shutting down.")
		return
	}
	finish := func() {
		s.untrack(t)
		s.limiter.closeTunnel(q.user)
	}
	rc := http.NewResponseController(w)
	if r.ProtoMajor == 1 {
		conn, client, ok := s.takeOver(w, q, t, http.StatusOK, []byte("HTTP/1.1 200 Connection established\r\n\r\n"), finish)
		if !ok {
			return
		}
		// The tunnel lives on in goroutines of its own and the handler
		// returns: the server's connection goroutine (a deep stack) ends,
		// and a quiet direction parks, so an idle tunnel holds its
		// sockets and TLS state but no goroutine.
		q.detached = true
		s.relay(q, t, deadlineReader{client, conn.SetReadDeadline}, socketOf(conn), conn, up, func() {
			s.audit(q)
			finish()
		})
		return
	}
	defer finish()
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	q.status = http.StatusOK
	var watcher sync.WaitGroup
	watcher.Go(func() { // end the stream's reads when the tunnel is closed from outside
		<-t.done
		rc.SetReadDeadline(time.Now())
	})
	relayed := make(chan struct{})
	s.relay(q, t, deadlineReader{r.Body, rc.SetReadDeadline}, nil, flushWriter{w, rc}, up, func() { close(relayed) })
	<-relayed      // the stream is the handler's: it returns only when the tunnel is over
	watcher.Wait() // relay closed the tunnel; the watcher is done before the stream ends
}

// takeOver hijacks an HTTP/1.1 connection for tunnel t: it writes head
// (the answer that opens the tunnel) and returns the connection and a
// reader of what the client sends, starting with any bytes it sent right
// behind its request, which the server had buffered (they are copied
// out, so the server's buffers let go). On failure it calls finish and
// returns false.
func (s *Server) takeOver(w http.ResponseWriter, q *request, t *tunnel, status int, head []byte, finish func()) (net.Conn, io.Reader, bool) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		finish()
		q.decision, q.reason = "error", ReasonHijack
		s.Log.Error("hijack", "err", err)
		return nil, nil, false
	}
	t.client = conn
	conn.SetDeadline(time.Time{})
	q.status = status
	if _, err := conn.Write(head); err != nil {
		finish()
		return nil, nil, false
	}
	var client io.Reader = conn
	if n := brw.Reader.Buffered(); n > 0 {
		early, _ := brw.Reader.Peek(n)
		client = io.MultiReader(bytes.NewReader(bytes.Clone(early)), conn)
	}
	return conn, client, true
}

// Directions of a tunnel (indexes of tunnel.parked).
const (
	toDestination = iota // the client's bytes
	toClient             // the destination's answer
)

// relay copies both ways until the destination finishes sending, the
// tunnel is closed, or nothing moves in either direction for the idle
// timeout; then it calls done, on one of its own goroutines. When the
// client finishes sending, the destination is told so (half-close) and
// its answer still flows back. clientSocket is the socket under client
// (nil when there is none): with it, and a parker on the tunnel, quiet
// directions park instead of holding a goroutine.
func (s *Server) relay(q *request, t *tunnel, client deadlineReader, clientSocket syscall.RawConn, clientW io.Writer, up net.Conn, done func()) {
	t.last.Store(time.Now().UnixNano())
	toDest := &pump{s: s, t: t, dir: toDestination, src: client, dst: up, socket: clientSocket}
	toCli := &pump{s: s, t: t, dir: toClient, src: deadlineReader{up, up.SetReadDeadline}, dst: clientW, socket: socketOf(up)}
	var pending atomic.Int32
	pending.Store(2)
	ended := func() {
		if pending.Add(-1) == 0 { // both pumps have stopped: their counts are final
			q.up, q.down = toDest.n, toCli.n
			done()
		}
	}
	toDest.end = func(err error) {
		if cw, ok := up.(interface{ CloseWrite() error }); ok && err == nil {
			cw.CloseWrite()
		} else {
			t.close()
		}
		ended()
	}
	toCli.end = func(error) {
		t.close()
		ended()
	}
	go toDest.run()
	go toCli.run()
}

// Copy buffers: a small one while a direction is quiet, a large pooled
// one while data streams.
const (
	smallBuf = 1 << 10
	largeBuf = 32 << 10
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, largeBuf); return &b }}

// pump copies one direction of a tunnel.
type pump struct {
	s      *Server
	t      *tunnel
	dir    int
	src    deadlineReader
	dst    io.Writer
	socket syscall.RawConn // what src reads from, for parking; nil: never parks
	n      int64           // bytes copied
	end    func(err error) // called once, when the copy stops (err nil: src ended cleanly)
}

// run copies until the source ends, the tunnel closes or idles out, or
// the direction parks (and later runs again on another goroutine). A
// read that waits longer than the idle timeout ends the copy only if the
// other direction was quiet too. It reads into a small buffer until a
// read fills it, then into a large pooled one until reads come back
// small again, so idle tunnels cost little memory and busy ones few
// system calls.
func (p *pump) run() {
	if p.expired(time.Now()) {
		p.end(os.ErrDeadlineExceeded)
		return
	}
	wait := p.s.IdleTimeout
	canPark := p.socket != nil && p.t.parker != nil
	if canPark {
		wait = min(wait, p.s.parkAfter)
	}
	small := make([]byte, smallBuf)
	buf := small
	var large *[]byte
	defer func() {
		if large != nil {
			bufPool.Put(large)
		}
	}()
	// The read deadline is moved on only when a quarter of the wait has
	// passed since it was set, not before every read: re-arming it was a
	// timer change per read, a tenth of a busy tunnel's relay. A quiet
	// direction so parks after three quarters of the wait to the whole.
	var armed time.Time
	now := time.Now()
	for {
		if until := now.Add(wait); until.Sub(armed) > wait/4 {
			p.src.setDeadline(until)
			armed = until
		}
		// Checked after setting the deadline: a close that comes later
		// closes the sockets and ends the read.
		select {
		case <-p.t.done:
			p.end(net.ErrClosed)
			return
		default:
		}
		n, err := p.src.Read(buf)
		now = time.Now()
		if n > 0 {
			p.t.last.Store(now.UnixNano())
			if _, werr := p.dst.Write(buf[:n]); werr != nil {
				p.end(werr)
				return
			}
			p.n += int64(n)
			switch {
			case large == nil && n == len(buf):
				large = bufPool.Get().(*[]byte)
				buf = *large
			case large != nil && n < smallBuf:
				bufPool.Put(large)
				large, buf = nil, small
			}
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				armed = time.Time{} // it has passed: set it again
				if p.expired(now) {
					p.end(err)
					return
				}
				// After a read timed out, nothing is left buffered above
				// the socket (a TLS record still incomplete waits for more
				// bytes), so the socket's readiness is the signal to go on.
				if canPark && p.t.parker.park(p) {
					return // p now belongs to the parker
				}
				continue
			}
			if errors.Is(err, io.EOF) {
				err = nil
			}
			p.end(err)
			return
		}
	}
}

// expired tells whether p's tunnel is closed or has been idle both ways
// for the idle timeout.
func (p *pump) expired(now time.Time) bool {
	select {
	case <-p.t.done:
		return true
	default:
	}
	return now.Sub(time.Unix(0, p.t.last.Load())) >= p.s.IdleTimeout
}

// socketOf returns the socket under c, through TLS; nil when c is not
// one.
func socketOf(c net.Conn) syscall.RawConn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

type deadlineReader struct {
	io.Reader
	set func(time.Time) error
}

func (d deadlineReader) setDeadline(t time.Time) {
	if d.set != nil {
		d.set(t)
	}
}

type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err != nil {
		return n, err
	}
	return n, f.rc.Flush()
}
