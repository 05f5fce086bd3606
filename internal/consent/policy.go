// Package consent provides the consent model: the purposes an operator asks
// visitors about, the policy version that re-prompts when it changes,
// visitors' choices with the privacy signals that shape their defaults
// (Global Privacy Control, optionally Do-Not-Track), and receipts that
// prove each decision. State stores implement Store.
package consent

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// The purposes every policy has.
const (
	Necessary   = "necessary"   // security and session; always on
	Preferences = "preferences" // remembered registration details, local-storage fallback
	Analytics   = "analytics"   // beacons with a visitor id
)

// ErrInvalid marks a bad policy or choice; the message names the problem.
var ErrInvalid = errors.New("consent: invalid")

// Text is what a visitor reads about something, in one language.
type Text struct {
	Title       string `json:"title"`
	Description string `json:"description"`
}

// Service is a named third party or tool within a purpose.
type Service struct {
	Name    string          `json:"name"`
	Text    map[string]Text `json:"text,omitempty"`
	Cookies []string        `json:"cookies,omitempty"`
}

// Purpose is one reason to store or read data on a visitor's device.
type Purpose struct {
	ID string `json:"id"`
	// Required purposes (necessary) are always on: explained, not toggled.
	Required bool `json:"required,omitempty"`
	// OffUnderGPC purposes default to off when the browser sends Global
	// Privacy Control (analytics, and any sale or sharing purpose).
	OffUnderGPC bool `json:"off_under_gpc,omitempty"`
	// Cookies are the site's cookie names for this purpose, deleted when
	// the visitor withdraws it.
	Cookies  []string        `json:"cookies,omitempty"`
	Text     map[string]Text `json:"text"`
	Services []Service       `json:"services,omitempty"`
}

// Policy is what visitors are asked. A new Version asks everyone again.
type Policy struct {
	Version  string          `json:"version"`
	Banner   map[string]Text `json:"banner"`
	Purposes []Purpose       `json:"purposes"`
	// Expiry is how long a decision lasts (default 12 months); in JSON
	// files it is given as expiry_days.
	Expiry time.Duration `json:"-"`
	// HonorDNT treats Do-Not-Track like Global Privacy Control.
	HonorDNT bool `json:"honor_dnt,omitempty"`
}

// Languages are those the banner is written in; the first is the fallback.
var Languages = []string{"en", "zh-CN"}

// DefaultExpiry is how long a decision lasts unless the policy says.
const DefaultExpiry = 365 * 24 * time.Hour

var purposeID = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// DefaultPolicy is the policy a site gets until its operator writes one:
// necessary, preferences and analytics, in English and Simplified Chinese.
func DefaultPolicy() Policy {
	return Policy{
		Version: "1",
		Banner: map[string]Text{
			"en":    {Title: "Your privacy", Description: "We use a small data file to recognise your browser, to save you re-typing details and to keep your account safe. Choose what you accept; you can change it at any time from the \"Privacy choices\" link."},
			"zh-CN": {Title: "您的隐私", Description: "我们使用一个小型数据文件来识别您的浏览器、免去您重复填写信息并保护您的账户安全。请选择您接受的内容；您可以随时通过“隐私选择”链接更改。"},
		},
		Purposes: []Purpose{
			{ID: Necessary, Required: true, Text: map[string]Text{
				"en":    {Title: "Necessary", Description: "Security and your session: recognising a known device at login, keeping you signed in, and tying the site's checked outbound links to this browser. These work only with a cookie and are always on."},
				"zh-CN": {Title: "必要", Description: "安全与会话：登录时识别已知设备、保持您的登录状态，并将本站经过检查的外部链接绑定到此浏览器。这些功能需要 Cookie，始终开启。"},
			}},
			{ID: Preferences, Text: map[string]Text{
				"en":    {Title: "Preferences", Description: "Remember details you entered so you need not type them again; keep your choices in the browser's storage where cookies are refused."},
				"zh-CN": {Title: "偏好", Description: "记住您输入过的信息，免去重复填写；在浏览器拒绝 Cookie 时将您的选择保存在浏览器存储中。"},
			}},
			{ID: Analytics, OffUnderGPC: true, Text: map[string]Text{
				"en":    {Title: "Analytics", Description: "Count returning visitors with an id in a first-party cookie. Without it, visits are still counted, without any identifier stored on your device."},
				"zh-CN": {Title: "统计分析", Description: "通过第一方 Cookie 中的标识统计回访用户。不同意时，访问仍会被统计，但不会在您的设备上存储任何标识。"},
			}},
		},
		Expiry: DefaultExpiry,
	}
}

// LoadPolicy reads a policy from JSON (the format of DefaultPolicy, with
// expiry in days as "expiry_days") and validates it.
func LoadPolicy(data []byte) (Policy, error) {
	var raw struct {
		Policy
		ExpiryDays int `json:"expiry_days"`
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return Policy{}, fmt.Errorf("%w: policy: %v", ErrInvalid, err)
	}
	p := raw.Policy
	if raw.ExpiryDays != 0 {
		p.Expiry = time.Duration(raw.ExpiryDays) * 24 * time.Hour
	}
	return p, p.Validate()
}

// Validate checks a policy and fills defaults.
func (p *Policy) Validate() error {
	if p.Version == "" || len(p.Version) > 64 {
		return fmt.Errorf("%w: the policy needs a version of 1 to 64 characters", ErrInvalid)
	}
	if p.Expiry == 0 {
		p.Expiry = DefaultExpiry
	}
	if p.Expiry < 24*time.Hour || p.Expiry > 400*24*time.Hour {
		return fmt.Errorf("%w: expiry must be from 1 to 400 days", ErrInvalid)
	}
	if _, ok := p.Banner[Languages[0]]; !ok {
		return fmt.Errorf("%w: the banner needs an %q text", ErrInvalid, Languages[0])
	}
	seen := map[string]bool{}
	for _, pu := range p.Purposes {
		if !purposeID.MatchString(pu.ID) {
			return fmt.Errorf("%w: purpose id %q must be lower-case letters, digits, - or _ (at most 32)", ErrInvalid, pu.ID)
		}
		if seen[pu.ID] {
			return fmt.Errorf("%w: purpose %q is listed twice", ErrInvalid, pu.ID)
		}
		seen[pu.ID] = true
		if pu.ID == Necessary && !pu.Required {
			return fmt.Errorf("%w: the necessary purpose is required", ErrInvalid)
		}
		if _, ok := pu.Text[Languages[0]]; !ok {
			return fmt.Errorf("%w: purpose %q needs an %q text", ErrInvalid, pu.ID, Languages[0])
		}
	}
	if !seen[Necessary] {
		return fmt.Errorf("%w: the policy needs the %q purpose", ErrInvalid, Necessary)
	}
	return nil
}

// Purpose returns the purpose with id.
func (p *Policy) Purpose(id string) (Purpose, bool) {
	i := slices.IndexFunc(p.Purposes, func(x Purpose) bool { return x.ID == id })
	if i < 0 {
		return Purpose{}, false
	}
	return p.Purposes[i], true
}

// Language picks the banner's language from an explicit choice or an
// Accept-Language header: the first supported one, else the fallback.
func Language(override, acceptLanguage string) string {
	for _, cand := range append([]string{override}, strings.Split(acceptLanguage, ",")...) {
		tag := strings.TrimSpace(strings.SplitN(cand, ";", 2)[0])
		if tag == "" {
			continue
		}
		for _, l := range Languages {
			if strings.EqualFold(tag, l) {
				return l
			}
		}
		switch base := strings.ToLower(strings.SplitN(tag, "-", 2)[0]); base {
		case "zh":
			if !strings.Contains(strings.ToLower(tag), "hant") && !strings.HasSuffix(strings.ToLower(tag), "-tw") && !strings.HasSuffix(strings.ToLower(tag), "-hk") {
				return "zh-CN"
			}
		case "en":
			return "en"
		}
	}
	return Languages[0]
}

// Shown is exactly what a visitor reads in one language: the banner and
// every purpose and service, with the version. Its hash goes in receipts.
type Shown struct {
	Version  string       `json:"version"`
	Language string       `json:"language"`
	Banner   Text         `json:"banner"`
	Purposes []ShownEntry `json:"purposes"`
}

// ShownEntry is one purpose as shown.
type ShownEntry struct {
	ID       string `json:"id"`
	Required bool   `json:"required"`
	Text     Text   `json:"text"`
	Services []Text `json:"services,omitempty"`
}

// Shown returns what the policy shows in lang (texts missing in lang come
// from the fallback language).
func (p *Policy) Shown(lang string) Shown {
	pick := func(m map[string]Text) Text {
		if t, ok := m[lang]; ok {
			return t
		}
		return m[Languages[0]]
	}
	s := Shown{Version: p.Version, Language: lang, Banner: pick(p.Banner)}
	for _, pu := range p.Purposes {
		e := ShownEntry{ID: pu.ID, Required: pu.Required, Text: pick(pu.Text)}
		for _, sv := range pu.Services {
			t := pick(sv.Text)
			if t.Title == "" {
				t.Title = sv.Name
			}
			e.Services = append(e.Services, t)
		}
		s.Purposes = append(s.Purposes, e)
	}
	return s
}

// TextHash is the SHA-256 (hex) of what the policy shows in lang, as
// canonical JSON: a receipt proves which text the visitor saw.
func (p *Policy) TextHash(lang string) string {
	b, _ := json.Marshal(p.Shown(lang))
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
