package integrity

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"strings"
)

// ContentDigest is the Content-Digest field value (RFC 9530) for a body
// whose SHA-256 is sum: sha-256=:base64:.
func ContentDigest(sum [32]byte) string { return DigestField("sha-256", sum[:]) }

// DigestOf is the Content-Digest of a whole body.
func DigestOf(body []byte) string { return ContentDigest(sha256.Sum256(body)) }

// ErrDigest: the body does not match its Content-Digest.
var ErrDigest = errors.New("integrity: content-digest does not match the body")

// VerifyDigest checks a Content-Digest field against a body. Every
// algorithm it knows (sha-256, sha-512) must match; a field with neither
// is refused, since nothing would be checked.
func VerifyDigest(field string, body []byte) error {
	d, err := ParseDict(field)
	if err != nil {
		return fmt.Errorf("integrity: content-digest: %w", err)
	}
	checked := 0
	for _, k := range d.Keys {
		var h hash.Hash
		switch k {
		case "sha-256":
			h = sha256.New()
		case "sha-512":
			h = sha512.New()
		default:
			continue
		}
		m := d.Members[k]
		if m.Inner || m.Item.Kind != ':' {
			return fmt.Errorf("integrity: content-digest %s is not a byte sequence", k)
		}
		h.Write(body)
		if subtle.ConstantTimeCompare(h.Sum(nil), m.Item.Bytes) != 1 {
			return fmt.Errorf("%w (%s)", ErrDigest, k)
		}
		checked++
	}
	if checked == 0 {
		return fmt.Errorf("integrity: content-digest has no known algorithm (have %s; want sha-256 or sha-512)", strings.Join(d.Keys, ", "))
	}
	return nil
}
