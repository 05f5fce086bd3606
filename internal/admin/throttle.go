package admin

import (
	"sync"
	"time"
)

// Throttle slows down password guessing without letting anyone lock the
// owner out.
//
// Each client (address) gets a few free attempts, then must wait before
// each further one, doubling up to a limit. An attempt is counted when it
// begins, before the password is checked, so a burst of concurrent
// guesses cannot all slip through while the first ones are still being
// hashed. A success clears the client's count.
//
// Failures from all clients together never refuse anyone: a global lock
// would let a guesser lock the owner out by failing on purpose. Instead,
// while many failures arrive (a distributed guesser), a client gets a
// single free attempt before its waits begin, so every address the
// guesser controls is slowed at once, while an address that has not
// failed recently (the owner's) always gets its attempt. The cost of
// the guesses that do go through is bounded by the Auth's limit on
// concurrent password checks.
type Throttle struct {
	Now func() time.Time

	mu      sync.Mutex
	clients map[string]*attempts
	sweepAt int // sweep forgotten clients when the map grows past this
	window  [pressureWindow]minuteCount
}

type attempts struct {
	failures int // attempts begun and not cleared by a success
	until    time.Time
}

type minuteCount struct {
	minute int64
	n      int
}

// Limits of the throttle.
const (
	freeFailures = 5                // per client before waiting starts
	maxWait      = 15 * time.Minute // the longest wait
	forgetAfter  = time.Hour        // a quiet client is forgotten
	// pressureFailures failed logins from all clients within
	// pressureWindow minutes put the throttle under pressure: one free
	// attempt per client instead of freeFailures.
	pressureFailures = 50
	pressureWindow   = 15
)

// Begin reports whether key (a client address) may try a password now,
// and if not, how long it must wait. An attempt it allows is counted
// against key at once; Fail or Succeed reports how it ended.
func (t *Throttle) Begin(key string) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.Now()
	if t.clients == nil {
		t.clients = map[string]*attempts{}
	}
	a := t.clients[key]
	if a != nil && now.Before(a.until) {
		return false, a.until.Sub(now)
	}
	if a == nil {
		t.sweep(now)
		a = &attempts{}
		t.clients[key] = a
	}
	a.failures++
	free := freeFailures
	if t.underPressure(now) {
		free = 1
	}
	a.until = now.Add(backoff(a.failures - free + 1))
	return true, 0
}

// Fail records that key's attempt failed: it counts towards the global
// pressure (the client's own count was taken by Begin).
func (t *Throttle) Fail(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.Now().Unix() / 60
	c := &t.window[m%pressureWindow]
	if c.minute != m {
		*c = minuteCount{minute: m}
	}
	c.n++
}

// Succeed clears key's attempts.
func (t *Throttle) Succeed(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.clients, key)
}

// UnderPressure reports whether many logins failed recently.
func (t *Throttle) UnderPressure() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.underPressure(t.Now())
}

func (t *Throttle) underPressure(now time.Time) bool {
	m := now.Unix() / 60
	n := 0
	for _, c := range t.window {
		if c.minute > m-pressureWindow && c.minute <= m {
			n += c.n
		}
	}
	return n >= pressureFailures
}

// sweep forgets clients whose last wait ended long ago, when the map has
// grown; the threshold doubles with what stays, so the work stays
// proportional to the clients added.
func (t *Throttle) sweep(now time.Time) {
	if len(t.clients) < max(t.sweepAt, 1024) {
		return
	}
	for k, a := range t.clients {
		if now.Sub(a.until) > forgetAfter {
			delete(t.clients, k)
		}
	}
	t.sweepAt = 2 * len(t.clients)
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
