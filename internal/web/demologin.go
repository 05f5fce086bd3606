package web

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html/template"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"waymark.dev/waymark/internal/assets"
	"waymark.dev/waymark/internal/identity"
	"waymark.dev/waymark/internal/risk"
)

// The demo shop's login: the site's side of account security, as a site
// would write it against the risk API (here in-process). Any account name
// works with the password "demo".

var demoTmpl = template.Must(template.ParseFS(assets.Static, "static/demo/*.html"))

const (
	demoPassword      = "demo"
	demoAccountCookie = "waymark_demo_account"
	demoChallenge     = "waymark_demo_challenge"
)

type demoPage struct {
	Title, Domain, Heading, Step, Account, Code string
	Message, MessageClass                       string
	Reasons                                     []string
	Messages                                    []string // the reasons in words
	Score                                       int
	Devices                                     []deviceView
}

// demoChallenges are pending one-time codes (demo only: in memory).
type demoChallenges struct {
	mu   sync.Mutex
	m    map[string]demoCode
	key  [32]byte // signs the demo's account cookie (this process's sessions)
	once sync.Once
}

// demoSession signs an account name for the demo's session cookie, so a
// forged cookie cannot skip the login's step-up.
func (s *Server) demoSession(account string) string {
	s.demo.once.Do(func() { rand.Read(s.demo.key[:]) })
	m := hmac.New(sha256.New, s.demo.key[:])
	m.Write([]byte(account))
	return account + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// demoAccountOf returns the signed-in demo account, or "".
func (s *Server) demoAccountOf(r *http.Request) string {
	v := readCookie(r, demoAccountCookie)
	i := strings.LastIndexByte(v, '.')
	if i <= 0 || !hmac.Equal([]byte(s.demoSession(v[:i])), []byte(v)) {
		return ""
	}
	return v[:i]
}

type demoCode struct {
	account, code string
	expires       time.Time
	wrong         int // wrong codes entered: the second ends the challenge
}

func (s *Server) demoRender(w http.ResponseWriter, status int, p demoPage) error {
	p.Domain = s.DemoDomain
	if p.Title == "" {
		p.Title = "Log in"
	}
	if p.Heading == "" {
		p.Heading = p.Title
	}
	var buf bytes.Buffer
	if err := demoTmpl.ExecuteTemplate(&buf, "login.html", p); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

func (s *Server) demoLoginForm(w http.ResponseWriter, r *http.Request) error {
	return s.demoRender(w, http.StatusOK, demoPage{Step: "login"})
}

func (s *Server) demoAttempt(r *http.Request, account, outcome string) (risk.Answer, error) {
	ag := s.agent(r.UserAgent())
	return s.Risk.Login(r.Context(), risk.Attempt{Account: account, Outcome: outcome, IP: ClientIP(r, s.TrustedProxies),
		Browser: ag.Browser, OS: ag.OS, DeviceCookie: readCookie(r, deviceCookie)})
}

func (s *Server) demoLogin(w http.ResponseWriter, r *http.Request) error {
	account := strings.TrimSpace(r.PostFormValue("account"))
	if err := risk.ValidAccount(account); err != nil {
		return s.demoRender(w, http.StatusBadRequest, demoPage{Step: "login", Message: "Enter an account name.", MessageClass: "error"})
	}
	if r.PostFormValue("password") != demoPassword {
		ans, err := s.demoAttempt(r, account, risk.EventFailure)
		if err != nil {
			return err
		}
		msg := `Wrong password (the demo's is "demo").`
		if ans.Decision.Decision == risk.Deny {
			msg = "Too many failed attempts from this network: sign-in refused for now."
		}
		return s.demoRender(w, http.StatusUnauthorized, demoPage{Step: "login", Account: account, Message: msg, MessageClass: "error",
			Reasons: ans.Reasons, Messages: ans.Messages, Score: ans.Score})
	}
	ans, err := s.demoAttempt(r, account, risk.EventSuccess)
	if err != nil {
		return err
	}
	p := demoPage{Account: account, Reasons: ans.Reasons, Messages: ans.Messages, Score: ans.Score}
	switch ans.Decision.Decision {
	case risk.Allow:
		if ans.NewToken != nil {
			s.setCookie(w, r, deviceCookie, ans.NewToken.Encode(), identity.MaxAge)
		}
		s.setCookie(w, r, demoAccountCookie, s.demoSession(account), 12*time.Hour)
		http.Redirect(w, r, "/demo/account", http.StatusSeeOther)
		return nil
	case risk.Challenge:
		n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000))
		code := fmt.Sprintf("%06d", n)
		nonce := identity.NewID().String()
		s.demo.mu.Lock()
		if s.demo.m == nil || len(s.demo.m) > 10000 {
			s.demo.m = map[string]demoCode{}
		}
		s.demo.m[nonce] = demoCode{account: account, code: code, expires: s.Now().Add(10 * time.Minute)}
		s.demo.mu.Unlock()
		s.setCookie(w, r, demoChallenge, nonce, 10*time.Minute)
		p.Step, p.Code, p.Title = "code", code, "Confirm it is you"
		p.Message, p.MessageClass = "A login from a new device: confirm it with a one-time code.", "note"
		return s.demoRender(w, http.StatusOK, p)
	}
	p.Step, p.Title = "login", "Sign-in refused"
	p.Message, p.MessageClass = "Sign-in refused: this looks like a stolen or attacked login.", "error"
	return s.demoRender(w, http.StatusForbidden, p)
}

func (s *Server) demoVerify(w http.ResponseWriter, r *http.Request) error {
	nonce := readCookie(r, demoChallenge)
	s.demo.mu.Lock()
	c, ok := s.demo.m[nonce]
	retry := false
	switch {
	case !ok || !s.Now().Before(c.expires):
		ok = false
		delete(s.demo.m, nonce)
	case c.code != strings.TrimSpace(r.PostFormValue("code")):
		// One more try on the same code: a typo should not send the
		// visitor back to the password.
		ok = false
		c.wrong++
		if retry = c.wrong < 2; retry {
			s.demo.m[nonce] = c
		} else {
			delete(s.demo.m, nonce)
		}
	default:
		delete(s.demo.m, nonce)
	}
	s.demo.mu.Unlock()
	if retry {
		return s.demoRender(w, http.StatusUnauthorized, demoPage{Step: "code", Account: c.account, Code: c.code, Title: "Confirm it is you",
			Message: "That code is not the one we sent. Check it and try once more.", MessageClass: "error"})
	}
	if !ok {
		return s.demoRender(w, http.StatusUnauthorized, demoPage{Step: "login", Account: c.account,
			Message: "That code is wrong again, or it expired (codes last 10 minutes). Log in again for a new one.", MessageClass: "error"})
	}
	ag := s.agent(r.UserAgent())
	_, tok, err := s.Risk.Trust(r.Context(), c.account, ag.Browser+" on "+ag.OS, ClientIP(r, s.TrustedProxies), ag.Browser, ag.OS)
	if err != nil {
		return err
	}
	s.setCookie(w, r, deviceCookie, tok.Encode(), identity.MaxAge)
	s.setCookie(w, r, demoChallenge, "", 0)
	s.setCookie(w, r, demoAccountCookie, s.demoSession(c.account), 12*time.Hour)
	http.Redirect(w, r, "/demo/account", http.StatusSeeOther)
	return nil
}

func (s *Server) demoAccount(w http.ResponseWriter, r *http.Request) error {
	account := s.demoAccountOf(r)
	if risk.ValidAccount(account) != nil {
		http.Redirect(w, r, "/demo/login", http.StatusSeeOther)
		return nil
	}
	ds, err := s.Risk.Store.Devices(r.Context(), account)
	if err != nil {
		return err
	}
	p := demoPage{Title: "My account", Step: "account", Account: account}
	if m := r.URL.Query().Get("msg"); m != "" {
		p.Message, p.MessageClass = m, "note"
	}
	for _, d := range ds {
		p.Devices = append(p.Devices, deviceView{ID: hex.EncodeToString(d.ID[:]), Name: d.Name, Browser: d.Browser, OS: d.OS,
			Network: d.Network, Place: s.Risk.PlaceOf(d.Network), Trusted: d.Created, LastSeen: d.LastSeen, Revoked: d.Revoked})
	}
	return s.demoRender(w, http.StatusOK, p)
}

func (s *Server) demoRevoke(w http.ResponseWriter, r *http.Request) error {
	account := s.demoAccountOf(r)
	if account == "" {
		http.Redirect(w, r, "/demo/login", http.StatusSeeOther)
		return nil
	}
	var id risk.DeviceID
	if b, err := hex.DecodeString(r.PostFormValue("id")); err == nil && len(b) == len(id) {
		copy(id[:], b)
		if err := s.Risk.Revoke(r.Context(), account, id); err != nil && err != risk.ErrNotFound {
			return err
		}
	}
	http.Redirect(w, r, "/demo/account?msg=Device+revoked", http.StatusSeeOther)
	return nil
}

// demoStolen replays this browser's device cookie after a normal login
// rotated it, as a thief with a copy would, and shows the answer.
func (s *Server) demoStolen(w http.ResponseWriter, r *http.Request) error {
	account := s.demoAccountOf(r)
	old := readCookie(r, deviceCookie)
	if risk.ValidAccount(account) != nil || old == "" {
		http.Redirect(w, r, "/demo/login", http.StatusSeeOther)
		return nil
	}
	ans, err := s.demoAttempt(r, account, risk.EventSuccess)
	if err != nil {
		return err
	}
	if ans.NewToken != nil {
		s.setCookie(w, r, deviceCookie, ans.NewToken.Encode(), identity.MaxAge)
	}
	// Later (after the grace window), the copied cookie comes back.
	replay, err := s.Risk.Login(r.Context(), risk.Attempt{Account: account, Outcome: risk.EventAttempt, IP: ClientIP(r, s.TrustedProxies),
		DeviceCookie: old, At: s.Now().Add(risk.Grace + time.Second)})
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("The replayed cookie got: %s (%s). The device is revoked; its next login needs a code again.", replay.Decision.Decision, strings.Join(replay.Reasons, ", "))
	http.Redirect(w, r, "/demo/account?msg="+url.QueryEscape(msg), http.StatusSeeOther)
	return nil
}

func (s *Server) demoLogout(w http.ResponseWriter, r *http.Request) error {
	s.setCookie(w, r, demoAccountCookie, "", 0)
	http.Redirect(w, r, "/demo/login", http.StatusSeeOther)
	return nil
}
