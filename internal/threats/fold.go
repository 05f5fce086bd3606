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

// plainASCII appends s in lower case with the digits that stand for
// letters (0 for o, 1 for l) replaced: the form typos, splits and added
// words are judged on, where one letter stays one letter.
func plainASCII(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case 'A' <= b && b <= 'Z':
			b += 'a' - 'A'
		case b == '0':
			b = 'o'
		case b == '1':
			b = 'l'
		}
		dst = append(dst, b)
	}
	return dst
}

// plainLabel is a label's plain form (see plainASCII); an
// internationalised label's is its fold.
func plainLabel(label string) string {
	if strings.HasPrefix(label, "xn--") {
		f, _, _ := foldLabel(label)
		return f
	}
	for i := 0; i < len(label); i++ {
		if b := label[i]; b == '0' || b == '1' || ('A' <= b && b <= 'Z') {
			return string(plainASCII(nil, label))
		}
	}
	return label
}

// visual is s (plain or folded) with the runs of ASCII letters that
// read as one letter, and the letters that read as another, in the glyph
// tables of permutation tools (dnstwist's homoglyphs) made one: "rn",
// "rr" and "nn" for m, "vv" for w, "cl" for d, "c" for "e", "q" for "g".
// Too loose for every string, it only compares a label with a brand.
func visual(s string) string {
	var buf [64]byte
	out := buf[:0]
	for i := 0; i < len(s); i++ {
		b := s[i]
		if i+1 < len(s) {
			if r := visualPair(b, s[i+1]); r != 0 {
				out = append(out, visualLetter(r))
				i++
				continue
			}
		}
		out = append(out, visualLetter(b))
	}
	return string(out)
}

func visualPair(a, b byte) byte {
	switch {
	case (a == 'r' || a == 'n') && (b == 'n' || b == 'r') && !(a == 'n' && b == 'r'):
		return 'm' // rn, rr, nn
	case a == 'v' && b == 'v':
		return 'w'
	case (a == 'c' || a == 'd') && b == 'l':
		return 'd'
	case a == 'l' && b == 'b':
		return 'b'
	case a == 'l' && b == 'h':
		return 'h'
	case (a == 'l' || a == 'i') && b == 'k', a == 'l' && b == 'c':
		return 'k'
	}
	return 0
}

func visualLetter(b byte) byte {
	switch b {
	case 'e':
		return 'c'
	case 'n':
		return 'm'
	case 'q':
		return 'g'
	case 'd':
		return 'b'
	case 'i', '1':
		return 'l'
	case '0':
		return 'o'
	case '8':
		return '3'
	case '9':
		return '6'
	}
	return b
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
		case extraFold[r] != "":
			out = foldASCII(out, extraFold[r])
		case r < utf8.RuneSelf:
			out = foldASCII(out, string(r))
		default:
			out = utf8.AppendRune(out, r)
		}
	}
	return string(out)
}

// extraFold are letters that read as Latin ones in a domain name but
// that the confusables data (2020) maps to other non-Latin letters or
// leaves alone: Cyrillic small letters drawn as small capitals, Latin
// letters with hooks and tails.
var extraFold = map[rune]string{
	'ʍ': "m", 'м': "m", 'к': "k", 'ĸ': "k", 'т': "t", 'в': "b", 'н': "h", 'ь': "b", 'ԛ': "q", 'ԝ': "w", 'ѵ': "v",
	'ƿ': "p", 'þ': "p", 'ə': "a", 'ǝ': "a", 'ꞑ': "n", 'ƈ': "c", 'ɢ': "g", 'ʙ': "b", 'ɾ': "r", 'ʀ': "r", 'ʜ': "h",
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
