package admin

import (
	"sync"
	"time"
)

// Throttle slows down password guessing: after a few failures from one
// client (or many overall) each further attempt must wait, doubling up to
// a limit. A success from a client clears its count.
type Throttle struct {
	Now func() time.Time

	mu      sync.Mutex
	clients map[string]*attempts
	global  attempts
}

type attempts struct {
	failures int
	until    time.Time
}

// Limits of the throttle.
const (
	freeFailures       = 5                // per client before waiting starts
	globalFreeFailures = 50               // all clients together
	maxWait            = 15 * time.Minute // the longest wait
	forgetAfter        = time.Hour        // a quiet client is forgotten
)

// Allow reports whether key (a client address) may try now, and if not,
// how long it must wait.
func (t *Throttle) Allow(key string) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.Now()
	if now.Before(t.global.until) {
		return false, t.global.until.Sub(now)
	}
	if a := t.clients[key]; a != nil && now.Before(a.until) {
		return false, a.until.Sub(now)
	}
	return true, 0
}

// Fail records a failed attempt by key.
func (t *Throttle) Fail(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.Now()
	if t.clients == nil {
		t.clients = map[string]*attempts{}
	}
	for k, a := range t.clients {
		if now.Sub(a.until) > forgetAfter {
			delete(t.clients, k)
		}
	}
	a := t.clients[key]
	if a == nil {
		a = &attempts{}
		t.clients[key] = a
	}
	a.failures++
	a.until = now.Add(backoff(a.failures - freeFailures + 1))
	t.global.failures++
	t.global.until = now.Add(backoff(t.global.failures - globalFreeFailures + 1))
}

// Succeed clears key's failures.
func (t *Throttle) Succeed(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.clients, key)
	t.global = attempts{}
}

// backoff is 0 for n <= 0, then 1 s, 2 s, 4 s ... up to maxWait.
func backoff(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	if n > 20 {
		return maxWait
	}
	return min(time.Second<<(n-1), maxWait)
}
