package auth_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rexian/rexian/auth"
)

func TestRoles(t *testing.T) {
	e := newEnv(t)
	e.createUser(t, "root", auth.RoleAdmin, "")
	e.createUser(t, "op", auth.RoleOperator, "")
	e.createUser(t, "dept", auth.RoleDepartment, "zjj")
	op := e.login(t, "op", password)
	dept := e.login(t, "dept", password)
	root := e.login(t, "root", password)
	integrator := e.token(t, "approval", auth.RoleIntegrator, "")

	body := fmt.Sprintf(`{"username":"new","role":"operator","password":%q}`, password)
	tests := []struct {
		name       string
		req        request
		wantStatus int
		wantCode   string
	}{
		{"anonymous lists users", request{method: "GET", path: "/api/v1/users"}, http.StatusUnauthorized, "unauthenticated"},
		{"anonymous me", request{method: "GET", path: "/api/v1/auth/me"}, http.StatusUnauthorized, "unauthenticated"},
		{"anonymous public", request{method: "GET", path: "/api/v1/public"}, http.StatusOK, ""},
		{"operator creates a user", request{method: "POST", path: "/api/v1/users", body: body, session: op.token, csrf: op.csrf}, http.StatusForbidden, "forbidden_role"},
		{"operator lists users", request{method: "GET", path: "/api/v1/users", session: op.token}, http.StatusForbidden, "forbidden_role"},
		{"operator lists tokens", request{method: "GET", path: "/api/v1/tokens", session: op.token}, http.StatusForbidden, "forbidden_role"},
		{"department lists users", request{method: "GET", path: "/api/v1/users", session: dept.token}, http.StatusForbidden, "forbidden_role"},
		{"integrator creates a user", request{method: "POST", path: "/api/v1/users", body: body, bearer: integrator}, http.StatusForbidden, "forbidden_role"},
		{"operator me", request{method: "GET", path: "/api/v1/auth/me", session: op.token}, http.StatusOK, ""},
		{"integrator me", request{method: "GET", path: "/api/v1/auth/me", bearer: integrator}, http.StatusOK, ""},
		{"admin lists users", request{method: "GET", path: "/api/v1/users", session: root.token}, http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.do(t, tt.req)
			var code string
			if rec.Code >= 400 {
				code = errorOf(t, rec).Code
			}
			if rec.Code != tt.wantStatus || code != tt.wantCode {
				t.Errorf("got %d %s; want %d %q", rec.Code, rec.Body, tt.wantStatus, tt.wantCode)
			}
		})
	}
	if n := e.userCount(t); n != 3 {
		t.Errorf("%d users; the refused requests created some", n)
	}

	t.Run("department principal", func(t *testing.T) {
		rec := e.do(t, request{method: "GET", path: "/api/v1/auth/me", session: dept.token})
		got := decode[struct {
			Principal struct {
				Role         string `json:"role"`
				DepartmentID *uint  `json:"department_id"`
			} `json:"principal"`
		}](t, rec)
		if got.Principal.Role != "department" || got.Principal.DepartmentID == nil || *got.Principal.DepartmentID != 7 {
			t.Errorf("principal = %+v; want department 7", got.Principal)
		}
	})
}

func TestCreateUser(t *testing.T) {
	e := newEnv(t)
	admin := e.token(t, "ops", auth.RoleAdmin, "")
	e.createUser(t, "taken", auth.RoleOperator, "")

	user := func(username, role, dept, pw string) string {
		return fmt.Sprintf(`{"username":%q,"display_name":"X","role":%q,"department_code":%q,"password":%q}`, username, role, dept, pw)
	}
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantCode   string
		wantInMsg  string
		wantDept   *uint
	}{
		{"operator", user("wang", "operator", "", password), http.StatusCreated, "", "", nil},
		{"department user", user("zjj.li", "department", "zjj", password), http.StatusCreated, "", "", ptr(uint(7))},
		{"department user without a department", user("d1", "department", "", password), http.StatusBadRequest, "department_required", "department code", nil},
		{"unknown department", user("d2", "department", "nope", password), http.StatusBadRequest, "unknown_department", `"nope"`, nil},
		{"operator with a department", user("d3", "operator", "zjj", password), http.StatusBadRequest, "department_not_allowed", "", nil},
		{"duplicate username", user("taken", "operator", "", password), http.StatusConflict, "username_taken", `"taken"`, nil},
		{"duplicate username in capitals", user("TAKEN", "operator", "", password), http.StatusConflict, "username_taken", "", nil},
		{"short password", user("p1", "operator", "", "123456789"), http.StatusBadRequest, "password_too_short", "at least 10 characters", nil},
		{"bad username", user("zhang wei!", "operator", "", password), http.StatusBadRequest, "invalid_username", "", nil},
		{"one-letter username", user("z", "operator", "", password), http.StatusBadRequest, "invalid_username", "", nil},
		{"unknown role", user("r1", "mayor", "", password), http.StatusBadRequest, "invalid_role", `"mayor"`, nil},
		{"malformed JSON", `{"username":"m1",`, http.StatusBadRequest, "invalid_json", "", nil},
		{"unknown field", `{"username":"m2","role":"operator","password":"` + password + `","admin":true}`, http.StatusBadRequest, "invalid_json", "admin", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.userCount(t)
			rec := e.do(t, request{method: "POST", path: "/api/v1/users", body: tt.body, bearer: admin})
			if rec.Code != tt.wantStatus {
				t.Fatalf("got %d %s; want %d", rec.Code, rec.Body, tt.wantStatus)
			}
			if tt.wantStatus != http.StatusCreated {
				got := errorOf(t, rec)
				if got.Code != tt.wantCode || !strings.Contains(got.Message, tt.wantInMsg) {
					t.Errorf("error = %+v; want code %q and a message with %q", got, tt.wantCode, tt.wantInMsg)
				}
				if after := e.userCount(t); after != before {
					t.Errorf("users went from %d to %d", before, after)
				}
				return
			}
			if strings.Contains(rec.Body.String(), "argon2") || strings.Contains(rec.Body.String(), password) {
				t.Errorf("response shows the password or its hash: %s", rec.Body)
			}
			got := decode[userBody](t, rec)
			if diff := cmp.Diff(tt.wantDept, got.DepartmentID); diff != "" {
				t.Errorf("department_id (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPasswordsStoredAsArgon2id(t *testing.T) {
	e := newEnv(t)
	e.createUser(t, "li.na", auth.RoleOperator, "")
	var hash string
	if err := e.db.Raw("SELECT password_hash FROM users WHERE username = ?", "li.na").Scan(&hash).Error; err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=64,t=1,p=1$") || strings.Contains(hash, password) || strings.Count(hash, "$") != 5 {
		t.Errorf("stored password = %q; want an argon2id PHC string", hash)
	}

	t.Run("rehashed with new parameters at login", func(t *testing.T) {
		stronger := auth.PasswordParams{Memory: 128, Time: 2, Threads: 1}
		svc := auth.NewService(e.db, nil, auth.Options{Now: e.clock.Now, Passwords: stronger})
		if _, _, err := svc.Login(context.Background(), "li.na", password, "192.0.2.1", ""); err != nil {
			t.Fatal(err)
		}
		e.db.Raw("SELECT password_hash FROM users WHERE username = ?", "li.na").Scan(&hash)
		if !strings.HasPrefix(hash, "$argon2id$v=19$m=128,t=2,p=1$") {
			t.Errorf("hash after login = %q; want the new parameters", hash)
		}
		if _, _, err := svc.Login(context.Background(), "li.na", password, "192.0.2.1", ""); err != nil {
			t.Errorf("login with the rehashed password: %v", err)
		}
	})
}

func TestUpdateUser(t *testing.T) {
	e := newEnv(t)
	root := e.createUser(t, "root", auth.RoleAdmin, "")
	op := e.createUser(t, "op", auth.RoleOperator, "")
	admin := e.token(t, "ops", auth.RoleAdmin, "")
	patch := func(id uint, body string) *userBody {
		t.Helper()
		rec := e.do(t, request{method: "PATCH", path: fmt.Sprintf("/api/v1/users/%d", id), body: body, bearer: admin})
		if rec.Code != http.StatusOK {
			t.Fatalf("PATCH %s: %d %s", body, rec.Code, rec.Body)
		}
		u := decode[userBody](t, rec)
		return &u
	}
	patchErr := func(id uint, body string) (int, string) {
		t.Helper()
		rec := e.do(t, request{method: "PATCH", path: fmt.Sprintf("/api/v1/users/%d", id), body: body, bearer: admin})
		if rec.Code < 400 {
			t.Fatalf("PATCH %s: %d %s; want an error", body, rec.Code, rec.Body)
		}
		return rec.Code, errorOf(t, rec).Code
	}

	t.Run("role change applies to the open session", func(t *testing.T) {
		s := e.login(t, "op", password)
		if rec := e.do(t, request{method: "GET", path: "/api/v1/users", session: s.token}); rec.Code != http.StatusForbidden {
			t.Fatalf("operator lists users: %d", rec.Code)
		}
		e.clock.Advance(time.Minute) // so that updated_at moves
		if u := patch(op.ID, `{"role":"supervisor","display_name":"Op Supervisor"}`); u.Role != "supervisor" || u.DisplayName != "Op Supervisor" || u.UpdatedAt != "2026-11-26T09:01:00Z" {
			t.Errorf("after PATCH: %+v", u)
		}
		rec := e.do(t, request{method: "GET", path: "/api/v1/auth/me", session: s.token})
		if !strings.Contains(rec.Body.String(), `"role":"supervisor"`) {
			t.Errorf("me after role change: %s", rec.Body)
		}
	})

	t.Run("department", func(t *testing.T) {
		if code, c := patchErr(op.ID, `{"role":"department"}`); code != http.StatusBadRequest || c != "department_required" {
			t.Errorf("to department without a code: %d %s", code, c)
		}
		if code, c := patchErr(op.ID, `{"role":"department","department_code":"nope"}`); code != http.StatusBadRequest || c != "unknown_department" {
			t.Errorf("to an unknown department: %d %s", code, c)
		}
		if u := patch(op.ID, `{"role":"department","department_code":"gaj"}`); u.DepartmentID == nil || *u.DepartmentID != 9 {
			t.Errorf("to department gaj: %+v", u)
		}
		if u := patch(op.ID, `{"department_code":"zjj"}`); u.DepartmentID == nil || *u.DepartmentID != 7 {
			t.Errorf("moved to zjj: %+v", u)
		}
		if u := patch(op.ID, `{"role":"operator"}`); u.DepartmentID != nil || u.Role != "operator" {
			t.Errorf("back to operator: %+v; want no department", u)
		}
	})

	t.Run("disable ends sessions and refuses login", func(t *testing.T) {
		s := e.login(t, "op", password)
		patch(op.ID, `{"disabled":true}`)
		if rec := e.do(t, request{method: "GET", path: "/api/v1/auth/me", session: s.token}); rec.Code != http.StatusUnauthorized {
			t.Errorf("session of a disabled user: %d %s", rec.Code, rec.Body)
		}
		rec := e.do(t, request{method: "POST", path: "/api/v1/auth/login", body: `{"username":"op","password":"` + password + `"}`})
		if rec.Code != http.StatusForbidden || errorOf(t, rec).Code != "account_disabled" {
			t.Errorf("login of a disabled user: %d %s", rec.Code, rec.Body)
		}
		patch(op.ID, `{"disabled":false}`)
		e.login(t, "op", password)
	})

	t.Run("password reset", func(t *testing.T) {
		s := e.login(t, "op", password)
		if code, c := patchErr(op.ID, `{"password":"short"}`); code != http.StatusBadRequest || c != "password_too_short" {
			t.Errorf("short password: %d %s", code, c)
		}
		patch(op.ID, `{"password":"a new long password"}`)
		if rec := e.do(t, request{method: "GET", path: "/api/v1/auth/me", session: s.token}); rec.Code != http.StatusUnauthorized {
			t.Errorf("session after a password reset: %d", rec.Code)
		}
		if rec := e.do(t, request{method: "POST", path: "/api/v1/auth/login", body: `{"username":"op","password":"` + password + `"}`}); rec.Code != http.StatusUnauthorized {
			t.Errorf("old password: %d", rec.Code)
		}
		e.login(t, "op", "a new long password")
	})

	t.Run("last admin stays", func(t *testing.T) {
		for _, body := range []string{`{"disabled":true}`, `{"role":"operator"}`} {
			if code, c := patchErr(root.ID, body); code != http.StatusConflict || c != "last_admin" {
				t.Errorf("%s on the last admin: %d %s; want 409 last_admin", body, code, c)
			}
		}
		patch(op.ID, `{"role":"admin"}`)
		if u := patch(root.ID, `{"role":"supervisor"}`); u.Role != "supervisor" {
			t.Errorf("demote with another admin: %+v", u)
		}
	})

	t.Run("unknown and bad ids", func(t *testing.T) {
		if code, c := patchErr(999, `{"disabled":true}`); code != http.StatusNotFound || c != "user_not_found" {
			t.Errorf("PATCH unknown: %d %s", code, c)
		}
		rec := e.do(t, request{method: "GET", path: "/api/v1/users/abc", bearer: admin})
		if rec.Code != http.StatusBadRequest || errorOf(t, rec).Code != "invalid_id" {
			t.Errorf("GET /users/abc: %d %s", rec.Code, rec.Body)
		}
	})
}

func TestListAndGetUsers(t *testing.T) {
	e := newEnv(t)
	admin := e.token(t, "ops", auth.RoleAdmin, "")
	for _, n := range []string{"c.op", "a.op", "b.op"} {
		e.createUser(t, n, auth.RoleOperator, "")
	}
	e.createUser(t, "sup", auth.RoleSupervisor, "")

	rec := e.do(t, request{method: "GET", path: "/api/v1/users?role=operator&per_page=2&page=1", bearer: admin})
	type list struct {
		Users   []userBody `json:"users"`
		Total   int        `json:"total"`
		Page    int        `json:"page"`
		PerPage int        `json:"per_page"`
	}
	got := decode[list](t, rec)
	names := []string{}
	for _, u := range got.Users {
		names = append(names, u.Username)
	}
	if diff := cmp.Diff([]string{"a.op", "b.op"}, names); diff != "" || got.Total != 3 || got.PerPage != 2 {
		t.Errorf("page 1 of operators: total %d (-want +got):\n%s", got.Total, diff)
	}
	if strings.Contains(rec.Body.String(), "argon2") {
		t.Errorf("list shows password hashes: %s", rec.Body)
	}
	if rec := e.do(t, request{method: "GET", path: "/api/v1/users?role=mayor", bearer: admin}); rec.Code != http.StatusBadRequest {
		t.Errorf("unknown role filter: %d", rec.Code)
	}
	if rec := e.do(t, request{method: "GET", path: "/api/v1/users/1", bearer: admin}); decode[userBody](t, rec).Username != "c.op" {
		t.Errorf("GET /users/1: %s", rec.Body)
	}
	if rec := e.do(t, request{method: "GET", path: "/api/v1/users/99", bearer: admin}); rec.Code != http.StatusNotFound {
		t.Errorf("GET /users/99: %d", rec.Code)
	}
}
