package web

import (
	"math"
	"strconv"
	"strings"
)

// currencySymbols are the symbols revenue is written with; other
// currencies are written with their code ("CHF 12.50").
var currencySymbols = map[string]string{
	"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CNY": "¥", "INR": "₹", "KRW": "₩",
	"RUB": "₽", "UAH": "₴", "PLN": "zł", "TRY": "₺", "ILS": "₪", "NGN": "₦", "VND": "₫",
	"BRL": "R$", "CAD": "CA$", "AUD": "A$", "NZD": "NZ$", "HKD": "HK$", "MXN": "MX$",
}

// formatMoney writes a revenue figure as Plausible does: long with two
// decimals and thousands separators ("$1,234.50"), short with one decimal
// and K, M or B past a thousand ("$1.2K"), both rounded half to even on
// the decimal amount (50.45 is "$50.4"), as decimals are.
func formatMoney(v float64, currency string, short bool) string {
	sym, ok := currencySymbols[currency]
	if !ok {
		sym = currency + " "
	}
	neg := ""
	if v < 0 {
		neg, v = "-", -v
	}
	if short {
		suffix := ""
		for _, u := range []struct {
			n float64
			s string
		}{{1e9, "B"}, {1e6, "M"}, {1e3, "K"}} {
			if v >= u.n {
				v, suffix = v/u.n, u.s
				break
			}
		}
		return neg + sym + roundEven(v, 1) + suffix
	}
	whole, frac, _ := strings.Cut(roundEven(v, 2), ".")
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return neg + sym + b.String() + "." + frac
}

// roundEven writes v (at most thousandths matter) with digits decimals
// (1 or 2), rounding half to even.
func roundEven(v float64, digits int) string {
	milli := int64(math.Round(v * 1000))
	div := int64(100)
	if digits == 2 {
		div = 10
	}
	q, r := milli/div, milli%div
	if 2*r > div || 2*r == div && q%2 == 1 {
		q++
	}
	scale := int64(10)
	if digits == 2 {
		scale = 100
	}
	frac := strconv.FormatInt(q%scale, 10)
	for len(frac) < digits {
		frac = "0" + frac
	}
	return strconv.FormatInt(q/scale, 10) + "." + frac
}
