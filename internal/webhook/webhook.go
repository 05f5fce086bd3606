// Package webhook delivers event notifications to an operator's HTTPS
// endpoint: JSON bodies signed with HMAC-SHA256, retried with backoff, from
// a bounded queue so that the caller (a login decision) never waits.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256 of
// "<t>.<body>">"; receivers recompute it with the shared secret and reject
// old timestamps.
const SignatureHeader = "Waymark-Signature"

// Sign returns the signature header value of body at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature header against body, accepting timestamps at
// most tolerance away from now.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) bool {
	var ts, sig string
	for _, part := range bytes.Split([]byte(header), []byte(",")) {
		k, v, _ := bytes.Cut(part, []byte("="))
		switch string(k) {
		case "t":
			ts = string(v)
		case "v1":
			sig = string(v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return false
	}
	t := time.Unix(sec, 0)
	if now.Sub(t) > tolerance || t.Sub(now) > tolerance {
		return false
	}
	want := Sign(secret, t, body)
	_, wantSig, _ := bytes.Cut([]byte(want), []byte(",v1="))
	return hmac.Equal(wantSig, []byte(sig))
}

// Sender delivers events to one endpoint.
type Sender struct {
	URL    string
	Secret []byte
	Client *http.Client
	Log    *slog.Logger
	Now    func() time.Time
	// Attempts per event (default 5) and the first retry's wait, doubling
	// (default 1 s).
	Attempts int
	Backoff  time.Duration

	queue chan []byte
	// Delivered and Dropped count events.
	Delivered, Dropped atomic.Int64
}

// NewSender makes a sender for url signing with secret.
func NewSender(url string, secret []byte, log *slog.Logger) *Sender {
	return &Sender{URL: url, Secret: secret, Log: log, Now: time.Now, queue: make(chan []byte, queueSize)}
}

// queueSize bounds the events waiting; beyond it new ones are dropped
// (and counted) rather than slowing logins down.
const queueSize = 1000

// Send queues an event (any JSON-encodable value) without waiting.
func (s *Sender) Send(event any) {
	body, err := json.Marshal(event)
	if err != nil {
		s.Log.Error("webhook: encode event", "err", err)
		return
	}
	select {
	case s.queue <- body:
	default:
		s.Dropped.Add(1)
		s.Log.Warn("webhook queue full: event dropped")
	}
}

// Run delivers queued events until ctx ends.
func (s *Sender) Run(ctx context.Context) {
	q := s.queue
	for {
		select {
		case <-ctx.Done():
			return
		case body := <-q:
			if err := s.deliver(ctx, body); err != nil && ctx.Err() == nil {
				s.Dropped.Add(1)
				s.Log.Error("webhook: giving up on an event", "err", err)
			} else if err == nil {
				s.Delivered.Add(1)
			}
		}
	}
}

func (s *Sender) deliver(ctx context.Context, body []byte) error {
	attempts, wait := s.Attempts, s.Backoff
	if attempts <= 0 {
		attempts = 5
	}
	if wait <= 0 {
		wait = time.Second
	}
	client := s.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	var last error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
			wait *= 2
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(SignatureHeader, Sign(s.Secret, s.Now(), body))
		resp, err := client.Do(req)
		if err != nil {
			last = err
			continue
		}
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			return nil
		}
		last = fmt.Errorf("endpoint answered %d", resp.StatusCode)
		if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests {
			return last // a refusal is not retried
		}
	}
	return fmt.Errorf("after %d attempts: %w", attempts, last)
}
