package phone

import "unicode/utf8"

// stars always has the same length, so a masked number does not tell how many
// digits it hides.
const stars = "****"

// Masked returns n's national form with its middle hidden, for screens where the
// citizen's number must not be read in full (a department's view of a ticket):
// "138****5678" for a mobile, "0477****1234" for a landline. Short service numbers
// are not personal and come back whole.
func (n Number) Masked() string { return Mask(n.National) }

// Mask hides the middle of a stored number, as Masked does, without parsing it, so
// that it also works on old rows that Parse would refuse. It keeps:
//   - a Chinese mobile (11 digits starting with 1): the first 3 and last 4 digits;
//   - a Chinese landline (0, area code, number): the area code and the last 4 digits;
//   - a short code (at most 6 digits): everything, as it is a service, not a person;
//   - anything else of 11 or more characters: the first 3 and the last 4;
//   - anything else of 7 to 10 characters: the last 4;
//   - anything shorter: nothing.
func Mask(s string) string {
	n := utf8.RuneCountInString(s)
	switch {
	case s == "":
		return ""
	case allDigits(s) && n <= 6:
		return s
	case allDigits(s) && n == 11 && s[0] == '1':
		return s[:3] + stars + s[7:]
	case allDigits(s) && n >= 10 && n <= 12 && s[0] == '0':
		return s[:areaLen(s)] + stars + s[n-4:]
	}
	r := []rune(s)
	switch {
	case n >= 11:
		return string(r[:3]) + stars + string(r[n-4:])
	case n >= 7:
		return stars + string(r[n-4:])
	}
	return stars
}

// areaLen returns the length of the area code, with its leading 0, of a national
// landline number: 010 (Beijing) and 02x are three long, every other area code four
// (0477 is Ordos).
func areaLen(national string) int {
	if national[1] == '1' || national[1] == '2' {
		return 3
	}
	return 4
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
