package web

import (
	"fmt"
	"net/http"

	"waymark.dev/waymark/internal/threats"
)

// maxCheckURLs is how many URLs one link check may carry.
const maxCheckURLs = 1000

type threatCheckRequest struct {
	URLs []string `json:"urls"`
}

// threatCheck answers POST /api/v1/threats/check: a verdict per URL, for
// a site checking the links in its users' content.
func (s *Server) threatCheck(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.apiToken(r); err != nil {
		return err
	}
	var req threatCheckRequest
	if err := decodeStrict(r, w, &req); err != nil {
		return err
	}
	if len(req.URLs) == 0 {
		return errInvalid("urls", "give one or more URLs")
	}
	if len(req.URLs) > maxCheckURLs {
		return errInvalid("urls", fmt.Sprintf("at most %d URLs per request", maxCheckURLs))
	}
	out := make([]threats.Verdict, len(req.URLs))
	for i, u := range req.URLs {
		out[i] = s.Threats.Check(u)
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": out})
	return nil
}

// signingKeys serves the JWKS of the keys that sign relayed content.
func (s *Server) signingKeys(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/jwk-set+json")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("Access-Control-Allow-Origin", "*")
	w.Write(s.SigningKeys.KeySet().JWKS())
}
