package kannel

import "strings"

// gsmBasic is the GSM 03.38 default alphabet (one septet each), without the escape code.
const gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

// gsmExtension holds the characters sent as escape + one septet (two septets each).
const gsmExtension = "\f^{}\\[~]|€"

// gsmSeptets counts the septets s takes in the GSM 7-bit alphabet. bad is the first
// character that has no GSM encoding (0 when there is none).
func gsmSeptets(s string) (n int, bad rune) {
	for _, r := range s {
		switch {
		case strings.ContainsRune(gsmBasic, r):
			n++
		case strings.ContainsRune(gsmExtension, r):
			n += 2
		default:
			return n, r
		}
	}
	return n, 0
}
