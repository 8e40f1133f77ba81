package hashchain

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/emmansun/gmsm/sm3"
)

func TestLinks(t *testing.T) {
	fields := []string{"2026120600001", "1", "王丽", ""}
	sha := SHA256.Link(fields...)
	sm := SM3.Link(fields...)
	if len(sha) != 64 || strings.Contains(sha, ":") {
		t.Errorf("SHA-256 link %q: want 64 hex digits with no prefix, as chains made before SM3", sha)
	}
	if !strings.HasPrefix(sm, "sm3:") || len(sm) != MaxLen {
		t.Errorf("SM3 link %q: want sm3: and 64 hex digits", sm)
	}
	if Algorithm("").Link(fields...) != sha {
		t.Error("the zero algorithm does not make SHA-256 links")
	}
	for _, link := range []string{sha, sm} {
		if !Check(link, fields...) {
			t.Errorf("Check(%q) fails on its own fields", link)
		}
		if Check(link, "2026120600001", "1", "王", "丽") {
			t.Errorf("Check(%q) passes when text moved between fields", link)
		}
	}
	// SM3 of the same input is not SHA-256 under another name.
	if sm[len("sm3:"):] == sha {
		t.Error("the SM3 link equals the SHA-256 one")
	}
	// A SHA-256 link relabelled as SM3 does not check.
	if Check("sm3:"+sha, fields...) {
		t.Error("a relabelled SHA-256 link checks as SM3")
	}
}

// TestSM3KnownAnswer pins the library to the standard's example (GB/T 32905-2016, A.1:
// SM3("abc")) and the link encoding to a value computed once: every stored link depends
// on both, so a change of either must be noticed here, not by a failed verify.
func TestSM3KnownAnswer(t *testing.T) {
	h := sm3.New()
	h.Write([]byte("abc"))
	if got, want := hex.EncodeToString(h.Sum(nil)), "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"; got != want {
		t.Errorf("SM3(abc) = %s, want the standard's %s", got, want)
	}
	if got, want := SM3.Link("abc"), "sm3:"+sm3Hex("3:abc|"); got != want {
		t.Errorf("SM3 link of abc = %s, want %s", got, want)
	}
}

func sm3Hex(s string) string {
	h := sm3.New()
	h.Write([]byte(s))
	return hex.EncodeToString(h.Sum(nil))
}

func TestParse(t *testing.T) {
	for in, want := range map[string]Algorithm{"": SHA256, "sha256": SHA256, "SM3": SM3, " sm3 ": SM3} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := Parse("md5"); err == nil {
		t.Error("Parse(md5) accepted")
	}
}
