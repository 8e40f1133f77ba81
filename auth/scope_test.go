package auth_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/database/dbtest"
)

func TestRouteScope(t *testing.T) {
	tests := []struct {
		method, route, want string
	}{
		{"POST", "/api/v1/tickets", auth.ScopeTicketsCreate},
		{"GET", "/api/v1/tickets", auth.ScopeTicketsRead},
		{"GET", "/api/v1/tickets/:number", auth.ScopeTicketsRead},
		{"GET", "/api/v1/tickets/:number/attachments/:id", auth.ScopeFilesRead},
		{"POST", "/api/v1/tickets/:number/:action", auth.ScopeTicketsWrite},
		{"POST", "/api/v1/tickets/:number/attachments", auth.ScopeTicketsWrite},
		{"GET", "/api/v1/departments", auth.ScopeTicketsRead},
		{"POST", "/api/v1/departments", auth.ScopeAdmin},
		{"POST", "/api/v1/notices/application-confirmations", auth.ScopeNotices},
		{"GET", "/api/v1/ivr/calls/:id/recording", auth.ScopeFilesRead},
		{"GET", "/api/v1/ivr/live", auth.ScopeCallsRead},
		{"POST", "/api/v1/ivr/agents/me/login", auth.ScopeCallsWrite},
		{"POST", "/api/v1/sms/messages", auth.ScopeSMSSend},
		{"PUT", "/api/v1/sms/templates/:name", auth.ScopeAdmin},
		{"GET", "/api/v1/dashboards/figures", auth.ScopeFiguresRead},
		{"POST", "/api/v1/dashboards/overdue/:number/urge", auth.ScopeFiguresWrite},
		{"GET", "/api/v1/users", auth.ScopeAdmin},
		{"GET", "/api/v1/audit", auth.ScopeAdmin},
		{"GET", "/api/v1/auth/me", ""},
		{"GET", "/api/v1/openapi.json", ""},
		// A surface nobody has placed in the table is closed to tokens.
		{"GET", "/api/v1/something-new", auth.ScopeAdmin},
		// Outside the API the handlers decide (Open311 checks its own scope).
		{"POST", "/open311/v2/*path", ""},
	}
	for _, tt := range tests {
		if got := auth.RouteScope(tt.method, tt.route); got != tt.want {
			t.Errorf("RouteScope(%s %s) = %q, want %q", tt.method, tt.route, got, tt.want)
		}
	}
}

func TestTokenScopes(t *testing.T) {
	e := newEnv(t)
	e.createUser(t, "root", auth.RoleAdmin, "")
	admin := e.login(t, "root", password)
	create := func(body string) (int, tokenScopes) {
		rec := e.do(t, request{method: "POST", path: "/api/v1/tokens", session: admin.token, csrf: admin.csrf, body: body})
		if rec.Code != http.StatusCreated {
			return rec.Code, tokenScopes{Error: errorOf(t, rec).Message}
		}
		return rec.Code, decode[tokenScopes](t, rec)
	}

	t.Run("none named gives the defaults", func(t *testing.T) {
		_, tok := create(`{"name":"approvals","role":"integrator"}`)
		if diff := cmp.Diff([]string{"notices:send", "open311", "tickets:create", "tickets:read"}, tok.Scopes); diff != "" {
			t.Errorf("scopes (-want +got):\n%s", diff)
		}
	})
	t.Run("named ones are kept, sorted and without repeats", func(t *testing.T) {
		_, tok := create(`{"name":"crm","role":"integrator","scopes":["personal:read","tickets:read","personal:read"]}`)
		if diff := cmp.Diff([]string{"personal:read", "tickets:read"}, tok.Scopes); diff != "" {
			t.Errorf("scopes (-want +got):\n%s", diff)
		}
	})
	t.Run("an unknown one is refused by name", func(t *testing.T) {
		code, tok := create(`{"name":"x","role":"integrator","scopes":["tickets:destroy"]}`)
		if code != http.StatusBadRequest || !strings.Contains(tok.Error, `unknown scope "tickets:destroy"`) {
			t.Errorf("POST /tokens with an unknown scope = %d %q", code, tok.Error)
		}
	})
	t.Run("a route outside the token's scopes is refused", func(t *testing.T) {
		secret, _, err := e.svc.CreateToken(context.Background(), "ops", auth.RoleAdmin, "", []string{auth.ScopeTicketsRead})
		if err != nil {
			t.Fatal(err)
		}
		rec := e.do(t, request{method: "GET", path: "/api/v1/users", bearer: secret})
		if rec.Code != http.StatusForbidden || errorOf(t, rec).Code != "insufficient_scope" || !strings.Contains(errorOf(t, rec).Message, "admin") {
			t.Errorf("GET /users with an admin token of scope tickets:read = %d %s", rec.Code, rec.Body)
		}
		// /auth/me needs no scope: a client may always ask who it is.
		if rec := e.do(t, request{method: "GET", path: "/api/v1/auth/me", bearer: secret}); rec.Code != http.StatusOK {
			t.Errorf("GET /auth/me = %d %s", rec.Code, rec.Body)
		}
		secret, _, err = e.svc.CreateToken(context.Background(), "ops-admin", auth.RoleAdmin, "", []string{auth.ScopeAdmin})
		if err != nil {
			t.Fatal(err)
		}
		if rec := e.do(t, request{method: "GET", path: "/api/v1/users", bearer: secret}); rec.Code != http.StatusOK {
			t.Errorf("GET /users with scope admin = %d %s", rec.Code, rec.Body)
		}
	})
}

type tokenScopes struct {
	Scopes []string `json:"scopes"`
	Error  string   `json:"-"`
}

// TestTokensBeforeScopesKeepWorking: a token made before scopes existed gets every scope
// from the migration, so that the integration using it goes on as before.
func TestTokensBeforeScopesKeepWorking(t *testing.T) {
	all := auth.Migrations()
	var before []*database.Migration
	for _, m := range all {
		if m.ID == "20261206_98_auth_token_scopes" {
			break
		}
		before = append(before, m)
	}
	if len(before) == len(all) {
		t.Fatal("the scopes migration is not among auth.Migrations()")
	}
	db := dbtest.Open(t, before)
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	if err := db.Exec("INSERT INTO api_tokens (name, role, token_hash, created_at) VALUES (?, ?, ?, ?)",
		"old-approvals", "integrator", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", now).Error; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := database.Migrate(ctx, db, all); err != nil {
		t.Fatal(err)
	}
	var tok auth.Token
	if err := db.Where("name = ?", "old-approvals").Take(&tok).Error; err != nil {
		t.Fatal(err)
	}
	p := tok.Principal()
	for _, s := range []string{auth.ScopeTicketsCreate, auth.ScopePersonal, auth.ScopeFilesRead, auth.ScopeAdmin} {
		if !p.HasScope(s) {
			t.Errorf("the old token lacks %s after the migration (scopes %q)", s, tok.Scopes)
		}
	}
}
