package sms

import (
	"strings"
	"unicode/utf16"
)

// Lengths of one SMS and of each part of a concatenated one. A part loses room to the
// 6-byte concatenation header (UDH): 7 septets in GSM 7-bit, 3 characters in UCS-2.
const (
	gsm7Single = 160
	gsm7Part   = 153
	ucs2Single = 70
	ucs2Part   = 67
)

// gsm7Basic is the GSM 03.38 default alphabet (without the escape to the extension table).
const gsm7Basic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

// gsm7Extension characters are sent as escape + character: two septets each.
const gsm7Extension = "\f^{}\\[~]|€"

var gsm7Septets = func() map[rune]int {
	m := make(map[rune]int, 140)
	for _, r := range gsm7Basic {
		m[r] = 1
	}
	for _, r := range gsm7Extension {
		m[r] = 2
	}
	return m
}()

// septets returns the GSM 7-bit length of text, or false when a character is not in the
// alphabet.
func septets(text string) (int, bool) {
	n := 0
	for _, r := range text {
		w, ok := gsm7Septets[r]
		if !ok {
			return 0, false
		}
		n += w
	}
	return n, true
}

// Measure says how text goes on the air: its coding, the number of parts and its length
// in that coding's units (septets for GSM 7-bit, UTF-16 code units for UCS-2). The API
// shows it before sending; the outbox refuses what exceeds the part limit.
func Measure(text string) (coding Coding, parts int, chars int) {
	coding, segs := Split(text)
	if n, ok := septets(text); ok {
		return coding, len(segs), n
	}
	return coding, len(segs), len(utf16.Encode([]rune(text)))
}

// Split cuts text into the parts the outbox submits. One part holds 160 septets or 70
// UCS-2 characters; a longer text is cut into parts of 153 septets or 67 characters. A
// GSM extension character (two septets) and a UTF-16 surrogate pair are never cut in
// two. An empty text has no parts.
func Split(text string) (Coding, []string) {
	if text == "" {
		return CodingGSM7, nil
	}
	if n, ok := septets(text); ok {
		if n <= gsm7Single {
			return CodingGSM7, []string{text}
		}
		return CodingGSM7, cut(text, gsm7Part, func(r rune) int { return gsm7Septets[r] })
	}
	units := 0
	for _, r := range text {
		units += utf16.RuneLen(r)
	}
	if units <= ucs2Single {
		return CodingUCS2, []string{text}
	}
	return CodingUCS2, cut(text, ucs2Part, utf16.RuneLen)
}

// cut splits text into pieces of at most size units, where width gives a rune's units,
// never splitting a rune.
func cut(text string, size int, width func(rune) int) []string {
	var parts []string
	var b strings.Builder
	used := 0
	for _, r := range text {
		w := width(r)
		if used+w > size {
			parts = append(parts, b.String())
			b.Reset()
			used = 0
		}
		b.WriteRune(r)
		used += w
	}
	if b.Len() > 0 {
		parts = append(parts, b.String())
	}
	return parts
}
