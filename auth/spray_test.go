package auth_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/live"
	"github.com/rexian/rexian/live/livetest"
)

// One password sprayed over many usernames from one address is limited, though no
// username was tried twice; other addresses are not affected. One account guessed from
// many addresses is delayed everywhere, for a sliding window.
func TestLoginLimitsAcrossUsernamesAndAddresses(t *testing.T) {
	for _, tt := range []struct {
		name  string
		store func(t *testing.T) *live.Store
	}{
		{"redis", func(t *testing.T) *live.Store { return livetest.Open(t) }},
		{"no live store", func(*testing.T) *live.Store { return nil }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// The fixed limits alone; TestLoginBackoff covers the growing delays.
			e := newEnvWith(t, tt.store(t), func(o *auth.Options) { o.Backoff.Off = true })
			e.createUser(t, "li.na", auth.RoleOperator, "")
			e.createUser(t, "wang", auth.RoleOperator, "")
			login := func(user, pw, addr string) int {
				return e.do(t, request{method: "POST", path: "/api/v1/auth/login", remoteAddr: addr,
					body: `{"username":"` + user + `","password":"` + pw + `"}`}).Code
			}
			const sprayer = "198.51.100.66:1000"
			for i := range auth.DefaultAddressFailures {
				if code := login(fmt.Sprintf("user%02d", i), "Spring2026!", sprayer); code != http.StatusUnauthorized {
					t.Fatalf("spray %d: %d", i+1, code)
				}
			}
			if code := login("wang", password, sprayer); code != http.StatusTooManyRequests {
				t.Errorf("the sprayer's address after %d usernames: %d, want 429", auth.DefaultAddressFailures, code)
			}
			if code := login("wang", password, "203.0.113.5:2000"); code != http.StatusOK {
				t.Errorf("wang from his own address: %d, want 200", code)
			}
			if rs := e.findAudit(t, "login_locked"); len(rs) != 1 || rs[0].IP != "198.51.100.66" {
				t.Errorf("the lock is not in the audit log: %+v", rs)
			}

			// li.na guessed once from each of ten addresses: no pair limit is reached.
			for i := range auth.DefaultAccountFailures {
				if code := login("li.na", "guess", fmt.Sprintf("192.0.2.%d:3000", i+1)); code != http.StatusUnauthorized {
					t.Fatalf("guess %d: %d", i+1, code)
				}
			}
			if code := login("li.na", password, "192.0.2.200:3000"); code != http.StatusTooManyRequests {
				t.Errorf("li.na after %d guesses from as many addresses: %d, want 429", auth.DefaultAccountFailures, code)
			}
			e.clock.Advance(30 * time.Minute) // 09:30: the guesses are two windows old
			if code := login("li.na", password, "192.0.2.200:3000"); code != http.StatusOK {
				t.Errorf("li.na once the guesses are two windows old: %d, want 200", code)
			}

			// Sliding: 6 guesses just before a window ends still count just after it, so 5
			// more are enough (fixed windows would allow 9 more).
			e.clock.Advance(14 * time.Minute) // 09:44
			guess := func(n, from int) {
				t.Helper()
				for i := range n {
					if code := login("li.na", "guess", fmt.Sprintf("192.0.2.%d:3000", from+i)); code != http.StatusUnauthorized {
						t.Fatalf("guess %d: %d", from+i, code)
					}
				}
			}
			guess(6, 20)
			e.clock.Advance(2 * time.Minute) // 09:46, the next window
			guess(5, 40)
			want := http.StatusTooManyRequests
			if tt.name == "no live store" {
				want = http.StatusOK // the process's own fallback keeps fixed windows
			}
			if code := login("li.na", password, "192.0.2.200:3000"); code != want {
				t.Errorf("li.na after 6 guesses before the turn of the window and 5 after: %d, want %d", code, want)
			}
		})
	}
}

// Past three failures in a row each try waits longer, per username across addresses and
// per address across usernames: 1s, 2s, 4s … up to the cap; the wait is refused with 429
// and Retry-After, and audited. The owner's right password after the wait clears the
// account's run.
func TestLoginBackoff(t *testing.T) {
	for _, tt := range []struct {
		name  string
		store func(t *testing.T) *live.Store
	}{
		{"redis", func(t *testing.T) *live.Store { return livetest.Open(t) }},
		{"no live store", func(*testing.T) *live.Store { return nil }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnvWith(t, tt.store(t), func(o *auth.Options) { o.Backoff.Max = 8 * time.Second })
			e.createUser(t, "li.na", auth.RoleOperator, "")
			login := func(user, pw, addr string) *httptest.ResponseRecorder {
				return e.do(t, request{method: "POST", path: "/api/v1/auth/login", remoteAddr: addr,
					body: `{"username":"` + user + `","password":"` + pw + `"}`})
			}
			// li.na guessed from a new address each time: the account's run grows.
			addr := func(i int) string { return fmt.Sprintf("192.0.2.%d:1", i+1) }
			for i := range 3 {
				if rec := login("li.na", "guess", addr(i)); rec.Code != http.StatusUnauthorized {
					t.Fatalf("guess %d: %d", i+1, rec.Code)
				}
			}
			for i, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second} {
				rec := login("li.na", password, addr(10+i))
				if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != fmt.Sprint(int(wait.Seconds())) {
					t.Fatalf("try %d at once: %d Retry-After %q, want 429 after %s", 4+i, rec.Code, rec.Header().Get("Retry-After"), wait)
				}
				e.clock.Advance(wait)
				if i < 4 {
					if rec := login("li.na", "guess", addr(20+i)); rec.Code != http.StatusUnauthorized {
						t.Fatalf("a guess after waiting %s: %d %s", wait, rec.Code, rec.Body)
					}
				}
			}
			// The owner, after the wait: in, and the account's run is over.
			if rec := login("li.na", password, addr(40)); rec.Code != http.StatusOK {
				t.Fatalf("the owner after the wait: %d %s", rec.Code, rec.Body)
			}
			if rec := login("li.na", "typo", addr(41)); rec.Code != http.StatusUnauthorized {
				t.Errorf("a typo after logging in: %d, want 401 (no delay)", rec.Code)
			}
			rs := e.findAudit(t, "login_locked")
			if len(rs) != 5 || !strings.Contains(rs[0].Detail, "growing delay") {
				t.Errorf("the delays in the audit log: %d records, newest %+v", len(rs), rs)
			}

			// One address trying many usernames waits the same way.
			e.clock.Advance(time.Hour)
			const sprayer = "198.51.100.66:1000"
			for i := range 3 {
				if rec := login(fmt.Sprintf("user%02d", i), "Spring2026!", sprayer); rec.Code != http.StatusUnauthorized {
					t.Fatalf("spray %d: %d", i+1, rec.Code)
				}
			}
			if rec := login("user09", "Spring2026!", sprayer); rec.Code != http.StatusTooManyRequests {
				t.Errorf("the sprayer's 4th try at once: %d, want 429", rec.Code)
			}
			if rec := login("li.na", password, "203.0.113.9:1"); rec.Code != http.StatusOK {
				t.Errorf("li.na from elsewhere meanwhile: %d, want 200", rec.Code)
			}
		})
	}
}
