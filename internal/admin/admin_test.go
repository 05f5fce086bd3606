package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPassword(t *testing.T) {
	t.Parallel()
	h := HashPassword("correct horse")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Fatalf("hash %q is not a PHC argon2id string with the chosen parameters", h)
	}
	if h == HashPassword("correct horse") {
		t.Error("two hashes of one password are equal: no salt")
	}
	for _, c := range []struct {
		name, hash, pw string
		ok             bool
	}{
		{"right", h, "correct horse", true},
		{"wrong", h, "correct horsf", false},
		{"empty", h, "", false},
		{"not argon2id", strings.Replace(h, "argon2id", "argon2i", 1), "correct horse", false},
		{"memory absurd", strings.Replace(h, "m=65536", "m=99999999", 1), "correct horse", false},
		{"truncated", h[:len(h)-10], "correct horse", false},
		{"garbage", "$$$$$", "x", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := CheckPassword(c.hash, c.pw); got != c.ok {
				t.Errorf("%s: CheckPassword = %v, want %v", c.name, got, c.ok)
			}
		})
	}
	if p := NewPassword(); len(p) != 20 || p == NewPassword() {
		t.Errorf("NewPassword = %q: want 20 random characters", p)
	}
}

type memStore struct {
	mu       sync.Mutex
	hash     string
	sessions map[string]Session
}

func (m *memStore) PasswordHash(context.Context) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.hash == "" {
		return "", ErrNotFound
	}
	return m.hash, nil
}
func (m *memStore) SetPasswordHash(_ context.Context, h string) error { m.hash = h; return nil }
func (m *memStore) PutSession(_ context.Context, s Session) error {
	m.sessions[string(s.TokenHash)] = s
	return nil
}
func (m *memStore) SessionByHash(_ context.Context, h []byte) (Session, error) {
	s, ok := m.sessions[string(h)]
	if !ok {
		return Session{}, ErrNotFound
	}
	return s, nil
}
func (m *memStore) DeleteSession(_ context.Context, h []byte) error {
	delete(m.sessions, string(h))
	return nil
}
func (m *memStore) DeleteSessionsBefore(_ context.Context, t time.Time) error {
	for k, s := range m.sessions {
		if s.Expires.Before(t) {
			delete(m.sessions, k)
		}
	}
	return nil
}
func (m *memStore) DeleteAllSessions(context.Context) error { clear(m.sessions); return nil }

func TestSetupAndLogin(t *testing.T) {
	ctx := context.Background()
	st := &memStore{sessions: map[string]Session{}}
	pw, err := Setup(ctx, st, "")
	if err != nil || pw == "" {
		t.Fatalf("first Setup = %q, %v; want a generated password", pw, err)
	}
	if again, _ := Setup(ctx, st, ""); again != "" {
		t.Error("a second Setup generated another password")
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := &Auth{Store: st, Now: func() time.Time { return now }}
	if _, _, err := a.Login(ctx, "nope"); !errors.Is(err, ErrBadLogin) {
		t.Fatalf("Login with a wrong password: %v", err)
	}
	tok1, _, err := a.Login(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	tok2, s2, _ := a.Login(ctx, pw)
	if tok1 == tok2 {
		t.Error("two logins share a token")
	}
	if got, err := a.Check(ctx, tok2); err != nil || got.CSRF != s2.CSRF {
		t.Errorf("Check = %+v, %v", got, err)
	}
	if _, err := a.Check(ctx, tok2+"x"); !errors.Is(err, ErrBadLogin) {
		t.Errorf("Check of a tampered token: %v", err)
	}
	if err := a.Logout(ctx, tok2); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Check(ctx, tok2); !errors.Is(err, ErrBadLogin) {
		t.Error("a logged-out token still works")
	}
	now = now.Add(SessionTTL)
	if _, err := a.Check(ctx, tok1); !errors.Is(err, ErrBadLogin) {
		t.Error("an expired session still works")
	}
	// A password from the environment replaces the stored one and logs
	// everyone out; the same value again changes nothing.
	tok3, _, _ := a.Login(ctx, pw)
	if g, err := Setup(ctx, st, "from-env-password"); g != "" || err != nil {
		t.Fatalf("Setup with env = %q, %v", g, err)
	}
	if _, err := a.Check(ctx, tok3); !errors.Is(err, ErrBadLogin) {
		t.Error("sessions survive a password change")
	}
	if _, _, err := a.Login(ctx, "from-env-password"); err != nil {
		t.Errorf("login with the env password: %v", err)
	}
	h := st.hash
	Setup(ctx, st, "from-env-password")
	if st.hash != h {
		t.Error("an unchanged env password was hashed again")
	}
}

func TestThrottle(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := &Throttle{Now: func() time.Time { return now }}
	for i := range freeFailures {
		if ok, _ := th.Begin("a"); !ok {
			t.Fatalf("attempt %d refused within the free failures", i+1)
		}
		th.Fail("a")
	}
	ok, wait := th.Begin("a")
	if ok || wait != time.Second {
		t.Fatalf("after %d failures Begin = %v, %v; want a 1 s wait", freeFailures, ok, wait)
	}
	if ok, _ := th.Begin("b"); !ok {
		t.Error("another client is throttled")
	}
	th.Succeed("b")
	now = now.Add(time.Second)
	th.Begin("a")
	th.Fail("a")
	if _, wait := th.Begin("a"); wait != 2*time.Second {
		t.Errorf("wait after one more failure = %v, want 2 s", wait)
	}
	th.Succeed("a")
	if ok, _ := th.Begin("a"); !ok {
		t.Error("a success did not clear the client")
	}
	th.Succeed("a")
	for range 40 {
		now = now.Add(maxWait)
		th.Begin("c")
		th.Fail("c")
	}
	if _, wait := th.Begin("c"); wait != maxWait {
		t.Errorf("wait after 40 failures = %v, want the cap %v", wait, maxWait)
	}
}

// TestThrottleCountsBeforeChecking: attempts are counted when they begin,
// so a burst of concurrent guesses from one client gets only the free
// attempts, though none has failed yet.
func TestThrottleCountsBeforeChecking(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := &Throttle{Now: func() time.Time { return now }}
	allowed := 0
	for range 24 {
		if ok, _ := th.Begin("burst"); ok {
			allowed++
		}
	}
	if allowed != freeFailures {
		t.Errorf("%d of 24 concurrent attempts allowed, want %d", allowed, freeFailures)
	}
}

// TestThrottleDistributed: failures spread over many clients never
// refuse a client that has not failed (the owner), but they put the
// throttle under pressure, where every failing client waits after its
// first attempt.
func TestThrottleDistributed(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th := &Throttle{Now: func() time.Time { return now }}
	refused := 0
	for i := range 30 { // 4 guesses from each of 30 addresses, under the per-client limit
		for range freeFailures - 1 {
			key := fmt.Sprintf("guesser-%d", i)
			if ok, _ := th.Begin(key); !ok {
				refused++
				continue
			}
			th.Fail(key)
		}
	}
	if !th.UnderPressure() || refused < 50 {
		t.Fatalf("under pressure %v, %d guesses refused; want pressure and the later addresses slowed", th.UnderPressure(), refused)
	}
	if ok, _ := th.Begin("owner"); !ok {
		t.Fatal("a client without failures was refused because of others' failures")
	}
	th.Succeed("owner")
	if ok, _ := th.Begin("new-guesser"); !ok {
		t.Fatal("a new client's first attempt was refused")
	}
	th.Fail("new-guesser")
	if ok, wait := th.Begin("new-guesser"); ok || wait != time.Second {
		t.Errorf("under pressure a second attempt got %v, %v; want a 1 s wait", ok, wait)
	}
	now = now.Add(pressureWindow * time.Minute)
	if th.UnderPressure() {
		t.Error("still under pressure after the window passed")
	}
}

// TestGate: one password check at a time from unknown browsers, a slot
// kept for known devices, a bounded wait, and a bounded queue.
func TestGate(t *testing.T) {
	t.Parallel()
	g := newGate()
	ctx := context.Background()
	rel, err := g.acquire(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	// The general slot is taken: a known device gets its own slot at once.
	relKnown, err := g.acquire(ctx, true)
	if err != nil {
		t.Fatalf("known device: %v", err)
	}
	// An unknown browser waits, and gets the general slot when it frees
	// (never the known devices' slot).
	got := make(chan error, 1)
	go func() {
		r, err := g.acquire(ctx, false)
		if err == nil {
			r()
		}
		got <- err
	}()
	relKnown()
	select {
	case err := <-got:
		t.Fatalf("an unknown browser took the known devices' slot (%v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	rel()
	if err := <-got; err != nil {
		t.Fatalf("waiting check: %v", err)
	}
	// A full queue refuses at once.
	rel, _ = g.acquire(ctx, false)
	g.waiting.Store(gateQueue)
	if _, err := g.acquire(ctx, false); !errors.Is(err, ErrBusy) {
		t.Errorf("full queue: %v, want ErrBusy", err)
	}
	g.waiting.Store(0)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := g.acquire(cctx, false); err == nil {
		t.Error("a cancelled wait took a slot")
	}
	rel()
}

// TestDeviceToken: a device token is recognised until the password
// changes; a forged or altered one is not.
func TestDeviceToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := &memStore{}
	st.SetPasswordHash(ctx, HashPassword("first"))
	a := &Auth{Store: st, Now: time.Now}
	tok, err := a.NewDeviceToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !a.KnownDevice(ctx, tok) {
		t.Fatal("a fresh device token is not known")
	}
	b := []byte(tok)
	b[len(b)-2] ^= 1
	for _, bad := range []string{"", "x", string(b), tok + "A", strings.Repeat("A", 64)} {
		if a.KnownDevice(ctx, bad) {
			t.Errorf("%q is known", bad)
		}
	}
	st.SetPasswordHash(ctx, HashPassword("second"))
	if a.KnownDevice(ctx, tok) {
		t.Error("a device token outlived a password change")
	}
}
