package integrity

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Label is the signature label Waymark uses.
const Label = "waymark"

// Fields a relay signs; it strips copies of them it did not make.
var Fields = []string{"Content-Digest", "Signature", "Signature-Input"}

// ResponseSigner signs relayed responses with the keyring's current key.
type ResponseSigner struct {
	Keys *Keyring
	// Validity is how long a signature stays valid (expires; default
	// 24 hours): a recorded response cannot be replayed as fresh later.
	Validity time.Duration
	Now      func() time.Time
}

// Sign sets Content-Digest, Signature-Input and Signature in fields (the
// response header, or its trailers when the body was streamed; h is the
// header, which holds Content-Type) for a response with status to a
// request of method for target, whose body's SHA-256 is sum, with
// Waymark's label and components.
func (s *ResponseSigner) Sign(fields, h http.Header, status int, method string, target *url.URL, sum [32]byte) error {
	return s.SignFor(fields, h, status, &Message{Method: method, URL: target}, DigestField("sha-256", sum[:]), DefaultWant)
}

// SignFor sets what w asks for in fields: Content-Digest (the digest
// field's value, of w.Digest's algorithm) and, when w.Sign, a signature
// with w's label, key (when it is one of the keyring's), tag and nonce,
// covering the components asked for that this response and its request
// have, then those a relayed answer always covers (@status,
// content-digest, content-type when present, @target-uri;req). The
// algorithm is always Ed25519: an alg asked for that differs is not
// honoured, and the alg parameter says so.
func (s *ResponseSigner) SignFor(fields, h http.Header, status int, req *Message, digest string, w Want) error {
	if !w.Sign {
		if digest != "" {
			fields.Set("Content-Digest", digest)
		}
		return nil
	}
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	validity := s.Validity
	if validity <= 0 {
		validity = 24 * time.Hour
	}
	msgHeader := http.Header{"Content-Digest": {digest}}
	m := &Message{Status: status, Header: msgHeader, Request: req}
	comps := make([]Component, 0, len(w.Covered)+4)
	add := func(c Component) {
		if slices.Contains(comps, c) {
			return
		}
		if !c.Req && !strings.HasPrefix(c.Name, "@") && msgHeader.Get(c.Name) == "" {
			vs := h.Values(c.Name)
			if len(vs) == 0 {
				return // a field the response does not have
			}
			msgHeader[http.CanonicalHeaderKey(c.Name)] = vs
		}
		if _, err := m.value(c); err != nil {
			return // a component this response cannot give
		}
		comps = append(comps, c)
	}
	for _, c := range w.Covered {
		add(c)
	}
	add(Component{Name: "@status"})
	add(Component{Name: "content-digest"})
	add(Component{Name: "content-type"})
	add(Component{Name: "@target-uri", Req: true})
	key := s.Keys.Current()
	if w.KeyID != "" && w.KeyID != key.ID {
		for _, k := range s.Keys.Keys() {
			if k.ID == w.KeyID {
				key = k
			}
		}
	}
	label := w.Label
	if label == "" {
		label = Label
	}
	input, sig, err := Sign(m, comps, SigParams{Created: now, Expires: now.Add(validity), KeyID: key.ID, Alg: "ed25519", Nonce: w.Nonce, Tag: w.Tag}, key.Private())
	if err != nil {
		return err
	}
	fields.Set("Content-Digest", digest)
	fields.Set("Signature-Input", label+"="+input)
	fields.Set("Signature", label+"="+sig)
	return nil
}

// Verified is what a verified signature covers.
type Verified struct {
	Label   string
	KeyID   string
	Covered []string
	Created time.Time
	Expires time.Time
}

// Failure reasons a verifier reports.
var (
	ErrUnsigned   = errors.New("integrity: the response carries no signature")
	ErrUnknownKey = errors.New("integrity: the signature's key is not among the published keys")
	ErrExpired    = errors.New("integrity: the signature has expired")
	ErrMismatch   = errors.New("integrity: the signature does not match what it covers")
	ErrCoverage   = errors.New("integrity: the signature does not cover what it must")
)

// Required are the components a relayed response's signature must cover.
var Required = []string{`"@status"`, `"content-digest"`, `"@target-uri";req`}

// VerifyResponse checks a response's signature and Content-Digest: fields
// hold the three fields (the header, plus trailers), h the header, body
// the whole body, and the request's method and target URI as the client
// sent them. now checks validity; skew allows clocks to differ.
func VerifyResponse(fields, h http.Header, status int, body []byte, method string, target *url.URL, keys KeySet, now time.Time, skew time.Duration) (*Verified, error) {
	get := func(k string) string {
		if v := fields.Get(k); v != "" {
			return v
		}
		return h.Get(k)
	}
	inField, sigField := get("Signature-Input"), get("Signature")
	if inField == "" || sigField == "" {
		return nil, ErrUnsigned
	}
	ins, err := ParseDict(inField)
	if err != nil {
		return nil, fmt.Errorf("integrity: Signature-Input: %w", err)
	}
	sigs, err := ParseDict(sigField)
	if err != nil {
		return nil, fmt.Errorf("integrity: Signature: %w", err)
	}
	label := Label
	in, ok := ins.Get(label)
	if !ok {
		if len(ins.Keys) == 0 {
			return nil, ErrUnsigned
		}
		label = ins.Keys[0]
		in = ins.Members[label]
	}
	sm, ok := sigs.Get(label)
	if !ok || sm.Inner || sm.Item.Kind != ':' {
		return nil, fmt.Errorf("integrity: no signature for label %q", label)
	}
	if !in.Inner {
		return nil, fmt.Errorf("integrity: Signature-Input %q is not an inner list", label)
	}
	v := &Verified{Label: label}
	var comps []Component
	for _, li := range in.List {
		if li.Item.Kind != 's' {
			return nil, fmt.Errorf("integrity: a covered component is not a string")
		}
		c := Component{Name: li.Item.Str}
		for _, p := range li.Params {
			if p.Key != "req" {
				return nil, fmt.Errorf("integrity: component parameter %q is not supported", p.Key)
			}
			c.Req = true
		}
		comps = append(comps, c)
		var id strings.Builder
		li.Item.serialize(&id)
		li.Params.serialize(&id)
		v.Covered = append(v.Covered, id.String())
	}
	for _, r := range Required {
		found := false
		for _, c := range v.Covered {
			found = found || c == r
		}
		if !found {
			return v, fmt.Errorf("%w: %s is not covered", ErrCoverage, r)
		}
	}
	kid, _ := in.Params.Get("keyid")
	v.KeyID = kid.Str
	if alg, ok := in.Params.Get("alg"); ok && alg.Str != "ed25519" {
		return v, fmt.Errorf("integrity: algorithm %q is not supported", alg.Str)
	}
	if c, ok := in.Params.Get("created"); ok {
		v.Created = time.Unix(c.Int, 0).UTC()
		if v.Created.After(now.Add(skew)) {
			return v, fmt.Errorf("%w: created in the future (%s)", ErrExpired, v.Created.Format(time.RFC3339))
		}
	}
	if e, ok := in.Params.Get("expires"); ok {
		v.Expires = time.Unix(e.Int, 0).UTC()
		if now.Add(-skew).After(v.Expires) {
			return v, fmt.Errorf("%w at %s", ErrExpired, v.Expires.Format(time.RFC3339))
		}
	}
	pub, ok := keys[v.KeyID]
	if !ok {
		return v, fmt.Errorf("%w (keyid %q)", ErrUnknownKey, v.KeyID)
	}
	msgHeader := http.Header{}
	for _, k := range []string{"Content-Digest", "Content-Type"} {
		if x := get(k); x != "" {
			msgHeader.Set(k, x)
		}
	}
	for _, c := range comps {
		if !strings.HasPrefix(c.Name, "@") && !c.Req && msgHeader.Get(c.Name) == "" {
			msgHeader[http.CanonicalHeaderKey(c.Name)] = h.Values(c.Name)
		}
	}
	m := &Message{Status: status, Header: msgHeader, Request: &Message{Method: method, URL: target}}
	base, _, err := SignatureBase(m, comps, in.Params)
	if err != nil {
		return v, err
	}
	if !ed25519.Verify(pub, base, sm.Item.Bytes) {
		return v, fmt.Errorf("%w: one of %s differs from what was signed", ErrMismatch, strings.Join(v.Covered, ", "))
	}
	if err := VerifyDigest(get("Content-Digest"), body); err != nil {
		return v, err
	}
	return v, nil
}
