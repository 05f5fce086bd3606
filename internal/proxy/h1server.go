package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ConnServer serves the proxy on a listener. Forwarded plain-HTTP
// requests of the common shape (parseSimpleHead: HTTP/1.1, an absolute
// http:// URL, one Host field, no Transfer-Encoding, Expect or Upgrade,
// one plain Content-Length at most, strict CRLF lines) are read and
// answered by its own loop, which spends no goroutine hand-off, background
// read or timer per request. A connection that sends anything else
// (CONNECT, a protocol upgrade, chunked uploads, HTTP/1.0, HTTP/2 over TLS,
// a malformed or unusual head) is handed whole, with the bytes already
// read, to Fallback, a net/http server, which then serves it to its end:
// net/http's hardened parser decides everything unusual.
type ConnServer struct {
	Handler http.Handler
	// Fallback serves handed-over connections with the same Handler; its
	// ReadHeaderTimeout and IdleTimeout apply to the loop too.
	Fallback *http.Server
	Log      *slog.Logger

	startOnce sync.Once
	handed    *handoffListener
	fallback  chan error

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*h1Conn]struct{}
	shutting  atomic.Bool
}

// h1Conn is a connection in the loop; idle while it waits for a request.
type h1Conn struct {
	c    net.Conn
	idle atomic.Bool
}

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4096) }}
)

func (cs *ConnServer) start(addr net.Addr) {
	cs.startOnce.Do(func() {
		if cs.Log == nil {
			cs.Log = slog.New(slog.DiscardHandler)
		}
		cs.handed = &handoffListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
		cs.fallback = make(chan error, 1)
		cs.listeners = map[net.Listener]struct{}{}
		cs.conns = map[*h1Conn]struct{}{}
		go func() { cs.fallback <- cs.Fallback.Serve(cs.handed) }()
	})
}

// Serve accepts connections on ln until Shutdown or Close, and returns
// http.ErrServerClosed then. Connections from a tls.NewListener are
// handshaken first; those that agree on HTTP/2 go to Fallback.
func (cs *ConnServer) Serve(ln net.Listener) error {
	cs.start(ln.Addr())
	cs.mu.Lock()
	if cs.shutting.Load() {
		cs.mu.Unlock()
		ln.Close()
		return http.ErrServerClosed
	}
	cs.listeners[ln] = struct{}{}
	cs.mu.Unlock()
	defer func() {
		cs.mu.Lock()
		delete(cs.listeners, ln)
		cs.mu.Unlock()
	}()
	var wait time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if cs.shutting.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of descriptors or a transient failure: wait, as net/http does.
				wait = min(max(2*wait, 5*time.Millisecond), time.Second)
				cs.Log.Error("proxy accept", "err", err, "retry_in", wait)
				time.Sleep(wait)
				continue
			}
			return err
		}
		wait = 0
		hc := &h1Conn{c: c}
		cs.mu.Lock()
		if cs.shutting.Load() {
			cs.mu.Unlock()
			c.Close()
			return http.ErrServerClosed
		}
		cs.conns[hc] = struct{}{}
		cs.mu.Unlock()
		go cs.serveConn(hc)
	}
}

// Shutdown stops accepting, closes idle connections, lets exchanges in
// progress finish until ctx ends, and shuts Fallback down alike.
func (cs *ConnServer) Shutdown(ctx context.Context) error {
	cs.stopAccepting()
	errc := make(chan error, 1)
	go func() { errc <- cs.Fallback.Shutdown(ctx) }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		cs.mu.Lock()
		left := len(cs.conns)
		for hc := range cs.conns {
			if hc.idle.Load() {
				hc.c.Close()
			}
		}
		cs.mu.Unlock()
		if left == 0 {
			return <-errc
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Close closes the listeners and every connection at once.
func (cs *ConnServer) Close() error {
	cs.stopAccepting()
	cs.mu.Lock()
	for hc := range cs.conns {
		hc.c.Close()
	}
	cs.mu.Unlock()
	return cs.Fallback.Close()
}

func (cs *ConnServer) stopAccepting() {
	cs.start(nil)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.shutting.Store(true)
	for ln := range cs.listeners {
		ln.Close()
	}
}

// serveConn runs one connection's exchanges until it ends or is handed
// to Fallback.
func (cs *ConnServer) serveConn(hc *h1Conn) {
	c := hc.c
	handed := false
	defer func() {
		if v := recover(); v != nil && v != http.ErrAbortHandler {
			buf := make([]byte, 16<<10)
			buf = buf[:runtime.Stack(buf, false)]
			cs.Log.Error("proxy handler panic", "panic", fmt.Sprint(v), "stack", string(buf))
		}
		if !handed {
			c.Close()
		}
		cs.mu.Lock()
		delete(cs.conns, hc)
		cs.mu.Unlock()
	}()
	headerTimeout, idleTimeout := cs.Fallback.ReadHeaderTimeout, cs.Fallback.IdleTimeout
	if headerTimeout <= 0 {
		headerTimeout = 10 * time.Second
	}
	if idleTimeout <= 0 {
		idleTimeout = 2 * time.Minute
	}
	if tc, ok := c.(*tls.Conn); ok {
		c.SetDeadline(time.Now().Add(headerTimeout))
		if err := tc.Handshake(); err != nil {
			return
		}
		c.SetDeadline(time.Time{})
		if tc.ConnectionState().NegotiatedProtocol == "h2" {
			handed = cs.handoff(c, nil)
			return
		}
	}
	br := readerPool.Get().(*bufio.Reader)
	bw := writerPool.Get().(*bufio.Writer)
	br.Reset(c)
	bw.Reset(c)
	defer func() {
		br.Reset(nil)
		bw.Reset(nil)
		readerPool.Put(br)
		writerPool.Put(bw)
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base := (&http.Request{RemoteAddr: c.RemoteAddr().String()}).WithContext(ctx)
	if tc, ok := c.(*tls.Conn); ok {
		st := tc.ConnectionState()
		base.TLS = &st
	}
	w := &h1Writer{}
	fields := make(http.Header, 8)
	// The first request's head must arrive within the header timeout, as
	// in net/http; later ones may wait the idle timeout for their first
	// byte.
	deadline := time.Now().Add(headerTimeout)
	c.SetReadDeadline(deadline)
	lastPost := false
	for first := true; ; first = false {
		// Between requests net/http waits for 4 bytes and ends quietly
		// without them; so does the loop, so that the two answer alike.
		need := 4
		if first {
			need = 1
		}
		if n := br.Buffered(); n < need {
			idle := n == 0
			hc.idle.Store(idle)
			if idle && cs.shutting.Load() {
				return
			}
			now := time.Now()
			if want := now.Add(idleTimeout); !first && (want.Sub(deadline) > time.Second || !now.Before(deadline)) {
				c.SetReadDeadline(want)
				deadline = want
			}
			_, err := br.Peek(need)
			hc.idle.Store(false)
			if err != nil {
				return
			}
		}
		if lastPost {
			// CR and LF some old clients send after a POST body are
			// skipped, as net/http does (RFC 9112 section 2.2).
			peek, _ := br.Peek(4)
			skip := 0
			for skip < len(peek) && (peek[skip] == '\r' || peek[skip] == '\n') {
				skip++
			}
			br.Discard(skip)
		}
		head, err := readHead(br, func() {
			// Part of a head came: the rest within the header timeout
			// (sooner if the deadline in force is sooner and still ahead).
			now := time.Now()
			if d := now.Add(headerTimeout); deadline.IsZero() || d.Before(deadline) || !now.Before(deadline) {
				deadline = d
				c.SetReadDeadline(deadline)
			}
		})
		if errors.Is(err, io.EOF) && br.Buffered() > 0 {
			// Part of a head, then the end: net/http answers that (400).
			handed = cs.handoff(c, br)
			return
		}
		if err != nil && !errors.Is(err, errHeadTooLong) {
			return
		}
		var sr simpleRequest
		simple := false
		if err == nil {
			// The header map is the connection's, cleared for each
			// request: a handler does not keep a request past its return.
			clear(fields)
			sr, simple = parseSimpleHeadInto(head, fields)
		}
		if !simple {
			c.SetReadDeadline(time.Time{})
			handed = cs.handoff(c, br)
			return
		}
		br.Discard(len(head))
		r := new(http.Request)
		*r = *base
		r.Method, r.URL, r.RequestURI = sr.method, sr.url, sr.target
		r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
		r.Header, r.Host, r.Close = sr.header, sr.url.Host, sr.close
		r.ContentLength = sr.contentLength
		r.Body = http.NoBody
		var body *h1Body
		if sr.contentLength > 0 {
			// Uploads have no deadline but the idle timeout between
			// exchanges, as in net/http without a ReadTimeout.
			c.SetReadDeadline(time.Time{})
			deadline = time.Time{}
			body = &h1Body{r: io.LimitedReader{R: br, N: sr.contentLength}}
			r.Body = body
		}
		lastPost = r.Method == http.MethodPost
		w.reset(bw, r.Method == http.MethodHead, sr.closeAfter)
		w.reqBody = body
		cs.Handler.ServeHTTP(w, r)
		keep := w.finish()
		if body != nil && body.r.N > 0 {
			keep = false // settleBody left it: the rest must not be read as a request
		}
		// Each answer is sent when it is complete, as net/http does: one
		// write per exchange, and a later handler's failure cannot hold
		// back an earlier answer.
		if bw.Flush() != nil {
			return
		}
		if !keep {
			if tcp, ok := c.(interface{ CloseWrite() error }); ok {
				tcp.CloseWrite() // the client reads the whole answer before the reset
			}
			return
		}
	}
}

var errHeadTooLong = errors.New("proxy: head longer than the buffer")

// readHead returns the head at the front of br (up to and with its empty
// line) without consuming it, reading more while it is incomplete; one
// that does not fit br's buffer is errHeadTooLong. Before it first waits
// for more, it calls slow (when set).
func readHead(br *bufio.Reader, slow func()) ([]byte, error) {
	from := 0
	waited := false
	for {
		n := br.Buffered()
		buf, _ := br.Peek(n)
		if i := bytes.Index(buf[from:], []byte("\r\n\r\n")); i >= 0 {
			return buf[:from+i+4], nil
		}
		if n >= br.Size() {
			return nil, errHeadTooLong
		}
		from = max(0, n-3)
		if !waited && slow != nil {
			slow()
			waited = true
		}
		if _, err := br.Peek(n + 1); err != nil {
			return nil, err
		}
	}
}

// h1Body is a request body of known length read from the connection.
// sawEOF is set once a read reached its end or the connection's (the
// latter is an io.ErrUnexpectedEOF to the reader), as net/http's body.
type h1Body struct {
	r      io.LimitedReader
	closed bool
	sawEOF bool
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if b.sawEOF {
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.sawEOF = true
		if b.r.N > 0 {
			err = io.ErrUnexpectedEOF
		}
	}
	return n, err
}

func (b *h1Body) Close() error {
	b.closed = true
	return nil
}

// handoff gives c to Fallback, with what br holds still unread in front
// of it. It reports false (and c is closed) when Fallback has stopped.
func (cs *ConnServer) handoff(c net.Conn, br *bufio.Reader) bool {
	given := c // nothing read yet: net/http sees the connection itself (a *tls.Conn speaking h2)
	if br != nil {
		hc := &handedConn{Conn: c}
		if br.Buffered() > 0 {
			rest, _ := br.Peek(br.Buffered())
			hc.rest = bytes.Clone(rest)
		}
		given = hc
	}
	if !cs.handed.give(given) {
		c.Close()
		return false
	}
	return true
}

// handedConn is a connection handed to Fallback: bytes the loop had read
// come first.
type handedConn struct {
	net.Conn
	rest []byte
}

func (h *handedConn) Read(p []byte) (int, error) {
	if len(h.rest) > 0 {
		n := copy(p, h.rest)
		h.rest = h.rest[n:]
		return n, nil
	}
	return h.Conn.Read(p)
}

// CloseWrite half-closes the connection when it can.
func (h *handedConn) CloseWrite() error {
	if cw, ok := h.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// SyscallConn reaches the socket (for parking a quiet tunnel) once no
// bytes are left in front of it.
func (h *handedConn) SyscallConn() (syscall.RawConn, error) {
	if len(h.rest) > 0 {
		return nil, errors.New("proxy: bytes still buffered above the socket")
	}
	c := h.Conn
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}

// handoffListener feeds handed-over connections to Fallback.Serve.
type handoffListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) give(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addr }
