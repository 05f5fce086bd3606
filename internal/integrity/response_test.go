package integrity

import (
	"crypto/sha256"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"
)

func TestSignedResponseTampering(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	ring, err := OpenKeyring(t.TempDir(), now)
	if err != nil {
		t.Fatal(err)
	}
	s := &ResponseSigner{Keys: ring, Validity: time.Hour, Now: func() time.Time { return now }}
	body := []byte("<html><body>hello</body></html>")
	target, _ := url.Parse("http://news.example/article?id=7")
	h := http.Header{"Content-Type": {"text/html; charset=utf-8"}}
	if err := s.Sign(h, h, 200, "GET", target, sha256.Sum256(body)); err != nil {
		t.Fatal(err)
	}
	keys := ring.KeySet()
	v, err := VerifyResponse(h, h, 200, body, "GET", target, keys, now.Add(time.Minute), time.Minute)
	if err != nil {
		t.Fatalf("an intact response: %v", err)
	}
	if v.KeyID != ring.Current().ID || len(v.Covered) != 4 || v.Covered[3] != `"@target-uri";req` {
		t.Errorf("verified: %+v", v)
	}
	other, _ := url.Parse("http://news.example/article?id=8")
	with := func(k, val string) http.Header {
		c := h.Clone()
		c.Set(k, val)
		return c
	}
	injected := []byte("<html><body>hello<script src=//ads.example/x.js></script></body></html>")
	tests := []struct {
		name   string
		h      http.Header
		status int
		body   []byte
		target *url.URL
		at     time.Time
		want   error
	}{
		{"body byte", h, 200, []byte("<html><body>hellO</body></html>"), target, now, ErrDigest},
		{"injected script", h, 200, injected, target, now, ErrDigest},
		{"header", with("Content-Type", "text/plain"), 200, body, target, now, ErrMismatch},
		{"status", h, 302, body, target, now, ErrMismatch},
		{"target", h, 200, body, other, now, ErrMismatch},
		{"digest swapped with the injected body's", with("Content-Digest", DigestOf(injected)), 200, injected, target, now, ErrMismatch},
		{"replayed after it expired", h, 200, body, target, now.Add(2 * time.Hour), ErrExpired},
		{"no signature", http.Header{"Content-Type": {"text/html"}}, 200, body, target, now, ErrUnsigned},
		{"unknown key", h, 200, body, target, now, ErrUnknownKey},
	}
	for _, tt := range tests {
		ks := keys
		if tt.name == "unknown key" {
			ks = KeySet{}
		}
		_, err := VerifyResponse(tt.h, tt.h, tt.status, tt.body, "GET", tt.target, ks, tt.at, time.Minute)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}

	// After a rotation the old key still verifies, until it is retired.
	old := ring.Current().ID
	if _, err := ring.Rotate(now); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyResponse(h, h, 200, body, "GET", target, ring.KeySet(), now, time.Minute); err != nil {
		t.Errorf("old signature after rotation: %v", err)
	}
	if err := ring.Retire(ring.Current().ID); err == nil {
		t.Error("the signing key was retired")
	}
	if err := ring.Retire(old); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyResponse(h, h, 200, body, "GET", target, ring.KeySet(), now, time.Minute); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("signature of a retired key: %v", err)
	}
	// The key set travels as JWKS.
	ks, err := ParseJWKS(ring.KeySet().JWKS())
	if err != nil || len(ks) != 1 || !ks[ring.Current().ID].Equal(ring.Current().Public()) {
		t.Errorf("JWKS round trip: %v %v", ks, err)
	}
}

func TestParseDict(t *testing.T) {
	tests := []struct{ in, out string }{
		{`sig1=("@status" "content-digest" "@target-uri";req);created=1618884473;keyid="k1";alg="ed25519"`, ""},
		{`a=1, b=?0, c, d=:AQID:, e=tok/en:x, f=1.5, g="q\"s"`, ""},
		{`a=1;x;y=2,   b="x"`, `a=1;x;y=2, b="x"`},
	}
	for _, tt := range tests {
		d, err := ParseDict(tt.in)
		if err != nil {
			t.Errorf("ParseDict(%q): %v", tt.in, err)
			continue
		}
		want := tt.out
		if want == "" {
			want = tt.in
		}
		if got := d.String(); got != want {
			t.Errorf("ParseDict(%q) serializes to %q, want %q", tt.in, got, want)
		}
	}
	for _, bad := range []string{`a=`, `A=1`, `a=(1`, `a="x`, `a=:!!:`, `a=1,`, `a=1 b=2`, `a=?2`, `a="\x"`, `a=1234567890123456`} {
		if _, err := ParseDict(bad); err == nil {
			t.Errorf("ParseDict(%q) accepted", bad)
		}
	}
}

// FuzzParseDict: the structured-field parser never panics, and what it
// accepts serializes to text it parses to the same serialization.
func FuzzParseDict(f *testing.F) {
	for _, s := range []string{`sig1=("@status" "@target-uri";req);created=1;keyid="k"`, `sha-256=:AAAA:`, `a=1, b=?0, c;d=2`, `a=(1 2);x=:AA==:`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDict(s)
		if err != nil {
			return
		}
		out := d.String()
		d2, err := ParseDict(out)
		if err != nil {
			t.Fatalf("%q serialized to %q, which does not parse: %v", s, out, err)
		}
		if d2.String() != out {
			t.Fatalf("%q: %q then %q", s, out, d2.String())
		}
	})
}

// BenchmarkVerify is the verifier on a signed 64 KB response.
func BenchmarkVerify(b *testing.B) {
	now := time.Now()
	ring, _ := OpenKeyring(b.TempDir(), now)
	s := &ResponseSigner{Keys: ring}
	body := make([]byte, 64<<10)
	target, _ := url.Parse("http://news.example/a")
	h := http.Header{"Content-Type": {"text/html"}}
	s.Sign(h, h, 200, "GET", target, sha256.Sum256(body))
	ks := ring.KeySet()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := VerifyResponse(h, h, 200, body, "GET", target, ks, now, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSign is signing alone (the body's hash is the caller's).
func BenchmarkSign(b *testing.B) {
	ring, _ := OpenKeyring(b.TempDir(), time.Now())
	s := &ResponseSigner{Keys: ring}
	target, _ := url.Parse("http://news.example/a")
	var sum [32]byte
	b.ReportAllocs()
	for b.Loop() {
		h := http.Header{"Content-Type": {"text/html"}}
		if err := s.Sign(h, h, 200, "GET", target, sum); err != nil {
			b.Fatal(err)
		}
	}
}
