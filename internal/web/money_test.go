package web

import "testing"

func TestFormatMoney(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		v           float64
		cur         string
		long, short string
	}{
		{67.066, "USD", "$67.07", "$67.1"},
		{201.2, "USD", "$201.20", "$201.2"},
		{50.45, "USD", "$50.45", "$50.4"},
		{100, "EUR", "€100.00", "€100.0"},
		{10000, "EUR", "€10,000.00", "€10.0K"},
		{1234567.891, "GBP", "£1,234,567.89", "£1.2M"},
		{12.5, "CHF", "CHF 12.50", "CHF 12.5"},
		{-3.25, "USD", "-$3.25", "-$3.2"},
		{0.005, "USD", "$0.00", "$0.0"},
	} {
		if got := formatMoney(c.v, c.cur, false); got != c.long {
			t.Errorf("long %v %s = %q, want %q", c.v, c.cur, got, c.long)
		}
		if got := formatMoney(c.v, c.cur, true); got != c.short {
			t.Errorf("short %v %s = %q, want %q", c.v, c.cur, got, c.short)
		}
	}
}
