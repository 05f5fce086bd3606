package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"waymark.dev/waymark/internal/admin"
)

// Cookie names of the admin session: with the __Host- prefix (Secure, no
// Domain, Path=/) when the dashboard is reached over HTTPS, and a plain
// name on plain-HTTP development setups, where browsers refuse Secure
// cookies.
const (
	sessionCookieTLS   = "__Host-waymark_session"
	sessionCookiePlain = "waymark_session"
)

// adminDeviceCookie marks a browser the administrator has logged in
// from (admin.Auth.NewDeviceToken): its password checks may use the slot
// kept for known devices, so a flood of guesses from elsewhere does not
// keep the owner waiting. Sent only to /login.
const adminDeviceCookie = "waymark_admin_device"

func cookieValue(r *http.Request, name string) string {
	if c, err := r.Cookie(name); err == nil {
		return c.Value
	}
	return ""
}

type sessionKey struct{}

// isHTTPS reports whether the browser reached us over HTTPS: directly, or
// through a trusted proxy that says so.
func (s *Server) isHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	return r.Header.Get("X-Forwarded-Proto") == "https" && isTrusted(peerAddr(r), s.TrustedProxies)
}

func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, token string, expires time.Time) {
	c := &http.Cookie{Name: sessionCookiePlain, Value: token, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if s.isHTTPS(r) {
		c.Name, c.Secure = sessionCookieTLS, true
	}
	if token == "" {
		c.MaxAge = -1
	} else {
		c.Expires = expires
	}
	http.SetCookie(w, c)
}

func sessionToken(r *http.Request) string {
	for _, name := range []string{sessionCookieTLS, sessionCookiePlain} {
		if c, err := r.Cookie(name); err == nil {
			return c.Value
		}
	}
	return ""
}

// requireAdmin lets logged-in administrators through. Pages send others to
// the login form; JSON endpoints answer 401.
func (s *Server) requireAdmin(h handlerFunc) http.HandlerFunc {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		sess, err := s.Admin.Check(r.Context(), sessionToken(r))
		if errors.Is(err, admin.ErrBadLogin) {
			if strings.HasSuffix(r.URL.Path, ".json") || r.Method != http.MethodGet {
				return &apiError{Status: http.StatusUnauthorized, Code: codeUnauthenticated, Message: "log in to the dashboard first"}
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return nil
		}
		if err != nil {
			return err
		}
		if r.Method == http.MethodPost && r.PostFormValue("csrf") != sess.CSRF {
			return &apiError{Status: http.StatusForbidden, Code: codeForbidden, Message: "the form is out of date; reload the page and try again"}
		}
		w.Header().Set("Cache-Control", "no-store")
		return h(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, sess)))
	})
}

func sessionOf(r *http.Request) admin.Session {
	s, _ := r.Context().Value(sessionKey{}).(admin.Session)
	return s
}

// safeNext keeps a post-login redirect on this site's dashboard.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/dashboard") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/dashboard"
	}
	return next
}

type loginPage struct {
	Title, Next, Error string
	CSRF               string // empty: logged out
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.Admin.Check(r.Context(), sessionToken(r)); err == nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return nil
	}
	return s.render(w, http.StatusOK, "login.html", loginPage{Title: "Log in", Next: safeNext(r.URL.Query().Get("next"))})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	next := safeNext(r.PostFormValue("next"))
	client := ClientIP(r, s.TrustedProxies).String()
	if ok, wait := s.Throttle.Begin(client); !ok {
		secs := int(wait.Round(time.Second) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(max(1, secs)))
		return s.render(w, http.StatusTooManyRequests, "login.html", loginPage{Title: "Log in", Next: next,
			Error: "Too many failed attempts. Try again in " + strconv.Itoa(max(1, secs)) + " seconds."})
	}
	known := s.Admin.KnownDevice(r.Context(), cookieValue(r, adminDeviceCookie))
	token, sess, err := s.Admin.LoginDevice(r.Context(), r.PostFormValue("password"), known)
	if errors.Is(err, admin.ErrBusy) {
		w.Header().Set("Retry-After", "2")
		return s.render(w, http.StatusTooManyRequests, "login.html", loginPage{Title: "Log in", Next: next,
			Error: "The server is busy checking other logins. Try again in a few seconds."})
	}
	if errors.Is(err, admin.ErrBadLogin) {
		s.Throttle.Fail(client)
		s.log.Warn("dashboard login failed")
		return s.render(w, http.StatusUnauthorized, "login.html", loginPage{Title: "Log in", Next: next, Error: "Wrong password."})
	}
	if err != nil {
		return err
	}
	s.Throttle.Succeed(client)
	s.setSessionCookie(w, r, token, sess.Expires)
	if dev, err := s.Admin.NewDeviceToken(r.Context()); err == nil {
		http.SetCookie(w, &http.Cookie{Name: adminDeviceCookie, Value: dev, Path: "/login", MaxAge: 400 * 24 * 3600,
			HttpOnly: true, Secure: s.isHTTPS(r), SameSite: http.SameSiteStrictMode})
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	if err := s.Admin.Logout(r.Context(), sessionToken(r)); err != nil {
		return err
	}
	s.setSessionCookie(w, r, "", time.Time{})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}
