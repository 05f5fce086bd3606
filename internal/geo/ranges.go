package geo

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ranges is an ASN database in CSV: one network per line as first
// address, last address, AS number and organisation, the addresses
// written out ("1.0.0.0") or as integers ("16777216"), as the
// ip-location-db asn package and most free ASN lists ship them.
type ranges struct {
	info Info
	mod  time.Time
	size int64
	rows []asnRange // sorted by first address
	orgs []string
}

type asnRange struct {
	first, last addr128
	asn         uint32
	org         uint32 // index in orgs
}

// addr128 is an address as a 128-bit number, IPv4 mapped into IPv6.
type addr128 struct{ hi, lo uint64 }

func toAddr128(a netip.Addr) addr128 {
	b := a.As16()
	var x addr128
	for i := range 8 {
		x.hi = x.hi<<8 | uint64(b[i])
		x.lo = x.lo<<8 | uint64(b[8+i])
	}
	return x
}

func (a addr128) cmp(b addr128) int {
	switch {
	case a.hi != b.hi:
		if a.hi < b.hi {
			return -1
		}
		return 1
	case a.lo < b.lo:
		return -1
	case a.lo > b.lo:
		return 1
	}
	return 0
}

// openRanges reads a CSV ASN file.
func openRanges(path string) (*ranges, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	r := &ranges{info: Info{Path: path, Type: "ASN CSV ranges", Kind: KindASN, Layout: LayoutCSVRanges, IPVersion: 6, Built: st.ModTime().UTC()},
		mod: st.ModTime(), size: st.Size()}
	if isDBIP(path, "") {
		r.info.Attribution = DBIPAttribution
	}
	orgIndex := map[string]uint32{}
	cr := csv.NewReader(bufio.NewReaderSize(f, 1<<16))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	// Integer addresses are IPv4 unless the file says it is IPv6.
	v6 := strings.Contains(strings.ToLower(filepath.Base(path)), "ipv6")
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(rec) < 3 || line == 1 && strings.Contains(strings.ToLower(rec[0]), "start") {
			if len(rec) < 3 {
				return nil, fmt.Errorf("%s:%d: want first address, last address, AS number[, organisation]", path, line)
			}
			continue // a header line
		}
		first, err1 := parseRangeAddr(rec[0], v6)
		last, err2 := parseRangeAddr(rec[1], v6)
		asn, err3 := strconv.ParseUint(strings.TrimPrefix(strings.TrimPrefix(rec[2], "AS"), "as"), 10, 32)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if last.cmp(first) < 0 {
			return nil, fmt.Errorf("%s:%d: the last address comes before the first", path, line)
		}
		org := ""
		if len(rec) > 3 {
			org = rec[3]
		}
		idx, ok := orgIndex[org]
		if !ok {
			idx = uint32(len(r.orgs))
			orgIndex[org] = idx
			r.orgs = append(r.orgs, strings.Clone(org))
		}
		r.rows = append(r.rows, asnRange{first: first, last: last, asn: uint32(asn), org: idx})
	}
	if len(r.rows) == 0 {
		return nil, fmt.Errorf("%s: no address ranges", path)
	}
	slices.SortFunc(r.rows, func(a, b asnRange) int { return a.first.cmp(b.first) })
	r.rows = slices.Clip(r.rows)
	return r, nil
}

var maxV4 = big.NewInt(1<<32 - 1)

// parseRangeAddr reads an address written out or as an integer, IPv6
// when v6 or when it does not fit 32 bits.
func parseRangeAddr(s string, v6 bool) (addr128, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return toAddr128(a.Unmap()), nil
	}
	n, ok := new(big.Int).SetString(s, 10)
	if !ok || n.Sign() < 0 || n.BitLen() > 128 {
		return addr128{}, fmt.Errorf("%q is not an address", s)
	}
	if !v6 && n.Cmp(maxV4) <= 0 {
		return toAddr128(netip.AddrFrom4([4]byte{byte(n.Uint64() >> 24), byte(n.Uint64() >> 16), byte(n.Uint64() >> 8), byte(n.Uint64())})), nil
	}
	var b [16]byte
	n.FillBytes(b[:])
	return toAddr128(netip.AddrFrom16(b)), nil
}

// lookup finds the network of an address.
func (r *ranges) lookup(ip netip.Addr) (uint32, string, bool) {
	x := toAddr128(ip.Unmap())
	i, _ := slices.BinarySearchFunc(r.rows, x, func(e asnRange, t addr128) int { return e.first.cmp(t) })
	// i is the first range starting after x (or at it): the candidate is
	// the one at x, else the one before.
	if i < len(r.rows) && r.rows[i].first == x {
		return r.rows[i].asn, r.orgs[r.rows[i].org], true
	}
	if i == 0 {
		return 0, "", false
	}
	e := r.rows[i-1]
	if x.cmp(e.last) > 0 {
		return 0, "", false
	}
	return e.asn, r.orgs[e.org], true
}
