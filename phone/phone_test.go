package phone

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	ordos := Number{E164: "+864778581234", National: "04778581234", Kind: Landline, Valid: true}
	mobile := Number{E164: "+8613812345678", National: "13812345678", Kind: Mobile, Valid: true}
	tests := []struct {
		name string
		raw  string
		want Number
	}{
		{"mobile", "13812345678", mobile},
		{"mobile with country code and spaces", "+86 138 1234 5678", mobile},
		{"mobile with 0086 and dashes", "0086-138-1234-5678", mobile},
		{"mobile with 86 and brackets", "(+86)138.1234.5678", mobile},
		{"full-width digits", "１３８１２３４５６７８", mobile},
		{"full-width plus, dash and ideographic space", "＋８６　１３８－１２３４－５６７８", mobile},
		{"full-width brackets around area code", "（0477）8581234", ordos},
		{"new mobile prefix 199", "19912345678", Number{E164: "+8619912345678", National: "19912345678", Kind: Mobile, Valid: true}},
		{"Ordos landline", "0477-8581234", ordos},
		{"Ordos landline, no dash", "04778581234", ordos},
		{"Ordos landline, international", "+86 477 858 1234", ordos},
		{"Beijing landline", "010-12345678", Number{E164: "+861012345678", National: "01012345678", Kind: Landline, Valid: true}},
		{"400 number", "400-812-3123", Number{E164: "+864008123123", National: "4008123123", Kind: Other, Valid: true}},
		{"12345 hotline", "12345", Number{National: "12345", Kind: Other, Valid: true}},
		{"12315 complaints", "12315", Number{National: "12315", Kind: Other, Valid: true}},
		{"police", "110", Number{National: "110", Kind: Other, Valid: true}},
		{"ambulance", "120", Number{National: "120", Kind: Other, Valid: true}},
		{"bank short number", "95588", Number{National: "95588", Kind: Other, Valid: true}},
		// Foreign numbers are accepted, valid, but Other: the platform cannot text or call them back.
		{"US number", "+1 202 555 0100", Number{E164: "+12025550100", National: "+12025550100", Kind: Other, Valid: true}},
		{"US number via 00", "001 202 555 0100", Number{E164: "+12025550100", National: "+12025550100", Kind: Other, Valid: true}},
		{"UK landline", "+44 20 7946 0958", Number{E164: "+442079460958", National: "+442079460958", Kind: Other, Valid: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.raw)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.raw, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tt.raw, diff)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want string // part of the message
	}{
		{"empty", "", "no digits"},
		{"only separators", " - ", "no digits"},
		{"only plus", "+", "no digits"},
		{"letters", "abc", `unexpected character 'a'`},
		{"letters inside digits", "138abcd5678", `unexpected character 'a'`},
		{"plus inside", "138+12345678", "+ is allowed only in front"},
		{"too short", "12", "not a number in use"},
		{"unknown short number", "12399", "nor a known short number"},
		{"six digits", "123456", "nor a known short number"},
		{"mobile missing a digit", "1381234567", "not a number in use"},
		{"mobile with an extra digit", "138123456789", "not a number in use"},
		{"mobile with unissued prefix", "12012345678", "not a number in use"},
		{"local number without area code", "8581234", "needs its area code, such as 0477-8581234"},
		{"eight-digit local number", "62345678", "needs its area code"},
		{"country code only", "+86", "not a number"},
		{"too long", strings.Repeat("1", 65), "longer than 64 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.raw)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want an error", tt.raw, got)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Parse(%q) error %v does not wrap ErrInvalid", tt.raw, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse(%q) error %q, want it to contain %q", tt.raw, err, tt.want)
			}
			if got != (Number{}) {
				t.Errorf("Parse(%q) returned %+v with its error, want the zero Number", tt.raw, got)
			}
		})
	}
}

// The library counts 123 as a standard-rate short number in China, so Parse does too.
func TestParseShortNumberFromLibrary(t *testing.T) {
	got, err := Parse("123")
	if err != nil {
		t.Fatalf("Parse(123): %v", err)
	}
	if diff := cmp.Diff(Number{National: "123", Kind: Other, Valid: true}, got); diff != "" {
		t.Errorf("Parse(123) (-want +got):\n%s", diff)
	}
}

func TestParseWithArea(t *testing.T) {
	ordos := Number{E164: "+864778581234", National: "04778581234", Kind: Landline, Valid: true}
	tests := []struct {
		name, raw, area string
		want            Number
	}{
		{"local number", "8581234", "0477", ordos},
		{"area without its 0", "858-1234", "477", ordos},
		{"Beijing eight digits", "12345678", "010", Number{}}, // starts with 1: not local, and not a valid mobile
		{"Beijing local", "62345678", "10", Number{E164: "+861062345678", National: "01062345678", Kind: Landline, Valid: true}},
		{"complete number ignores the area", "0477-8581234", "010", ordos},
		{"mobile ignores the area", "13812345678", "0477", Number{E164: "+8613812345678", National: "13812345678", Kind: Mobile, Valid: true}},
		{"short number ignores the area", "12345", "0477", Number{National: "12345", Kind: Other, Valid: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseWithArea(tt.raw, tt.area)
			if tt.want == (Number{}) {
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("ParseWithArea(%q, %q) = %+v, %v; want ErrInvalid", tt.raw, tt.area, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseWithArea(%q, %q): %v", tt.raw, tt.area, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseWithArea(%q, %q) (-want +got):\n%s", tt.raw, tt.area, diff)
			}
		})
	}
}

func TestParseWithBadArea(t *testing.T) {
	for _, area := range []string{"0", "4", "04777", "0a77", "+86", "00477"} {
		t.Run(area, func(t *testing.T) {
			_, err := ParseWithArea("8581234", area)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "area code") {
				t.Errorf("ParseWithArea(8581234, %q) error %v, want ErrInvalid naming the area code", area, err)
			}
		})
	}
}

func TestMasked(t *testing.T) {
	tests := []struct {
		raw, want string
	}{
		{"13812345678", "138****5678"},
		{"+86 199 8765 4321", "199****4321"},
		{"0477-8581234", "0477****1234"},
		{"010-62345678", "010****5678"},
		{"021-62345678", "021****5678"},
		{"12345", "12345"},
		{"110", "110"},
		{"400-812-3123", "****3123"},
		{"+1 202 555 0100", "+12****0100"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			n, err := Parse(tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			if got := n.Masked(); got != tt.want {
				t.Errorf("Parse(%q).Masked() = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
	if got := (Number{}).Masked(); got != "" {
		t.Errorf("zero Number: Masked() = %q, want empty", got)
	}
}

func TestMask(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"mobile", "13812345678", "138****5678"},
		{"landline, four-digit area code", "04778581234", "0477****1234"},
		{"landline, 010", "01012345678", "010****5678"},
		{"landline, 02x, seven digits", "0231234567", "023****4567"},
		{"short code kept", "12345", "12345"},
		{"E.164 kept only at the ends", "+8613812345678", "+86****5678"},
		{"local number from an old row", "8581234", "****1234"},
		{"garbage from an old row", "call me on 138", "cal**** 138"},
		{"short garbage", "abc", "****"},
		{"full-width, not parsed", "１３８１２３４５６７８", "１３８****５６７８"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Mask(tt.in); got != tt.want {
				t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestIsMobile(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"13812345678", true},
		{"+8613812345678", true},
		{"04778581234", false},
		{"12345", false},
		{"+12025550100", false},
		{"1381234567", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := IsMobile(tt.in); got != tt.want {
				t.Errorf("IsMobile(%q) = %v, want %v", tt.in, got, tt.want)
			}
			n, err := Parse(tt.in)
			if got := err == nil && n.IsMobile(); got != tt.want {
				t.Errorf("Parse(%q).IsMobile() = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	got := []string{Other.String(), Mobile.String(), Landline.String(), Kind(42).String()}
	if diff := cmp.Diff([]string{"other", "mobile", "landline", "other"}, got); diff != "" {
		t.Errorf("Kind.String (-want +got):\n%s", diff)
	}
}

// FuzzParse checks that Parse never panics and that what it returns is stable: the
// stored National form parses back to the same Number, so a lookup by a stored
// number finds it again.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"13812345678", "+86 138 1234 5678", "0086-138-1234-5678", "0477-8581234", "8581234",
		"12345", "110", "123", "abc", "1381234567", "+1 202 555 0100", "１３８１２３４５６７８",
		"（0477）8581234", "400-812-3123", "", "+", "00", "+86", "0", "\xff\xfe", "٣٨١٢",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		n, err := Parse(raw)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q) error %v does not wrap ErrInvalid", raw, err)
			}
			return
		}
		if !n.Valid || n.National == "" {
			t.Fatalf("Parse(%q) = %+v without an error, want Valid with a National form", raw, n)
		}
		again, err := Parse(n.National)
		if err != nil {
			t.Fatalf("Parse(%q) = %+v, but its National form does not parse: %v", raw, n, err)
		}
		if again != n {
			t.Fatalf("Parse(%q) = %+v, Parse(%q) = %+v", raw, n, n.National, again)
		}
		if m := n.Masked(); n.Kind != Other && strings.Contains(m, n.National) {
			t.Fatalf("Parse(%q).Masked() = %q shows the whole number", raw, m)
		}
	})
}
