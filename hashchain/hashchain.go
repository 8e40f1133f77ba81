package hashchain

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"

	"github.com/emmansun/gmsm/sm3"
)

// Algorithm is what makes a chain's links.
type Algorithm string

const (
	SHA256 Algorithm = "sha256"
	SM3    Algorithm = "sm3"
)

// Default is the algorithm when none is configured.
const Default = SHA256

// sm3Prefix starts an SM3 link; a SHA-256 link has none, as before SM3 was offered.
const sm3Prefix = "sm3:"

// MaxLen is the longest link, for the columns that keep them.
const MaxLen = len(sm3Prefix) + 2*sha256.Size

// Parse reads a configured algorithm: "sha256" or "sm3" (any case); "" is Default.
func Parse(name string) (Algorithm, error) {
	switch Algorithm(strings.ToLower(strings.TrimSpace(name))) {
	case "":
		return Default, nil
	case SHA256:
		return SHA256, nil
	case SM3:
		return SM3, nil
	}
	return "", fmt.Errorf("%q is not a chain hash: use sha256 or sm3", name)
}

// Of is the algorithm that made the stored link.
func Of(link string) Algorithm {
	if strings.HasPrefix(link, sm3Prefix) {
		return SM3
	}
	return SHA256
}

// Link hashes fields with a, in order, each length-prefixed so that moving text from one
// field to the next changes the link. The zero Algorithm is Default.
func (a Algorithm) Link(fields ...string) string {
	var h hash.Hash
	prefix := ""
	if a == SM3 {
		h, prefix = sm3.New(), sm3Prefix
	} else {
		h = sha256.New()
	}
	for _, f := range fields {
		fmt.Fprintf(h, "%d:%s|", len(f), f)
	}
	return prefix + hex.EncodeToString(h.Sum(nil))
}

// Check reports whether link is the link of fields under the algorithm that made it.
func Check(link string, fields ...string) bool {
	return Of(link).Link(fields...) == link
}

// Tally counts a chain's links by algorithm, for the verify reports.
type Tally struct {
	SHA256, SM3 int
}

// Add counts link.
func (t *Tally) Add(link string) {
	if Of(link) == SM3 {
		t.SM3++
	} else {
		t.SHA256++
	}
}

// String says which algorithms linked the chain when SM3 linked any (", linked with SM3
// 5 and SHA-256 12"), and nothing for a chain of SHA-256 only, the default.
func (t Tally) String() string {
	if t.SM3 == 0 {
		return ""
	}
	return fmt.Sprintf(", linked with SM3 %d and SHA-256 %d", t.SM3, t.SHA256)
}
