package proxy

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"waymark.dev/waymark/internal/threats"
)

// ThreatChecker judges a destination URL (threats.Checker does).
type ThreatChecker interface {
	CheckURL(u *threats.URL) threats.Verdict
}

// continueParam is the query parameter of the warning page's "continue
// anyway" link.
const continueParam = "waymark-continue"

// continueLinkTTL is how long a warning page's link can be followed.
const continueLinkTTL = 5 * time.Minute

//go:embed warning.html
var warningHTML string

var warningPage = template.Must(template.New("warning").Parse(warningHTML))

// grants remembers which user chose to continue to which host, until
// when. A user's "continue anyway" covers that host for the proxy's
// WarnGrant and nothing else.
type grants struct {
	mu  sync.Mutex
	m   map[string]time.Time
	key []byte
}

func newGrants() *grants {
	g := &grants{m: map[string]time.Time{}, key: make([]byte, 32)}
	rand.Read(g.key)
	return g
}

func (g *grants) ok(user, host string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	until, found := g.m[user+"\x00"+host]
	if found && now.After(until) {
		delete(g.m, user+"\x00"+host)
		return false
	}
	return found
}

func (g *grants) add(user, host string, until time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.m) > 100000 {
		now := time.Now()
		for k, t := range g.m {
			if now.After(t) {
				delete(g.m, k)
			}
		}
	}
	g.m[user+"\x00"+host] = until
}

// link signs a continue link for user and host, valid until exp.
func (g *grants) link(user, host string, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	m := hmac.New(sha256.New, g.key)
	m.Write([]byte(user + "\x00" + host + "\x00" + e))
	return e + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (g *grants) valid(user, host, v string, now time.Time) bool {
	e, _, ok := strings.Cut(v, ".")
	if !ok {
		return false
	}
	exp, err := strconv.ParseInt(e, 10, 64)
	if err != nil || now.Unix() > exp {
		return false
	}
	return hmac.Equal([]byte(g.link(user, host, time.Unix(exp, 0))), []byte(v))
}

// checkThreats judges the destination; it answers the request itself
// (and returns false) when the site is blocked, or when it only warns
// and the user has not chosen to continue.
func (s *Server) checkThreats(w http.ResponseWriter, r *http.Request, q *request, connect bool) bool {
	raw := "https://" + q.dest.Host + "/"
	if !connect {
		raw = q.target.String()
	}
	u, err := threats.Canonicalize(raw)
	if err != nil {
		return true // the destination was parsed already; the path is the origin's business
	}
	v := s.Threats.CheckURL(u)
	switch v.Verdict {
	case threats.Block:
		q.decision, q.reason, q.threat = "deny", Reason("threat_"+v.List), &v
		s.deny(w, r, q, http.StatusForbidden, "The secure channel blocked this site: "+v.Reason+".")
		return false
	case threats.Warn:
		now := s.Now()
		host := q.dest.Host
		if s.grants.ok(q.user, host, now) {
			q.reason, q.threat = ReasonThreatWarningContinued, &v
			return true
		}
		if !connect {
			if c := r.URL.Query().Get(continueParam); c != "" && s.grants.valid(q.user, host, c, now) {
				s.grants.add(q.user, host, now.Add(s.warnGrant()))
				q.decision, q.reason, q.threat, q.status = "continue", Reason("threat_"+v.List), &v, http.StatusFound
				back := *q.target
				qs := back.Query()
				qs.Del(continueParam)
				back.RawQuery = qs.Encode()
				w.Header().Set("Cache-Control", "no-store")
				http.Redirect(w, r, back.String(), http.StatusFound)
				return false
			}
		}
		q.decision, q.reason, q.threat = "warn", Reason("threat_"+v.List), &v
		if connect {
			s.deny(w, r, q, http.StatusForbidden, "The secure channel stopped this site: "+v.Reason+". Open http://"+host+"/ through the proxy to see the warning and continue.")
			return false
		}
		s.warn(w, r, q, &v)
		return false
	}
	return true
}

func (s *Server) warnGrant() time.Duration {
	if s.WarnGrant > 0 {
		return s.WarnGrant
	}
	return 10 * time.Minute
}

// warn shows the interstitial with its "continue anyway" link.
func (s *Server) warn(w http.ResponseWriter, r *http.Request, q *request, v *threats.Verdict) {
	q.status = http.StatusForbidden
	next := *q.target
	qs := next.Query()
	qs.Set(continueParam, s.grants.link(q.user, q.dest.Host, s.Now().Add(continueLinkTTL)))
	next.RawQuery = qs.Encode()
	h := w.Header()
	h.Set("Waymark-Decision", "warn; reason="+string(q.reason))
	h.Set("Cache-Control", "no-store")
	pageHeaders(h)
	var body bytes.Buffer
	warningPage.Execute(&body, map[string]string{"Destination": q.dest.String(), "Reason": v.Reason, "Imitates": v.Match,
		"Continue": next.String(), "Minutes": strconv.Itoa(int(s.warnGrant().Minutes()))})
	h.Set("Content-Length", strconv.Itoa(body.Len()))
	w.WriteHeader(http.StatusForbidden)
	w.Write(body.Bytes())
}
