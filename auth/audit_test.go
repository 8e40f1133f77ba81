package auth_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/rexian/rexian/auth"
)

// Logins, failures, locks and every change to users and tokens land in the audit log,
// with who did it and from where.
func TestAuditRecordsLoginsAndChanges(t *testing.T) {
	e := newEnv(t)
	admin := e.createUser(t, "root", auth.RoleAdmin, "")
	s := e.login(t, "root", password)
	from := "192.0.2.10:5555"
	if rec := e.do(t, request{method: "POST", path: "/api/v1/auth/login", remoteAddr: from,
		body: `{"username":"nobody","password":"x"}`}); rec.Code != http.StatusUnauthorized {
		t.Fatalf("wrong login: %d", rec.Code)
	}
	rec := e.do(t, request{method: "POST", path: "/api/v1/users", session: s.token, csrf: s.csrf,
		body: `{"username":"wang","role":"operator","password":"` + password + `"}`})
	if rec.Code != http.StatusCreated {
		t.Fatalf("create user: %d %s", rec.Code, rec.Body)
	}
	u := decode[userBody](t, rec)
	if rec := e.do(t, request{method: "PATCH", path: "/api/v1/users/" + itoa(u.ID), session: s.token, csrf: s.csrf,
		body: `{"role":"supervisor","password":"another long password"}`}); rec.Code != http.StatusOK {
		t.Fatalf("update user: %d %s", rec.Code, rec.Body)
	}
	rec = e.do(t, request{method: "POST", path: "/api/v1/tokens", session: s.token, csrf: s.csrf,
		body: `{"name":"approvals","role":"integrator"}`})
	if rec.Code != http.StatusCreated {
		t.Fatalf("create token: %d %s", rec.Code, rec.Body)
	}
	tok := decode[struct {
		ID uint `json:"id"`
	}](t, rec)
	if rec := e.do(t, request{method: "DELETE", path: "/api/v1/tokens/" + itoa(tok.ID), session: s.token, csrf: s.csrf}); rec.Code != http.StatusNoContent {
		t.Fatalf("revoke token: %d", rec.Code)
	}

	want := []string{
		"user_created system user:" + itoa(admin.ID) + " (root)",
		"login admin:root user:" + itoa(admin.ID) + " (root)",
		"login_failed anonymous username:nobody",
		"user_created admin:root user:" + itoa(u.ID) + " (wang)",
		"user_updated admin:root user:" + itoa(u.ID) + " (wang)",
		"token_created admin:root token:" + itoa(tok.ID) + " (approvals)",
		"token_revoked admin:root token:" + itoa(tok.ID),
	}
	if diff := cmp.Diff(want, e.auditTrail(t)); diff != "" {
		t.Errorf("audit trail (-want +got):\n%s", diff)
	}
	rs := e.findAudit(t, "user_updated")
	if len(rs) != 1 || rs[0].Detail != "role operator → supervisor; password reset" || strings.Contains(rs[0].Detail, "another") {
		t.Errorf("update detail: %+v", rs)
	}
	if rs := e.findAudit(t, "login_failed"); len(rs) != 1 || rs[0].IP != "192.0.2.10" {
		t.Errorf("failed login's address: %+v", rs)
	}
}
