package tickets

import (
	"fmt"
	"strings"
)

// Ticket numbers are digits only, so that a citizen can key one in on a phone keypad:
// two digits of the year, a serial of at least seven digits, and a check digit by the
// Damm algorithm, which catches every single mistyped digit and every swap of two
// neighbouring digits — the two mistakes people make reading a number aloud or keying it.
//
//	26 0001234 7
//	yy serial  check

// dammTable is the quasigroup of order 10 from H. M. Damm (2004).
var dammTable = [10][10]byte{
	{0, 3, 1, 7, 5, 9, 8, 6, 4, 2},
	{7, 0, 9, 2, 1, 5, 4, 8, 6, 3},
	{4, 2, 0, 6, 8, 7, 1, 3, 5, 9},
	{1, 7, 5, 0, 9, 8, 3, 4, 2, 6},
	{6, 1, 2, 3, 0, 4, 5, 9, 7, 8},
	{3, 6, 7, 4, 2, 0, 9, 5, 8, 1},
	{5, 8, 6, 9, 7, 2, 0, 1, 3, 4},
	{8, 9, 4, 5, 3, 6, 2, 0, 1, 7},
	{9, 4, 3, 8, 6, 1, 7, 2, 0, 5},
	{2, 5, 8, 1, 4, 3, 6, 7, 9, 0},
}

func dammDigit(digits string) byte {
	var interim byte
	for i := 0; i < len(digits); i++ {
		interim = dammTable[interim][digits[i]-'0']
	}
	return interim
}

// FormatNumber builds the ticket number for a year and a serial.
func FormatNumber(year int, serial int64) string {
	body := fmt.Sprintf("%02d%07d", year%100, serial)
	return body + string('0'+dammDigit(body))
}

// minNumberLen is 2 (year) + 7 (serial) + 1 (check).
const minNumberLen = 10

// CheckNumber reports whether s is a well-formed ticket number with a correct check
// digit. Spaces and dashes that people type are ignored by NormalizeNumber, not here.
func CheckNumber(s string) bool {
	if len(s) < minNumberLen || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return dammDigit(s) == 0
}

// NormalizeNumber removes the spaces and dashes people type or say between groups and
// turns full-width digits into ASCII; it does not check the number.
func NormalizeNumber(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r >= '０' && r <= '９':
			b.WriteRune('0' + (r - '０'))
		case r == ' ' || r == '-' || r == '　':
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
