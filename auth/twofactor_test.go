package auth_test

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/auth"
)

// newTwoFactorEnv is an env where admins and supervisors must log in with a second
// factor and secrets are sealed with a key.
func newTwoFactorEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, nil, func(o *auth.Options) {
		o.TwoFactorRoles = []auth.Role{auth.RoleAdmin, auth.RoleSupervisor}
		o.SecretKey = []byte("0123456789abcdef0123456789abcdef")
	})
}

type enrolBody struct {
	Secret    string `json:"secret"`
	URI       string `json:"otpauth_uri"`
	QRCodeURL string `json:"qr_code_url"`
}

type challengeBody struct {
	SecondFactorRequired bool   `json:"second_factor_required"`
	Challenge            string `json:"challenge"`
}

// code is the TOTP code for secret at the env's clock, read from the otpauth URI the way
// an authenticator app reads it from the QR code.
func (e *env) code(t *testing.T, uri string) string {
	t.Helper()
	key, err := otp.NewKeyFromURL(uri)
	if err != nil {
		t.Fatalf("otpauth URI %q: %v", uri, err)
	}
	c, err := totp.GenerateCode(key.Secret(), e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrol sets up the second factor of the session's user and returns the otpauth URI and
// the recovery codes.
func (e *env) enrol(t *testing.T, s session) (string, []string) {
	t.Helper()
	rec := e.do(t, request{method: "POST", path: "/api/v1/auth/two-factor/enrolment", session: s.token, csrf: s.csrf})
	if rec.Code != http.StatusOK {
		t.Fatalf("begin enrolment: %d %s", rec.Code, rec.Body)
	}
	en := decode[enrolBody](t, rec)
	rec = e.do(t, request{method: "POST", path: "/api/v1/auth/two-factor/enrolment/confirm", session: s.token, csrf: s.csrf,
		body: `{"code":"` + e.code(t, en.URI) + `"}`})
	if rec.Code != http.StatusOK {
		t.Fatalf("confirm enrolment: %d %s", rec.Code, rec.Body)
	}
	return en.URI, decode[struct {
		Codes []string `json:"recovery_codes"`
	}](t, rec).Codes
}

// loginStep1 posts the password and returns the challenge.
func (e *env) loginStep1(t *testing.T, username, addr string) string {
	t.Helper()
	rec := e.do(t, request{method: "POST", path: "/api/v1/auth/login", remoteAddr: addr,
		body: `{"username":"` + username + `","password":"` + password + `"}`})
	ch := decode[challengeBody](t, rec)
	if rec.Code != http.StatusOK || !ch.SecondFactorRequired || ch.Challenge == "" {
		t.Fatalf("login %s with a second factor: %d %s, want a challenge", username, rec.Code, rec.Body)
	}
	for _, c := range rec.Result().Cookies() {
		if c.Name == auth.CookieName && c.Value != "" {
			t.Fatalf("the password alone set a session cookie")
		}
	}
	return ch.Challenge
}

// loginStep2 answers the challenge with code.
func (e *env) loginStep2(t *testing.T, challenge, code, addr string) (*httptest.ResponseRecorder, session) {
	t.Helper()
	rec := e.do(t, request{method: "POST", path: "/api/v1/auth/login/second-factor", remoteAddr: addr,
		body: `{"challenge":"` + challenge + `","code":"` + code + `"}`})
	var s session
	for _, c := range rec.Result().Cookies() {
		if c.Name == auth.CookieName {
			s.token = c.Value
		}
	}
	if rec.Code == http.StatusOK {
		s.csrf = decode[sessionBody](t, rec).CSRFToken
	}
	return rec, s
}

func TestTwoFactorEnrolmentAndLogin(t *testing.T) {
	e := newTwoFactorEnv(t)
	admin := e.createUser(t, "admin", auth.RoleAdmin, "")
	e.createUser(t, "op", auth.RoleOperator, "")

	// A role without the requirement logs in as before.
	op := e.login(t, "op", password)
	if rec := e.do(t, request{method: "GET", path: "/api/v1/auth/me", session: op.token}); rec.Code != http.StatusOK ||
		strings.Contains(rec.Body.String(), "two_factor_enrolment_required") {
		t.Fatalf("operator /auth/me: %d %s", rec.Code, rec.Body)
	}

	// The admin's password gives a session that reaches only the set-up.
	rec := e.do(t, request{method: "POST", path: "/api/v1/auth/login", body: `{"username":"admin","password":"` + password + `"}`})
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"two_factor_enrolment_required":true`) {
		t.Fatalf("first admin login: %d %s", rec.Code, rec.Body)
	}
	s := e.login(t, "admin", password)
	if rec := e.do(t, request{method: "GET", path: "/api/v1/users", session: s.token}); rec.Code != http.StatusForbidden ||
		errorOf(t, rec).Code != "two_factor_enrolment_required" {
		t.Fatalf("GET /users before enrolment: %d %s, want 403 two_factor_enrolment_required", rec.Code, rec.Body)
	}
	rec = e.do(t, request{method: "POST", path: "/api/v1/auth/two-factor/enrolment", session: s.token, csrf: s.csrf})
	if rec.Code != http.StatusOK {
		t.Fatalf("begin enrolment: %d %s", rec.Code, rec.Body)
	}
	en := decode[enrolBody](t, rec)
	if !strings.HasPrefix(en.URI, "otpauth://totp/") || !strings.Contains(en.URI, "secret="+en.Secret) {
		t.Fatalf("enrolment: %+v", en)
	}
	// Asking again shows the same secret, so that a reloaded page matches the phone.
	if again := decode[enrolBody](t, e.do(t, request{method: "POST", path: "/api/v1/auth/two-factor/enrolment",
		session: s.token, csrf: s.csrf})); again.Secret != en.Secret {
		t.Errorf("a second begin made a new secret")
	}
	rec = e.do(t, request{method: "GET", path: en.QRCodeURL, session: s.token})
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "image/png" {
		t.Fatalf("QR code: %d %s", rec.Code, rec.Header())
	}
	if img, err := png.Decode(bytes.NewReader(rec.Body.Bytes())); err != nil || img.Bounds().Dx() < 200 {
		t.Fatalf("QR code is not a PNG of at least 200 px: %v", err)
	}
	// The secret is sealed in the database and never logged.
	var stored string
	if err := e.db.Raw("SELECT totp_secret FROM users WHERE id = ?", admin.ID).Scan(&stored).Error; err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "v1:") || strings.Contains(stored, en.Secret) {
		t.Errorf("stored secret %q is not sealed", stored)
	}

	if rec := e.do(t, request{method: "POST", path: "/api/v1/auth/two-factor/enrolment/confirm", session: s.token, csrf: s.csrf,
		body: `{"code":"000000"}`}); rec.Code != http.StatusBadRequest || errorOf(t, rec).Code != "invalid_code" {
		t.Fatalf("confirm with a wrong code: %d %s", rec.Code, rec.Body)
	}
	first := e.code(t, en.URI)
	rec = e.do(t, request{method: "POST", path: "/api/v1/auth/two-factor/enrolment/confirm", session: s.token, csrf: s.csrf,
		body: `{"code":"` + first + `"}`})
	if rec.Code != http.StatusOK {
		t.Fatalf("confirm: %d %s", rec.Code, rec.Body)
	}
	codes := decode[struct {
		Codes []string `json:"recovery_codes"`
	}](t, rec).Codes
	if len(codes) != 10 {
		t.Fatalf("recovery codes: %v", codes)
	}
	if rec := e.do(t, request{method: "GET", path: "/api/v1/users", session: s.token}); rec.Code != http.StatusOK {
		t.Fatalf("GET /users after enrolment: %d %s", rec.Code, rec.Body)
	}
	if rec := e.do(t, request{method: "POST", path: "/api/v1/auth/two-factor/enrolment", session: s.token, csrf: s.csrf}); rec.Code != http.StatusConflict {
		t.Errorf("begin again once enabled: %d, want 409", rec.Code)
	}
	var hashes []string
	e.db.Raw("SELECT code_hash FROM recovery_codes WHERE user_id = ?", admin.ID).Scan(&hashes)
	for _, h := range hashes {
		for _, c := range codes {
			if strings.Contains(h, strings.ReplaceAll(c, "-", "")) {
				t.Errorf("a recovery code is stored as it is")
			}
		}
	}

	const addr = "203.0.113.7:4000"
	t.Run("password alone is not enough; a wrong or replayed code is refused", func(t *testing.T) {
		ch := e.loginStep1(t, "admin", addr)
		if rec, _ := e.loginStep2(t, ch, "123456", addr); rec.Code != http.StatusUnauthorized || errorOf(t, rec).Code != "invalid_code" {
			t.Fatalf("wrong code: %d %s", rec.Code, rec.Body)
		}
		// The code that confirmed the enrolment, still inside its window.
		if rec, _ := e.loginStep2(t, ch, first, addr); rec.Code != http.StatusUnauthorized {
			t.Fatalf("replayed code: %d %s, want 401", rec.Code, rec.Body)
		}
		e.clock.Advance(30 * time.Second)
		rec, s := e.loginStep2(t, ch, e.code(t, en.URI), addr)
		if rec.Code != http.StatusOK || s.token == "" {
			t.Fatalf("right code: %d %s", rec.Code, rec.Body)
		}
		if rec := e.do(t, request{method: "GET", path: "/api/v1/users", session: s.token}); rec.Code != http.StatusOK {
			t.Errorf("GET /users with the second factor: %d", rec.Code)
		}
		// A challenge gives one session only.
		e.clock.Advance(30 * time.Second)
		if rec, _ := e.loginStep2(t, ch, e.code(t, en.URI), addr); rec.Code != http.StatusUnauthorized || errorOf(t, rec).Code != "challenge_expired" {
			t.Errorf("a used challenge again: %d %s", rec.Code, rec.Body)
		}
	})
	t.Run("a recovery code works once", func(t *testing.T) {
		ch := e.loginStep1(t, "admin", addr)
		rec, s := e.loginStep2(t, ch, strings.ToUpper(codes[3]), addr)
		if rec.Code != http.StatusOK || s.token == "" {
			t.Fatalf("recovery code: %d %s", rec.Code, rec.Body)
		}
		ch = e.loginStep1(t, "admin", addr)
		if rec, _ := e.loginStep2(t, ch, codes[3], addr); rec.Code != http.StatusUnauthorized {
			t.Fatalf("the same recovery code again: %d %s", rec.Code, rec.Body)
		}
		if rs := e.findAudit(t, "recovery_used"); len(rs) != 1 || !strings.Contains(rs[0].Detail, "9 left") {
			t.Errorf("recovery_used audit: %+v", rs)
		}
	})
	t.Run("wrong codes end the challenge", func(t *testing.T) {
		e.clock.Advance(15 * time.Minute) // out of the failures above
		ch := e.loginStep1(t, "admin", "198.51.100.9:1")
		for i := range 5 {
			if rec, _ := e.loginStep2(t, ch, "00000"+string(rune('0'+i)), "198.51.100.9:1"); rec.Code != http.StatusUnauthorized {
				t.Fatalf("wrong code %d: %d %s", i, rec.Code, rec.Body)
			}
			e.clock.Advance(10 * time.Second) // past the growing delay
		}
		e.clock.Advance(30 * time.Second)
		if rec, _ := e.loginStep2(t, ch, e.code(t, en.URI), "198.51.100.9:1"); rec.Code == http.StatusOK {
			t.Fatalf("the right code after five wrong ones: 200, want the challenge ended")
		}
	})
	if strings.Contains(e.logs.String(), en.Secret) {
		t.Errorf("the TOTP secret is in the log")
	}
}

func TestTwoFactorResetByAnotherAdmin(t *testing.T) {
	e := newTwoFactorEnv(t)
	a := e.createUser(t, "admin.a", auth.RoleAdmin, "")
	b := e.createUser(t, "admin.b", auth.RoleAdmin, "")
	sa := e.login(t, "admin.a", password)
	uriA, _ := e.enrol(t, sa)
	sb := e.login(t, "admin.b", password)
	e.enrol(t, sb)

	// Nobody resets their own second factor: a stolen session must not remove it.
	if rec := e.do(t, request{method: "DELETE", path: "/api/v1/users/" + itoa(b.ID) + "/two-factor", session: sb.token, csrf: sb.csrf}); rec.Code != http.StatusForbidden {
		t.Fatalf("self reset: %d %s", rec.Code, rec.Body)
	}
	if rec := e.do(t, request{method: "DELETE", path: "/api/v1/users/" + itoa(a.ID) + "/two-factor", session: sb.token, csrf: sb.csrf}); rec.Code != http.StatusNoContent {
		t.Fatalf("reset by another admin: %d %s", rec.Code, rec.Body)
	}
	// A's sessions ended; the password alone now leads to a new set-up.
	if rec := e.do(t, request{method: "GET", path: "/api/v1/auth/me", session: sa.token}); rec.Code != http.StatusUnauthorized {
		t.Errorf("the reset user's old session: %d, want 401", rec.Code)
	}
	s := e.login(t, "admin.a", password)
	if rec := e.do(t, request{method: "GET", path: "/api/v1/users", session: s.token}); rec.Code != http.StatusForbidden {
		t.Errorf("after reset, before a new set-up: %d, want 403", rec.Code)
	}
	uriA2, _ := e.enrol(t, s)
	if uriA2 == uriA {
		t.Errorf("the new set-up reused the old secret")
	}
	rs := e.findAudit(t, "totp_reset")
	if len(rs) != 1 || rs[0].Actor != "admin:admin.b" || !strings.Contains(rs[0].Target, "admin.a") {
		t.Errorf("totp_reset audit: %+v", rs)
	}
	if n := len(e.findAudit(t, "totp_enrolled")); n != 3 {
		t.Errorf("totp_enrolled records: %d, want 3", n)
	}
	// A bearer token, even an admin's, cannot reset a person's second factor.
	tok := e.token(t, "ops", auth.RoleAdmin, "")
	if rec := e.do(t, request{method: "DELETE", path: "/api/v1/users/" + itoa(a.ID) + "/two-factor", bearer: tok}); rec.Code != http.StatusForbidden {
		t.Errorf("reset with a token: %d, want 403", rec.Code)
	}

}

// A user with the second factor on replaces their recovery codes with a current code
// from the app: the old ones stop working, the new ones log in, and it is audited.
func TestRegenerateRecoveryCodes(t *testing.T) {
	e := newTwoFactorEnv(t)
	admin := e.createUser(t, "admin", auth.RoleAdmin, "")
	uri, old := e.enrol(t, e.login(t, "admin", password))
	ctx := context.Background()
	if _, err := e.svc.RegenerateRecoveryCodes(ctx, admin.ID, "000000"); !errors.Is(err, api.ErrInvalid) {
		t.Fatalf("regenerate with a wrong code: %v", err)
	}
	if _, err := e.svc.RegenerateRecoveryCodes(ctx, admin.ID, old[0]); !errors.Is(err, api.ErrInvalid) {
		t.Fatalf("regenerate with a recovery code instead of the app's: %v", err)
	}
	e.clock.Advance(time.Minute) // the enrolment's code is spent
	codes, err := e.svc.RegenerateRecoveryCodes(ctx, admin.ID, e.code(t, uri))
	if err != nil || len(codes) != 10 {
		t.Fatalf("regenerate: %v, %v", codes, err)
	}
	if rec, _ := e.loginStep2(t, e.loginStep1(t, "admin", "10.0.0.1"), old[1], "10.0.0.1"); rec.Code == http.StatusOK {
		t.Error("an old recovery code still logs in")
	}
	if rec, _ := e.loginStep2(t, e.loginStep1(t, "admin", "10.0.0.1"), codes[0], "10.0.0.1"); rec.Code != http.StatusOK {
		t.Errorf("a new recovery code: %d %s", rec.Code, rec.Body)
	}
	rs, _, err := e.audit.Find(ctx, audit.Filter{Action: audit.ActionRecoveryRegenerated}, api.Page{Page: 1, PerPage: 5})
	if err != nil || len(rs) != 1 || rs[0].Target == "" {
		t.Errorf("audit records: %+v, %v", rs, err)
	}
}
