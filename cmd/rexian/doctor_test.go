package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/rexian/rexian/database/dbtest"
	"github.com/rexian/rexian/sms/kannel/kanneltest"
	"github.com/rexian/rexian/tickets/intake/mailbox/mailtest"
)

// freeAddr is a loopback address nothing listens on (now: a test may take it later).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// doctorLine finds the checklist line of the named check.
func doctorLine(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 6 && strings.HasPrefix(l[6:], name) {
			return l
		}
	}
	return ""
}

// wantDoctorFailure runs the doctor with env and wants exit 1 with check failed and fix shown.
func wantDoctorFailure(t *testing.T, env []string, check, fix string) {
	t.Helper()
	code, out, _ := runCLI(t, env, "", "doctor")
	l := doctorLine(out, check)
	if code != exitFailure || !strings.HasPrefix(l, "FAIL") || !strings.Contains(out, fix) {
		t.Errorf("exit %d, %q; want FAIL with %q in\n%s", code, l, fix, out)
	}
}

func TestDoctorDatabaseAndLiveStore(t *testing.T) {
	env := testEnv(t, "")

	// A database nobody has migrated yet: reachable, but not migrated.
	code, out, stderr := runCLI(t, env, "", "doctor")
	if code != exitFailure || !strings.HasPrefix(doctorLine(out, "database migrated"), "FAIL") ||
		!strings.Contains(out, "fix: run 'rexian migrate'") || !strings.Contains(stderr, "checks failed") {
		t.Fatalf("doctor before migrate: exit %d\n%s%s", code, out, stderr)
	}
	if l := doctorLine(out, "database reachable"); !strings.HasPrefix(l, "ok") {
		t.Errorf("database reachable: %q", l)
	}

	if code, _, stderr := runCLI(t, env, "", "migrate"); code != exitOK {
		t.Fatalf("migrate: exit %d: %s", code, stderr)
	}
	code, out, stderr = runCLI(t, env, "", "doctor")
	if code != exitOK {
		t.Fatalf("doctor after migrate: exit %d\n%s%s", code, out, stderr)
	}
	for _, name := range []string{"database reachable", "database migrated", "clock", "live store", "data disk"} {
		if l := doctorLine(out, name); !strings.HasPrefix(l, "ok") {
			t.Errorf("%s: %q in\n%s", name, l, out)
		}
	}

	// Each failing on purpose: a database and a Redis where nothing listens, a data
	// folder that does not exist.
	tests := []struct {
		name, env, check, fix string
	}{
		{"database down", "REXIAN_DATABASE_URL=postgres://rexian@" + freeAddr(t) + "/rexian?sslmode=disable&connect_timeout=2",
			"database reachable", "correct database_url"},
		{"redis down", "REXIAN_REDIS_URL=redis://" + freeAddr(t) + "/0", "live store (Redis)", "start Redis"},
		{"no data folder", "REXIAN_DATA_DIR=" + t.TempDir() + "/missing", "data disk", "create the data folder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantDoctorFailure(t, append(append([]string{}, env...), tt.env), tt.check, tt.fix) })
	}
}

// fakeOneBot answers OneBot v11's get_login_info as its spec says, for the token given.
func fakeOneBot(t *testing.T, token string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Path != "/get_login_info" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok","retcode":0,"data":{"user_id":10001,"nickname":"市长热线"}}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestDoctorAgainstTheRealServices points the doctor at a running rexian (public_url),
// Kannel with its fake SMS centre, Dovecot and Exim, and a OneBot API: every check
// passes; then each is broken on purpose and its check fails with its fix.
func TestDoctorAgainstTheRealServices(t *testing.T) {
	mail, err := mailtest.Start(mailtest.Options{})
	if err != nil {
		dbtest.Unavailable(t, "Dovecot and Exim", mailtest.HowToStart, err)
	}
	t.Cleanup(mail.Close)
	k := kanneltest.Start(t, kanneltest.Options{})
	box, boxPW := mail.NewUser(t, "doctor")
	smtpUser, smtpPW := mail.SMTPUser()
	bot := fakeOneBot(t, "bot-token")

	env := testEnv(t, "")
	r := startApp(t, testConfig(t, env))
	imapURL := func(user, pw string) string {
		return "imap://" + url.QueryEscape(user) + ":" + url.QueryEscape(pw) + "@" + mail.IMAPAddr + "/INBOX"
	}
	smtpURL := func(user, pw string) string {
		return "smtp://" + url.QueryEscape(user) + ":" + url.QueryEscape(pw) + "@" + mail.SMTPAddr
	}
	good := append(append([]string{}, env...),
		"REXIAN_PUBLIC_URL="+r.base,
		"REXIAN_SMS_KANNEL_URL="+k.URL(), "REXIAN_SMS_KANNEL_USER="+k.User(), "REXIAN_SMS_KANNEL_PASSWORD="+k.Password(),
		"REXIAN_SMS_KANNEL_STATUS_URL="+k.StatusURL(), "REXIAN_SMS_CALLBACK_SECRET=doctor-callback-secret-0123",
		"REXIAN_MAILBOX_IMAP_URL="+imapURL(box, boxPW), "REXIAN_MAILBOX_SMTP_URL="+smtpURL(smtpUser, smtpPW),
		"REXIAN_MAILBOX_FROM="+smtpUser,
		"REXIAN_QQ_ENABLED=true", "REXIAN_QQ_API_URL="+bot, "REXIAN_QQ_ACCESS_TOKEN=bot-token",
	)
	code, out, stderr := runCLI(t, good, "", "doctor")
	t.Logf("doctor, everything configured:\n%s", out)
	if code != exitOK {
		t.Fatalf("doctor: exit %d\n%s%s", code, out, stderr)
	}
	for _, name := range []string{"public_url", "kannel status page", "kannel sendsms credentials", "kannel callbacks",
		"IMAP login and folders", "SMTP login", "QQ bot API"} {
		if l := doctorLine(out, name); !strings.HasPrefix(l, "ok") {
			t.Errorf("%s: %q", name, l)
		}
	}

	tests := []struct {
		name, env, check, fix string
	}{
		{"rexian not behind public_url", "REXIAN_PUBLIC_URL=http://" + freeAddr(t), "public_url", "start rexian serve"},
		{"kannel status password wrong", "REXIAN_SMS_KANNEL_STATUS_URL=" + strings.Split(k.StatusURL(), "?")[0] + "?password=wrong",
			"kannel status page", "admin-password"},
		{"kannel sendsms password wrong", "REXIAN_SMS_KANNEL_PASSWORD=wrong", "kannel sendsms credentials", "sendsms-user"},
		{"smsbox down", "REXIAN_SMS_KANNEL_URL=http://" + freeAddr(t), "kannel sendsms", "start smsbox"},
		{"IMAP password wrong", "REXIAN_MAILBOX_IMAP_URL=" + imapURL(box, "wrong"), "IMAP login and folders", "mailbox.imap_url"},
		{"IMAP folder missing", "REXIAN_MAILBOX_IMAP_URL=" + imapURL(box, boxPW) + "-nope", "IMAP login and folders", "mailbox.imap_url"},
		{"SMTP password wrong", "REXIAN_MAILBOX_SMTP_URL=" + smtpURL(smtpUser, "wrong"), "SMTP login", "mailbox.smtp_url"},
		{"QQ token wrong", "REXIAN_QQ_ACCESS_TOKEN=wrong", "QQ bot API", "qq.access_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantDoctorFailure(t, append(append([]string{}, good...), tt.env), tt.check, tt.fix)
		})
	}
}
