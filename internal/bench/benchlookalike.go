package bench

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"

	"waymark.dev/waymark/internal/threats"
)

// quality holds the flags of `waymark bench threats --quality`.
type quality struct {
	dictionaries                 *string
	minRecall, minFamily, maxFPs *float64
	show                         *int
}

func qualityFlags(fs *flag.FlagSet) *quality {
	return &quality{
		dictionaries: fs.String("dnstwist-dictionaries", "/usr/share/dnstwist/dictionaries", "--quality: dnstwist's dictionaries (english.dict for its dictionary fuzzer, abused_tlds.dict for its TLD swaps)"),
		minRecall:    fs.Float64("min-recall", 0, "--quality: fail when recall on dnstwist's permutations is below this percentage"),
		minFamily:    fs.Float64("min-family-recall", 0, "--quality: fail when recall on the label-split, subdomain or combosquatting family is below this percentage"),
		maxFPs:       fs.Float64("max-false-alarms", 100, "--quality: fail when the held-out legitimate domains flagged exceed this percentage"),
		show:         fs.Int("show", 5, "--quality: misses and false alarms to print per family"),
	}
}

// qualityHosts are the host entries protected besides QualityBrands: an
// operator protects login hosts too.
var qualityHosts = []string{"launchpad.ethereum.org"}

// benchLookalikes measures the lookalike detector: recall on the
// permutations dnstwist (Debian's package) generates for each brand and
// on the families it does not (names split across several labels,
// brands in front of other domains, combosquatting with words in any
// order), and false alarms on the half of the legitimate corpus the
// detector was not given (the other half is its popularity corpus).
func benchLookalikes(q *quality, stdout io.Writer) error {
	protected := append(append([]string{}, threats.QualityBrands...), qualityHosts...)
	corpus := threats.PopularDomains()
	var known, heldOut []string
	isPopular := map[string]bool{}
	for _, d := range corpus {
		isPopular[d] = true
		h := fnv.New32a()
		h.Write([]byte(d))
		if h.Sum32()%2 == 0 {
			known = append(known, d)
		} else {
			heldOut = append(heldOut, d)
		}
	}
	// The operator's allowlist: a brand's owner lists its own name under
	// other suffixes (google.de for google.com); here those found in the
	// corpus.
	labels := map[string]bool{}
	for _, b := range protected {
		reg, _ := publicsuffix.EffectiveTLDPlusOne(b)
		l, _, _ := strings.Cut(reg, ".")
		labels[l] = true
	}
	var own []string
	for _, d := range corpus {
		if l, _, _ := strings.Cut(d, "."); labels[l] {
			own = append(own, d)
		}
	}
	p, err := threats.NewProtector(protected, own, 1)
	if err != nil {
		return err
	}
	p.SetPopular(known)
	fmt.Fprintf(stdout, "Lookalike detection: %d protected brands and %d host entry, edits 1; legitimate corpus %d registrable domains, split in two by hash: %d as the popularity corpus, %d held out; the operators' allowlist: %d of the brands' own names under other suffixes found in the corpus\n\n",
		len(threats.QualityBrands), len(qualityHosts), len(corpus), len(known), len(heldOut), len(own))

	// dnstwist's permutations.
	words, err := dictionary(*q.dictionaries, "english.dict")
	if err != nil {
		return err
	}
	tlds, err := dictionary(*q.dictionaries, "abused_tlds.dict")
	if err != nil {
		return err
	}
	perms, version, err := dnstwistPermutations(threats.QualityBrands, words, tlds)
	if err != nil {
		return err
	}
	tw := newTable(stdout, "family", "candidates", "legitimate, left out", "flagged", "blocked", "recall")
	dn := tally(p, perms, isPopular, tw, *q.show)
	tw.row("dnstwist, all", dn.total, dn.popular, dn.flagged, dn.blocked, pct(dn.flagged, dn.total-dn.popular))
	fmt.Fprintf(stdout, "dnstwist %s permutations (its fuzzers; dictionary english.dict, TLDs abused_tlds.dict):\n", version)
	tw.flush()

	// The families dnstwist does not generate.
	fams := families(threats.QualityBrands, words)
	tw = newTable(stdout, "family", "candidates", "legitimate, left out", "flagged", "blocked", "recall")
	worst := 100.0
	tally(p, fams, isPopular, tw, *q.show)
	for _, f := range tw.rows {
		if r := f.recall; r < worst {
			worst = r
		}
	}
	fmt.Fprintf(stdout, "\nLabel splits, brands in front of other domains, combosquatting (generated here, words from english.dict):\n")
	tw.flush()

	// False alarms.
	fp, fpList := falseAlarms(p, heldOut)
	raw, _ := threats.NewProtector(protected, own, 1)
	raw.SetPopular(nil)
	rawFP, rawList := falseAlarms(raw, corpus)
	fmt.Fprintf(stdout, "\nFalse alarms on the %d held-out legitimate domains: %d (%.3f%%)%s\n", len(heldOut), len(fp), pct(len(fp), len(heldOut)), listed(fpList, *q.show))
	fmt.Fprintf(stdout, "Without any popularity corpus, on all %d: %d (%.3f%%)%s\n", len(corpus), len(rawFP), pct(len(rawFP), len(corpus)), listed(rawList, *q.show))

	// Speed per check.
	prev := runtime.GOMAXPROCS(1)
	n, start := 0, time.Now()
	for time.Since(start) < time.Second {
		for _, h := range heldOut {
			p.Check(h)
		}
		n += len(heldOut)
	}
	el := time.Since(start)
	runtime.GOMAXPROCS(prev)
	fmt.Fprintf(stdout, "\nSpeed: %.0f checks/s on one core (%.0f ns each) over the held-out legitimate domains, %d protected entries\n",
		float64(n)/el.Seconds(), float64(el.Nanoseconds())/float64(n), len(protected))

	var fails []string
	if r := pct(dn.flagged, dn.total-dn.popular); r < *q.minRecall {
		fails = append(fails, fmt.Sprintf("recall on dnstwist's permutations %.2f%% is under the floor %.2f%%", r, *q.minRecall))
	}
	if worst < *q.minFamily {
		fails = append(fails, fmt.Sprintf("recall on a family %.2f%% is under the floor %.2f%%", worst, *q.minFamily))
	}
	if r := pct(len(fp), len(heldOut)); r > *q.maxFPs {
		fails = append(fails, fmt.Sprintf("false alarms %.3f%% are over the ceiling %.3f%%", r, *q.maxFPs))
	}
	if len(fails) > 0 {
		return errors.New(strings.Join(fails, "; "))
	}
	return nil
}

type permutation struct{ family, host string }

type counts struct{ total, popular, flagged, blocked int }

// tally checks each permutation, adds a row per family to tw (families
// in order of first appearance) and returns the totals.
func tally(p *threats.Protector, perms []permutation, popular map[string]bool, tw *table, show int) counts {
	by := map[string]*counts{}
	misses := map[string][]string{}
	var order []string
	var all counts
	for _, pm := range perms {
		c := by[pm.family]
		if c == nil {
			c = &counts{}
			by[pm.family] = c
			order = append(order, pm.family)
		}
		c.total++
		all.total++
		if reg, err := publicsuffix.EffectiveTLDPlusOne(pm.host); err == nil && popular[reg] {
			c.popular++
			all.popular++
			continue
		}
		m, ok := p.Check(pm.host)
		if !ok {
			misses[pm.family] = append(misses[pm.family], pm.host)
			continue
		}
		c.flagged++
		all.flagged++
		if m.Block() {
			c.blocked++
			all.blocked++
		}
	}
	sort.Strings(order)
	for _, f := range order {
		c := by[f]
		tw.row(f, c.total, c.popular, c.flagged, c.blocked, pct(c.flagged, c.total-c.popular))
		if ms := misses[f]; len(ms) > 0 && show > 0 {
			tw.note(fmt.Sprintf("  missed: %s", strings.Join(unicodeHosts(ms[:min(show, len(ms))]), ", ")))
		}
	}
	return all
}

func unicodeHosts(hs []string) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		if u, err := idna.ToUnicode(h); err == nil && u != h {
			out[i] = h + " (" + u + ")"
		} else {
			out[i] = h
		}
	}
	return out
}

func falseAlarms(p *threats.Protector, domains []string) (flagged []string, shown []string) {
	for _, d := range domains {
		if m, ok := p.Check(d); ok {
			flagged = append(flagged, d)
			shown = append(shown, fmt.Sprintf("%s (%s of %s, %d)", d, m.Kind, m.Protected, m.Score))
		}
	}
	return flagged, shown
}

func listed(xs []string, n int) string {
	if len(xs) == 0 || n == 0 {
		return ""
	}
	more := ""
	if len(xs) > n {
		more = fmt.Sprintf(", and %d more", len(xs)-n)
	}
	return ": " + strings.Join(xs[:min(n, len(xs))], "; ") + more
}

func pct(a, b int) float64 {
	if b <= 0 {
		return 100
	}
	return 100 * float64(a) / float64(b)
}

// dictionary reads one of dnstwist's dictionaries ("//" comments).
func dictionary(dir, name string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return nil, fmt.Errorf("bench threats --quality needs dnstwist's dictionaries (apt-get install dnstwist): %w", err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "//") {
			out = append(out, l)
		}
	}
	return out, nil
}

// dnstwistScript generates dnstwist's permutations of each domain on its
// arguments with its own Fuzzer class, without the DNS lookups the
// command makes: one "domain TAB fuzzer TAB permutation" line each.
const dnstwistScript = `
import sys, dnstwist
words = sys.argv[1].split(",")
tlds = sys.argv[2].split(",")
print("version", dnstwist.__version__, sep="\t")
for d in sys.argv[3:]:
    f = dnstwist.Fuzzer(d, dictionary=words, tld_dictionary=list(tlds))
    f.generate()
    for p in f.domains:
        if p["fuzzer"] != "*original" and p["domain"]:
            print(d, p["fuzzer"], p["domain"], sep="\t")
`

func dnstwistPermutations(brands, words, tlds []string) ([]permutation, string, error) {
	// The Python that dnstwist's own command runs has its module.
	python := "python3"
	if bin, err := exec.LookPath("dnstwist"); err == nil {
		if b, err := os.ReadFile(bin); err == nil {
			if first, _, _ := strings.Cut(string(b), "\n"); strings.HasPrefix(first, "#!") {
				if f := strings.Fields(first[2:]); len(f) > 0 {
					python = f[0]
				}
			}
		}
	}
	args := append([]string{"-c", dnstwistScript, strings.Join(words, ","), strings.Join(tlds, ",")}, brands...)
	cmd := exec.Command(python, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, "", fmt.Errorf("bench threats --quality runs dnstwist (apt-get install dnstwist): %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	var perms []permutation
	version := "?"
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		switch {
		case len(f) == 2 && f[0] == "version":
			version = f[1]
		case len(f) == 3:
			perms = append(perms, permutation{family: f[1], host: f[2]})
		}
	}
	if len(perms) == 0 {
		return nil, "", errors.New("dnstwist generated no permutations")
	}
	return perms, version, nil
}

// families generates what dnstwist does not: names split across two or
// three labels under common and abused suffixes, the brand (or its whole
// domain) in front of an unrelated domain, and combosquats with one or
// two words in any order, hyphenated or glued.
func families(brands, words []string) []permutation {
	r := rand.New(rand.NewPCG(26, 26))
	suffixes := []string{"com", "net", "xyz", "top", "online", "info", "co.uk"}
	hostsFor := []string{"secure-server", "cheap-hosting", "mysite123", "cloudpanel", "webnode-cdn", "fastpages", "srv-217", "greenhost"}
	pick := func(xs []string) string { return xs[r.IntN(len(xs))] }
	var out []permutation
	add := func(f, h string) {
		if a, err := idna.Lookup.ToASCII(h); err == nil {
			out = append(out, permutation{f, a})
		}
	}
	for _, b := range brands {
		label, _, _ := strings.Cut(b, ".")
		// Label splits: one dot (dnstwist's "subdomain" has those under
		// the brand's own suffix), two dots, and a dot plus a hyphen.
		for i := 1; i < len(label); i++ {
			add("label split", label[:i]+"."+label[i:]+"."+pick(suffixes))
			for j := i + 2; j < len(label); j += 3 {
				add("label split", label[:i]+"."+label[i:j]+"."+label[j:]+"."+pick(suffixes))
				add("label split", label[:i]+"-"+label[i:j]+"."+label[j:]+"."+pick(suffixes))
			}
		}
		// The brand in front of someone else's domain.
		for range 12 {
			other := pick(hostsFor) + "." + pick(suffixes)
			add("brand in subdomain", b+"."+other)
			add("brand in subdomain", label+"."+other)
			add("brand in subdomain", pick(words)+"."+label+"."+other)
			add("brand in subdomain", "www."+b+"-"+pick(words)+"."+pick(suffixes))
			add("brand in subdomain", label+"-"+pick(words)+"."+other)
		}
		// Combosquats: one or two words, before or after, hyphenated or
		// glued.
		for range 16 {
			w1, w2 := pick(words), pick(words)
			s := "." + pick(suffixes)
			add("combosquat, hyphens", label+"-"+w1+s)
			add("combosquat, hyphens", w1+"-"+label+s)
			add("combosquat, hyphens", w1+"-"+label+"-"+w2+s)
			add("combosquat, hyphens", label+"-"+w1+"-"+w2+s)
			add("combosquat, glued", label+w1+s)
			add("combosquat, glued", w1+label+s)
			add("combosquat, glued", w1+label+w2+s)
		}
	}
	for _, h := range qualityHosts {
		reg, _ := publicsuffix.EffectiveTLDPlusOne(h)
		prefix := strings.TrimSuffix(h, "."+reg)
		label, suffix, _ := strings.Cut(reg, ".")
		for _, s := range []string{suffix, "com", "xyz"} {
			add("host entry", prefix+"-"+label+"."+s)
			add("host entry", prefix+label+"."+s)
			add("host entry", prefix+"."+label+"-"+pick(words)+"."+s)
			add("host entry", h+"."+pick(hostsFor)+"."+s)
		}
	}
	return out
}

// table prints aligned rows.
type table struct {
	w     io.Writer
	head  []string
	rows  []tableRow
	notes map[int][]string
}

type tableRow struct {
	cells  []string
	recall float64
}

func newTable(w io.Writer, head ...string) *table {
	return &table{w: w, head: head, notes: map[int][]string{}}
}

func (t *table) row(family string, total, popular, flagged, blocked int, recall float64) {
	t.rows = append(t.rows, tableRow{cells: []string{family, fmt.Sprint(total), fmt.Sprint(popular), fmt.Sprint(flagged), fmt.Sprint(blocked), fmt.Sprintf("%.2f%%", recall)}, recall: recall})
}

func (t *table) note(s string) { t.notes[len(t.rows)-1] = append(t.notes[len(t.rows)-1], s) }

func (t *table) flush() {
	widths := make([]int, len(t.head))
	for i, h := range t.head {
		widths[i] = len(h)
	}
	for _, r := range t.rows {
		for i, c := range r.cells {
			widths[i] = max(widths[i], len(c))
		}
	}
	line := func(cells []string) {
		for i, c := range cells {
			if i == 0 {
				fmt.Fprintf(t.w, "  %-*s", widths[i], c)
			} else {
				fmt.Fprintf(t.w, "  %*s", widths[i], c)
			}
		}
		fmt.Fprintln(t.w)
	}
	line(t.head)
	for i, r := range t.rows {
		line(r.cells)
		for _, n := range t.notes[i] {
			fmt.Fprintln(t.w, n)
		}
	}
}
