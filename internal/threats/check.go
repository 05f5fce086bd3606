package threats

// Verdicts.
const (
	Block = "block"
	Warn  = "warn"
	Pass  = "allow"
)

// Verdict is the answer for one URL.
type Verdict struct {
	URL     string `json:"url"`
	Verdict string `json:"verdict"`             // block, warn or allow
	List    string `json:"list,omitempty"`      // the list that matched
	Match   string `json:"match,omitempty"`     // the expression, or the protected domain imitated
	Source  string `json:"source,omitempty"`    // where the entry came from
	Reason  string `json:"reason,omitempty"`    // in words, for people
	Error   string `json:"error,omitempty"`     // set instead when the URL cannot be checked
	Canon   string `json:"canonical,omitempty"` // set when an entry or a lookalike matched
	Score   int    `json:"score,omitempty"`     // a detected lookalike's strength, 1-100 (from 70 it blocks)
}

// Checker combines the database and the lookalike detector.
type Checker struct {
	DB      *DB
	Protect *Protector
}

// Check canonicalises raw and judges it.
func (c *Checker) Check(raw string) Verdict {
	u, err := Canonicalize(raw)
	if err != nil {
		return Verdict{URL: raw, Verdict: Block, Error: err.Error(), Reason: "not a URL that can be checked"}
	}
	v := c.CheckURL(u)
	v.URL = raw
	return v
}

// CheckURL judges a canonical URL: an allowlist entry wins; then the
// block lists (phishing, malware, unwanted, custom); then lookalike list
// entries, which warn; then detected lookalikes, which block when strong
// (score from BlockScore) and warn when weak.
func (c *Checker) CheckURL(u *URL) Verdict {
	v := c.judge(u)
	if v.Verdict != Pass || v.List != "" {
		v.Canon = u.String()
	}
	return v
}

func (c *Checker) judge(u *URL) Verdict {
	v := Verdict{Verdict: Pass}
	var ms []Match
	if c.DB != nil {
		ms = c.DB.Snapshot().Matches(u)
	}
	var warn *Match
	for i := range ms {
		if ms[i].List == Allow {
			v.List, v.Match, v.Source, v.Reason = Allow.String(), ms[i].Expr, ms[i].Source, "on the allowlist"
			return v
		}
	}
	for i := range ms {
		m := &ms[i]
		if m.List == Lookalike {
			if warn == nil {
				warn = m
			}
			continue
		}
		v.Verdict, v.List, v.Match, v.Source = Block, m.List.String(), m.Expr, m.Source
		v.Reason = reasons[m.List]
		return v
	}
	if warn != nil {
		v.Verdict, v.List, v.Match, v.Source, v.Reason = Warn, Lookalike.String(), warn.Expr, warn.Source, reasons[Lookalike]
		return v
	}
	if !u.IP {
		if l, ok := c.Protect.Check(u.Host); ok {
			v.Verdict, v.List, v.Match, v.Source, v.Score = Warn, Lookalike.String(), l.Protected, "lookalike:"+l.Kind, l.Score
			if l.Block() {
				v.Verdict = Block
			}
			v.Reason = "imitating " + l.Protected + " (" + kindWords[l.Kind] + ": " + l.Detail + ")"
		}
	}
	return v
}

var reasons = map[List]string{
	Phishing:  "reported as a phishing site",
	Malware:   "reported as serving malware",
	Unwanted:  "reported as serving unwanted software",
	Custom:    "blocked by the operator",
	Lookalike: "listed as imitating another site",
}

var kindWords = map[string]string{
	"homoglyph":   "characters that look the same",
	"typo":        "a misspelling",
	"label_split": "the name split by dots",
	"hyphenation": "the name split by a hyphen",
	"combosquat":  "the name with words added",
	"subdomain":   "the name in front of another domain",
	"tld_swap":    "the same name under another ending",
}
