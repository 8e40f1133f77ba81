package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/rexian/rexian/api"
)

// PasswordParams are the argon2id cost parameters.
type PasswordParams struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// DefaultPasswordParams follow the OWASP minimum for argon2id (19 MiB, 2 passes, 1 lane):
// tens of milliseconds per login on a server, yet each guess at a stolen hash costs the
// same.
var DefaultPasswordParams = PasswordParams{Memory: 19 * 1024, Time: 2, Threads: 1}

// Password length limits, in characters. The upper bound stops a megabyte "password" from
// being used to make each login attempt expensive.
const (
	MinPasswordLength = 10
	MaxPasswordLength = 256
)

const (
	saltLen = 16
	keyLen  = 32
)

// checkPassword tells the person choosing a password what is wrong with it.
func checkPassword(pw string) error {
	n := utf8.RuneCountInString(pw)
	if n < MinPasswordLength {
		return api.Errorf(api.ErrInvalid, "password_too_short",
			"password must be at least %d characters long", MinPasswordLength)
	}
	if n > MaxPasswordLength {
		return api.Errorf(api.ErrInvalid, "password_too_long",
			"password must be at most %d characters long", MaxPasswordLength)
	}
	return nil
}

// hashPassword returns pw hashed with argon2id in the PHC string format,
// $argon2id$v=19$m=19456,t=2,p=1$salt$hash, which carries its own parameters so that
// raising them later does not break existing hashes.
func hashPassword(pw string, p PasswordParams) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// verifyPassword reports whether pw matches the PHC string, and the parameters the string
// was made with (so that a caller can rehash when they are out of date).
func verifyPassword(pw, phc string) (bool, PasswordParams, error) {
	p, salt, key, err := parsePHC(phc)
	if err != nil {
		return false, p, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, p, nil
}

var errBadPHC = errors.New("malformed argon2id hash")

// parsePHC splits an argon2id PHC string. The bounds refuse a damaged row that would ask
// for gigabytes of memory on every login.
func parsePHC(phc string) (p PasswordParams, salt, key []byte, err error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errBadPHC
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, fmt.Errorf("%w: version %q", errBadPHC, parts[2])
	}
	var m, t, th uint64
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &th); err != nil || n != 3 ||
		fmt.Sprintf("m=%d,t=%d,p=%d", m, t, th) != parts[3] {
		return p, nil, nil, fmt.Errorf("%w: parameters %q", errBadPHC, parts[3])
	}
	if th < 1 || th > 64 || t < 1 || t > 64 || m < 8*th || m > 4*1024*1024 {
		return p, nil, nil, fmt.Errorf("%w: parameters %q out of range", errBadPHC, parts[3])
	}
	p = PasswordParams{Memory: uint32(m), Time: uint32(t), Threads: uint8(th)}
	if salt, err = base64.RawStdEncoding.Strict().DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return p, nil, nil, fmt.Errorf("%w: salt", errBadPHC)
	}
	if key, err = base64.RawStdEncoding.Strict().DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 128 {
		return p, nil, nil, fmt.Errorf("%w: key", errBadPHC)
	}
	return p, salt, key, nil
}
