package threats

import (
	"fmt"
	"math/bits"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// Protector flags hosts that imitate the domains and hosts an operator
// protects (its own and its brands'). A protected entry is a registrable
// domain ("paypal.com") or a host name ("launchpad.ethereum.org"); the
// registrable domain of each entry, and everything under it, is the
// operator's own and never flagged.
//
// A host is compared by what a reader sees (see fold.go), label by label
// and with its labels joined, against each entry, by the families
// phishers register: homoglyphs (IDN and ASCII), typos (edit distance),
// names split across labels or hyphenated, the name with words added
// (combosquatting), the name in front of someone else's domain, and the
// name under another suffix. Each match has a score: from BlockScore up a
// strong match that blocks, below it a weak one that warns.
//
// False alarms are held down three ways: an allowlist; a corpus of
// legitimate, popular domains (popular.txt) that is flagged only on
// strong evidence (score from StrongScore); and shared-hosting suffixes
// ("github.io"), where a brand's name as the account name is someone's
// own and not flagged by itself.
type Protector struct {
	entries []protected
	// MaxEdits caps the edit distance at which a label counts as a typo
	// of a protected one; 0 turns the typo check off. Labels shorter than
	// minEditLabel get none (among short names one edit apart most are
	// unrelated, real sites); labels from 9 letters get up to 2.
	MaxEdits int
	allow    map[string]bool
	popular  map[string]bool

	// The prefilter: brand i can only match a host that shares at least
	// need[i] of its letter pairs (bigrams) with it; grams maps a pair to
	// the brands that have it. always marks brands checked on every host.
	grams  [gramClasses * gramClasses]uint64
	need   []int
	always uint64
	// A brand whose letter pairs are not all in the host can only match
	// by a typo, which needs a label (lenLabel), a hyphenated part or
	// the labels from the first one run together (lenPart) of about the
	// brand's length: bitmasks of lengths.
	full              []int
	lenLabel, lenPart []uint64
}

type protected struct {
	name     string // as configured
	domain   string // its registrable domain
	label    string // the registrable domain's first label: the brand
	suffix   string // the public suffix
	fold     string // label, plain (see plainASCII): typos, splits and words are judged on it
	skel     string // label, folded (see foldLabel): homoglyphs are judged on it
	visual   string // label, with look-alike ASCII made one (see visual)
	dotted   string // the plain registrable domain with its dots: "paypal.com"
	compound string // host entries: the plain labels in front of the suffix, joined ("launchpadethereum")
	edits    int
}

// Scores. A match blocks from BlockScore, warns below it; a popular
// domain is flagged only from StrongScore.
const (
	BlockScore  = 70
	StrongScore = 90

	scoreIDN        = 95 // an internationalised label that folds to the brand
	scoreSplit      = 90 // the name split across labels or hyphenated
	scoreInSubname  = 90 // the whole protected domain in front of another
	scoreHomoglyph  = 85 // ASCII look-alike characters ("paypa1", "rnicrosoft")
	scoreCombo      = 85 // the name with words phishers add
	scoreTypoLong   = 80 // one edit in a name of 7 letters or more
	scoreIDNNear    = 80 // an internationalised label a glyph or two from the brand
	scoreSubLabel   = 75 // the name as a label in front of another domain
	scoreTypo       = 70 // one edit in a name of 5 or 6 letters
	scoreTypoTwo    = 60 // two edits in a name of 9 letters or more
	scoreTLDSwap    = 60 // the name under another public suffix
	scoreComboLoose = 50 // the name as a hyphenated part with other words
)

// minEditLabel is the shortest protected label the edit distance check
// applies to.
const minEditLabel = 5

// Imitation is why a host looks like a protected entry.
type Imitation struct {
	Protected string // the protected entry it imitates, as configured
	Kind      string // homoglyph, typo, label_split, hyphenation, combosquat, subdomain, tld_swap
	Detail    string // how, in words: "myethe.rwallet reads as myetherwallet"
	Score     int    // 1-100; from BlockScore a block
}

// Block reports whether the imitation is strong enough to block.
func (m Imitation) Block() bool { return m.Score >= BlockScore }

// NewProtector protects entries (registrable domains such as
// "example.com", or host names such as "login.example.com"); allow lists
// domains or hosts that are never flagged (the operator's other domains,
// well-known names that resemble a brand). The corpus of popular domains
// shipped with Waymark is used; SetPopular replaces it.
func NewProtector(entries, allow []string, maxEdits int) (*Protector, error) {
	p := &Protector{MaxEdits: maxEdits, allow: map[string]bool{}, popular: popularDomains()}
	for _, d := range entries {
		d = strings.ToLower(strings.Trim(strings.TrimSpace(d), "."))
		if d == "" {
			continue
		}
		e, err := newProtected(d, maxEdits)
		if err != nil {
			return nil, err
		}
		p.entries = append(p.entries, e)
		p.allow[e.domain] = true
	}
	for _, d := range allow {
		if d = strings.ToLower(strings.Trim(strings.TrimSpace(d), ".")); d != "" {
			a, err := idna.Lookup.ToASCII(d)
			if err != nil {
				return nil, fmt.Errorf("threats: allowed domain %q: %v", d, err)
			}
			p.allow[a] = true
		}
	}
	p.buildFilter()
	return p, nil
}

func newProtected(d string, maxEdits int) (protected, error) {
	a, err := idna.Lookup.ToASCII(d)
	if err != nil {
		return protected{}, fmt.Errorf("threats: protected entry %q: %v", d, err)
	}
	reg, err := publicsuffix.EffectiveTLDPlusOne(a)
	if err != nil {
		return protected{}, fmt.Errorf("threats: protected entry %q must be a domain such as example.com or a host such as login.example.com, not a public suffix", d)
	}
	label, suffix, _ := strings.Cut(reg, ".")
	e := protected{name: a, domain: reg, label: label, suffix: suffix}
	e.skel, _, _ = foldLabel(label)
	e.fold = plainLabel(label)
	e.visual = visual(e.skel)
	e.dotted = e.fold + "." + plainLabel(suffix)
	if a != reg {
		var b strings.Builder
		for _, l := range strings.Split(strings.TrimSuffix(a, "."+suffix), ".") {
			b.WriteString(strings.ReplaceAll(plainLabel(l), "-", ""))
		}
		e.compound = b.String()
	}
	if n := utf8.RuneCountInString(e.fold); n >= minEditLabel && maxEdits > 0 {
		e.edits = 1
		if n >= 9 {
			e.edits = min(2, maxEdits)
		}
	}
	return e, nil
}

// SetPopular replaces the corpus of popular domains (registrable
// domains) that are flagged only on strong evidence; nil or empty turns
// that protection off.
func (p *Protector) SetPopular(domains []string) {
	p.popular = make(map[string]bool, len(domains))
	for _, d := range domains {
		p.popular[d] = true
	}
}

const gramClasses = 37 // a-z, 0-9, anything else

func gramClass(b byte) int {
	switch {
	case 'a' <= b && b <= 'z':
		return int(b - 'a')
	case '0' <= b && b <= '9':
		return int(b-'0') + 26
	}
	return 36
}

func (p *Protector) buildFilter() {
	p.need = make([]int, len(p.entries))
	p.full = make([]int, len(p.entries))
	p.lenLabel = make([]uint64, len(p.entries))
	p.lenPart = make([]uint64, len(p.entries))
	lengths := func(lo, hi int) uint64 {
		var m uint64
		for l := max(lo, 1); l <= min(hi, 63); l++ {
			m |= 1 << l
		}
		return m
	}
	for i, e := range p.entries {
		if i >= 64 {
			break
		}
		m := len(e.fold)
		p.full[i] = m - 1
		// A homoglyph such as "rn" for "m" lengthens a name by one
		// letter, two such by two.
		p.lenLabel[i] = lengths(m-e.edits, m+e.edits+2)
		p.lenPart[i] = lengths(m-1, m+1)
		if e.compound != "" {
			p.lenPart[i] |= lengths(len(e.compound)-1, len(e.compound)+1)
		}
		// A string within k edits of the brand keeps at least
		// (m-1) - 3k of its m-1 letter pairs (an adjacent swap, one edit,
		// can break three); every other rule needs the brand's folded
		// letters in a row (k = 0) in an ASCII host.
		need := len(e.fold) - 1 - 3*e.edits
		if need <= 0 || !isASCII(e.fold) {
			p.always |= 1 << i
			continue
		}
		p.need[i] = need
		for j := 0; j+1 < len(e.fold); j++ {
			p.grams[gramClass(e.fold[j])*gramClasses+gramClass(e.fold[j+1])] |= 1 << i
		}
	}
}

// candidates returns the brands that may match host: a bitmask, all ones
// past 64 entries.
func (p *Protector) candidates(host string) uint64 {
	if len(p.entries) > 64 {
		return ^uint64(0)
	}
	if len(host) > 253 {
		return 0
	}
	if strings.Contains(host, "xn--") {
		// Internationalised labels are rare and may swap letters for
		// glyphs that fold to nothing in ASCII: always analysed.
		return ^uint64(0)
	}
	var buf [256]byte
	f := plainASCII(buf[:0], host)
	var counts [64]uint8
	var hit, labels, parts uint64
	prev, label, part, run := -1, 0, 0, 0
	for i := 0; i <= len(f); i++ {
		if i == len(f) || f[i] == '.' || f[i] == '-' {
			parts |= 1 << min(part, 63)
			part = 0
			if i == len(f) || f[i] == '.' {
				labels |= 1 << min(label, 63)
				parts |= 1 << min(run, 63)
				label = 0
			} else {
				label++
			}
			continue
		}
		label++
		part++
		run++
		c := gramClass(f[i])
		if prev >= 0 {
			for m := p.grams[prev*gramClasses+c]; m != 0; m &= m - 1 {
				b := bits.TrailingZeros64(m)
				if counts[b] < 255 {
					counts[b]++
				}
				if int(counts[b]) >= p.need[b] {
					hit |= 1 << b
				}
			}
		}
		prev = c
	}
	// Brands with some pairs missing need a part of about their length.
	for m := hit; m != 0; m &= m - 1 {
		b := bits.TrailingZeros64(m)
		if int(counts[b]) < p.full[b] && labels&p.lenLabel[b] == 0 && parts&p.lenPart[b] == 0 {
			hit &^= 1 << b
		}
	}
	return hit | p.always
}

// Check tells whether host (canonical, lowercase, punycode) imitates a
// protected entry, and how.
func (p *Protector) Check(host string) (Imitation, bool) {
	if p == nil || len(p.entries) == 0 || host == "" {
		return Imitation{}, false
	}
	cand := p.candidates(host)
	if cand == 0 {
		return Imitation{}, false
	}
	return p.analyse(host, cand)
}

// parsed is a host taken apart for analysis.
type parsed struct {
	labels, folds []string // the labels in front of the public suffix, raw and plain
	suffix        string
	shared        bool   // the suffix is a shared-hosting one (github.io)
	skel          string // the registrable label, folded
	visual        string // ... and with look-alike ASCII made one
	idn           bool   // the registrable label is internationalised
	mixed         bool   // ... and mixes scripts
	joined        string // all folded labels joined, hyphens removed
	sub           string // the folded labels in front of the registrable one, between dots
}

func (p *Protector) analyse(host string, cand uint64) (Imitation, bool) {
	ps, icann := publicsuffix.PublicSuffix(host)
	if ps == host || !strings.HasSuffix(host, "."+ps) {
		return Imitation{}, false
	}
	rest := host[:len(host)-len(ps)-1]
	var labels, folds [8]string
	h := parsed{labels: labels[:0], suffix: ps, shared: !icann && strings.Contains(ps, ".")}
	for l := range strings.SplitSeq(rest, ".") {
		h.labels = append(h.labels, l)
	}
	n := len(h.labels)
	reg := h.labels[n-1] + "." + ps
	if p.allow[reg] || p.allow[host] {
		return Imitation{}, false
	}
	for i := range p.entries {
		if reg == p.entries[i].domain {
			return Imitation{}, false
		}
	}
	h.folds = folds[:0]
	for _, l := range h.labels {
		h.folds = append(h.folds, plainLabel(l))
	}
	h.skel, h.idn, h.mixed = foldLabel(h.labels[n-1])
	h.visual = visual(h.skel)
	if n == 1 && !strings.Contains(h.folds[0], "-") {
		h.joined = h.folds[0]
	} else {
		h.joined = strings.ReplaceAll(strings.Join(h.folds, ""), "-", "")
		h.sub = "." + strings.Join(h.folds[:n-1], ".") + "."
	}
	var best Imitation
	for i := range p.entries {
		if i < 64 && cand&(1<<i) == 0 {
			continue
		}
		if m := p.match(&h, &p.entries[i]); m.Score > best.Score {
			best = m
		}
	}
	if best.Score == 0 || (p.popular[reg] && best.Score < StrongScore) {
		return Imitation{}, false
	}
	return best, true
}

// match finds the strongest way h imitates e.
func (p *Protector) match(h *parsed, e *protected) Imitation {
	n := len(h.labels)
	label, fold := h.labels[n-1], h.folds[n-1]
	// Details copy what they name from h, so that h (on the caller's
	// stack) does not escape.
	shown := func() string { return strings.Clone(label) }
	var best Imitation
	set := func(score int, kind, detail string) {
		if score > best.Score {
			best = Imitation{Protected: e.name, Kind: kind, Detail: detail, Score: score}
		}
	}
	// The same name under another suffix: someone else's site on shared
	// hosting ("ethereum.github.io") is not flagged for that alone.
	if label == e.label && h.suffix != e.suffix && !h.shared {
		set(scoreTLDSwap, "tld_swap", fmt.Sprintf("%s under .%s instead of .%s", shown(), strings.Clone(h.suffix), e.suffix))
	}
	// Homoglyphs: a different label that reads the same.
	if (fold == e.fold || h.skel == e.skel) && label != e.label {
		// The same letters as read.
		switch {
		case h.mixed:
			set(scoreIDN, "homoglyph", fmt.Sprintf("%s mixes scripts and reads as %s", unicodeLabel(shown()), e.label))
		case h.idn:
			set(scoreIDN, "homoglyph", fmt.Sprintf("%s uses look-alike letters for %s", unicodeLabel(shown()), e.label))
		default:
			set(scoreHomoglyph, "homoglyph", fmt.Sprintf("%s uses look-alike characters for %s", shown(), e.label))
		}
	} else if label != e.label && (h.visual == e.visual || (h.idn && glyphNear(h.visual, e.visual))) {
		score := scoreIDNNear
		if h.mixed {
			score = scoreIDN
		}
		set(score, "homoglyph", fmt.Sprintf("%s uses look-alike letters for %s", unicodeLabel(shown()), e.label))
	}
	// The name split across labels, or hyphenated ("myethe.rwallet",
	// "pay-pal"); for a host entry, its labels run together
	// ("launchpad-ethereum").
	if h.joined == e.fold && (n > 1 || strings.Contains(label, "-")) {
		kind := "label_split"
		if n == 1 {
			kind = "hyphenation"
		}
		set(scoreSplit, kind, fmt.Sprintf("%s reads as %s", joinCopy(h.labels), e.label))
	}
	if e.compound != "" && h.joined == e.compound {
		set(scoreSplit, "label_split", fmt.Sprintf("%s reads as %s", joinCopy(h.labels), strings.TrimSuffix(e.name, "."+e.suffix)))
	}
	// Typos: a label (or the labels run together) a letter or two away.
	if e.edits > 0 {
		if d := min(editDistance(fold, e.fold, e.edits), editDistance(h.skel, e.skel, e.edits)); d <= e.edits && fold != e.fold {
			set(typoScore(d, len(e.fold)), "typo", fmt.Sprintf("%s is %s away from %s", shown(), plural(d, "edit"), e.label))
		}
		if h.joined != fold && h.joined != e.fold {
			if d := editDistance(h.joined, e.fold, 1); d <= 1 {
				set(typoScore(d, len(e.fold)), "label_split", fmt.Sprintf("%s reads as %s with %s", joinCopy(h.labels), e.label, plural(d, "edit")))
			}
		}
		if e.compound != "" && h.joined != e.compound {
			if d := editDistance(h.joined, e.compound, 1); d <= 1 {
				set(typoScore(d, len(e.compound)), "typo", fmt.Sprintf("%s is %s away from %s", joinCopy(h.labels), plural(d, "edit"), strings.TrimSuffix(e.name, "."+e.suffix)))
			}
		}
	}
	// Combosquatting: the name with words added.
	if s, how := p.combo(fold, e); s > 0 {
		set(s, "combosquat", fmt.Sprintf("%s is %s %s", shown(), e.label, how))
	}
	// The name in front of someone else's domain.
	if n > 1 {
		switch {
		case strings.Contains(h.sub, "."+e.dotted+"."):
			set(scoreInSubname, "subdomain", fmt.Sprintf("%s put in front of %s.%s", e.domain, shown(), strings.Clone(h.suffix)))
		case e.name != e.domain && strings.Contains("."+joinCopy(h.labels)+".", "."+strings.TrimSuffix(e.name, "."+e.suffix)+"."):
			set(scoreInSubname, "subdomain", fmt.Sprintf("%s put in front of %s.%s", e.name, shown(), strings.Clone(h.suffix)))
		}
		for _, f := range h.folds[:n-1] {
			if f == e.fold {
				set(scoreSubLabel, "subdomain", fmt.Sprintf("%s put in front of %s.%s", e.label, shown(), strings.Clone(h.suffix)))
			} else if s, _ := p.combo(f, e); s >= scoreCombo {
				set(scoreSubLabel, "subdomain", fmt.Sprintf("%s with words put in front of %s.%s", e.label, shown(), strings.Clone(h.suffix)))
			}
		}
	}
	return best
}

// joinCopy joins labels with dots into a new string.
func joinCopy(labels []string) string {
	var b strings.Builder
	for i, l := range labels {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(l)
	}
	return b.String()
}

func typoScore(d, n int) int {
	switch {
	case d >= 2:
		return scoreTypoTwo
	case n >= 7:
		return scoreTypoLong
	}
	return scoreTypo
}

func plural(n int, w string) string {
	if n == 1 {
		return "one " + w
	}
	return fmt.Sprintf("%d %ss", n, w)
}

func unicodeLabel(l string) string {
	if u, err := idna.ToUnicode(l); err == nil {
		return u
	}
	return l
}

// glyphNear reports whether a folded internationalised label is the
// folded brand with a few letters swapped for ones that do not fold to
// ASCII: same length, every ASCII letter in place but at most one, and
// the others at most a third of the name.
func glyphNear(fold, brand string) bool {
	a, b := []rune(fold), []rune(brand)
	if len(a) != len(b) || len(b) < 4 {
		return editDistance(fold, brand, 2) <= 2 && len(b) >= 6
	}
	edits, glyphs := 0, 0
	for i := range a {
		switch {
		case a[i] == b[i]:
		case a[i] >= utf8.RuneSelf:
			glyphs++
		default:
			edits++
		}
	}
	return edits <= 1 && glyphs >= 1 && 3*glyphs <= len(b)+2
}

// combo scores a folded label that is the brand (or the brand with a
// typo) with words added: every added part a word phishers use (or a
// number) is strong; the brand as one hyphenated part among unknown words
// is weak; the brand glued to unknown letters is nothing ("paypalooza").
func (p *Protector) combo(fold string, e *protected) (int, string) {
	if fold == e.fold {
		return 0, ""
	}
	// The brand as a hyphenated part, maybe with a typo.
	if parts := strings.Split(fold, "-"); len(parts) > 1 {
		at := -1
		for i, t := range parts {
			if t == e.fold || (e.edits > 0 && len(t) >= minEditLabel && editDistance(t, e.fold, 1) <= 1) {
				at = i
				break
			}
		}
		if at >= 0 {
			words := true
			for i, t := range parts {
				if i != at && !wordsOnly(t) {
					words = false
				}
			}
			if words {
				var words strings.Builder
				for i, t := range parts {
					if i != at {
						if words.Len() > 0 {
							words.WriteString(", ")
						}
						words.WriteString(t)
					}
				}
				return scoreCombo, "with " + words.String() + " added"
			}
			return scoreComboLoose, "with other words added"
		}
	}
	// The brand glued to words.
	s := strings.ReplaceAll(fold, "-", "")
	if i := strings.Index(s, e.fold); i >= 0 && s != e.fold {
		pre, post := s[:i], s[i+len(e.fold):]
		if wordsOnly(pre) && wordsOnly(post) {
			return scoreCombo, "with " + strings.Trim(pre+" "+post, " ") + " added"
		}
	}
	return 0, ""
}

// wordsOnly reports whether s (folded, no hyphens) is made of words
// phishers add and numbers only; "" is.
func wordsOnly(s string) bool {
	if s == "" {
		return true
	}
	ok := make([]bool, len(s)+1)
	ok[0] = true
	for i := 0; i < len(s); i++ {
		if !ok[i] {
			continue
		}
		if s[i] >= '0' && s[i] <= '9' {
			j := i
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			ok[j] = true
			continue
		}
		for l := 1; l <= maxWord && i+l <= len(s); l++ {
			if comboWordSet[s[i:i+l]] {
				ok[i+l] = true
			}
		}
	}
	return ok[len(s)]
}

// comboWords are words phishing domains add to a brand (from studies of
// combosquatting and phishing kits): actions, account words, trust words,
// services, places and the commonest suffixes run into the name.
var comboWords = strings.Fields(`
access account accounts acct activate activation admin agree alert alerts app apps appeal approve auth authenticate authentication authorize
bank banking benefit bill billing biz blue bonus box business buy
care case cdn center centre change check checkout choose claim click client cloud code com confirm confirmation connect contact corp
cl co customer customers dashboard data delivery device devices direct dispute doc docs document documents download drive
email enroll eu exchange express file files find fix form free
gateway get gift global go group help helpdesk home host http https id identity inc info install int intl invoice io
kyc limited link live locked log login logon mail mailbox manage management member members message mobile my
net new notice notification notify now office official offer online order org otp pass password pay payment payments paypage pin policy portal
privacy prize promo protect protection recover recovery refund register registration reset resolution resolve restore review reward rewards
safe sale secure security server service services session setup share ship shipping sign signin signon signup site ssl start status store
summary support sync system tax team terms ticket token track tracking transfer uk unlock update updates upgrade us usa user users
validate validation verification verified verify view wallet web webmail ww www xyz
`)

var (
	comboWordSet = map[string]bool{}
	maxWord      int
)

func init() {
	for _, w := range comboWords {
		f := plainLabel(w)
		comboWordSet[f] = true
		maxWord = max(maxWord, len(f))
	}
}

// editDistance is the optimal string alignment distance between a and b,
// giving up (returning limit+1) once it must exceed limit.
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d > limit || -d > limit {
		return limit + 1
	}
	if len(b) > 64 || len(a) > 64 {
		return limit + 1
	}
	var rows [3][65]int
	prev2, prev, cur := rows[0][:len(b)+1], rows[1][:len(b)+1], rows[2][:len(b)+1]
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		best := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			best = min(best, v)
		}
		if best > limit {
			return limit + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
