package proxy

import (
	"fmt"
	"strings"
)

// HostRules allow or deny destinations by name. A pattern is a host
// ("example.com"), a wildcard for its subdomains ("*.example.com", which
// does not match example.com itself) or "*" for every host. Deny wins over
// allow; with any allow pattern, hosts matching none are denied.
type HostRules struct {
	Allow []string
	Deny  []string
}

// Validate checks the patterns.
func (h HostRules) Validate() error {
	for _, p := range append(append([]string{}, h.Allow...), h.Deny...) {
		if p == "*" {
			continue
		}
		rest := strings.TrimPrefix(p, "*.")
		if rest == "" || strings.ContainsAny(rest, "*/: ") || rest != strings.ToLower(rest) {
			return fmt.Errorf("proxy: host pattern %q must be lower case \"host\", \"*.host\" or \"*\"", p)
		}
	}
	return nil
}

// Decide says whether host is allowed and, if not, why.
func (h HostRules) Decide(host string) (bool, Reason) {
	for _, p := range h.Deny {
		if hostMatch(p, host) {
			return false, ReasonHostDenied
		}
	}
	if len(h.Allow) == 0 {
		return true, ""
	}
	for _, p := range h.Allow {
		if hostMatch(p, host) {
			return true, ""
		}
	}
	return false, ReasonHostNotAllowed
}

func hostMatch(pattern, host string) bool {
	if pattern == "*" {
		return true
	}
	if suffix, ok := strings.CutPrefix(pattern, "*."); ok {
		return len(host) > len(suffix)+1 && strings.HasSuffix(host, suffix) && host[len(host)-len(suffix)-1] == '.'
	}
	return host == pattern
}
