package main

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/rexian/rexian/database/dbtest"
)

// TestDatabaseOutageAnswers503 stops the PostgreSQL rexian runs on, as a crash would (open
// connections cut, new ones refused), and sends a request to every API route: each must
// answer 503 with Retry-After, not 500; once the server is back, the API serves again.
func TestDatabaseOutageAnswers503(t *testing.T) {
	pg := dbtest.StartPostgres(t)
	env := []string{
		"REXIAN_DATA_DIR=" + t.TempDir(),
		"REXIAN_DATABASE_URL=" + pg.URL(),
		"REXIAN_REDIS_URL=",
		"REXIAN_ADDR=127.0.0.1:0",
	}
	if code, _, stderr := runCLI(t, env, "", "seed", "--demo"); code != exitOK {
		t.Fatalf("seed --demo: exit %d: %s", code, stderr)
	}
	code, tok, stderr := runCLI(t, env, "", "tokens", "create", "--name", "outage", "--role", "admin", "--scope", "*")
	if code != exitOK {
		t.Fatalf("tokens create: %s", stderr)
	}
	p := &seededPlatform{env: env, tokens: map[string]string{"admin": "Bearer " + strings.TrimSpace(tok)}}
	p.r = startApp(t, testConfig(t, env))
	if status, _, body := p.send(t, "admin", "GET", "/api/v1/tickets", "", ""); status != http.StatusOK {
		t.Fatalf("GET /api/v1/tickets before the outage = %d %s", status, body)
	}

	pg.Crash(t)
	param := regexp.MustCompile(`:[A-Za-z_]+`)
	checked := 0
	for _, route := range p.r.app.engine.Routes() {
		if !strings.HasPrefix(route.Path, "/api/v1/") || route.Path == "/api/v1/openapi.json" {
			continue // the OpenAPI document is served from memory
		}
		path := param.ReplaceAllString(route.Path, "2600000017")
		body := ""
		if route.Method != http.MethodGet && route.Method != http.MethodDelete {
			body = "{}"
		}
		if route.Path == "/api/v1/auth/login/second-factor" {
			// Open to anyone, it refuses an empty answer before asking the database.
			body = `{"challenge":"c0ffee","code":"123456"}`
		}
		status, header, got := p.send(t, "admin", route.Method, path, "application/json", body)
		if status != http.StatusServiceUnavailable || header.Get("Retry-After") == "" {
			t.Errorf("%s %s with the database down = %d (Retry-After %q) %s; want 503 with Retry-After",
				route.Method, path, status, header.Get("Retry-After"), got)
		}
		// Without credentials a route may say so without the database; it must not fail.
		if status, _, got := p.send(t, "", route.Method, path, "application/json", body); status >= 500 && status != http.StatusServiceUnavailable {
			t.Errorf("%s %s without credentials, the database down = %d %s", route.Method, path, status, got)
		}
		checked++
	}
	if checked < 50 {
		t.Errorf("only %d API routes tried", checked)
	}

	pg.Start(t)
	eventually(t, "the API to serve again after PostgreSQL is back", func() bool {
		status, _, _ := p.send(t, "admin", "GET", "/api/v1/tickets", "", "")
		return status == http.StatusOK
	})
}
