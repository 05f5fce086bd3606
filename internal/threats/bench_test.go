package threats

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func benchDB(b *testing.B, n int) *DB {
	b.Helper()
	d, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	es := make([]Entry, n)
	for i := range es {
		es[i] = Entry{Expr: fmt.Sprintf("h%x.example/", r.Uint64()), List: Phishing}
	}
	if err := d.Replace("bench", es); err != nil {
		b.Fatal(err)
	}
	return d
}

// BenchmarkCheckMiss is a full check of a URL that matches nothing.
func BenchmarkCheckMiss(b *testing.B) {
	checkMiss(b, nil)
}

// checkMiss times full checks of URLs that match nothing, with p (nil:
// none) detecting lookalikes.
func checkMiss(b *testing.B, p *Protector) {
	c := &Checker{DB: benchDB(b, 100000), Protect: p}
	urls := make([]string, 256)
	for i := range urls {
		urls[i] = fmt.Sprintf("https://www.site%d.example/path/to/page%d.html?id=%d", i, i, i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if c.Check(urls[i%len(urls)]).Verdict != Pass {
			b.Fatal("matched")
		}
		i++
	}
}

// BenchmarkHasPrefix is the 4-byte prefix probe alone.
func BenchmarkHasPrefix(b *testing.B) {
	s := benchDB(b, 1000000).Snapshot()
	r := rand.New(rand.NewPCG(2, 2))
	ps := make([]uint32, 1<<16)
	for i := range ps {
		ps[i] = r.Uint32()
	}
	i := 0
	for b.Loop() {
		s.HasPrefix(ps[i&(1<<16-1)])
		i++
	}
}

// BenchmarkHasPrefixListed probes prefixes that are in the database.
func BenchmarkHasPrefixListed(b *testing.B) {
	d := benchDB(b, 1000000)
	s := d.Snapshot()
	var ps []uint32
	n := 0
	s.Entries(func(e Entry) bool {
		// Every 15th entry, so the probes spread over the whole table.
		if n++; n%15 == 0 {
			h := HashExpression(e.Expr)
			ps = append(ps, uint32(h[0])<<24|uint32(h[1])<<16|uint32(h[2])<<8|uint32(h[3]))
		}
		return len(ps) < 1<<16
	})
	r := rand.New(rand.NewPCG(3, 3))
	r.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
	i := 0
	for b.Loop() {
		if !s.HasPrefix(ps[i&(1<<16-1)]) {
			b.Fatal("a listed prefix is missing")
		}
		i++
	}
}

// BenchmarkCheckMissProtected is a full check of a URL that matches
// nothing, with lookalike detection for a few protected domains (the
// usual configuration) or for 25 brands.
func BenchmarkCheckMissProtected(b *testing.B) {
	for _, n := range []int{3, 25} {
		b.Run(fmt.Sprintf("brands=%d", n), func(b *testing.B) {
			p, err := NewProtector(QualityBrands[:n], nil, 1)
			if err != nil {
				b.Fatal(err)
			}
			checkMiss(b, p)
		})
	}
}

// BenchmarkLookalikeMiss is the lookalike detector alone on hosts of
// the legitimate corpus, 25 brands.
func BenchmarkLookalikeMiss(b *testing.B) {
	p, err := NewProtector(QualityBrands, nil, 1)
	if err != nil {
		b.Fatal(err)
	}
	hosts := PopularDomains()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p.Check(hosts[i%len(hosts)])
		i++
	}
}
