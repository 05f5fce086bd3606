package threats

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// Folding maps a label to the letters a reader sees, so that two labels
// that look the same fold to the same string: Unicode's confusables
// skeleton (UTS #39: "0" and "o", "1" and "l", "rn" and "m", Cyrillic
// "а" and Latin "a"), accents and other combining marks dropped ("á" reads
// as "a" at a glance), lower case. ASCII labels, almost all of them, go
// through a table; others through the skeleton.

// asciiFold is the fold of each ASCII byte, "" for bytes kept as they are.
var asciiFold [128]string

func init() {
	for b := 0; b < 128; b++ {
		s := strings.ToLower(confusables.Skeleton(string(rune(b))))
		if s != string(rune(b)) {
			asciiFold[b] = s
		}
	}
	// UTS #39 maps the digit zero to capital O; lower case makes it "o".
	asciiFold['0'] = "o"
}

// foldASCII appends the fold of an ASCII string to dst; other bytes are
// copied as they are.
func foldASCII(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if b >= utf8.RuneSelf {
			dst = append(dst, b)
		} else if f := asciiFold[b]; f != "" {
			dst = append(dst, f...)
		} else {
			dst = append(dst, b)
		}
	}
	return dst
}

// foldsToItself reports whether an ASCII string is its own fold.
func foldsToItself(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b >= 128 || asciiFold[b] != "" || ('A' <= b && b <= 'Z') {
			return false
		}
	}
	return true
}

// foldLabel folds one DNS label, decoding punycode ("xn--") first. It
// reports whether the label was an internationalised one and whether
// it mixes letters of more than one script.
func foldLabel(label string) (folded string, idn, mixed bool) {
	if !strings.HasPrefix(label, "xn--") {
		if foldsToItself(label) {
			return label, false, false
		}
		return string(foldASCII(nil, label)), false, false
	}
	u, err := idna.ToUnicode(label)
	if err != nil || u == label {
		return string(foldASCII(nil, label)), false, false
	}
	return foldUnicode(u), true, mixedScripts(u)
}

// foldUnicode folds a decoded label: marks dropped, then the skeleton,
// then the ASCII table again on what it produced.
func foldUnicode(u string) string {
	var stripped []rune
	for _, r := range norm.NFD.String(strings.ToLower(u)) {
		if !unicode.Is(unicode.Mn, r) && !unicode.Is(unicode.Me, r) {
			stripped = append(stripped, r)
		}
	}
	sk := norm.NFD.String(strings.ToLower(confusables.Skeleton(string(stripped))))
	out := make([]byte, 0, len(sk))
	for _, r := range sk {
		switch {
		case unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r):
		case r < utf8.RuneSelf:
			out = foldASCII(out, string(r))
		default:
			out = utf8.AppendRune(out, r)
		}
	}
	return string(out)
}

// scripts a label's letters are told apart by; letters of other scripts
// count as one more.
var scriptTables = []*unicode.RangeTable{unicode.Latin, unicode.Cyrillic, unicode.Greek, unicode.Armenian, unicode.Hebrew, unicode.Arabic, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul, unicode.Thai, unicode.Georgian, unicode.Cherokee}

// mixedScripts reports whether u has letters of more than one script
// (digits, hyphens and marks belong to none).
func mixedScripts(u string) bool {
	seen := -1
	for _, r := range u {
		if !unicode.IsLetter(r) {
			continue
		}
		s := len(scriptTables)
		for i, t := range scriptTables {
			if unicode.Is(t, r) {
				s = i
				break
			}
		}
		if seen >= 0 && s != seen {
			return true
		}
		seen = s
	}
	return false
}
