package aritest

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"time"
	"unicode/utf8"
)

// Asterisk writes its JSON with jansson: keys in a fixed order per object,
// no HTML escaping, raw UTF-8 and unescaped slashes. encoding/json cannot
// keep key order for maps and escapes '<' and '>', so the emulator builds its
// bodies with this small ordered encoder instead.

// obj is a JSON object whose keys keep their order.
type obj []kv

type kv struct {
	k string
	v any
}

// ariTimeFormat is the format of every Asterisk timestamp, e.g.
// "2026-11-26T19:17:06.423+0000".
const ariTimeFormat = "2006-01-02T15:04:05.000-0700"

func ariTime(t time.Time) string { return t.UTC().Format(ariTimeFormat) }

func encodeJSON(v any) []byte {
	return appendJSON(make([]byte, 0, 512), v)
}

func appendJSON(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return appendString(b, x)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case bool:
		return strconv.AppendBool(b, x)
	case obj:
		b = append(b, '{')
		for i, f := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, f.k)
			b = append(b, ':')
			b = appendJSON(b, f.v)
		}
		return append(b, '}')
	case []string:
		b = append(b, '[')
		for i, s := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		return append(b, ']')
	case []obj:
		b = append(b, '[')
		for i, o := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, o)
		}
		return append(b, ']')
	case rawJSON:
		return append(b, x...)
	case []rawJSON:
		b = append(b, '[')
		for i, r := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, r...)
		}
		return append(b, ']')
	default:
		// Only the types above are built by this package; anything else is a
		// programming error, reported in the body rather than by a panic.
		return appendString(b, "unsupported value")
	}
}

// rawJSON is already-encoded JSON inserted verbatim.
type rawJSON []byte

const hexDigits = "0123456789abcdef"

func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

func message(text string) obj { return obj{{"message", text}} }

// newUUID returns a random lowercase UUID v4, the form Asterisk uses for
// playback and bridge ids.
func newUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = (u[6] & 0x0f) | 0x40
	u[8] = (u[8] & 0x3f) | 0x80
	var buf [36]byte
	hex.Encode(buf[0:8], u[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], u[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], u[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], u[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], u[10:])
	return string(buf[:])
}

// causeText is Asterisk's ast_cause2str for the causes a hotline meets.
func causeText(cause int) string {
	switch cause {
	case 0:
		return "Unknown"
	case 1:
		return "Unallocated (unassigned) number"
	case 16:
		return "Normal Clearing"
	case 17:
		return "User busy"
	case 18:
		return "No user responding"
	case 19:
		return "User alerting, no answer"
	case 21:
		return "Call Rejected"
	case 26:
		return "Answered elsewhere"
	case 28:
		return "Invalid number format (incomplete number)"
	case 31:
		return "Normal, unspecified"
	case 34:
		return "Circuit/channel congestion"
	case 38:
		return "Network out of order"
	case 58:
		return "Bearer capability not available"
	case 127:
		return "Interworking, unspecified"
	}
	return "Unknown"
}

// hangupReasons maps the `reason` of DELETE /channels/{id} to a cause code.
var hangupReasons = map[string]int{
	"normal":             16,
	"busy":               17,
	"congestion":         34,
	"no_answer":          19,
	"timeout":            18,
	"rejected":           21,
	"unallocated":        1,
	"normal_unspecified": 31,
	"number_incomplete":  28,
	"codec_mismatch":     58,
	"interworking":       127,
	"failure":            38,
	"answered_elsewhere": 26,
}
