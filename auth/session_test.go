package auth_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/live"
	"github.com/rexian/rexian/live/livetest"
)

func TestLoginMeLogout(t *testing.T) {
	e := newEnv(t)
	u := e.createUser(t, "zhang.wei", auth.RoleOperator, "")

	rec := e.do(t, request{method: "POST", path: "/api/v1/auth/login",
		body: `{"username":"Zhang.Wei","password":"` + password + `"}`, header: map[string]string{"User-Agent": "console/1"}})
	if rec.Code != http.StatusOK {
		t.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "password") {
		t.Errorf("login response mentions a password: %s", rec.Body)
	}
	got := decode[sessionBody](t, rec)
	wantUser := userBody{
		ID: u.ID, Username: "zhang.wei", DisplayName: "ZHANG.WEI", Role: "operator",
		CreatedAt: "2026-11-26T09:00:00Z", UpdatedAt: "2026-11-26T09:00:00Z", LastLoginAt: ptr("2026-11-26T09:00:00Z"),
	}
	if diff := cmp.Diff(wantUser, got.User); diff != "" {
		t.Errorf("login user (-want +got):\n%s", diff)
	}
	if got.ExpiresAt != "2026-11-26T21:00:00Z" || len(got.CSRFToken) < 40 {
		t.Errorf("login: expires_at %q, csrf_token %q; want 12h from now and a long token", got.ExpiresAt, got.CSRFToken)
	}
	var cookie *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == auth.CookieName {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Secure || cookie.Path != "/" {
		t.Fatalf("session cookie = %+v; want HttpOnly, SameSite=Lax, not Secure, Path=/", cookie)
	}
	var stored int64
	e.db.Table("sessions").Where("id = ?", cookie.Value).Count(&stored)
	if stored != 0 {
		t.Error("the session token itself is stored; only its hash may be")
	}
	s := session{token: cookie.Value, csrf: got.CSRFToken}

	e.clock.Advance(time.Hour)
	rec = e.do(t, request{method: "GET", path: "/api/v1/auth/me", session: s.token})
	if rec.Code != http.StatusOK {
		t.Fatalf("me: %d %s", rec.Code, rec.Body)
	}
	me := decode[struct {
		sessionBody
		Principal struct {
			Kind  string `json:"kind"`
			ID    uint   `json:"id"`
			Actor string `json:"actor"`
		} `json:"principal"`
	}](t, rec)
	if diff := cmp.Diff(wantUser, me.User); diff != "" {
		t.Errorf("me user (-want +got):\n%s", diff)
	}
	if me.CSRFToken != s.csrf || me.Principal.Kind != "user" || me.Principal.ID != u.ID || me.Principal.Actor != "operator:zhang.wei" {
		t.Errorf("me = %+v; want the same csrf token and principal user %d", me, u.ID)
	}

	rec = e.do(t, request{method: "POST", path: "/api/v1/auth/logout", session: s.token, csrf: s.csrf})
	if rec.Code != http.StatusNoContent {
		t.Fatalf("logout: %d %s", rec.Code, rec.Body)
	}
	if c := rec.Result().Cookies(); len(c) != 1 || c[0].Name != auth.CookieName || c[0].MaxAge >= 0 {
		t.Errorf("logout cookies = %+v; want the session cookie cleared", c)
	}
	rec = e.do(t, request{method: "GET", path: "/api/v1/auth/me", session: s.token})
	if rec.Code != http.StatusUnauthorized || errorOf(t, rec).Code != "session_expired" {
		t.Errorf("me after logout: %d %s; want 401 session_expired", rec.Code, rec.Body)
	}
}

func TestLoginFailuresLookAlike(t *testing.T) {
	e := newEnv(t)
	e.createUser(t, "li.na", auth.RoleOperator, "")

	wrongPassword := e.do(t, request{method: "POST", path: "/api/v1/auth/login", body: `{"username":"li.na","password":"not the password"}`})
	unknownUser := e.do(t, request{method: "POST", path: "/api/v1/auth/login", body: `{"username":"nobody","password":"not the password"}`})
	for _, rec := range []interface{ Result() *http.Response }{wrongPassword, unknownUser} {
		if rec.Result().StatusCode != http.StatusUnauthorized {
			t.Errorf("status %d; want 401", rec.Result().StatusCode)
		}
	}
	if diff := cmp.Diff(wrongPassword.Body.String(), unknownUser.Body.String()); diff != "" {
		t.Errorf("wrong password and unknown user answer differently (-wrong password +unknown user):\n%s", diff)
	}
	if len(wrongPassword.Result().Cookies()) != 0 {
		t.Error("a failed login set a cookie")
	}
}

func TestLoginRequests(t *testing.T) {
	e := newEnv(t)
	e.createUser(t, "li.na", auth.RoleOperator, "")
	tests := []struct {
		name        string
		body        string
		contentType string
		wantStatus  int
		wantCode    string
	}{
		{"malformed JSON", `{"username":"li.na",`, "", http.StatusBadRequest, "invalid_json"},
		{"unknown field", `{"username":"li.na","password":"x","remember":true}`, "", http.StatusBadRequest, "invalid_json"},
		{"empty body", ``, "application/json", http.StatusBadRequest, "invalid_json"},
		// What a cross-site form with enctype=text/plain can send.
		{"form posing as JSON", `{"username":"li.na","password":"` + password + `"}`, "text/plain", http.StatusBadRequest, "content_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request{method: "POST", path: "/api/v1/auth/login", body: tt.body}
			if tt.contentType != "" {
				r.header = map[string]string{"Content-Type": tt.contentType}
			}
			rec := e.do(t, r)
			if rec.Code != tt.wantStatus || errorOf(t, rec).Code != tt.wantCode {
				t.Errorf("got %d %s; want %d %s", rec.Code, rec.Body, tt.wantStatus, tt.wantCode)
			}
		})
	}
}

// deadStore is a live store whose Redis does not answer.
func deadStore(t *testing.T) *live.Store {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second})
	t.Cleanup(func() { c.Close() })
	return &live.Store{Client: c, Namespace: "dead"}
}

func TestLoginRateLimit(t *testing.T) {
	tests := []struct {
		name    string
		store   func(t *testing.T) *live.Store
		wantLog string
	}{
		{"redis", func(t *testing.T) *live.Store { return livetest.Open(t) }, ""},
		{"redis unreachable", deadStore, "login rate limit falls back to this process"},
		{"no live store", func(*testing.T) *live.Store { return nil }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := tt.store(t)
			// The fixed limit alone; TestLoginBackoff covers the growing delays.
			e := newEnvWith(t, store, func(o *auth.Options) { o.Backoff.Off = true })
			e.createUser(t, "li.na", auth.RoleOperator, "")
			const addr = "198.51.100.7:4000"
			login := func(pw string) (int, string) {
				rec := e.do(t, request{method: "POST", path: "/api/v1/auth/login", remoteAddr: addr,
					body: `{"username":"li.na","password":"` + pw + `"}`})
				if rec.Code == http.StatusOK {
					return rec.Code, ""
				}
				return rec.Code, errorOf(t, rec).Message
			}
			fail := func(n int) {
				t.Helper()
				for i := range n {
					if code, _ := login("wrong password"); code != http.StatusUnauthorized {
						t.Fatalf("failure %d: status %d; want 401", i+1, code)
					}
				}
			}

			// A success clears the count: 4 + 4 failures around it are not 5 in a row.
			fail(4)
			if code, msg := login(password); code != http.StatusOK {
				t.Fatalf("login after 4 failures: %d %s", code, msg)
			}
			fail(4)
			if code, msg := login(password); code != http.StatusOK {
				t.Fatalf("login after a success and 4 failures: %d %s", code, msg)
			}

			fail(5)
			rec := e.do(t, request{method: "POST", path: "/api/v1/auth/login", remoteAddr: addr,
				body: `{"username":"li.na","password":"` + password + `"}`})
			if rec.Code != http.StatusTooManyRequests {
				t.Fatalf("6th attempt: %d %s; want 429", rec.Code, rec.Body)
			}
			want := "too many failed logins, try again in 15 minutes"
			if got := errorOf(t, rec).Message; got != want || rec.Header().Get("Retry-After") != "900" {
				t.Errorf("6th attempt: %q, Retry-After %q; want %q, 900", got, rec.Header().Get("Retry-After"), want)
			}
			// The limit is per username and address: the same user elsewhere may log in.
			other := e.do(t, request{method: "POST", path: "/api/v1/auth/login", remoteAddr: "203.0.113.9:5000",
				body: `{"username":"li.na","password":"` + password + `"}`})
			if other.Code != http.StatusOK {
				t.Errorf("login from another address: %d %s", other.Code, other.Body)
			}

			e.clock.Advance(14 * time.Minute)
			if code, msg := login(password); code != http.StatusTooManyRequests || msg != "too many failed logins, try again in 1 minute" {
				t.Errorf("14 minutes later: %d %q; want still limited for 1 minute", code, msg)
			}
			e.clock.Advance(time.Minute)
			if code, msg := login(password); code != http.StatusOK {
				t.Errorf("after the window: %d %q; want 200", code, msg)
			}

			if tt.wantLog != "" && strings.Count(e.logs.String(), tt.wantLog) != 1 {
				t.Errorf("log should say %q once:\n%s", tt.wantLog, e.logs)
			}
			if tt.name == "redis" {
				keys, err := store.Keys(context.Background(), store.Namespace+":auth:login_failures:*").Result()
				if err != nil || len(keys) == 0 {
					t.Errorf("no failure counts in Redis (%v); the limit must be shared between replicas", err)
				}
			}
		})
	}
}

func TestSessionExpiry(t *testing.T) {
	type step struct {
		advance  time.Duration
		wantCode string // "" for 200
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"idle timeout", []step{{time.Hour, ""}, {2 * time.Hour, "session_expired"}}},
		{"activity keeps it alive", []step{{119 * time.Minute, ""}, {119 * time.Minute, ""}, {119 * time.Minute, ""}}},
		{"absolute lifetime", []step{
			{110 * time.Minute, ""}, {110 * time.Minute, ""}, {110 * time.Minute, ""},
			{110 * time.Minute, ""}, {110 * time.Minute, ""}, {110 * time.Minute, ""}, // 11h
			{59 * time.Minute, ""},
			{time.Minute, "session_expired"}, // 12h
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.createUser(t, "li.na", auth.RoleOperator, "")
			s := e.login(t, "li.na", password)
			for i, st := range tt.steps {
				e.clock.Advance(st.advance)
				rec := e.do(t, request{method: "GET", path: "/api/v1/auth/me", session: s.token})
				var got string
				if rec.Code != http.StatusOK {
					got = errorOf(t, rec).Code
					if rec.Code != http.StatusUnauthorized {
						t.Errorf("step %d: status %d", i, rec.Code)
					}
				}
				if got != st.wantCode {
					t.Fatalf("step %d (+%v): code %q; want %q", i, st.advance, got, st.wantCode)
				}
			}
		})
	}

	t.Run("public route with an expired cookie", func(t *testing.T) {
		e := newEnv(t)
		e.createUser(t, "li.na", auth.RoleOperator, "")
		s := e.login(t, "li.na", password)
		e.clock.Advance(3 * time.Hour)
		rec := e.do(t, request{method: "GET", path: "/api/v1/public", session: s.token})
		if rec.Code != http.StatusUnauthorized || errorOf(t, rec).Code != "session_expired" {
			t.Errorf("got %d %s; want 401 session_expired so the console knows to log in", rec.Code, rec.Body)
		}
		// Logging in again works with the stale cookie still in the browser.
		rec = e.do(t, request{method: "POST", path: "/api/v1/auth/login", session: s.token,
			body: `{"username":"li.na","password":"` + password + `"}`})
		if rec.Code != http.StatusOK {
			t.Errorf("login with a stale cookie: %d %s", rec.Code, rec.Body)
		}
	})

	t.Run("purge", func(t *testing.T) {
		e := newEnv(t)
		e.createUser(t, "li.na", auth.RoleOperator, "")
		e.login(t, "li.na", password)
		e.clock.Advance(time.Hour)
		alive := e.login(t, "li.na", password)
		e.clock.Advance(90 * time.Minute) // the first session is idle for 2h30m, the second for 1h30m
		n, err := e.svc.PurgeExpiredSessions(context.Background())
		if err != nil || n != 1 {
			t.Fatalf("purge = %d, %v; want 1", n, err)
		}
		if rec := e.do(t, request{method: "GET", path: "/api/v1/auth/me", session: alive.token}); rec.Code != http.StatusOK {
			t.Errorf("the live session was purged: %d %s", rec.Code, rec.Body)
		}
	})
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	e.createUser(t, "root", auth.RoleAdmin, "")
	s := e.login(t, "root", password)
	victimToken := e.token(t, "approval", auth.RoleIntegrator, "")
	var tok auth.Token
	e.db.Where("name = ?", "approval").Take(&tok)

	newUser := func(name string) string {
		return fmt.Sprintf(`{"username":%q,"role":"operator","password":%q}`, name, password)
	}
	tests := []struct {
		name       string
		req        request
		wantStatus int
	}{
		{"POST without token", request{method: "POST", path: "/api/v1/users", body: newUser("a1"), session: s.token}, http.StatusForbidden},
		{"POST with a wrong token", request{method: "POST", path: "/api/v1/users", body: newUser("a2"), session: s.token, csrf: s.csrf + "x"}, http.StatusForbidden},
		{"PATCH without token", request{method: "PATCH", path: "/api/v1/users/1", body: `{"display_name":"X"}`, session: s.token}, http.StatusForbidden},
		{"DELETE without token", request{method: "DELETE", path: fmt.Sprintf("/api/v1/tokens/%d", tok.ID), session: s.token}, http.StatusForbidden},
		{"logout without token", request{method: "POST", path: "/api/v1/auth/logout", session: s.token}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.userCount(t)
			rec := e.do(t, tt.req)
			if rec.Code != tt.wantStatus || errorOf(t, rec).Code != "csrf" {
				t.Errorf("got %d %s; want %d csrf", rec.Code, rec.Body, tt.wantStatus)
			}
			if after := e.userCount(t); after != before {
				t.Errorf("users went from %d to %d", before, after)
			}
		})
	}
	t.Run("nothing changed", func(t *testing.T) {
		u, _ := e.svc.GetUser(context.Background(), 1)
		if u.DisplayName != "ROOT" {
			t.Errorf("display name = %q; the refused PATCH changed it", u.DisplayName)
		}
		if rec := e.do(t, request{method: "GET", path: "/api/v1/users", bearer: victimToken}); rec.Code != http.StatusForbidden {
			// integrator may not list users, but the token must still authenticate (403, not 401)
			t.Errorf("token after refused DELETE: %d %s", rec.Code, rec.Body)
		}
		if rec := e.do(t, request{method: "GET", path: "/api/v1/auth/me", session: s.token}); rec.Code != http.StatusOK {
			t.Errorf("session after refused logout: %d", rec.Code)
		}
	})
	t.Run("right token", func(t *testing.T) {
		rec := e.do(t, request{method: "POST", path: "/api/v1/users", body: newUser("a3"), session: s.token, csrf: s.csrf})
		if rec.Code != http.StatusCreated {
			t.Errorf("got %d %s; want 201", rec.Code, rec.Body)
		}
	})
	t.Run("GET needs none", func(t *testing.T) {
		if rec := e.do(t, request{method: "GET", path: "/api/v1/users", session: s.token}); rec.Code != http.StatusOK {
			t.Errorf("got %d %s", rec.Code, rec.Body)
		}
	})
	t.Run("bearer needs none", func(t *testing.T) {
		admin := e.token(t, "ops", auth.RoleAdmin, "")
		rec := e.do(t, request{method: "POST", path: "/api/v1/users", body: newUser("a4"), bearer: admin})
		if rec.Code != http.StatusCreated {
			t.Errorf("got %d %s; want 201", rec.Code, rec.Body)
		}
	})
	t.Run("login needs none", func(t *testing.T) {
		// Someone logged in as root logs in as another user in the same browser.
		rec := e.do(t, request{method: "POST", path: "/api/v1/auth/login", session: s.token,
			body: `{"username":"a3","password":"` + password + `"}`})
		if rec.Code != http.StatusOK {
			t.Errorf("got %d %s; want 200", rec.Code, rec.Body)
		}
		if rec := e.do(t, request{method: "GET", path: "/api/v1/auth/me", session: s.token}); rec.Code != http.StatusUnauthorized {
			t.Errorf("the replaced session still works: %d", rec.Code)
		}
	})
}
