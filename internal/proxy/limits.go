package proxy

import (
	"sync"
	"time"
)

// Limits bound what one user may do at once.
type Limits struct {
	// Rate is the requests (and new tunnels) per second a user may
	// start on average, with bursts of Burst; 0 means unlimited.
	Rate  float64
	Burst int
	// Tunnels is how many CONNECT tunnels a user may hold open; 0 means
	// unlimited.
	Tunnels int
}

// limiter keeps per-user token buckets and tunnel counts.
type limiter struct {
	Limits
	now func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	tunnels map[string]int
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(l Limits, now func() time.Time) *limiter {
	return &limiter{Limits: l, now: now, buckets: map[string]*bucket{}, tunnels: map[string]int{}}
}

// allow takes one request from user's bucket.
func (l *limiter) allow(user string) bool {
	if l.Rate <= 0 {
		return true
	}
	burst := float64(max(l.Burst, 1))
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[user]
	if b == nil {
		if len(l.buckets) > 100_000 {
			clear(l.buckets) // users are operator-issued; this only bounds memory
		}
		b = &bucket{tokens: burst, last: now}
		l.buckets[user] = b
	}
	b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*l.Rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// openTunnel counts a tunnel for user, or refuses one over the limit.
func (l *limiter) openTunnel(user string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Tunnels > 0 && l.tunnels[user] >= l.Tunnels {
		return false
	}
	l.tunnels[user]++
	return true
}

func (l *limiter) closeTunnel(user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tunnels[user]--; l.tunnels[user] <= 0 {
		delete(l.tunnels, user)
	}
}
