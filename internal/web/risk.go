package web

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"waymark.dev/waymark/internal/identity"
	"waymark.dev/waymark/internal/risk"
)

// deviceCookie is the device token's cookie (with __Host- over HTTPS).
const deviceCookie = "waymark_device"

type riskLoginRequest struct {
	Account        string `json:"account"`
	Outcome        string `json:"outcome"`
	IP             string `json:"ip"`
	UserAgent      string `json:"user_agent"`
	DeviceCookie   string `json:"device_cookie"`
	CookieHeader   string `json:"cookie_header"`
	CookiesRefused bool   `json:"cookies_refused"`
	// InsecureSite: the site runs on plain HTTP (development), so the
	// cookie cannot be __Host- and Secure.
	InsecureSite bool `json:"insecure_site"`
}

type riskAnswer struct {
	risk.Decision
	// DeviceCookie and SetCookie carry the device cookie's next value
	// after its secret rotated: the site passes SetCookie to the browser.
	DeviceCookie string `json:"device_cookie,omitempty"`
	SetCookie    string `json:"set_cookie,omitempty"`
}

func decodeStrict(r *http.Request, w http.ResponseWriter, v any) error {
	var src io.Reader = io.LimitReader(r.Body, 16<<10+1)
	if w != nil {
		src = http.MaxBytesReader(w, r.Body, 16<<10)
	}
	body, err := io.ReadAll(src)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errInvalid("body", fmt.Sprintf("not valid JSON for this endpoint: %v", err))
	}
	return nil
}

// deviceCookieOf finds the device cookie in a forwarded Cookie header.
func deviceCookieOf(header string) string {
	r := http.Request{Header: http.Header{"Cookie": {header}}}
	return readCookie(&r, deviceCookie)
}

// setCookieLine is the Set-Cookie value a site passes to the browser.
func setCookieLine(value string, secure bool) string {
	name := deviceCookie
	if secure {
		name = "__Host-" + deviceCookie
	}
	c := &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: int(identity.MaxAge / time.Second), HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode}
	return c.String()
}

// loginClient is who a site says is logging in: the account, the
// browser's address and its browser and OS families.
type loginClient struct {
	ip          netip.Addr
	browser, os string
}

// loginClient checks the account and address a site sent and reads the
// user agent.
func (s *Server) loginClient(account, ip, userAgent string) (loginClient, error) {
	if err := risk.ValidAccount(account); err != nil {
		return loginClient{}, errInvalid("account", err.Error())
	}
	addr, err := netip.ParseAddr(ip)
	if ip != "" && err != nil {
		return loginClient{}, errInvalid("ip", "not an IP address")
	}
	ag := s.agent(userAgent)
	return loginClient{ip: addr, browser: ag.Browser, os: ag.OS}, nil
}

// riskLogin serves POST /api/v1/risk/login for a site's login handler.
func (s *Server) riskLogin(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.authorizeAny(r); err != nil {
		return err
	}
	var req riskLoginRequest
	if err := decodeStrict(r, w, &req); err != nil {
		return err
	}
	c, err := s.loginClient(req.Account, req.IP, req.UserAgent)
	if err != nil {
		return err
	}
	if req.DeviceCookie == "" && req.CookieHeader != "" {
		req.DeviceCookie = deviceCookieOf(req.CookieHeader)
	}
	ans, err := s.Risk.Login(r.Context(), risk.Attempt{Account: req.Account, Outcome: req.Outcome, IP: c.ip, Browser: c.browser, OS: c.os,
		DeviceCookie: req.DeviceCookie, CookiesRefused: req.CookiesRefused})
	if errors.Is(err, risk.ErrOutcome) {
		return errInvalid("outcome", err.Error())
	}
	if err != nil {
		return err
	}
	out := riskAnswer{Decision: ans.Decision}
	if ans.NewToken != nil {
		out.DeviceCookie = ans.NewToken.Encode()
		out.SetCookie = setCookieLine(out.DeviceCookie, !req.InsecureSite)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type trustRequest struct {
	Account   string `json:"account"`
	Name      string `json:"name"`
	IP        string `json:"ip"`
	UserAgent string `json:"user_agent"`
	// InsecureSite: see riskLoginRequest.
	InsecureSite bool `json:"insecure_site"`
}

// trustDevice serves POST /api/v1/devices/trust: the current browser
// becomes a trusted device of the account.
func (s *Server) trustDevice(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.authorizeAny(r); err != nil {
		return err
	}
	var req trustRequest
	if err := decodeStrict(r, w, &req); err != nil {
		return err
	}
	c, err := s.loginClient(req.Account, req.IP, req.UserAgent)
	if err != nil {
		return err
	}
	d, tok, err := s.Risk.Trust(r.Context(), req.Account, req.Name, c.ip, c.browser, c.os)
	if errors.Is(err, risk.ErrDeviceName) {
		return errInvalid("name", err.Error())
	}
	if err != nil {
		return err
	}
	v := tok.Encode()
	writeJSON(w, http.StatusOK, map[string]any{"device_id": hex.EncodeToString(d.ID[:]), "device_cookie": v,
		"set_cookie": setCookieLine(v, !req.InsecureSite)})
	return nil
}

type deviceView struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Browser  string    `json:"browser"`
	OS       string    `json:"os"`
	Network  string    `json:"network"`
	Place    string    `json:"place,omitempty"` // where Network is ("Lisbon, PT"), with a geolocation database
	Trusted  time.Time `json:"trusted_since"`
	LastSeen time.Time `json:"last_seen"`
	Revoked  bool      `json:"revoked"`
}

// devices serves GET /api/v1/accounts/{account}/devices.
func (s *Server) devices(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.authorizeAny(r); err != nil {
		return err
	}
	ds, err := s.Risk.Store.Devices(r.Context(), r.PathValue("account"))
	if err != nil {
		return err
	}
	out := []deviceView{}
	for _, d := range ds {
		out = append(out, deviceView{ID: hex.EncodeToString(d.ID[:]), Name: d.Name, Browser: d.Browser, OS: d.OS, Network: d.Network,
			Place: s.Risk.PlaceOf(d.Network), Trusted: d.Created, LastSeen: d.LastSeen, Revoked: d.Revoked})
	}
	writeJSON(w, http.StatusOK, map[string]any{"devices": out})
	return nil
}

// revokeDevice serves DELETE /api/v1/accounts/{account}/devices/{id}.
func (s *Server) revokeDevice(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.authorizeAny(r); err != nil {
		return err
	}
	var id risk.DeviceID
	b, err := hex.DecodeString(r.PathValue("id"))
	if err != nil || len(b) != len(id) {
		return errInvalid("id", "a device id is 32 hex digits")
	}
	copy(id[:], b)
	err = s.Risk.Revoke(r.Context(), r.PathValue("account"), id)
	if errors.Is(err, risk.ErrNotFound) {
		return &apiError{Status: http.StatusNotFound, Code: codeNotFound, Field: "id", Message: "this account has no such device"}
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// accountEvents serves GET /api/v1/accounts/{account}/events: the audit
// trail.
func (s *Server) accountEvents(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.authorizeAny(r); err != nil {
		return err
	}
	es, err := s.Risk.Store.Events(r.Context(), r.PathValue("account"), 200)
	if err != nil {
		return err
	}
	type ev struct {
		risk.Event
		Device string `json:"device,omitempty"`
	}
	out := []ev{}
	for _, e := range es {
		x := ev{Event: e}
		if e.Device != (risk.DeviceID{}) {
			x.Device = hex.EncodeToString(e.Device[:])
		}
		out = append(out, x)
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out})
	return nil
}
