package proxytoken

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// memTokens is an in-memory TokenStore.
type memTokens struct {
	mu   sync.Mutex
	toks []Token
}

func (m *memTokens) AddProxyToken(_ context.Context, t Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.toks = append(m.toks, t)
	return nil
}

func (m *memTokens) ProxyTokens(context.Context) ([]Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Token(nil), m.toks...), nil
}

func (m *memTokens) RevokeProxyToken(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.toks {
		if m.toks[i].ID == id {
			m.toks[i].Revoked = true
			return nil
		}
	}
	return fmt.Errorf("%w: %s", ErrNotFound, id)
}

func TestExpiredToken(t *testing.T) {
	t.Parallel()
	now := time.Now()
	a := &Authenticator{Store: &memTokens{}, Now: func() time.Time { return now }}
	a.Load(context.Background())
	tok, secret, err := a.Add(context.Background(), "bob", time.Hour)
	if err != nil || tok.Expires.IsZero() {
		t.Fatal(err)
	}
	if _, err := a.Check("Bearer " + secret); err != nil {
		t.Fatalf("fresh token: %v", err)
	}
	a.Now = func() time.Time { return now.Add(2 * time.Hour) }
	if _, err := a.Check("Bearer " + secret); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("expired token: %v", err)
	}
}

// TestRevoke: a revoked token stops working at once and its id is
// reported; an unknown id is ErrNotFound.
func TestRevoke(t *testing.T) {
	t.Parallel()
	var gone []string
	a := &Authenticator{Store: &memTokens{}, Now: time.Now, Revoked: func(ids []string) { gone = append(gone, ids...) }}
	a.Load(context.Background())
	tok, secret, err := a.Add(context.Background(), "alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Check("Basic " + basic("alice", secret)); err != nil {
		t.Fatalf("fresh token: %v", err)
	}
	if _, err := a.Check("Basic " + basic("mallory", secret)); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("another user's name with the token: %v", err)
	}
	if err := a.Revoke(context.Background(), tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Check("Bearer " + secret); !errors.Is(err, ErrBadCredentials) || len(gone) != 1 || gone[0] != tok.ID {
		t.Errorf("after revoking: %v, reported %v", err, gone)
	}
	if err := a.Revoke(context.Background(), "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoking an unknown id: %v, want ErrNotFound", err)
	}
}

func basic(user, secret string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + secret))
}

func FuzzCredentials(f *testing.F) {
	for _, s := range []string{"Basic YWxpY2U6d21wX3g=", "Bearer wmp_abc", "basic !!!", "Digest x", ""} {
		f.Add(s)
	}
	a := &Authenticator{Store: &memTokens{}, Now: time.Now}
	a.Load(context.Background())
	f.Fuzz(func(t *testing.T, h string) {
		Credentials(h)
		if _, err := a.Check(h); err == nil {
			t.Fatalf("Check(%q) passed with no tokens", h)
		}
	})
}
