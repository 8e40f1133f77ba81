package auth_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rexian/rexian/auth"
)

type tokenBody struct {
	ID           uint    `json:"id"`
	Name         string  `json:"name"`
	Role         string  `json:"role"`
	DepartmentID *uint   `json:"department_id"`
	CreatedAt    string  `json:"created_at"`
	LastUsedAt   *string `json:"last_used_at"`
	RevokedAt    *string `json:"revoked_at"`
}

func TestTokens(t *testing.T) {
	e := newEnv(t)
	e.createUser(t, "root", auth.RoleAdmin, "")
	admin := e.login(t, "root", password)

	// Created through the API, as an administrator would.
	rec := e.do(t, request{method: "POST", path: "/api/v1/tokens", session: admin.token, csrf: admin.csrf,
		body: `{"name":"approval system","role":"integrator"}`})
	if rec.Code != http.StatusCreated {
		t.Fatalf("POST /tokens: %d %s", rec.Code, rec.Body)
	}
	created := decode[struct {
		tokenBody
		Secret string `json:"secret"`
	}](t, rec)
	want := tokenBody{ID: created.ID, Name: "approval system", Role: "integrator", CreatedAt: "2026-11-26T09:00:00Z"}
	if diff := cmp.Diff(want, created.tokenBody); diff != "" {
		t.Errorf("created token (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(created.Secret, "rxn_") || len(created.Secret) != 4+43 {
		t.Errorf("secret = %q; want rxn_ and 32 random bytes in base64url", created.Secret)
	}
	var stored string
	e.db.Raw("SELECT token_hash FROM api_tokens WHERE id = ?", created.ID).Scan(&stored)
	if len(stored) != 64 || strings.Contains(stored, created.Secret[4:]) {
		t.Errorf("stored token_hash = %q; want a SHA-256 in hex, not the secret", stored)
	}

	e.clock.Advance(time.Hour)
	t.Run("bearer works", func(t *testing.T) {
		rec := e.do(t, request{method: "GET", path: "/api/v1/auth/me", bearer: created.Secret})
		if rec.Code != http.StatusOK {
			t.Fatalf("me: %d %s", rec.Code, rec.Body)
		}
		me := decode[struct {
			Principal struct {
				Kind  string `json:"kind"`
				ID    uint   `json:"id"`
				Actor string `json:"actor"`
			} `json:"principal"`
			Token tokenBody `json:"token"`
		}](t, rec)
		if me.Principal.Kind != "token" || me.Principal.ID != created.ID || me.Principal.Actor != "integrator:approval system" {
			t.Errorf("principal = %+v", me.Principal)
		}
		if me.Token.LastUsedAt == nil || *me.Token.LastUsedAt != "2026-11-26T10:00:00Z" {
			t.Errorf("last_used_at = %v; want the time of use", me.Token.LastUsedAt)
		}
	})

	t.Run("list shows no secret", func(t *testing.T) {
		rec := e.do(t, request{method: "GET", path: "/api/v1/tokens", session: admin.token})
		if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), created.Secret) || strings.Contains(rec.Body.String(), stored) {
			t.Fatalf("GET /tokens: %d %s", rec.Code, rec.Body)
		}
		got := decode[struct {
			Tokens []tokenBody `json:"tokens"`
		}](t, rec)
		if len(got.Tokens) != 1 || got.Tokens[0].Name != "approval system" {
			t.Errorf("tokens = %+v", got.Tokens)
		}
	})

	tests := []struct {
		name   string
		header string
	}{
		{"unknown token", "Bearer rxn_" + strings.Repeat("A", 43)},
		{"not a rexian token", "Bearer abc"},
		{"empty bearer", "Bearer "},
		{"another scheme", "Basic cm9vdDpwYXNzd29yZA=="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/api/v1/auth/me", "/api/v1/public"} {
				rec := e.do(t, request{method: "GET", path: path, header: map[string]string{"Authorization": tt.header}})
				if rec.Code != http.StatusUnauthorized || errorOf(t, rec).Code != "invalid_token" {
					t.Errorf("%s: %d %s; want 401 invalid_token", path, rec.Code, rec.Body)
				}
			}
		})
	}

	t.Run("revoked", func(t *testing.T) {
		path := fmt.Sprintf("/api/v1/tokens/%d", created.ID)
		rec := e.do(t, request{method: "DELETE", path: path, session: admin.token, csrf: admin.csrf})
		if rec.Code != http.StatusNoContent {
			t.Fatalf("DELETE: %d %s", rec.Code, rec.Body)
		}
		rec = e.do(t, request{method: "GET", path: "/api/v1/auth/me", bearer: created.Secret})
		if rec.Code != http.StatusUnauthorized || errorOf(t, rec).Code != "invalid_token" {
			t.Errorf("revoked token: %d %s; want 401 invalid_token", rec.Code, rec.Body)
		}
		if rec := e.do(t, request{method: "DELETE", path: path, session: admin.token, csrf: admin.csrf}); rec.Code != http.StatusNoContent {
			t.Errorf("DELETE again: %d; want 204", rec.Code)
		}
		if rec := e.do(t, request{method: "DELETE", path: "/api/v1/tokens/999", session: admin.token, csrf: admin.csrf}); rec.Code != http.StatusNotFound {
			t.Errorf("DELETE unknown: %d; want 404", rec.Code)
		}
		rec = e.do(t, request{method: "GET", path: "/api/v1/tokens", session: admin.token})
		got := decode[struct {
			Tokens []tokenBody `json:"tokens"`
		}](t, rec)
		if len(got.Tokens) != 1 || got.Tokens[0].RevokedAt == nil || *got.Tokens[0].RevokedAt != "2026-11-26T10:00:00Z" {
			t.Errorf("tokens after revoke = %+v", got.Tokens)
		}
	})

	t.Run("department token", func(t *testing.T) {
		tests := []struct {
			body       string
			wantStatus int
		}{
			{`{"name":"zjj bot","role":"department","department_code":"zjj"}`, http.StatusCreated},
			{`{"name":"bot","role":"department"}`, http.StatusBadRequest},
			{`{"name":"bot","role":"department","department_code":"nope"}`, http.StatusBadRequest},
			{`{"name":"","role":"integrator"}`, http.StatusBadRequest},
			{`{"name":"bot","role":"robot"}`, http.StatusBadRequest},
		}
		for _, tt := range tests {
			t.Run(tt.body, func(t *testing.T) {
				rec := e.do(t, request{method: "POST", path: "/api/v1/tokens", body: tt.body, session: admin.token, csrf: admin.csrf})
				if rec.Code != tt.wantStatus {
					t.Errorf("got %d %s; want %d", rec.Code, rec.Body, tt.wantStatus)
				}
			})
		}
	})
}
