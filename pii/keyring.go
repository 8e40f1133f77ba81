package pii

import (
	"bufio"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/sm4"
)

// Prefix starts every sealed value: "sm4:KEYID:base64(nonce‖ciphertext‖tag)". A stored
// value without it is plain text written before encryption was turned on.
const Prefix = "sm4:"

// indexBytes is how much of the SM3-HMAC the blind index keeps: 128 bits tell any two
// numbers apart and keep the column short.
const indexBytes = 16

// ErrKey is wrapped by every failure to open a value: its key is not configured, or the
// key with that id is not the one that sealed it.
var ErrKey = errors.New("personal data key")

// Keyring holds the SM4 keys that seal values and the SM3-HMAC keys of the blind index.
// The last key of each kind listed is the current one: new values use it; the others
// still open and find what they sealed. The zero Keyring (and nil) has no keys: values
// are stored as they are.
type Keyring struct {
	seal         map[string]cipher.AEAD
	current      string
	index        map[string][]byte
	currentIndex string
}

var keyID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,16}$`)

// Parse reads keys from text, one per line (or separated by ";" in an environment
// variable), "#" starting a comment:
//
//	key   ID HEX   an SM4 key of 16 bytes (32 hex digits) that seals values
//	index ID HEX   an SM3-HMAC key of at least 32 bytes for the blind index
//
// ID is 1 to 16 letters, digits, "-" or "_". Both kinds must be given, or neither.
func Parse(text string) (*Keyring, error) {
	k := &Keyring{seal: map[string]cipher.AEAD{}, index: map[string][]byte{}}
	sc := bufio.NewScanner(strings.NewReader(strings.ReplaceAll(text, ";", "\n")))
	line := 0
	for sc.Scan() {
		line++
		s, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(s)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("keys line %d: want \"key ID HEX\" or \"index ID HEX\", got %d words", line, len(f))
		}
		kind, id := f[0], f[1]
		if !keyID.MatchString(id) {
			return nil, fmt.Errorf("keys line %d: key id %q: use 1 to 16 letters, digits, - or _", line, id)
		}
		raw, err := hex.DecodeString(f[2])
		if err != nil {
			return nil, fmt.Errorf("keys line %d (%s %s): the key is not hexadecimal", line, kind, id)
		}
		switch kind {
		case "key":
			if len(raw) != sm4.BlockSize {
				return nil, fmt.Errorf("keys line %d (key %s): an SM4 key is 16 bytes (32 hex digits), not %d", line, id, len(raw))
			}
			if _, dup := k.seal[id]; dup {
				return nil, fmt.Errorf("keys line %d: key %s is listed twice", line, id)
			}
			block, err := sm4.NewCipher(raw)
			if err != nil {
				return nil, fmt.Errorf("keys line %d (key %s): %w", line, id, err)
			}
			aead, err := cipher.NewGCM(block)
			if err != nil {
				return nil, fmt.Errorf("keys line %d (key %s): %w", line, id, err)
			}
			k.seal[id], k.current = aead, id
		case "index":
			if len(raw) < 32 {
				return nil, fmt.Errorf("keys line %d (index %s): an index key is at least 32 bytes (64 hex digits), not %d", line, id, len(raw))
			}
			if _, dup := k.index[id]; dup {
				return nil, fmt.Errorf("keys line %d: index key %s is listed twice", line, id)
			}
			k.index[id], k.currentIndex = raw, id
		default:
			return nil, fmt.Errorf("keys line %d: %q is neither key nor index", line, kind)
		}
	}
	if (k.current == "") != (k.currentIndex == "") {
		return nil, errors.New("keys: give both an SM4 key (\"key ID HEX\") and a blind-index key (\"index ID HEX\"), or neither")
	}
	return k, nil
}

// Load reads the keys from file, if set, and from text (the environment), which are
// added after the file's and so are current if both are given. Neither set means no
// encryption.
func Load(file, text string) (*Keyring, error) {
	var all string
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read personal data keys: %w", err)
		}
		all = string(b)
	}
	k, err := Parse(all + "\n" + text)
	if err != nil && file != "" {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return k, err
}

// Generate returns the text of a new key pair with the given id, for a keys file.
func Generate(id string) (string, error) {
	if !keyID.MatchString(id) {
		return "", fmt.Errorf("key id %q: use 1 to 16 letters, digits, - or _", id)
	}
	sealKey, indexKey := make([]byte, sm4.BlockSize), make([]byte, 32)
	if _, err := rand.Read(sealKey); err != nil {
		return "", err
	}
	if _, err := rand.Read(indexKey); err != nil {
		return "", err
	}
	return fmt.Sprintf("key %s %s\nindex %s %s\n", id, hex.EncodeToString(sealKey), id, hex.EncodeToString(indexKey)), nil
}

// Enabled reports whether values are sealed.
func (k *Keyring) Enabled() bool { return k != nil && k.current != "" }

// Current is the id of the key new values are sealed with, and of the blind-index key.
func (k *Keyring) Current() (seal, index string) {
	if !k.Enabled() {
		return "", ""
	}
	return k.current, k.currentIndex
}

// Seal encrypts plain with the current key. The empty string stays empty (so "has a
// phone number" stays a cheap comparison), and without keys plain is returned as it is.
func (k *Keyring) Seal(plain string) (string, error) {
	if plain == "" || !k.Enabled() {
		return plain, nil
	}
	aead := k.seal[k.current]
	buf := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("seal personal data: %w", err)
	}
	// The key id is authenticated with the value, so a value cannot be moved under
	// another id.
	out := aead.Seal(buf, buf, []byte(plain), []byte(k.current))
	return Prefix + k.current + ":" + base64.RawStdEncoding.EncodeToString(out), nil
}

// IsSealed reports whether stored is a sealed value, and with which key.
func IsSealed(stored string) (keyID string, ok bool) {
	rest, ok := strings.CutPrefix(stored, Prefix)
	if !ok {
		return "", false
	}
	id, _, ok := strings.Cut(rest, ":")
	return id, ok
}

// Open decrypts a sealed value; a value that is not sealed is returned as it is (plain
// text from before encryption). A value sealed with a key not configured, or one that
// does not open with its key, is an error wrapping ErrKey.
func (k *Keyring) Open(stored string) (string, error) {
	id, ok := IsSealed(stored)
	if !ok {
		return stored, nil
	}
	var aead cipher.AEAD
	if k != nil {
		aead = k.seal[id]
	}
	if aead == nil {
		return "", fmt.Errorf("%w %q is not configured: the value was sealed with it (personal_data.keys_file or REXIAN_PERSONAL_DATA_KEYS)", ErrKey, id)
	}
	raw, err := base64.RawStdEncoding.DecodeString(stored[len(Prefix)+len(id)+1:])
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return "", fmt.Errorf("%w %q: the sealed value is damaged", ErrKey, id)
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(id))
	if err != nil {
		return "", fmt.Errorf("%w %q does not open the value: it is not the key that sealed it, or the value was changed", ErrKey, id)
	}
	return string(plain), nil
}

// Index is value's blind index under the current index key, "ID:hex", or "" for an
// empty value or without keys.
func (k *Keyring) Index(value string) string {
	if value == "" || !k.Enabled() {
		return ""
	}
	return indexWith(k.currentIndex, k.index[k.currentIndex], value)
}

// Indexes are value's blind indexes under every index key, for finding values written
// before the index key changed.
func (k *Keyring) Indexes(value string) []string {
	if value == "" || !k.Enabled() {
		return nil
	}
	out := make([]string, 0, len(k.index))
	for id, key := range k.index {
		out = append(out, indexWith(id, key, value))
	}
	return out
}

func indexWith(id string, key []byte, value string) string {
	m := hmac.New(sm3.New, key)
	m.Write([]byte(value))
	return id + ":" + hex.EncodeToString(m.Sum(nil)[:indexBytes])
}
