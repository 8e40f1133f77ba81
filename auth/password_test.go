package auth

import (
	"strings"
	"testing"
)

func TestPasswordHash(t *testing.T) {
	params := PasswordParams{Memory: 64, Time: 1, Threads: 1}
	hash, err := hashPassword("correct horse battery", params)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := hashPassword("correct horse battery", params)
	if hash == other {
		t.Error("two hashes of one password are equal; the salt is not random")
	}
	tests := []struct {
		name   string
		pw     string
		wantOK bool
	}{
		{"right", "correct horse battery", true},
		{"wrong", "correct horse batterY", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, got, err := verifyPassword(tt.pw, hash)
			if err != nil || ok != tt.wantOK || got != params {
				t.Errorf("verify = %v, %+v, %v; want %v, %+v", ok, got, err, tt.wantOK, params)
			}
		})
	}
}

func TestDefaultPasswordParams(t *testing.T) {
	hash, err := hashPassword("correct horse battery", DefaultPasswordParams)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash = %q", hash)
	}
}

func TestParsePHCRefuses(t *testing.T) {
	good, _ := hashPassword("x", PasswordParams{Memory: 64, Time: 1, Threads: 1})
	parts := strings.Split(good, "$")
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	tests := []struct{ name, phc string }{
		{"empty", ""},
		{"bcrypt", "$2a$10$abcdefghijklmnopqrstuv"},
		{"argon2i", with(1, "argon2i")},
		{"old version", with(2, "v=16")},
		{"missing parameter", with(3, "m=64,t=1")},
		{"trailing parameter text", with(3, "m=64,t=1,p=1,x=2")},
		{"huge memory", with(3, "m=99999999,t=1,p=1")},
		{"zero passes", with(3, "m=64,t=0,p=1")},
		{"bad salt", with(4, "!!!")},
		{"short key", with(5, "AAAA")},
		{"extra part", good + "$x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, _, err := parsePHC(tt.phc); err == nil {
				t.Errorf("parsePHC(%q) accepted it", tt.phc)
			}
		})
	}
}

func FuzzParsePHC(f *testing.F) {
	good, _ := hashPassword("x", PasswordParams{Memory: 64, Time: 1, Threads: 1})
	f.Add(good)
	f.Add("$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, phc string) {
		p, salt, key, err := parsePHC(phc)
		if err != nil {
			return
		}
		if p.Memory > 4*1024*1024 || p.Time == 0 || p.Threads == 0 || len(salt) < 8 || len(key) < 16 {
			t.Errorf("parsePHC(%q) accepted out-of-range %+v", phc, p)
		}
	})
}
