package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"sync"
	"time"

	"github.com/rexian/rexian/live"
)

// formTokens issues and checks the report form's tokens: 8 bytes of issue time (Unix
// seconds), 16 random bytes, and an HMAC-SHA256 over both, base64url-encoded. Issuing
// stores nothing; redeeming remembers the nonce until the token would have expired, so
// each token is accepted once.
type formTokens struct {
	key    []byte
	minAge time.Duration
	maxAge time.Duration
	store  *live.Store

	mu   sync.Mutex
	used map[string]time.Time // the fallback while Redis cannot be reached
}

const tokenLen = 8 + 16 + sha256.Size

// tokenProblem says why a token was refused; each has its own wording for the citizen.
type tokenProblem int

const (
	tokenOK tokenProblem = iota
	tokenInvalid
	tokenTooFresh
	tokenExpired
	tokenUsed
)

func (f *formTokens) sign(b []byte) []byte {
	m := hmac.New(sha256.New, f.key)
	m.Write(b)
	return m.Sum(nil)
}

// issue returns a token stamped with at. A form shown again after a failed submission
// keeps the time it was first served, so that the citizen may send it again at once.
func (f *formTokens) issue(at time.Time) string {
	b := make([]byte, 8+16, tokenLen)
	binary.BigEndian.PutUint64(b, uint64(at.Unix()))
	_, _ = rand.Read(b[8:])
	b = append(b, f.sign(b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// check verifies a token's signature and age without using it up; issued is when the
// form was first served.
func (f *formTokens) check(tok string, now time.Time) (nonce string, issued time.Time, p tokenProblem) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != tokenLen || !hmac.Equal(b[24:], f.sign(b[:24])) {
		return "", time.Time{}, tokenInvalid
	}
	issued = time.Unix(int64(binary.BigEndian.Uint64(b[:8])), 0)
	age := now.Sub(issued)
	switch {
	case age < f.minAge:
		return "", issued, tokenTooFresh
	case age > f.maxAge:
		return "", issued, tokenExpired
	}
	return hex.EncodeToString(b[8:24]), issued, tokenOK
}

// redeem marks the token's nonce used; it reports tokenUsed when it already was.
func (f *formTokens) redeem(ctx context.Context, nonce string, now time.Time) tokenProblem {
	if f.store != nil {
		ok, err := f.store.SetNX(ctx, f.store.Key("web", "form_token", nonce), 1, f.maxAge+time.Minute).Result()
		if err == nil {
			if !ok {
				return tokenUsed
			}
			return tokenOK
		}
		// Redis is down: remember the nonce in this process, so that at least this
		// instance refuses a replay, rather than refusing every citizen.
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for n, at := range f.used {
		if now.Sub(at) > f.maxAge {
			delete(f.used, n)
		}
	}
	if _, ok := f.used[nonce]; ok {
		return tokenUsed
	}
	f.used[nonce] = now
	return tokenOK
}
