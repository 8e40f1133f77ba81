package pii

import (
	"errors"
	"strings"
	"testing"
)

const keys1 = "key k1 00112233445566778899aabbccddeeff\nindex i1 0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"

func TestParseRejectsBadKeys(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"short SM4 key", "key k1 0011\nindex i1 " + strings.Repeat("00", 32), "16 bytes"},
		{"short index key", "key k1 " + strings.Repeat("00", 16) + "\nindex i1 0011", "at least 32 bytes"},
		{"not hex", "key k1 " + strings.Repeat("zz", 16), "not hexadecimal"},
		{"only a sealing key", "key k1 " + strings.Repeat("00", 16), "give both"},
		{"listed twice", "key k1 " + strings.Repeat("00", 16) + ";key k1 " + strings.Repeat("01", 16), "listed twice"},
		{"bad id", "key k:1 " + strings.Repeat("00", 16), "key id"},
		{"unknown kind", "aes k1 " + strings.Repeat("00", 16), "neither key nor index"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.text)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse: err = %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestSealOpenAndRotate(t *testing.T) {
	k1, err := Parse(keys1)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := k1.Seal("13812345678")
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := IsSealed(sealed); !ok || id != "k1" || strings.Contains(sealed, "5678") {
		t.Fatalf("sealed = %q", sealed)
	}
	again, _ := k1.Seal("13812345678")
	if again == sealed {
		t.Error("two seals of one value are equal: the nonce is not random")
	}
	if empty, _ := k1.Seal(""); empty != "" {
		t.Errorf("the empty string sealed to %q", empty)
	}

	// A newer key seals new values; the old one still opens old values.
	gen, err := Generate("k2")
	if err != nil {
		t.Fatal(err)
	}
	k2, err := Parse(keys1 + "\n" + gen)
	if err != nil {
		t.Fatal(err)
	}
	if seal, index := k2.Current(); seal != "k2" || index != "k2" {
		t.Errorf("current keys = %s, %s; want k2, k2", seal, index)
	}
	if plain, err := k2.Open(sealed); err != nil || plain != "13812345678" {
		t.Errorf("k2 opens k1's value: %q, %v", plain, err)
	}
	if got := k2.Indexes("13812345678"); len(got) != 2 || !strings.Contains(strings.Join(got, " "), k1.Index("13812345678")) {
		t.Errorf("indexes under both keys = %v, want one of them %s", got, k1.Index("13812345678"))
	}
	if k1.Index("13812345678") == k1.Index("13812345679") {
		t.Error("two numbers have one index")
	}

	// Changed values and missing keys fail with ErrKey.
	tampered := sealed[:len(sealed)-2] + "AA"
	if _, err := k1.Open(tampered); !errors.Is(err, ErrKey) {
		t.Errorf("tampered value: err = %v, want ErrKey", err)
	}
	moved := strings.Replace(sealed, "sm4:k1:", "sm4:k2:", 1)
	if _, err := k2.Open(moved); !errors.Is(err, ErrKey) {
		t.Errorf("value moved under another key id: err = %v, want ErrKey", err)
	}
	var none *Keyring
	if _, err := none.Open(sealed); !errors.Is(err, ErrKey) || !strings.Contains(err.Error(), `"k1" is not configured`) {
		t.Errorf("no keys: err = %v", err)
	}
	if plain, err := none.Open("13812345678"); err != nil || plain != "13812345678" {
		t.Errorf("plain text through Open: %q, %v", plain, err)
	}
}
