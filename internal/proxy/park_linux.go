package proxy

import (
	"errors"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// parker holds the quiet directions of tunnels without a goroutine each.
// A direction whose read found nothing for a while registers its socket
// with an epoll set of the parker's own and returns; one goroutine waits
// on that set and starts the direction again when its socket becomes
// readable, its tunnel is closed, or the tunnel has been idle for the
// idle timeout. An idle tunnel then holds its sockets, its TLS state and
// a few small structs, but no goroutine stack and no copy buffer.
//
// The waiting goroutine and the epoll descriptor exist only while some
// direction is parked.
type parker struct {
	idle  time.Duration // the tunnels' idle timeout
	gauge prometheus.Gauge

	mu      sync.Mutex
	epfd    int    // -1 while nothing is parked
	gen     uint64 // counts the sets made, so a waiter knows its own
	next    uint64
	waiting map[uint64]*pump
}

// newParker makes a parker for tunnels with the given idle timeout; gauge
// counts the parked directions.
func newParker(idle time.Duration, gauge prometheus.Gauge) *parker {
	return &parker{idle: idle, gauge: gauge, epfd: -1, waiting: map[uint64]*pump{}}
}

// park registers p's socket and takes p off its goroutine: it reports
// false when p must go on reading itself (its tunnel is closing, or the
// socket could not be registered).
func (k *parker) park(p *pump) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	select {
	case <-p.t.done:
		return false
	default:
	}
	if k.epfd < 0 {
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			return false
		}
		k.epfd = fd
		k.gen++
		go k.wait(fd, k.gen)
	}
	k.next++
	id := k.next
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
	var cerr error
	err := p.socket.Control(func(fd uintptr) {
		// A one-shot registration stays in the set, disarmed, after it
		// fired: re-arm it, or add it the first time (or after the set
		// was closed and made anew).
		cerr = syscall.EpollCtl(k.epfd, syscall.EPOLL_CTL_MOD, int(fd), &ev)
		if errors.Is(cerr, syscall.ENOENT) {
			cerr = syscall.EpollCtl(k.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
		}
	})
	if err != nil || cerr != nil {
		if len(k.waiting) == 0 {
			k.closeSet()
		}
		return false
	}
	p.t.parked[p.dir] = id
	k.waiting[id] = p
	k.gauge.Inc()
	return true
}

// cancel starts again the parked directions of t, which is closing.
func (k *parker) cancel(t *tunnel) {
	k.mu.Lock()
	var wake []*pump
	for _, id := range t.parked {
		if p := k.take(id); p != nil {
			wake = append(wake, p)
		}
	}
	k.mu.Unlock()
	for _, p := range wake {
		go p.run()
	}
}

// take removes a parked direction; k.mu is held.
func (k *parker) take(id uint64) *pump {
	p := k.waiting[id]
	if p == nil {
		return nil
	}
	delete(k.waiting, id)
	p.t.parked[p.dir] = 0
	k.gauge.Dec()
	return p
}

// closeSet closes the epoll set; its waiting goroutine then ends. k.mu is
// held.
func (k *parker) closeSet() {
	syscall.Close(k.epfd)
	k.epfd = -1
}

// parked is the number of directions waiting.
func (k *parker) parked() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.waiting)
}

// wait runs while epfd (generation gen) is the parker's set: it starts
// the directions whose sockets became readable and, a few times per idle
// timeout, those whose tunnel has been idle for the timeout. When nothing
// is left parked it closes the set and returns.
func (k *parker) wait(epfd int, gen uint64) {
	sweepEvery := min(max(k.idle/4, 10*time.Millisecond), time.Second)
	events := make([]syscall.EpollEvent, 256)
	lastSweep := time.Now()
	var wake []*pump
	for {
		n, err := syscall.EpollWait(epfd, events, int(sweepEvery/time.Millisecond))
		k.mu.Lock()
		if k.gen != gen || k.epfd < 0 { // closed while nothing was parked
			k.mu.Unlock()
			return
		}
		if err != nil && !errors.Is(err, syscall.EINTR) {
			// The set is unusable: hand every direction back to a
			// goroutine of its own (they read blocking, as unparked).
			for id := range k.waiting {
				wake = append(wake, k.take(id))
			}
		}
		for _, ev := range events[:max(n, 0)] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if p := k.take(id); p != nil {
				wake = append(wake, p)
			}
		}
		if now := time.Now(); now.Sub(lastSweep) >= sweepEvery {
			lastSweep = now
			for id, p := range k.waiting {
				if p.expired(now) {
					wake = append(wake, k.take(id))
				}
			}
		}
		last := len(k.waiting) == 0
		if last {
			k.closeSet()
		}
		k.mu.Unlock()
		for _, p := range wake {
			go p.run()
		}
		wake = wake[:0]
		if last {
			return
		}
	}
}
