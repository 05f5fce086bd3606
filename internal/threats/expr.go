package threats

import (
	"crypto/sha256"
	"strings"
)

// Expressions returns the host-suffix/path-prefix combinations a list
// entry may be written as, most specific first: up to five hosts (the
// exact host, then suffixes from the last five components down to two;
// an address only as itself) times up to six paths (the exact path with
// and without the query, then the root and up to three more leading
// directories).
func Expressions(u *URL) []string {
	hosts := Hosts(u)
	paths := paths(u)
	out := make([]string, 0, len(hosts)*len(paths))
	for _, h := range hosts {
		for _, p := range paths {
			out = append(out, h+p)
		}
	}
	return out
}

// Hosts returns the host strings of a URL's expressions.
func Hosts(u *URL) []string {
	var buf [5]string
	return append([]string(nil), hostsInto(u, &buf)...)
}

func hostsInto(u *URL, buf *[5]string) []string {
	hosts := append(buf[:0], u.Host)
	if u.IP {
		return hosts
	}
	n := strings.Count(u.Host, ".") + 1
	// Suffixes keep k components, k from min(5, n-1) down to 2.
	var dotBuf [5]int
	dots := dotBuf[:0]
	for i := len(u.Host) - 1; i >= 0 && len(dots) < 5; i-- {
		if u.Host[i] == '.' {
			dots = append(dots, i)
		}
	}
	for k := min(5, n-1); k >= 2; k-- {
		// The suffix with k components starts after the k-th dot from the end.
		hosts = append(hosts, u.Host[dots[k-1]+1:])
	}
	return hosts
}

func paths(u *URL) []string {
	out := make([]string, 0, 6)
	if u.HasQuery {
		out = append(out, u.Path+"?"+u.Query)
	}
	out = append(out, u.Path)
	add := func(p string) {
		for _, q := range out {
			if q == p {
				return
			}
		}
		out = append(out, p)
	}
	add("/")
	for i, n := 1, 0; i < len(u.Path) && n < 3; i++ {
		if u.Path[i] == '/' {
			add(u.Path[:i+1])
			n++
		}
	}
	return out
}

// Hash is the SHA-256 of an expression.
type Hash [32]byte

// HashExpression hashes one expression.
func HashExpression(e string) Hash { return sha256.Sum256([]byte(e)) }
