package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/database"
)

// syncBuffer is a log sink the App's goroutines may write to at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// seededPlatform is rexian serving the demo city, with a bearer token per role and a
// handle on its database for the test to reach behind the API.
type seededPlatform struct {
	r      *running
	env    []string
	db     *gorm.DB
	tokens map[string]string // role → "Bearer …"
}

// seedWithTokens returns the environment of a fresh database with the demo city seeded,
// and a bearer token ("Bearer …") for each role.
func seedWithTokens(t *testing.T, roles []string) ([]string, map[string]string) {
	t.Helper()
	env := testEnv(t, "")
	if code, _, stderr := runCLI(t, env, "", "seed", "--demo"); code != exitOK {
		t.Fatalf("seed --demo: exit %d: %s", code, stderr)
	}
	tokens := map[string]string{}
	for _, role := range roles {
		code, tok, stderr := runCLI(t, env, "", "tokens", "create", "--name", "t-"+role, "--role", role, "--scope", "*")
		if code != exitOK {
			t.Fatalf("tokens create: %s", stderr)
		}
		tokens[role] = "Bearer " + strings.TrimSpace(tok)
	}
	return env, tokens
}

// startSeeded seeds the demo city into a fresh database, makes a token for each role and
// starts the App with log (nil: the test's log); mod adjusts the configuration.
func startSeeded(t *testing.T, roles []string, log *syncBuffer, mod func(env []string) []string) *seededPlatform {
	t.Helper()
	env, tokens := seedWithTokens(t, roles)
	p := &seededPlatform{env: env, tokens: tokens}
	if mod != nil {
		env = mod(env)
	}
	cfg := testConfig(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := database.Open(ctx, cfg.DatabaseURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { database.Close(db) })
	p.db = db
	if log != nil {
		p.r = startAppLogged(t, 2*time.Minute, cfg, newLogger(log, cfg.Log))
	} else {
		p.r = startAppFor(t, 2*time.Minute, cfg)
	}
	return p
}

// send makes a request as role ("" for none) and returns the status, the headers and the
// body.
func (p *seededPlatform) send(t *testing.T, role, method, path, contentType, body string, header ...string) (int, http.Header, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, p.r.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if role != "" {
		req.Header.Set("Authorization", p.tokens[role])
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(out)
}

// failTicketsContaining makes the database refuse to store a ticket whose content holds
// marker, as a full disk or a broken constraint would: the write reaches the database and
// fails there.
func failTicketsContaining(t *testing.T, db *gorm.DB, marker string) {
	t.Helper()
	var stmts []string
	if database.DialectOf(db) == database.Postgres {
		stmts = []string{
			`CREATE OR REPLACE FUNCTION refuse_marked_ticket() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN
				IF NEW.content LIKE '%` + marker + `%' THEN RAISE EXCEPTION 'planted failure'; END IF;
				RETURN NEW;
			END $$`,
			`CREATE TRIGGER refuse_marked_ticket BEFORE INSERT ON tickets FOR EACH ROW EXECUTE FUNCTION refuse_marked_ticket()`,
		}
	} else {
		stmts = []string{`CREATE TRIGGER refuse_marked_ticket BEFORE INSERT ON tickets
			WHEN NEW.content LIKE '%` + marker + `%' BEGIN SELECT RAISE(ABORT, 'planted failure'); END`}
	}
	for _, s := range stmts {
		if err := db.Exec(s).Error; err != nil {
			t.Fatalf("plant the failing trigger: %v", err)
		}
	}
}

// TestLogsHoldNoSecretsOrPersonalData plants known secrets and personal data, drives
// writes that fail in the database and writes that are all logged as slow, and looks for
// every planted value in what was logged, at debug level.
func TestLogsHoldNoSecretsOrPersonalData(t *testing.T) {
	log := &syncBuffer{}
	p := startSeeded(t, []string{"admin", "operator"}, log, func(env []string) []string {
		// Every statement is slow: each is logged with its SQL.
		return append(env, "REXIAN_LOG_LEVEL=debug", "REXIAN_LOG_SLOW_QUERY=1ns")
	})
	failTicketsContaining(t, p.db, "无法保存")
	const (
		password      = "Sekret-Passw0rd-7319"
		wrongPassword = "Wrong-Passw0rd-4451"
		phoneOK       = "13987654321"
		phoneFailed   = "13912340987"
		nameOK        = "欧阳秘密"
		nameFailed    = "司马隐私"
		contentOK     = "楼下烧烤店油烟直排进我家窗户"
		contentFailed = "邻居私拉电线充电无法保存"
		email         = "hidden.citizen@example.org"
	)
	user := `{"username":"dup.user","password":"` + password + `","role":"operator"}`
	if status, _, body := p.send(t, "admin", "POST", "/api/v1/users", "application/json", user); status != http.StatusCreated {
		t.Fatalf("create user = %d %s", status, body)
	}
	// The same username again fails on the unique index, with the new hash in the insert.
	if status, _, body := p.send(t, "admin", "POST", "/api/v1/users", "application/json", user); status != http.StatusConflict {
		t.Fatalf("duplicate user = %d %s", status, body)
	}
	login := `{"username":"dup.user","password":"` + wrongPassword + `"}`
	if status, _, body := p.send(t, "", "POST", "/api/v1/auth/login", "application/json", login); status != http.StatusUnauthorized {
		t.Fatalf("wrong password = %d %s", status, body)
	}
	ticket := func(name, phone, content string) string {
		return `{"citizen":{"name":"` + name + `","phone":"` + phone + `","email":"` + email + `"},"content":"` + content +
			`","category":"TS-GN","location":{"address":"` + content + `"}}`
	}
	if status, _, body := p.send(t, "operator", "POST", "/api/v1/tickets", "application/json", ticket(nameOK, phoneOK, contentOK)); status != http.StatusCreated {
		t.Fatalf("ticket = %d %s", status, body)
	}
	if status, _, body := p.send(t, "operator", "POST", "/api/v1/tickets", "application/json", ticket(nameFailed, phoneFailed, contentFailed)); status != http.StatusInternalServerError {
		t.Fatalf("ticket the database refuses = %d %s", status, body)
	}
	for _, q := range []string{"?phone=" + phoneOK, "?q=" + "烧烤店油烟"} {
		if status, _, body := p.send(t, "operator", "GET", "/api/v1/tickets"+q, "", ""); status != http.StatusOK {
			t.Fatalf("search %s = %d %s", q, status, body)
		}
	}

	got := log.String()
	// The log saw the failures and the slow statements; otherwise finding nothing proves
	// nothing.
	for _, want := range []string{"sql failed", "planted failure", "sql slow", "INSERT INTO", "request failed"} {
		if !strings.Contains(got, want) {
			t.Errorf("the log lacks %q; the test drove nothing it can check", want)
		}
	}
	tokens := []string{}
	for _, tok := range p.tokens {
		tokens = append(tokens, strings.TrimPrefix(tok, "Bearer "))
	}
	for _, secret := range append(tokens, password, wrongPassword, "argon2", phoneOK, phoneFailed,
		"+86"+phoneOK[1:], nameOK, nameFailed, contentOK, contentFailed, "烧烤店油烟", "hidden.citizen") {
		if strings.Contains(got, secret) {
			for _, line := range strings.Split(got, "\n") {
				if strings.Contains(line, secret) {
					t.Errorf("the log holds %q: %s", secret, line)
					break
				}
			}
		}
	}
}
