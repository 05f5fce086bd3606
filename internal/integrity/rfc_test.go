package integrity

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// The test key of RFC 9421 appendix B.1.4.
const rfcEd25519Private = `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF
-----END PRIVATE KEY-----`

const rfcEd25519Public = `-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=
-----END PUBLIC KEY-----`

func rfcKeys(t *testing.T) (ed25519.PrivateKey, ed25519.PublicKey) {
	t.Helper()
	b, _ := pem.Decode([]byte(rfcEd25519Private))
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := pem.Decode([]byte(rfcEd25519Public))
	pub, err := x509.ParsePKIXPublicKey(p.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(ed25519.PrivateKey), pub.(ed25519.PublicKey)
}

// TestRFC9421Ed25519 reproduces appendix B.2.6 of RFC 9421: the
// signature base and the signature of the example request.
func TestRFC9421Ed25519(t *testing.T) {
	priv, pub := rfcKeys(t)
	if !pub.Equal(priv.Public()) {
		t.Fatal("the RFC's key pair does not match")
	}
	u, _ := url.Parse("https://example.com/foo?param=Value&Pet=dog")
	m := &Message{Method: "POST", URL: u, Header: http.Header{
		"Host":           {"example.com"},
		"Date":           {"Tue, 20 Apr 2021 02:07:55 GMT"},
		"Content-Type":   {"application/json"},
		"Content-Digest": {"sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"},
		"Content-Length": {"18"},
	}}
	covered := []Component{{Name: "date"}, {Name: "@method"}, {Name: "@path"}, {Name: "@authority"}, {Name: "content-type"}, {Name: "content-length"}}
	p := SigParams{Created: time.Unix(1618884473, 0), KeyID: "test-key-ed25519"}
	base, input, err := SignatureBase(m, covered, p.params())
	if err != nil {
		t.Fatal(err)
	}
	wantBase := `"date": Tue, 20 Apr 2021 02:07:55 GMT
"@method": POST
"@path": /foo
"@authority": example.com
"content-type": application/json
"content-length": 18
"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"`
	if string(base) != wantBase {
		t.Fatalf("signature base:\n%s\nwant:\n%s", base, wantBase)
	}
	if input != `("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"` {
		t.Errorf("Signature-Input: %s", input)
	}
	_, sig, err := Sign(m, covered, p, priv)
	if err != nil {
		t.Fatal(err)
	}
	const want = ":wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:"
	if sig != want {
		t.Errorf("signature %s, want %s (RFC 9421 B.2.6)", sig, want)
	}
}

// TestRFC9530Digests reproduces the examples of RFC 9530 for the body
// {"hello": "world"}.
func TestRFC9530Digests(t *testing.T) {
	body := []byte(`{"hello": "world"}`)
	if got := DigestOf(body); got != "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:" {
		t.Errorf("sha-256: %s", got)
	}
	for _, f := range []string{
		"sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:",
		"sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
		"sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:, sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
	} {
		if err := VerifyDigest(f, body); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if err := VerifyDigest("sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:", []byte(`{"hello": "world!"}`)); err == nil {
		t.Error("a changed body verified")
	}
	if err := VerifyDigest("md5=:AAAA:", body); err == nil {
		t.Error("a digest with no known algorithm verified")
	}
}
