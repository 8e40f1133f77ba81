package sms

import (
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

func TestSplitAndMeasure(t *testing.T) {
	tests := []struct {
		name       string
		text       string
		coding     Coding
		parts      int
		chars      int
		firstParts []int // lengths of the first parts in units, when checked
	}{
		{"empty", "", CodingGSM7, 0, 0, nil},
		{"short ascii", "Your ticket 2600000014", CodingGSM7, 1, 22, nil},
		{"gsm 160", strings.Repeat("a", 160), CodingGSM7, 1, 160, nil},
		{"gsm 161", strings.Repeat("a", 161), CodingGSM7, 2, 161, []int{153, 8}},
		{"extension counts double", strings.Repeat("{", 80), CodingGSM7, 1, 160, nil},
		{"extension over", strings.Repeat("€", 81), CodingGSM7, 2, 162, []int{152, 10}},
		{"gsm accents", "Café à Zürich", CodingGSM7, 1, 13, nil},
		{"chinese 70", strings.Repeat("热", 70), CodingUCS2, 1, 70, nil},
		{"chinese 71", strings.Repeat("热", 71), CodingUCS2, 2, 71, []int{67, 4}},
		{"one non-gsm char forces ucs2", strings.Repeat("a", 100) + "热", CodingUCS2, 2, 101, []int{67, 34}},
		{"surrogate pair at the boundary", strings.Repeat("热", 66) + "😀" + strings.Repeat("线", 5), CodingUCS2, 2, 73, []int{66, 7}},
		{"signature brackets are ucs2", "【12345市民热线】ok", CodingUCS2, 1, 13, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			coding, parts, chars := Measure(tt.text)
			if coding != tt.coding || parts != tt.parts || chars != tt.chars {
				t.Fatalf("Measure = %s, %d parts, %d chars; want %s, %d, %d", coding, parts, chars, tt.coding, tt.parts, tt.chars)
			}
			c2, segs := Split(tt.text)
			if c2 != coding || len(segs) != parts {
				t.Fatalf("Split = %s, %d parts; Measure said %s, %d", c2, len(segs), coding, parts)
			}
			if strings.Join(segs, "") != tt.text {
				t.Fatal("the parts do not join back into the text")
			}
			limit, single := ucs2Part, ucs2Single
			if coding == CodingGSM7 {
				limit, single = gsm7Part, gsm7Single
			}
			for i, s := range segs {
				n := units(coding, s)
				if (len(segs) > 1 && n > limit) || n > single {
					t.Errorf("part %d is %d units", i+1, n)
				}
				if !utf8.ValidString(s) {
					t.Errorf("part %d is cut inside a character", i+1)
				}
				if i < len(tt.firstParts) && n != tt.firstParts[i] {
					t.Errorf("part %d is %d units; want %d", i+1, n, tt.firstParts[i])
				}
			}
		})
	}
}

func units(c Coding, s string) int {
	if c == CodingGSM7 {
		n, _ := septets(s)
		return n
	}
	return len(utf16.Encode([]rune(s)))
}

func FuzzSplit(f *testing.F) {
	for _, s := range []string{"", "abc", strings.Repeat("热", 71), strings.Repeat("€", 81), "😀😀😀"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		coding, segs := Split(s)
		if strings.Join(segs, "") != s {
			t.Fatal("parts do not join back")
		}
		for _, p := range segs {
			if p == "" {
				t.Fatal("empty part")
			}
			if len(segs) > 1 && units(coding, p) > max(gsm7Part, ucs2Part) {
				t.Fatalf("part too long: %d", units(coding, p))
			}
		}
	})
}
