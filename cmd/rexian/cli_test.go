package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/tickets"
)

func TestTokensCreatePrintsOnlyTheToken(t *testing.T) {
	env := testEnv(t, "")
	code, stdout, stderr := runCLI(t, env, "", "tokens", "create", "--name", "online-approval", "--role", "integrator")
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if !regexp.MustCompile(`\A` + auth.TokenPrefix + `[A-Za-z0-9_-]{20,}\n\z`).MatchString(stdout) {
		t.Fatalf("stdout is %q; want the token alone on one line", stdout)
	}

	// The printed token opens the API of a server on the same database.
	r := startApp(t, testConfig(t, env))
	status, body := get(t, r.base+"/api/v1/auth/me", "Authorization", "Bearer "+strings.TrimSpace(stdout))
	if status != http.StatusOK || !strings.Contains(body, "online-approval") {
		t.Errorf("GET /api/v1/auth/me with the new token = %d %s", status, body)
	}
}

// TestAPIThroughTheApp calls the wired ticket API with a token made by the CLI, and checks
// that metrics label the request by its route template.
func TestAPIThroughTheApp(t *testing.T) {
	env := testEnv(t, "")
	if code, _, stderr := runCLI(t, env, "", "seed", "--demo"); code != exitOK {
		t.Fatalf("seed --demo: exit %d: %s", code, stderr)
	}
	code, token, stderr := runCLI(t, env, "", "tokens", "create", "--name", "desk", "--role", "operator", "--scope", "*")
	if code != exitOK {
		t.Fatalf("tokens create: exit %d: %s", code, stderr)
	}
	bearer := "Bearer " + strings.TrimSpace(token)
	r := startApp(t, testConfig(t, env))

	if status, body := get(t, r.base+"/api/v1/departments", "Authorization", bearer); status != http.StatusOK || !strings.Contains(body, `"DSQ"`) {
		t.Errorf("GET /api/v1/departments = %d %.200s", status, body)
	}
	if status, body := get(t, r.base+"/api/v1/tickets", "Authorization", bearer); status != http.StatusOK {
		t.Errorf("GET /api/v1/tickets = %d %.200s", status, body)
	}
	if status, body := get(t, r.base+"/api/v1/tickets/20260000017", "Authorization", bearer); status != http.StatusNotFound || !strings.Contains(body, `"error"`) {
		t.Errorf("GET an unknown ticket = %d %.200s", status, body)
	}
	_, metrics := get(t, r.base+"/metrics")
	if !strings.Contains(metrics, `rexian_http_requests_total{method="GET",route="/api/v1/tickets/:number",status="404"} 1`) {
		t.Errorf("/metrics lacks the ticket route template:\n%s", grepLines(metrics, "rexian_http_requests_total"))
	}
	if strings.Contains(metrics, "20260000017") {
		t.Error("/metrics contains a raw ticket number")
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestConfigPrint(t *testing.T) {
	env := []string{
		"REXIAN_DATABASE_URL=postgres://rexian:s3cret@db.example:5432/rexian?sslmode=disable",
		"REXIAN_REDIS_URL=redis://:hunter2@cache.example:6379/0",
		"REXIAN_ADDR=127.0.0.1:9000",
		"REXIAN_TICKETS_HANDLE_CLOCK_FROM=sign",
	}
	code, stdout, stderr := runCLI(t, env, "", "config", "print", "--addr", "127.0.0.1:9100", "--data", "/srv/rexian")
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	for _, secret := range []string{"s3cret", "hunter2"} {
		if strings.Contains(stdout+stderr, secret) {
			t.Errorf("config print shows the secret %q:\n%s", secret, stdout)
		}
	}
	for _, want := range []string{
		"database_url: postgres://rexian:xxxxx@db.example:5432/rexian?sslmode=disable\n",
		"redis_url: redis://:xxxxx@cache.example:6379/0\n",
		"addr: 127.0.0.1:9100\n", // the flag beats the environment
		"data_dir: /srv/rexian\n",
		"handle_clock_from: sign\n",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("config print lacks %q:\n%s", want, stdout)
		}
	}

	// What it prints is a configuration file rexian accepts.
	file := filepath.Join(t.TempDir(), "rexian.yaml")
	if err := os.WriteFile(file, []byte(stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	code, again, stderr := runCLI(t, nil, "", "config", "print", "--config", file)
	if code != exitOK || again != stdout {
		t.Errorf("printing the printed file: exit %d, stderr %s, diff (-first +second):\n%s", code, stderr, cmp.Diff(stdout, again))
	}
}

func TestLogFormatAndLevel(t *testing.T) {
	env := append(testEnv(t, ""), "REXIAN_LOG_FORMAT=json")
	code, _, stderr := runCLI(t, env, "", "migrate", "--log-level", "info")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, `"msg":"database is up to date"`) {
		t.Errorf("stderr is not JSON logs at info: %q", stderr)
	}
	code, _, stderr = runCLI(t, env, "", "migrate", "--log-level", "warn")
	if code != exitOK || stderr != "" {
		t.Errorf("at warn, migrate logged: exit %d %q", code, stderr)
	}
}

func TestExitCodes(t *testing.T) {
	env := testEnv(t, "")
	tests := []struct {
		name   string
		env    []string
		stdin  string
		args   []string
		code   int
		stderr string
	}{
		{"no command", env, "", nil, exitUsage, "missing command"},
		{"unknown command", env, "", []string{"sevre"}, exitUsage, `unknown command "sevre"`},
		{"unknown flag", env, "", []string{"serve", "--port", "80"}, exitUsage, "unknown flag: --port (see 'rexian serve --help')"},
		{"group alone", env, "", []string{"users"}, exitUsage, "rexian users needs a subcommand"},
		{"missing flag", env, "", []string{"tokens", "create", "--role", "integrator"}, exitUsage, "--name is required"},
		{"unknown role", env, "", []string{"tokens", "create", "--name", "x", "--role", "boss"}, exitUsage, `--role "boss" is not one of operator, department`},
		{"seed without --demo", env, "", []string{"seed"}, exitUsage, "--demo is required"},
		{"password not on stdin", env, "", []string{"users", "add", "--username", "wang", "--role", "operator", "--password-stdin"}, exitFailure, "no password on stdin"},
		{"bad configuration", append(env, "REXIAN_TICKETS_HANDLE_CLOCK_FROM=never", "REXIAN_LOG_FORMAT=xml"), "", []string{"migrate"}, exitFailure, `tickets.handle_clock_from: "never" is not one of dispatch, sign`},
		{"bad flag value", env, "", []string{"config", "print", "--log-level", "loud"}, exitFailure, `--log-level: cannot use "loud"`},
		{"missing config file", env, "", []string{"config", "print", "--config", "/nonexistent/rexian.yaml"}, exitFailure, "/nonexistent/rexian.yaml"},
		{"failure in the work", env, "", []string{"tokens", "create", "--name", "x", "--role", "department", "--department", "NOPE"}, exitFailure, "create token x"},
		{"help", env, "", []string{"users", "add", "--help"}, exitOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.env, tt.stdin, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tt.code, stderr)
			}
			if tt.code == exitOK {
				return
			}
			if stdout != "" {
				t.Errorf("a failing command printed on stdout: %q", stdout)
			}
			if !strings.Contains(stderr, tt.stderr) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.stderr)
			}
			// Logs may precede it, but the error itself is one line, and the last.
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			if last := lines[len(lines)-1]; !strings.HasPrefix(last, "rexian: ") {
				t.Errorf("last line of stderr %q is not the error", last)
			}
		})
	}
}

func TestSeedUsersAndAudit(t *testing.T) {
	env := testEnv(t, "")
	if code, _, stderr := runCLI(t, env, "", "seed", "--demo"); code != exitOK {
		t.Fatalf("seed --demo: exit %d: %s", code, stderr)
	}
	// Seeding twice changes nothing and does not fail.
	if code, _, stderr := runCLI(t, env, "", "seed", "--demo"); code != exitOK {
		t.Fatalf("second seed --demo: exit %d: %s", code, stderr)
	}
	code, stdout, stderr := runCLI(t, env, "correct-horse-battery\n",
		"users", "add", "--username", "li.na", "--role", "department", "--department", "DSQ",
		"--display-name", "东胜区 李娜", "--password-stdin")
	if code != exitOK || stdout != "" {
		t.Fatalf("users add: exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
	if code, _, stderr := runCLI(t, env, "another-password\n", "users", "add", "--username", "li.na", "--role", "operator", "--password-stdin"); code != exitFailure || !strings.Contains(stderr, "li.na") {
		t.Errorf("adding the same user twice: exit %d %s", code, stderr)
	}

	code, stdout, stderr = runCLI(t, env, "", "audit", "verify")
	// The demo users and li.na were created: the audit log has their records.
	if code != exitOK || !regexp.MustCompile(`^ok: [1-9]\d* audit records\nok: 0 tickets, 0 events\n$`).MatchString(stdout) {
		t.Fatalf("audit verify on an empty city: exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}

	// Register a ticket, then change its first event behind the application's back.
	cfg := testConfig(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := openDatabase(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer database.Close(db)
	d, err := newDomains(ctx, cfg, testLogger(t), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	operator := &auth.Principal{UserID: 1, Name: "operator1", Role: auth.RoleOperator}
	view, err := d.tickets.Create(ctx, operator, tickets.NewTicket{
		Channel:  tickets.Channel("phone"),
		Citizen:  tickets.NewCitizen{Name: "王先生", Phone: "13800138000"},
		Title:    "小区供暖温度不达标",
		Content:  "东胜区某小区近一周室温不足十六度，请供热公司处理。",
		Category: "ZX-SHBX",
		Urgency:  tickets.Urgency("normal"),
	})
	if err != nil {
		t.Fatalf("register a ticket: %v", err)
	}
	code, stdout, stderr = runCLI(t, env, "", "audit", "verify")
	if code != exitOK || !regexp.MustCompile(`^ok: [1-9]\d* audit records\nok: 1 tickets, [1-9]\d* events\n$`).MatchString(stdout) {
		t.Fatalf("audit verify: exit %d, stdout %q, stderr %s", code, stdout, stderr)
	}
	if err := db.WithContext(ctx).Model(&tickets.Event{}).Where("seq = ?", 1).Update("note", "edited afterwards").Error; err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI(t, env, "", "audit", "verify")
	if code != exitFailure || stdout != "" || !strings.Contains(stderr, "ticket "+view.Number+" event 1") {
		t.Errorf("audit verify after tampering: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	// A security record changed afterwards is named too, beside the broken timeline.
	if err := db.WithContext(ctx).Exec("UPDATE audit_records SET actor = 'admin:nobody' WHERE seq = 2").Error; err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI(t, env, "", "audit", "verify")
	if code != exitFailure || stdout != "" || !strings.Contains(stderr, "audit record 2 (user_created by admin:nobody") ||
		!strings.Contains(stderr, "ticket "+view.Number+" event 1") {
		t.Errorf("audit verify after tampering with both: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestRefusalReasonsMatchTickets keeps the configuration's default list equal to the
// tickets package's built-in one, so that `config print` shows what is really used.
func TestRefusalReasonsMatchTickets(t *testing.T) {
	var got []tickets.RefusalReason
	for _, r := range config.Default().Tickets.RefusalReasons {
		code, name, err := config.ParseRefusalReason(r)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, tickets.RefusalReason{Code: code, Name: name})
	}
	if diff := cmp.Diff(tickets.DefaultRefusalReasons(), got); diff != "" {
		t.Errorf("config defaults differ from tickets.DefaultRefusalReasons (-tickets +config):\n%s", diff)
	}
}

// audit.chain_hash: sm3 links what is written from then on with SM3; `rexian audit
// verify` checks the chains made before with SHA-256 and the SM3 links after them, with
// whichever algorithm is configured, and names a changed SM3-linked event.
func TestAuditVerifySM3AfterSHA256(t *testing.T) {
	env := testEnv(t, "")
	if code, _, stderr := runCLI(t, env, "", "seed", "--demo"); code != exitOK {
		t.Fatalf("seed --demo: exit %d: %s", code, stderr)
	}
	sm3 := append(env, "REXIAN_AUDIT_CHAIN_HASH=sm3")
	if code, _, stderr := runCLI(t, sm3, "correct-horse-battery\n", "users", "add", "--username", "zhao", "--role", "operator", "--password-stdin"); code != exitOK {
		t.Fatalf("users add with SM3: exit %d: %s", code, stderr)
	}
	var number string
	withDomainsFor(t, sm3, func(ctx context.Context, d *domains) {
		view, err := d.tickets.Create(ctx, &auth.Principal{UserID: 1, Name: "operator1", Role: auth.RoleOperator}, tickets.NewTicket{
			Channel: tickets.Channel("phone"), Citizen: tickets.NewCitizen{Name: "王先生", Phone: "13800138000"},
			Content: "东胜区某小区近一周室温不足十六度，请供热公司处理。", Category: "ZX-SHBX",
		})
		if err != nil {
			t.Fatalf("register a ticket: %v", err)
		}
		number = view.Number
	})
	for _, e := range [][]string{env, sm3} {
		code, stdout, stderr := runCLI(t, e, "", "audit", "verify")
		if code != exitOK || !regexp.MustCompile(`^ok: [1-9]\d* audit records, linked with SM3 1 and SHA-256 [1-9]\d*\nok: 1 tickets, 1 events, linked with SM3 1 and SHA-256 0\n$`).MatchString(stdout) {
			t.Fatalf("audit verify of a mixed chain: exit %d, stdout %q, stderr %s", code, stdout, stderr)
		}
	}
	withDomainsFor(t, env, func(ctx context.Context, d *domains) {
		if err := d.db.WithContext(ctx).Model(&tickets.Event{}).Where("seq = ?", 1).Update("note", "edited afterwards").Error; err != nil {
			t.Fatal(err)
		}
	})
	code, stdout, stderr := runCLI(t, env, "", "audit", "verify")
	if code != exitFailure || stdout != "" || !strings.Contains(stderr, "ticket "+number+" event 1") {
		t.Errorf("audit verify after tampering with an SM3 event: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
