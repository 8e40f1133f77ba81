package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/database/dbtest"
)

// totpAfter is a code of secret for a time step after the one last used (the server
// refuses a step again) and no more than one step ahead of now (the drift it allows), so
// that a test logging in twice within 30 seconds needs no waiting.
func totpAfter(t *testing.T, secret string, lastUsed time.Time) (string, time.Time) {
	t.Helper()
	at := time.Now()
	if next := lastUsed.Truncate(30 * time.Second).Add(30 * time.Second); at.Before(next) {
		at = next
	}
	code, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return code, at
}

// TestTwoFactorInBrowser: with the second factor asked of admins, the administrator's
// first login goes to the set-up; they scan the QR code (the test reads the otpauth URI
// the code carries), confirm with a code and are shown ten recovery codes once; log out,
// log in with password and code, then with a recovery code, which does not work twice.
// Another administrator resets the first one's second factor in the users list; the
// first one's next login goes to a new set-up, and the reset is in the audit log.
func TestTwoFactorInBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		dbtest.Unavailable(t, "Chromium", "apt-get install chromium fonts-wqy-microhei (scripts/test does it)", err)
	}
	cfg := testConfig(t, testEnv(t, ""))
	cfg.Auth.TwoFactorRoles = []string{"admin", "supervisor"}
	r := startLongApp(t, cfg, WithDemo())
	base := r.base
	svc := r.app.domains.auth

	// A second administrator, already with a second factor, set up through the service.
	bctx := context.Background()
	other, err := svc.CreateUser(bctx, auth.NewUser{Username: "admin.b", DisplayName: "赵敏", Role: auth.RoleAdmin, Password: demoPassword})
	if err != nil {
		t.Fatal(err)
	}
	en, err := svc.BeginEnrolment(bctx, other.ID)
	if err != nil {
		t.Fatal(err)
	}
	otherCode, otherUsed := totpAfter(t, en.Secret, time.Time{})
	if _, err := svc.ConfirmEnrolment(bctx, other.ID, otherCode); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	step := 0
	artifacts := t.TempDir()
	adm := newBrowser(t, ctx, "admin", artifacts, &step)

	// First login: straight to the set-up, whatever page was asked for.
	adm.login(base, "admin")
	adm.do("the set-up page", chromedp.WaitVisible(chromedp.ID("enrol")))
	adm.navigate("another page before the set-up", base+"/console/admin/users", "#enrol")
	if !adm.eval(`document.getElementById("qr").complete && document.getElementById("qr").naturalWidth >= 200`) {
		t.Fatal("the QR code image did not load")
	}
	uri := adm.text("#otpauth-uri")
	key, err := otp.NewKeyFromURL(strings.TrimSpace(uri))
	if err != nil || key.Issuer() != "Rexian" || key.AccountName() != "admin" {
		t.Fatalf("the page's otpauth URI %q: %v", uri, err)
	}
	secret := key.Secret()
	if adm.text("#totp-secret") != secret {
		t.Errorf("the secret typed by hand differs from the QR code's")
	}
	adm.do("a wrong first code", chromedp.SendKeys(chromedp.ID("code"), "000000"))
	adm.submit("confirm with a wrong code", "#confirm-2fa button")
	if !strings.Contains(adm.text("#error"), "动态码不正确") {
		t.Errorf("a wrong first code: %q", adm.text("#error"))
	}
	code, used := totpAfter(t, secret, time.Time{})
	adm.do("the first code", chromedp.SetValue(chromedp.ID("code"), code))
	adm.submit("confirm the set-up", "#confirm-2fa button")
	codes, err := chromedp.Run(adm.ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#recovery-codes code")).map(c => c.textContent)`))
	if err != nil || len(codes) != 10 {
		t.Fatalf("recovery codes shown: %v %v", codes, err)
	}
	adm.submit("continue", "#continue")
	adm.do("the admin page", chromedp.WaitVisible(chromedp.ID("admin-menu")))
	adm.logout()

	// Password, then a code of the next step (the confirming one cannot be used again).
	adm.login(base, "admin")
	adm.do("the code step", chromedp.WaitVisible(chromedp.ID("login-code")))
	code, _ = totpAfter(t, secret, used)
	adm.do("type the code", chromedp.SendKeys(chromedp.ID("code"), code))
	adm.submit("log in with the code", "#login-code button")
	adm.do("the admin page after the code", chromedp.WaitVisible(chromedp.ID("admin-menu")))
	adm.logout()

	// A recovery code, once.
	for i, want := range []string{"#admin-menu", "#error"} {
		adm.login(base, "admin")
		adm.do("the code step", chromedp.WaitVisible(chromedp.ID("login-code")))
		adm.do("type a recovery code", chromedp.SendKeys(chromedp.ID("code"), codes[0]))
		adm.submit("log in with a recovery code", "#login-code button")
		adm.do("after the recovery code", chromedp.WaitVisible(chromedp.CSS(want)))
		if i == 0 {
			adm.logout()
		}
	}

	// The other administrator resets the first one's second factor.
	ob := newBrowser(t, ctx, "admin.b", artifacts, &step)
	ob.login(base, "admin.b")
	ob.do("the code step", chromedp.WaitVisible(chromedp.ID("login-code")))
	otherCode, _ = totpAfter(t, en.Secret, otherUsed)
	ob.do("type the code", chromedp.SendKeys(chromedp.ID("code"), otherCode))
	ob.submit("log in with the code", "#login-code button")
	ob.navigate("the users", base+"/console/admin/users", `tr[data-user="admin"]`)
	if got := ob.text(`tr[data-user="admin"] td.two-factor`); !strings.Contains(got, "已启用") {
		t.Fatalf("the admin's second factor in the list: %q", got)
	}
	ob.submit("reset the admin's second factor", `tr[data-user="admin"] button.reset-2fa`)
	if got := ob.text("#flash"); !strings.Contains(got, "已重置") {
		t.Errorf("after the reset: %q", got)
	}
	if got := ob.text(`tr[data-user="admin"] td.two-factor`); !strings.Contains(got, "未启用") {
		t.Errorf("the admin's second factor after the reset: %q", got)
	}

	// The first administrator's next login goes to a new set-up.
	adm.login(base, "admin")
	adm.do("a new set-up", chromedp.WaitVisible(chromedp.ID("enrol")))
	if adm.text("#totp-secret") == secret {
		t.Errorf("the new set-up shows the old secret")
	}
	rs, _, err := r.app.domains.audit.Find(bctx, audit.Filter{Action: audit.ActionTOTPReset}, api.Page{Page: 1, PerPage: 10})
	if err != nil || len(rs) != 1 || rs[0].Actor != "admin:admin.b" {
		t.Errorf("the reset in the audit log: %+v %v", rs, err)
	}
	if rs, _, _ := r.app.domains.audit.Find(bctx, audit.Filter{Action: audit.ActionRecoveryUsed}, api.Page{Page: 1, PerPage: 10}); len(rs) != 1 {
		t.Errorf("recovery_used records: %d, want 1", len(rs))
	}
}
