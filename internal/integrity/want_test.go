package integrity

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseWant(t *testing.T) {
	for _, c := range []struct {
		name string
		h    http.Header
		want Want
		err  string
	}{
		{"nothing asked", http.Header{}, Want{}, ""},
		{"RFC 9421 section 5.1's example, as a response request", http.Header{"Accept-Signature": {`sig1=("@method" "@target-uri" "@authority" "content-digest" "cache-control");keyid="test-key-rsa-pss";created;tag="app-123"`}},
			Want{Sign: true, Label: "sig1", Covered: []Component{{Name: "@method"}, {Name: "@target-uri"}, {Name: "@authority"}, {Name: "content-digest"}, {Name: "cache-control"}},
				KeyID: "test-key-rsa-pss", Tag: "app-123", Digest: "sha-256"}, ""},
		{"request components and parameters", http.Header{"Accept-Signature": {`w=("@status" "@target-uri";req "Content-Type" "x";sf);alg="ed25519";nonce="n"`}},
			Want{Sign: true, Label: "w", Covered: []Component{{Name: "@status"}, {Name: "@target-uri", Req: true}, {Name: "content-type"}}, Alg: "ed25519", Nonce: "n", Digest: "sha-256"}, ""},
		{"the first of two", http.Header{"Accept-Signature": {`a=("@status"), b=("content-type")`}}, Want{Sign: true, Label: "a", Covered: []Component{{Name: "@status"}}, Digest: "sha-256"}, ""},
		{"digest preferred", http.Header{"Want-Content-Digest": {"sha-256=3, sha-512=10"}}, Want{Digest: "sha-512"}, ""},
		{"digest of unknown algorithms only", http.Header{"Want-Content-Digest": {"md5=10, sha-256=0"}}, Want{}, ""},
		{"signature needs a digest even when none is wanted", http.Header{"Accept-Signature": {`s=()`}, "Want-Content-Digest": {"sha-256=0"}}, Want{Sign: true, Label: "s", Digest: "sha-256"}, ""},
		{"not a dictionary", http.Header{"Accept-Signature": {`sig1=(`}}, Want{}, "Accept-Signature"},
		{"no list", http.Header{"Accept-Signature": {`sig1="x"`}}, Want{}, "no member is a list"},
		{"component not a string", http.Header{"Accept-Signature": {`sig1=(status)`}}, Want{}, "not a string"},
		{"preference out of range", http.Header{"Want-Content-Digest": {"sha-256=11"}}, Want{}, "0 to 10"},
		{"preference not a number", http.Header{"Want-Content-Digest": {"sha-256=high"}}, Want{}, "0 to 10"},
	} {
		got, err := ParseWant(c.h)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want one about %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %+v %v, want %+v", c.name, got, err, c.want)
		}
	}
}

// TestSignFor: a signature made as asked verifies, with the label and
// components asked for; without Sign only the digest is set.
func TestSignFor(t *testing.T) {
	now := time.Now()
	ring, err := OpenKeyring(t.TempDir(), now)
	if err != nil {
		t.Fatal(err)
	}
	s := &ResponseSigner{Keys: ring}
	body := []byte("<p>hello</p>")
	target, _ := url.Parse("http://news.example/a?b=1")
	w, _ := ParseWant(http.Header{"Accept-Signature": {`mine=("@method";req "@query";req "cache-control" "content-type");tag="t"`}, "Want-Content-Digest": {"sha-512=1"}})
	h := http.Header{"Content-Type": {"text/html"}, "Cache-Control": {"no-store"}}
	hash := DigestHash(w.Digest)
	hash.Write(body)
	if err := s.SignFor(h, h, 200, &Message{Method: "GET", URL: target}, DigestField(w.Digest, hash.Sum(nil)), w); err != nil {
		t.Fatal(err)
	}
	v, err := VerifyResponse(nil, h, 200, body, "GET", target, ring.KeySet(), now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{`"@method";req`, `"@query";req`, `"cache-control"`, `"content-type"`, `"@status"`, `"content-digest"`, `"@target-uri";req`}; v.Label != "mine" || !reflect.DeepEqual(v.Covered, want) {
		t.Errorf("label %q covers %v, want mine and %v", v.Label, v.Covered, want)
	}
	if !strings.HasPrefix(h.Get("Content-Digest"), "sha-512=:") {
		t.Errorf("Content-Digest %q", h.Get("Content-Digest"))
	}
	// Another method than the one signed fails.
	if _, err := VerifyResponse(nil, h, 200, body, "POST", target, ring.KeySet(), now, time.Minute); err == nil {
		t.Error("verified for another method")
	}
	d := http.Header{}
	if err := s.SignFor(d, d, 200, &Message{Method: "GET", URL: target}, DigestOf(body), Want{Digest: "sha-256"}); err != nil || d.Get("Signature") != "" || VerifyDigest(d.Get("Content-Digest"), body) != nil {
		t.Errorf("digest only: %v %v", err, d)
	}
}

// FuzzParseWant: reading a request's Accept-Signature and
// Want-Content-Digest never panics, and what it accepts names a label
// when it asks for a signature and a known digest algorithm or none.
func FuzzParseWant(f *testing.F) {
	for _, s := range []string{`sig1=("@status" "@target-uri";req);keyid="k";tag="t"`, AcceptSignature, `a=(), b=("x";sf)`, `sig1=(`} {
		f.Add(s, "sha-256=10, sha-512=3")
	}
	f.Fuzz(func(t *testing.T, accept, digest string) {
		w, err := ParseWant(http.Header{"Accept-Signature": {accept}, "Want-Content-Digest": {digest}})
		if err != nil {
			return
		}
		if w.Sign && (w.Label == "" || w.Digest == "") {
			t.Fatalf("%q: a signature without a label or digest: %+v", accept, w)
		}
		if w.Digest != "" && w.Digest != "sha-256" && w.Digest != "sha-512" {
			t.Fatalf("%q: digest %q", digest, w.Digest)
		}
	})
}

// TestSigningBaseMatches: the signer's direct base is SignatureBase's,
// byte for byte, errors included.
func TestSigningBaseMatches(t *testing.T) {
	target, _ := url.Parse("http://news.example/a%20b?q=1&r=\"x\"")
	m := &Message{Status: 200, Header: http.Header{"Content-Digest": {"sha-256=:AAAA:"}, "Content-Type": {"text/html"}, "X-Two": {"a", " b "}},
		Request: &Message{Method: "GET", URL: target, Header: http.Header{"Accept": {"*/*"}}}}
	at := time.Unix(1764734400, 0)
	for _, c := range []struct {
		covered []Component
		p       SigParams
	}{
		{[]Component{{Name: "@status"}, {Name: "content-digest"}, {Name: "content-type"}, {Name: "@target-uri", Req: true}}, SigParams{Created: at, Expires: at.Add(time.Hour), KeyID: "wm-1", Alg: "ed25519"}},
		{[]Component{{Name: "x-two"}, {Name: "@method", Req: true}, {Name: "accept", Req: true}, {Name: "@query", Req: true}}, SigParams{KeyID: `k"\\`, Nonce: "n", Tag: "t t"}},
		{nil, SigParams{}},
		{[]Component{{Name: "@status"}, {Name: "@status"}}, SigParams{}},
		{[]Component{{Name: "absent"}}, SigParams{Created: at}},
		{[]Component{{Name: `we"ird\\`}}, SigParams{}},
	} {
		want, wantIn, wantErr := SignatureBase(m, c.covered, c.p.params())
		got, gotIn, gotErr := signingBase(m, c.covered, c.p)
		if string(got) != string(want) || gotIn != wantIn || (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
			t.Errorf("%v %+v:\n got %q %q %v\nwant %q %q %v", c.covered, c.p, got, gotIn, gotErr, want, wantIn, wantErr)
		}
	}
}

// FuzzSigningBase: for any component names and parameters, the direct
// base is SignatureBase's.
func FuzzSigningBase(f *testing.F) {
	f.Add("content-type", true, "wm-1", "t", "n", int64(1764734400))
	f.Add(`a"b\\c`, false, "", "\x00", "é", int64(0))
	f.Fuzz(func(t *testing.T, name string, req bool, keyid, tag, nonce string, created int64) {
		target, _ := url.Parse("http://news.example/")
		m := &Message{Status: 200, Header: http.Header{"Content-Type": {"text/html"}, http.CanonicalHeaderKey(name): {"v"}},
			Request: &Message{Method: "GET", URL: target, Header: http.Header{http.CanonicalHeaderKey(name): {"w"}}}}
		p := SigParams{KeyID: keyid, Tag: tag, Nonce: nonce}
		if created != 0 {
			p.Created = time.Unix(created, 0)
		}
		covered := []Component{{Name: "@status"}, {Name: name, Req: req}, {Name: "content-type"}}
		want, wantIn, wantErr := SignatureBase(m, covered, p.params())
		got, gotIn, gotErr := signingBase(m, covered, p)
		if string(got) != string(want) || gotIn != wantIn || (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
			t.Fatalf("got %q %q %v\nwant %q %q %v", got, gotIn, gotErr, want, wantIn, wantErr)
		}
	})
}
