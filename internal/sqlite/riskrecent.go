package sqlite

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"waymark.dev/waymark/internal/risk"
)

// recentLogins answers a login decision's velocity questions (failures of
// the account, failures from the network, accounts seen from the network)
// from memory. Counting them in SQL needed two more indexes on the event
// table, and keeping those up to date was most of what a login wrote.
//
// It holds the login events of the current window in time order and a
// running count per account and network. Events leave once a decision's
// window has moved past them. Only the process that records the events
// sees them: the embedded store has one server writing logins (CLI
// commands that open the same file do not). After a restart the first
// decision rebuilds it from the newest rows of risk_events.
type recentLogins struct {
	loaded atomic.Bool

	mu       sync.Mutex
	q        []recentLogin
	head     int
	horizon  int64 // Unix ms; events before it have left
	failAcct map[string]int
	failNet  map[string]int
	netAccts map[string]map[string]int
}

type recentLogin struct {
	at               int64
	account, network string
	failure          bool
}

// rebuildSlack is how far past the window the rebuild reads, and
// rebuildStopAfter how many consecutive older rows end it: rows are
// appended in time order except for imports.
const (
	rebuildSlack     = time.Minute
	rebuildStopAfter = 10000
)

func (r *recentLogins) reset() {
	r.q, r.head, r.horizon = nil, 0, 0
	r.failAcct, r.failNet, r.netAccts = map[string]int{}, map[string]int{}, map[string]map[string]int{}
}

func isLogin(kind string) bool {
	return kind == risk.EventAttempt || kind == risk.EventSuccess || kind == risk.EventFailure
}

// add counts one login event; the caller holds mu.
func (r *recentLogins) add(at int64, account, network string, failure bool) {
	if at < r.horizon {
		return
	}
	// Keep the queue in time order: events arrive almost in order (a
	// few in flight at once), so this moves one back a step or two.
	r.q = append(r.q, recentLogin{at: at, account: account, network: network, failure: failure})
	for i := len(r.q) - 1; i > r.head && r.q[i-1].at > at; i-- {
		r.q[i-1], r.q[i] = r.q[i], r.q[i-1]
	}
	if failure {
		r.failAcct[account]++
	}
	if network == "" {
		return
	}
	if failure {
		r.failNet[network]++
	}
	m := r.netAccts[network]
	if m == nil {
		m = map[string]int{}
		r.netAccts[network] = m
	}
	m[account]++
}

func decr(m map[string]int, k string) {
	if m[k] <= 1 {
		delete(m, k)
	} else {
		m[k]--
	}
}

// evict drops events before since; the caller holds mu.
func (r *recentLogins) evict(since int64) {
	if since <= r.horizon {
		return
	}
	r.horizon = since
	for r.head < len(r.q) && r.q[r.head].at < since {
		e := r.q[r.head]
		r.q[r.head] = recentLogin{}
		r.head++
		if e.failure {
			decr(r.failAcct, e.account)
		}
		if e.network == "" {
			continue
		}
		if e.failure {
			decr(r.failNet, e.network)
		}
		if m := r.netAccts[e.network]; m != nil {
			decr(m, e.account)
			if len(m) == 0 {
				delete(r.netAccts, e.network)
			}
		}
	}
	// Reuse the slice's front once most of it has left.
	if r.head > 1024 && r.head > len(r.q)/2 {
		n := copy(r.q, r.q[r.head:])
		clear(r.q[n:])
		r.q, r.head = r.q[:n], 0
	}
}

// LoadRecentLogins builds the in-memory login counts now rather than at
// the first decision (which would wait for it); servers call it at start.
func (s *DB) LoadRecentLogins(ctx context.Context) error { return s.ensureRecent(ctx) }

// ensureRecent builds the in-memory counts from the stored events the
// first time they are needed. It holds the write lock, so no login is
// committed while the rows are read.
func (s *DB) ensureRecent(ctx context.Context) error {
	r := &s.recent
	if r.loaded.Load() {
		return nil
	}
	if s.journal != nil {
		// The rebuild reads the table: what is still in the journal goes
		// there first.
		if err := s.journal.flush(ctx); err != nil {
			return err
		}
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if r.loaded.Load() {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reset()
	cutoff := s.now().Add(-risk.DefaultWindow - rebuildSlack).UnixMilli()
	rows, err := s.db.QueryContext(ctx, `SELECT account, kind, network, at FROM risk_events ORDER BY id DESC`)
	if err != nil {
		return fmt.Errorf("sqlite: recent logins: %w", err)
	}
	defer rows.Close()
	var found []recentLogin
	older := 0
	for rows.Next() {
		var e recentLogin
		var kind string
		if err := rows.Scan(&e.account, &kind, &e.network, &e.at); err != nil {
			return fmt.Errorf("sqlite: recent logins: %w", err)
		}
		if e.at < cutoff {
			if older++; older >= rebuildStopAfter {
				break
			}
			continue
		}
		older = 0
		if isLogin(kind) {
			e.failure = kind == risk.EventFailure
			found = append(found, e)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: recent logins: %w", err)
	}
	slices.SortStableFunc(found, func(a, b recentLogin) int { return cmp.Compare(a.at, b.at) })
	for _, e := range found {
		r.add(e.at, e.account, e.network, e.failure)
	}
	r.loaded.Store(true)
	return nil
}

// recentCounts answers from memory; KnownNetwork is left to the caller.
func (s *DB) recentCounts(account, network string, since time.Time) risk.Counts {
	r := &s.recent
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evict(since.UnixMilli())
	c := risk.Counts{AccountFailures: r.failAcct[account]}
	if network != "" {
		c.ClientFailures = r.failNet[network]
		c.AccountsFromClient = len(r.netAccts[network])
	}
	return c
}
