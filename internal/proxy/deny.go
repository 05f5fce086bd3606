package proxy

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"waymark.dev/waymark/internal/netguard"
)

//go:embed denied.html
var deniedHTML string

var deniedPage = template.Must(template.New("denied").Parse(deniedHTML))

// Reason says why the proxy decided as it did. It is the reason of the
// Waymark-Decision header, the audit line and the decisions metric.
// Besides the proxy's own reasons below, a reason is an address class
// of the egress policy (netguard's reasons, "nat64:private" for an
// embedded address) or "threat_" and the list of a high-risk site.
type Reason string

// The proxy's own reasons.
const (
	ReasonAuthRequired           Reason = "auth_required"
	ReasonBadCredentials         Reason = "bad_credentials"
	ReasonTokenStoreUnavailable  Reason = "token_store_unavailable"
	ReasonScheme                 Reason = "scheme"
	ReasonNotAProxyRequest       Reason = "not_a_proxy_request"
	ReasonBadDestination         Reason = "bad_destination"
	ReasonTargetMismatch         Reason = "target_mismatch"
	ReasonHostDenied             Reason = "host_denied"
	ReasonHostNotAllowed         Reason = "host_not_allowed"
	ReasonRateLimited            Reason = "rate_limited"
	ReasonTunnelLimit            Reason = "tunnel_limit"
	ReasonDNS                    Reason = "dns"
	ReasonUpstream               Reason = "upstream"
	ReasonShuttingDown           Reason = "shutting_down"
	ReasonHijack                 Reason = "hijack"
	ReasonClientGone             Reason = "client_gone"
	ReasonHTTPSRequired          Reason = "https_required"
	ReasonUpgradeNotHTTP1        Reason = "upgrade_not_http1"
	ReasonUpgradeWithBody        Reason = "upgrade_with_body"
	ReasonThreatWarningContinued Reason = "threat_warning_continued"
	ReasonBadIntegrityRequest    Reason = "bad_integrity_request"
)

// reasonText explains every reason a person can be shown, the proxy's own
// and the egress policy's; TestReasonsExplained holds it complete and
// docs/PROXY.md in step.
var reasonText = map[Reason]string{
	ReasonAuthRequired:           "No proxy credentials were sent.",
	ReasonBadCredentials:         "The proxy token is unknown, revoked or expired.",
	ReasonTokenStoreUnavailable:  "The proxy cannot check tokens right now.",
	ReasonScheme:                 "Only plain-HTTP URLs are forwarded; HTTPS goes through a CONNECT tunnel.",
	ReasonNotAProxyRequest:       "The request was not addressed to another site.",
	ReasonBadDestination:         "The destination could not be read.",
	ReasonTargetMismatch:         "The request named one site in its address and another in its authority.",
	ReasonHostDenied:             "The operator has blocked this site.",
	ReasonHostNotAllowed:         "This site is not on the list of sites you may visit through the proxy.",
	ReasonRateLimited:            "Too many requests in a short time.",
	ReasonTunnelLimit:            "Too many open connections for this user.",
	ReasonDNS:                    "The site's name could not be resolved.",
	ReasonUpstream:               "The site could not be reached.",
	ReasonShuttingDown:           "The proxy is shutting down.",
	ReasonHijack:                 "The proxy could not take over the connection.",
	ReasonClientGone:             "The browser went away before the answer came.",
	ReasonBadIntegrityRequest:    "The request's Accept-Signature or Want-Content-Digest could not be read.",
	ReasonHTTPSRequired:          "This site is reached over HTTPS only, and HTTPS did not work.",
	ReasonUpgradeNotHTTP1:        "Protocol upgrades are forwarded over HTTP/1.1 only.",
	ReasonUpgradeWithBody:        "A request that switches protocols must not carry a body.",
	ReasonThreatWarningContinued: "You chose to continue to a site the proxy warned about.",
	netguard.ReasonPort:          "Connections to this port are not allowed.",
	netguard.ReasonSelf:          "The proxy does not connect to itself.",
	netguard.ReasonDeniedCIDR:    "The operator has blocked this network.",
	netguard.ReasonLoopback:      "The address is this machine's own (loopback).",
	netguard.ReasonPrivate:       "The address is in a private network.",
	netguard.ReasonMetadata:      "The address is a cloud metadata service.",
	netguard.ReasonLinkLocal:     "The address is link-local.",
	netguard.ReasonCGNAT:         "The address is carrier-grade NAT space.",
	netguard.ReasonUniqueLocal:   "The address is in a private IPv6 network.",
}

func explain(reason Reason) string {
	if l, ok := strings.CutPrefix(string(reason), "threat_"); ok && reason != ReasonThreatWarningContinued {
		return "The site is on the " + l + " list of known high-risk sites."
	}
	if t, ok := reasonText[reason]; ok {
		return t
	}
	if i := strings.IndexByte(string(reason), ':'); i > 0 {
		return "The address hides a non-public address (" + string(reason) + ")."
	}
	return "The address is not a public internet address (" + string(reason) + ")."
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
	h.Set("Waymark-Decision", q.decision+"; reason="+string(q.reason))
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
			"code": string(q.reason), "message": message, "destination": dest, "explanation": explain(q.reason)}})
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(body.Len()))
		w.WriteHeader(status)
		w.Write(body.Bytes())
		return
	}
	var body bytes.Buffer
	deniedPage.Execute(&body, map[string]string{"Status": strconv.Itoa(status) + " " + http.StatusText(status),
		"Destination": dest, "Reason": string(q.reason), "Explanation": explain(q.reason), "Message": message})
	pageHeaders(h)
	h.Set("Content-Length", strconv.Itoa(body.Len()))
	w.WriteHeader(status)
	w.Write(body.Bytes())
}
