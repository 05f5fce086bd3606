package webhook

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret")
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"kind":"new_device"}`)
	h := Sign(secret, now, body)
	if !Verify(secret, h, body, now, time.Minute) {
		t.Fatal("a fresh signature does not verify")
	}
	for name, c := range map[string]struct {
		secret []byte
		header string
		body   []byte
		now    time.Time
	}{
		"other secret": {[]byte("other"), h, body, now},
		"changed body": {secret, h, []byte(`{"kind":"x"}`), now},
		"too old":      {secret, h, body, now.Add(10 * time.Minute)},
		"garbage":      {secret, "t=abc,v1=zz", body, now},
		"empty":        {secret, "", body, now},
		"short sig":    {secret, "t=1800000000,v1=ab", body, now},
	} {
		if Verify(c.secret, c.header, c.body, c.now, time.Minute) {
			t.Errorf("%s: verified", name)
		}
	}
}

func TestDeliveryRetries(t *testing.T) {
	secret := []byte("k")
	var calls atomic.Int32
	got := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if !Verify(secret, r.Header.Get(SignatureHeader), b, time.Now(), time.Minute) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if calls.Add(1) < 3 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		got <- b
	}))
	defer srv.Close()
	s := NewSender(srv.URL, secret, slog.Default())
	s.Backoff = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	s.Send(map[string]string{"kind": "device_token_reuse", "account": "alice"})
	select {
	case b := <-got:
		if string(b) != `{"account":"alice","kind":"device_token_reuse"}` {
			t.Errorf("body %s", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not delivered")
	}
	if calls.Load() != 3 {
		t.Errorf("%d calls, want 2 failures and a success", calls.Load())
	}
	// A refusal (4xx) is not retried; a full queue drops, never blocks.
	refused := NewSender(srv.URL, []byte("wrong"), slog.Default())
	refused.Backoff = time.Millisecond
	if err := refused.deliver(ctx, []byte(`{}`)); err == nil {
		t.Error("a refused delivery reported success")
	}
	full := NewSender(srv.URL, secret, slog.Default())
	for range queueSize + 5 {
		full.Send("x")
	}
	if full.Dropped.Load() != 5 {
		t.Errorf("dropped %d, want 5", full.Dropped.Load())
	}
}
