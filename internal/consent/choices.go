package consent

import (
	"fmt"
	"sort"
)

// Choices say, per purpose id, whether the visitor granted it.
type Choices map[string]bool

// Signals are the privacy preferences a browser sends with a request.
type Signals struct {
	GPC bool // Sec-GPC: 1 (or navigator.globalPrivacyControl)
	DNT bool // DNT: 1
}

// Defaults are the choices before the visitor decides: required purposes
// on, everything else off. (Nothing optional is ever pre-granted; the
// signals only decide which purposes a later "Accept all" may not turn on
// without the visitor's explicit say, see Decide.)
func (p *Policy) Defaults() Choices {
	c := Choices{}
	for _, pu := range p.Purposes {
		c[pu.ID] = pu.Required
	}
	return c
}

// Normalize checks choices against the policy: unknown purposes are an
// error naming them, missing ones are off, required ones are on.
func (p *Policy) Normalize(in Choices) (Choices, error) {
	var unknown []string
	for id := range in {
		if _, ok := p.Purpose(id); !ok {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("%w: unknown purposes %q", ErrInvalid, unknown)
	}
	out := Choices{}
	for _, pu := range p.Purposes {
		out[pu.ID] = pu.Required || in[pu.ID]
	}
	return out, nil
}

// Honoured reports whether a privacy signal applies under this policy.
func (p *Policy) Honoured(s Signals) bool { return s.GPC || p.HonorDNT && s.DNT }

// Decide applies a visitor's request to the policy. "Accept all" and
// similar bulk choices (explicit false) under an honoured privacy signal
// keep the OffUnderGPC purposes off; a visitor who turns one of them on
// by name (explicit true) overrides the signal, as the law allows.
func (p *Policy) Decide(in Choices, s Signals, explicit bool) (Choices, error) {
	c, err := p.Normalize(in)
	if err != nil {
		return nil, err
	}
	if p.Honoured(s) && !explicit {
		for _, pu := range p.Purposes {
			if pu.OffUnderGPC {
				c[pu.ID] = false
			}
		}
	}
	return c, nil
}

// SignalChoices are the choices recorded for a visitor who has not
// decided but whose browser sends an honoured signal: the defaults, with a
// receipt of source SourceGPC so the notice can say the signal was
// honoured.
func (p *Policy) SignalChoices() Choices { return p.Defaults() }

// Withdrawn lists the purposes on in before and off in after, whose
// cookies should be deleted.
func (p *Policy) Withdrawn(before, after Choices) []Purpose {
	var out []Purpose
	for _, pu := range p.Purposes {
		if before[pu.ID] && !after[pu.ID] {
			out = append(out, pu)
		}
	}
	return out
}
