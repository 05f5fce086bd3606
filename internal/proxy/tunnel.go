package proxy

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
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
}

func (t *tunnel) close() {
	t.once.Do(func() {
		close(t.done)
		t.upstream.Close()
		if t.client != nil {
			t.client.Close()
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
		q.decision, q.reason = "deny", "tunnel_limit"
		s.deny(w, r, q, http.StatusTooManyRequests, "Too many open tunnels for this user; close some first.")
		return
	}
	up, err := s.Dialer.DialTarget(r.Context(), vt)
	if err != nil {
		s.limiter.closeTunnel(q.user)
		q.decision, q.reason = "error", "upstream"
		s.deny(w, r, q, http.StatusBadGateway, "The destination did not accept a connection.")
		return
	}
	t := &tunnel{tokenID: q.tokenID, upstream: up, done: make(chan struct{})}
	if !s.track(t) {
		up.Close()
		s.limiter.closeTunnel(q.user)
		q.decision, q.reason = "error", "shutting_down"
		s.deny(w, r, q, http.StatusServiceUnavailable, "The proxy is shutting down.")
		return
	}
	finish := func() {
		s.untrack(t)
		s.limiter.closeTunnel(q.user)
	}
	rc := http.NewResponseController(w)
	if r.ProtoMajor == 1 {
		conn, brw, err := rc.Hijack()
		if err != nil {
			finish()
			q.decision, q.reason = "error", "hijack"
			s.Log.Error("hijack", "err", err)
			return
		}
		t.client = conn
		conn.SetDeadline(time.Time{})
		q.status = http.StatusOK
		if _, err := io.WriteString(conn, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
			finish()
			return
		}
		// Bytes the client sent after its CONNECT may already be buffered;
		// otherwise the server's buffers are let go.
		var client io.Reader = conn
		if brw.Reader.Buffered() > 0 {
			client = brw.Reader
		}
		// The tunnel lives on in goroutines of its own and the handler
		// returns: the server's connection goroutine (a deep stack) ends,
		// so an idle tunnel holds two shallow goroutines and the sockets.
		q.detached = true
		go func() {
			s.relay(q, t, deadlineReader{client, conn.SetReadDeadline}, conn, up)
			s.audit(q)
			finish()
		}()
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
	s.relay(q, t, deadlineReader{r.Body, rc.SetReadDeadline}, flushWriter{w, rc}, up)
	watcher.Wait() // relay closed the tunnel; the watcher is done before the stream ends
}

// relay copies both ways until the destination finishes sending, the
// tunnel is closed, or nothing moves in either direction for the idle
// timeout. When the client finishes sending, the destination is told so
// (half-close) and its answer still flows back.
func (s *Server) relay(q *request, t *tunnel, client deadlineReader, clientW io.Writer, up net.Conn) {
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	var upBytes atomic.Int64
	upDone := make(chan struct{})
	go func() {
		defer close(upDone)
		n, err := s.copyIdle(up, client, &last, t.done)
		upBytes.Store(n)
		if err == nil {
			if cw, ok := up.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
				return
			}
		}
		t.close()
	}()
	down, _ := s.copyIdle(clientW, deadlineReader{up, up.SetReadDeadline}, &last, t.done)
	t.close()
	<-upDone
	q.up, q.down = upBytes.Load(), down
}

// Copy buffers: a small one while a direction is quiet (an idle tunnel
// holds two of them), a large pooled one while data streams.
const (
	smallBuf = 1 << 10
	largeBuf = 32 << 10
)

var bufPool = sync.Pool{New: func() any { b := make([]byte, largeBuf); return &b }}

// copyIdle copies src to dst; a read that waits longer than the idle
// timeout ends the copy only if the other direction was quiet too. It
// reads into a small buffer until a read fills it, then into a large
// pooled one until reads come back small again, so idle tunnels cost
// little memory and busy ones few system calls.
func (s *Server) copyIdle(dst io.Writer, src deadlineReader, last *atomic.Int64, done <-chan struct{}) (int64, error) {
	var small [smallBuf]byte
	buf := small[:]
	var large *[]byte
	defer func() {
		if large != nil {
			bufPool.Put(large)
		}
	}()
	var total int64
	for {
		src.setDeadline(time.Now().Add(s.IdleTimeout))
		// Checked after setting the deadline: a close that comes later
		// moves the deadline to now and ends the read.
		select {
		case <-done:
			return total, net.ErrClosed
		default:
		}
		n, err := src.Read(buf)
		if n > 0 {
			last.Store(time.Now().UnixNano())
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return total, werr
			}
			total += int64(n)
			switch {
			case large == nil && n == len(buf):
				large = bufPool.Get().(*[]byte)
				buf = *large
			case large != nil && n < smallBuf:
				bufPool.Put(large)
				large, buf = nil, small[:]
			}
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && time.Since(time.Unix(0, last.Load())) < s.IdleTimeout {
				select {
				case <-done:
					return total, err
				default:
					continue
				}
			}
			if errors.Is(err, io.EOF) {
				return total, nil
			}
			return total, err
		}
	}
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
