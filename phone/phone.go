package phone

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// ErrInvalid is wrapped by every error Parse returns.
var ErrInvalid = errors.New("invalid phone number")

// region is where the hotline is: numbers without a country code are Chinese.
const region = "CN"

// maxRawLen bounds the input before it reaches the parser; no number written by a
// person, separators included, comes near it.
const maxRawLen = 64

// Kind tells how a citizen can be reached back: an SMS survey needs a Mobile, an
// outbound IVR call works for a Mobile or a Landline.
type Kind int

// The kinds of number. Other is the zero Kind.
const (
	Other    Kind = iota // short codes, 400/800 numbers, numbers outside +86
	Mobile               // a Chinese mobile number
	Landline             // a Chinese fixed line, with its area code
)

// String returns "other", "mobile" or "landline".
func (k Kind) String() string {
	switch k {
	case Mobile:
		return "mobile"
	case Landline:
		return "landline"
	}
	return "other"
}

// Number is a parsed phone number.
//
// For a Chinese number National is what one dials inside China, digits only:
// "13812345678", "04778581234", "12345". For a number outside the +86 plan (abroad,
// and Hong Kong, Macao and Taiwan) National is the E.164 form, because a national
// form without its country is ambiguous among Chinese numbers, and such numbers are
// Kind Other: the SMS gateway and the trunks reach only +86 numbers.
//
// E164 is "+8613812345678"; it is empty for a short code such as 12345 or 110, which
// has no international form. Valid is true for every Number that Parse returns
// without an error; the zero Number is not valid.
type Number struct {
	E164     string
	National string
	Kind     Kind
	Valid    bool
}

// IsMobile reports whether n is a Chinese mobile number.
func (n Number) IsMobile() bool { return n.Kind == Mobile }

// Parse parses a number as a citizen or an operator writes it: "13812345678",
// "+86 138 1234 5678", "0086-138-1234-5678", "0477-8581234", full-width digits
// ("１３８１２３４５６７８") and spaces, dashes, dots and brackets between them.
// A local landline number without its area code ("8581234") is an error here; see
// ParseWithArea. Short service numbers (110, 12345, 95588) are Kind Other.
func Parse(raw string) (Number, error) {
	return ParseWithArea(raw, "")
}

// ParseWithArea is Parse for callers that know where a local number was dialled:
// a seven- or eight-digit landline number without an area code ("8581234") is taken
// to be in area (such as "0477" or "477"). Every other number is parsed as by Parse.
func ParseWithArea(raw, area string) (Number, error) {
	s, err := normalize(raw)
	if err != nil {
		return Number{}, err
	}
	if isLocal(s) {
		if area == "" {
			return Number{}, invalid(raw, "a local number needs its area code, such as 0477-%s", s)
		}
		a, err := normalizeArea(area)
		if err != nil {
			return Number{}, err
		}
		s = a + s
	}
	if isShort(s) {
		return parseShort(raw, s)
	}
	num, err := phonenumbers.Parse(s, region)
	if err != nil {
		return Number{}, invalid(raw, "%v", err)
	}
	if !phonenumbers.IsValidNumber(num) {
		return Number{}, invalid(raw, "not a number in use in its country's numbering plan")
	}
	e164 := phonenumbers.Format(num, phonenumbers.E164)
	if phonenumbers.GetRegionCodeForNumber(num) != region {
		return Number{E164: e164, National: e164, Kind: Other, Valid: true}, nil
	}
	n := Number{
		E164:     e164,
		National: phonenumbers.NormalizeDigitsOnly(phonenumbers.Format(num, phonenumbers.NATIONAL)),
		Kind:     Other,
		Valid:    true,
	}
	switch phonenumbers.GetNumberType(num) {
	case phonenumbers.MOBILE:
		n.Kind = Mobile
	case phonenumbers.FIXED_LINE:
		n.Kind = Landline
	}
	return n, nil
}

// serviceNumbers are government service hotlines (12345 and the 123xx family)
// missing from the short-number data of the phonenumbers library. Citizens quote
// them, and the platform's own line transfers calls to and from them.
var serviceNumbers = map[string]bool{
	"12345": true, // 政务服务便民热线, the hotline this platform runs
	"12315": true, // market regulation complaints
	"12333": true, // human resources and social security
	"12348": true, // legal aid
	"12366": true, // taxation
	"12369": true, // ecology and environment
	"12388": true, // discipline inspection reports
}

func parseShort(raw, s string) (Number, error) {
	if !serviceNumbers[s] {
		num, err := phonenumbers.Parse(s, region)
		if err != nil || !phonenumbers.IsValidShortNumberForRegion(num, region) {
			return Number{}, invalid(raw, "not a complete number, nor a known short number")
		}
	}
	return Number{National: s, Kind: Other, Valid: true}, nil
}

// normalize reduces raw to an optional leading "+" and ASCII digits, or fails.
func normalize(raw string) (string, error) {
	if len(raw) > maxRawLen*utf8.UTFMax || utf8.RuneCountInString(raw) > maxRawLen {
		return "", invalid(raw, "longer than %d characters", maxRawLen)
	}
	var b strings.Builder
	for _, r := range raw {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r >= '０' && r <= '９': // full-width digits from Chinese input methods
			b.WriteRune('0' + (r - '０'))
		case r == '+' || r == '＋':
			if b.Len() > 0 {
				return "", invalid(raw, "+ is allowed only in front")
			}
			b.WriteRune('+')
		case isSeparator(r):
		default:
			return "", invalid(raw, "unexpected character %q", r)
		}
	}
	s := b.String()
	if s == "" || s == "+" {
		return "", invalid(raw, "no digits")
	}
	return s, nil
}

func isSeparator(r rune) bool {
	switch r {
	case ' ', '\t', '\u00a0', '\u3000', // spaces, including no-break and ideographic
		'-', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\uff0d', // dashes
		'.', '(', ')', '\uff08', '\uff09', '/': // dots, brackets (full-width too), slashes
		return true
	}
	return false
}

// isLocal reports whether s is a landline subscriber number without its area code:
// seven or eight digits that cannot begin a complete number (0 starts an area code,
// 1 a mobile or service number).
func isLocal(s string) bool {
	return (len(s) == 7 || len(s) == 8) && s[0] >= '2' && s[0] <= '9'
}

// isShort reports whether s is a short code such as 110, 12345 or 95588. No
// complete Chinese number has fewer than seven digits.
func isShort(s string) bool {
	return len(s) >= 3 && len(s) <= 6 && s[0] != '+' && s[0] != '0'
}

// normalizeArea turns "0477" or "477" into "0477". Chinese area codes are 10, 2x
// or three digits.
func normalizeArea(area string) (string, error) {
	a := strings.TrimPrefix(strings.TrimSpace(area), "0")
	ok := len(a) >= 2 && len(a) <= 3 && a[0] >= '1' && a[0] <= '9'
	for _, r := range a {
		ok = ok && r >= '0' && r <= '9'
	}
	if !ok {
		return "", fmt.Errorf("phone: area code %q is not like 0477: %w", area, ErrInvalid)
	}
	return "0" + a, nil
}

func invalid(raw, format string, args ...any) error {
	if utf8.RuneCountInString(raw) > maxRawLen {
		// Quote only the start of an overlong input: errors end up in logs.
		raw = string([]rune(raw)[:maxRawLen]) + "…"
	}
	return fmt.Errorf("phone: %q: %s: %w", raw, fmt.Sprintf(format, args...), ErrInvalid)
}

// IsMobile reports whether s, as stored or as written, is a Chinese mobile number.
func IsMobile(s string) bool {
	n, err := Parse(s)
	return err == nil && n.Kind == Mobile
}
