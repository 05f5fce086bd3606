package integrity

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"hash"
	"net/http"
	"strings"
)

// Want is what a client asked of a response's integrity fields: a
// signature (Accept-Signature, RFC 9421 section 5.1) and a Content-Digest
// algorithm (Want-Content-Digest, RFC 9530 section 4). A signer honours
// what it can: the label, the key, the tag and nonce, the components it
// can provide, always with the components a relayed answer needs.
type Want struct {
	// Sign: a signature was asked for.
	Sign bool
	// Label names the signature in Signature-Input and Signature.
	Label string
	// Covered are the components asked for, in order.
	Covered []Component
	// KeyID, Alg, Tag and Nonce are the parameters asked for.
	KeyID, Alg, Tag, Nonce string
	// Digest is the Content-Digest algorithm, "sha-256" or "sha-512";
	// "" for none.
	Digest string
}

// DefaultWant is what an answer gets when the policy signs it without
// being asked: Waymark's label and components, SHA-256.
var DefaultWant = Want{Sign: true, Label: Label, Digest: "sha-256"}

// AcceptSignature is the Accept-Signature value Waymark's own verifiers
// send: its label, Ed25519, and the components VerifyResponse requires.
const AcceptSignature = Label + `=("@status" "content-digest" "content-type" "@target-uri";req);alg="ed25519"`

// ParseWant reads Accept-Signature and Want-Content-Digest from a
// request's header. Without either it returns a Want that asks for
// nothing; a malformed field is an error naming it.
func ParseWant(h http.Header) (Want, error) {
	var w Want
	if v := strings.Join(h.Values("Accept-Signature"), ", "); v != "" {
		d, err := ParseDict(v)
		if err != nil {
			return w, fmt.Errorf("Accept-Signature: %w", err)
		}
		for _, label := range d.Keys {
			m := d.Members[label]
			if !m.Inner {
				continue // not a signature request
			}
			w.Sign, w.Label = true, label
			for _, li := range m.List {
				if li.Item.Kind != 's' {
					return w, fmt.Errorf("Accept-Signature: a component of %q is not a string", label)
				}
				c, ok := component(li)
				if ok {
					w.Covered = append(w.Covered, c)
				}
			}
			for _, p := range m.Params {
				switch p.Key {
				case "keyid":
					w.KeyID = p.Value.Str
				case "alg":
					w.Alg = p.Value.Str
				case "tag":
					w.Tag = p.Value.Str
				case "nonce":
					w.Nonce = p.Value.Str
				}
			}
			break // the first request is honoured
		}
		if !w.Sign {
			return w, fmt.Errorf("Accept-Signature: no member is a list of components")
		}
	}
	if v := strings.Join(h.Values("Want-Content-Digest"), ", "); v != "" {
		d, err := ParseDict(v)
		if err != nil {
			return w, fmt.Errorf("Want-Content-Digest: %w", err)
		}
		best := int64(0)
		for _, alg := range d.Keys {
			m := d.Members[alg]
			if m.Inner || m.Item.Kind != 'i' || m.Item.Int < 0 || m.Item.Int > 10 {
				return w, fmt.Errorf("Want-Content-Digest: %s needs a preference from 0 to 10", alg)
			}
			if (alg == "sha-256" || alg == "sha-512") && m.Item.Int > best {
				best, w.Digest = m.Item.Int, alg
			}
		}
	}
	if w.Sign && w.Digest == "" {
		w.Digest = "sha-256" // a signature covers the digest
	}
	return w, nil
}

// component reads a requested component; ok is false for one with a
// parameter this signer does not implement (sf, key, bs, tr, name), which
// it leaves out.
func component(li ListItem) (Component, bool) {
	c := Component{Name: strings.ToLower(li.Item.Str)}
	for _, p := range li.Params {
		if p.Key != "req" {
			return c, false
		}
		c.Req = true
	}
	return c, true
}

// DigestHash returns a new hash for a Want.Digest algorithm.
func DigestHash(alg string) hash.Hash {
	if alg == "sha-512" {
		return sha512.New()
	}
	return sha256.New()
}

// DigestField is the Content-Digest value for a body whose alg hash is
// sum.
func DigestField(alg string, sum []byte) string {
	b := make([]byte, 0, len(alg)+3+base64.StdEncoding.EncodedLen(len(sum)))
	b = append(append(b, alg...), '=', ':')
	b = base64.StdEncoding.AppendEncode(b, sum)
	return string(append(b, ':'))
}
