package proxy

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"
	"strings"
)

//go:embed denied.html
var deniedHTML string

var deniedPage = template.Must(template.New("denied").Parse(deniedHTML))

// reasonText explains reasons to a person.
var reasonText = map[string]string{
	"auth_required":        "No proxy credentials were sent.",
	"bad_credentials":      "The proxy token is unknown, revoked or expired.",
	"scheme":               "Only plain-HTTP URLs are forwarded; HTTPS goes through a CONNECT tunnel.",
	"not_a_proxy_request":  "The request was not addressed to another site.",
	"upgrade_not_http1":    "Protocol upgrades are forwarded over HTTP/1.1 only.",
	"upgrade_with_body":    "A request that switches protocols must not carry a body.",
	"target_mismatch":      "The request named one site in its address and another in its authority.",
	"bad_destination":      "The destination could not be read.",
	"host_denied":          "The operator has blocked this site.",
	"host_not_allowed":     "This site is not on the list of sites you may visit through the proxy.",
	"rate_limited":         "Too many requests in a short time.",
	"tunnel_limit":         "Too many open connections for this user.",
	"dns":                  "The site's name could not be resolved.",
	"upstream":             "The site could not be reached.",
	"port_not_allowed":     "Connections to this port are not allowed.",
	"proxy_itself":         "The proxy does not connect to itself.",
	"denied_cidr":          "The operator has blocked this network.",
	"loopback":             "The address is this machine's own (loopback).",
	"private":              "The address is in a private network.",
	"cloud_metadata":       "The address is a cloud metadata service.",
	"link_local":           "The address is link-local.",
	"shared_address_space": "The address is carrier-grade NAT space.",
	"unique_local":         "The address is in a private IPv6 network.",
}

func explain(reason string) string {
	if strings.HasPrefix(reason, "threat_") {
		return "The site is on the " + strings.TrimPrefix(reason, "threat_") + " list of known high-risk sites."
	}
	if t, ok := reasonText[reason]; ok {
		return t
	}
	if i := strings.IndexByte(reason, ':'); i > 0 {
		return "The address hides a non-public address (" + reason + ")."
	}
	return "The address is not a public internet address (" + reason + ")."
}

// pageHeaders sets the fields of every page the proxy shows in place of
// a site (block and warning pages): HTML, nothing loaded from elsewhere,
// and never inside another site's frame, where a "continue" link could be
// clicked for the user (clickjacking).
func pageHeaders(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.Set("X-Frame-Options", "DENY")
}

// deny answers a refused request: a 4xx/5xx with Waymark-Decision, and a
// body that browsers show for plain HTTP (HTML, or JSON when asked for).
// CONNECT answers carry the header only, since browsers hide their bodies.
func (s *Server) deny(w http.ResponseWriter, r *http.Request, q *request, status int, message string) {
	q.status = status
	h := w.Header()
	h.Set("Waymark-Decision", q.decision+"; reason="+q.reason)
	h.Set("Cache-Control", "no-store")
	if r.Method == http.MethodConnect {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Content-Length", strconv.Itoa(len(message)+1))
		w.WriteHeader(status)
		w.Write([]byte(message + "\n"))
		return
	}
	dest := q.dest.String()
	if q.dest.Host == "" {
		dest = r.Host
	}
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		var body bytes.Buffer
		json.NewEncoder(&body).Encode(map[string]any{"error": map[string]string{
			"code": q.reason, "message": message, "destination": dest, "explanation": explain(q.reason)}})
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(body.Len()))
		w.WriteHeader(status)
		w.Write(body.Bytes())
		return
	}
	var body bytes.Buffer
	deniedPage.Execute(&body, map[string]string{"Status": strconv.Itoa(status) + " " + http.StatusText(status),
		"Destination": dest, "Reason": q.reason, "Explanation": explain(q.reason), "Message": message})
	pageHeaders(h)
	h.Set("Content-Length", strconv.Itoa(body.Len()))
	w.WriteHeader(status)
	w.Write(body.Bytes())
}
