package kannel

import (
	"testing"
	"unicode/utf16"
)

// FuzzDecodeUTF16BE checks the strict UCS-2 decoder against the standard library: it
// never panics, accepts exactly the byte strings that are whole, well-paired UTF-16BE,
// and what it accepts encodes back to the same bytes.
func FuzzDecodeUTF16BE(f *testing.F) {
	for _, seed := range [][]byte{{0x6E, 0xE1, 0x61, 0x0F}, {0xD8, 0x3D, 0xDE, 0x00}, {0xD8, 0x3D}, {0xDE, 0x00}, {0x6E}, {}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeUTF16BE(b)
		if len(b)%2 != 0 {
			if err == nil {
				t.Fatalf("accepted %d bytes", len(b))
			}
			return
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		}
		lone := hasLoneSurrogate(u)
		if err != nil {
			if !lone {
				t.Fatalf("refused valid UTF-16BE % x: %v", b, err)
			}
			return
		}
		if lone {
			t.Fatalf("accepted a lone surrogate in % x", b)
		}
		back := utf16.Encode([]rune(s))
		if len(back) != len(u) {
			t.Fatalf("round trip of % x: %d units, want %d", b, len(back), len(u))
		}
		for i := range back {
			if back[i] != u[i] {
				t.Fatalf("round trip of % x differs at unit %d", b, i)
			}
		}
	})
}

func hasLoneSurrogate(u []uint16) bool {
	for i := 0; i < len(u); i++ {
		switch {
		case u[i] >= 0xD800 && u[i] < 0xDC00:
			if i+1 >= len(u) || u[i+1] < 0xDC00 || u[i+1] > 0xDFFF {
				return true
			}
			i++
		case u[i] >= 0xDC00 && u[i] <= 0xDFFF:
			return true
		}
	}
	return false
}
