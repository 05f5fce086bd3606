package web

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"waymark.dev/waymark/internal/admin"
	"waymark.dev/waymark/internal/proxytoken"
)

// proxyPAC serves the proxy auto-config file for browsers and systems.
func (s *Server) proxyPAC(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-ns-proxy-autoconfig")
	w.Header().Set("Cache-Control", "max-age=300")
	w.Write([]byte(s.ProxyPAC))
}

// Ops is the small server a proxy-only process runs beside the proxy:
// health, metrics and the PAC file.
func Ops(reg *prometheus.Registry, pac string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s := &Server{Deps: Deps{ProxyPAC: pac}}
	mux.HandleFunc("GET /proxy.pac", s.proxyPAC)
	return mux
}

// requireAdminAPI lets logged-in administrators call JSON endpoints; other
// callers get 401. Changes need the session's CSRF token in X-CSRF-Token.
func (s *Server) requireAdminAPI(h handlerFunc) http.HandlerFunc {
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		sess, err := s.Admin.Check(r.Context(), sessionToken(r))
		if errors.Is(err, admin.ErrBadLogin) {
			return &apiError{Status: http.StatusUnauthorized, Code: codeUnauthenticated, Message: "log in to the dashboard first"}
		}
		if err != nil {
			return err
		}
		if r.Method != http.MethodGet && r.Header.Get("X-CSRF-Token") != sess.CSRF {
			return &apiError{Status: http.StatusForbidden, Code: codeForbidden, Message: "send the session's CSRF token in X-CSRF-Token"}
		}
		w.Header().Set("Cache-Control", "no-store")
		return h(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, sess)))
	})
}

type proxyTokenJSON struct {
	ID      string `json:"id"`
	User    string `json:"user"`
	Created string `json:"created"`
	Expires string `json:"expires,omitempty"`
	State   string `json:"state"`
	// Sign: every plain-HTTP answer to this token is signed, asked for
	// or not.
	Sign bool `json:"sign"`
}

func (s *Server) proxyTokens(w http.ResponseWriter, r *http.Request) error {
	toks, err := s.ProxyAuth.Store.ProxyTokens(r.Context())
	if err != nil {
		return err
	}
	out := []proxyTokenJSON{}
	now := s.Now()
	for _, t := range toks {
		j := proxyTokenJSON{ID: t.ID, User: t.User, Created: t.Created.Format(time.RFC3339), State: "active", Sign: t.Sign}
		if !t.Expires.IsZero() {
			j.Expires = t.Expires.Format(time.RFC3339)
			if !now.Before(t.Expires) {
				j.State = "expired"
			}
		}
		if t.Revoked {
			j.State = "revoked"
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
	return nil
}

func (s *Server) addProxyToken(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		User        string `json:"user"`
		ExpiresDays int    `json:"expires_days"`
		Sign        bool   `json:"sign"`
	}
	if err := decodeStrict(r, w, &req); err != nil {
		return err
	}
	if err := proxytoken.ValidUser(req.User); err != nil {
		return errInvalid("user", err.Error())
	}
	if req.ExpiresDays < 0 || req.ExpiresDays > 3650 {
		return errInvalid("expires_days", "expires_days is from 0 (never) to 3650")
	}
	t, secret, err := s.ProxyAuth.AddWith(r.Context(), req.User, time.Duration(req.ExpiresDays)*24*time.Hour, req.Sign)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": t.ID, "user": t.User, "token": secret, "sign": t.Sign,
		"note": "the token is shown once; only its hash is kept"})
	return nil
}

func (s *Server) revokeProxyToken(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := s.ProxyAuth.Revoke(r.Context(), id); err != nil {
		if errors.Is(err, proxytoken.ErrNotFound) {
			return &apiError{Status: http.StatusNotFound, Code: codeNotFound, Message: "no proxy token " + id}
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
