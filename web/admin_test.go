package web

import (
	"bytes"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/sms"
	"github.com/rexian/rexian/tickets"
)

// syncBuffer is a log sink the handler may write to from the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// adminFixture is the consoles with an administrator, whose changes are logged to a
// buffer the test reads.
func adminFixture(t *testing.T) (*fixture, *client, string, *syncBuffer) {
	t.Helper()
	f := newFixture(t)
	if _, err := f.h.opts.Auth.CreateUser(f.env.Ctx, auth.NewUser{Username: "adm", Role: auth.RoleAdmin, Password: password}); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	f.h.log = slog.New(slog.NewTextHandler(logs, nil))
	c := f.client()
	return f, c, c.login("adm"), logs
}

// serviceMessage is the message the service itself gives for err's input, escaped as a
// page shows it.
func serviceMessage(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		t.Fatal("the service accepted the bad input")
	}
	return html.EscapeString(message(err))
}

func TestAdminUsersAndTokens(t *testing.T) {
	f, adm, csrf, logs := adminFixture(t)
	if resp, _ := adm.do("GET", "/console/", nil); resp.Header.Get("Location") != "/console/admin" {
		t.Errorf("an administrator lands on %q, want /console/admin", resp.Header.Get("Location"))
	}
	post := func(path string, form url.Values) (*http.Response, string) {
		form.Set("csrf_token", csrf)
		return adm.do("POST", path, form)
	}

	// A bad user is refused with the service's own words, and the form keeps what was typed.
	_, err := f.h.opts.Auth.CreateUser(f.env.Ctx, auth.NewUser{Username: "Wang Li", Role: auth.RoleOperator, Password: "long-enough-password"})
	want := serviceMessage(t, err)
	resp, page := post("/console/admin/users", url.Values{"username": {"Wang Li"}, "display_name": {"王丽"}, "role": {"operator"}, "password": {"long-enough-password"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, want) || !strings.Contains(page, `value="王丽"`) {
		t.Errorf("bad username: %d, want 400 with %q and the typed name", resp.StatusCode, want)
	}
	_, err = f.h.opts.Auth.CreateUser(f.env.Ctx, auth.NewUser{Username: "wangli2", Role: auth.RoleDepartment, Password: "long-enough-password"})
	want = serviceMessage(t, err)
	if resp, page := post("/console/admin/users", url.Values{"username": {"wangli2"}, "role": {"department"}, "password": {"long-enough-password"}}); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, want) {
		t.Errorf("department user without a department: %d, want 400 with %q", resp.StatusCode, want)
	}

	// A department user is created, logs in, is reset and disabled.
	resp, _ = post("/console/admin/users", url.Values{"username": {"wangli"}, "display_name": {"王丽"}, "role": {"department"},
		"department": {"DS"}, "password": {password}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create user: %d", resp.StatusCode)
	}
	_, page = adm.do("GET", "/console/admin/users?ok=user_created", nil)
	if !strings.Contains(page, "用户已创建") || !strings.Contains(page, `data-user="wangli"`) || !strings.Contains(page, "东胜区") {
		t.Errorf("the user list does not show the new user with the flash and the unit:\n%s", excerpt(page, "<main"))
	}
	wl := f.client()
	wl.login("wangli")
	id := regexp.MustCompile(`action="/console/admin/users/(\d+)"[^>]*>\s*<input type="hidden" name="csrf_token" value="[^"]+">\s*<label>姓名 <input type="text" name="display_name" value="王丽"`).FindStringSubmatch(page)
	if id == nil {
		t.Fatalf("no edit form for wangli:\n%s", excerpt(page, `data-user="wangli"`))
	}
	resp, _ = post("/console/admin/users/"+id[1], url.Values{"display_name": {"王丽"}, "role": {"department"}, "department": {"DS"},
		"disabled": {"1"}, "password": {"a-new-password-2026"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable and reset: %d", resp.StatusCode)
	}
	u, err := f.h.opts.Auth.GetUser(f.env.Ctx, mustID(t, id[1]))
	if err != nil || !u.Disabled {
		t.Errorf("the user is not disabled: %+v %v", u, err)
	}
	if _, _, err := f.h.opts.Auth.Login(f.env.Ctx, "wangli", "a-new-password-2026", "127.0.0.1", "test"); err == nil {
		t.Error("a disabled user logged in")
	}

	// The form offers the scopes, the defaults ticked; none ticked is refused, kept as typed.
	_, page = adm.do("GET", "/console/admin/tokens", nil)
	for _, s := range auth.DefaultScopes {
		if !strings.Contains(page, `value="`+s+`" checked`) {
			t.Errorf("the new-token form does not tick default scope %s", s)
		}
	}
	if strings.Contains(page, `value="personal:read" checked`) {
		t.Error("the new-token form ticks personal:read by default")
	}
	resp, page = post("/console/admin/tokens", url.Values{"name": {"网上审批系统"}, "role": {"integrator"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "请至少选择一项权限范围") || !strings.Contains(page, "网上审批系统") {
		t.Errorf("a token without scopes: %d; want 400 saying so with the name kept", resp.StatusCode)
	}

	// A token is shown once, then revoked.
	resp, page = post("/console/admin/tokens", url.Values{"name": {"网上审批系统"}, "role": {"integrator"},
		"scope": {"tickets:create", "personal:read"}})
	secret := regexp.MustCompile(`<code id="token-secret">([^<]+)</code>`).FindStringSubmatch(page)
	if resp.StatusCode != http.StatusCreated || secret == nil {
		t.Fatalf("create token: %d, secret shown: %v", resp.StatusCode, secret != nil)
	}
	tok, err := f.h.opts.Auth.AuthenticateToken(f.env.Ctx, secret[1])
	if err != nil {
		t.Errorf("the secret shown does not authenticate: %v", err)
	} else if tok.Scopes != "personal:read tickets:create" {
		t.Errorf("the token has scopes %q; want the two ticked", tok.Scopes)
	}
	if !strings.Contains(page, "<code>personal:read</code> <code>tickets:create</code>") {
		t.Error("the token list does not show the new token's scopes")
	}
	_, page = adm.do("GET", "/console/admin/tokens", nil)
	if strings.Contains(page, secret[1]) {
		t.Error("the token list shows the secret again")
	}
	tid := regexp.MustCompile(`action="/console/admin/tokens/(\d+)/revoke"`).FindStringSubmatch(page)
	if tid == nil {
		t.Fatal("no revoke button")
	}
	if resp, _ := post("/console/admin/tokens/"+tid[1]+"/revoke", url.Values{}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if _, err := f.h.opts.Auth.AuthenticateToken(f.env.Ctx, secret[1]); err == nil {
		t.Error("a revoked token still authenticates")
	}
	if _, page := adm.do("GET", "/console/admin/tokens", nil); !strings.Contains(page, "已吊销") {
		t.Error("the list does not say the token is revoked")
	}

	// Each change is recorded with who made it and what it was.
	for _, want := range []string{"action=create_user target=wangli", "action=update_user target=wangli", "fields=display_name,role,disabled,password",
		"action=create_token", "action=revoke_token target=" + tid[1], "by=admin:adm"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the record of changes lacks %q:\n%s", want, logs.String())
		}
	}
	if strings.Contains(logs.String(), secret[1]) || strings.Contains(logs.String(), "a-new-password-2026") {
		t.Error("the record holds a secret")
	}

	// The auth service put the user and token changes into the security audit log.
	var recs []audit.Record
	if err := f.env.DB.WithContext(f.env.Ctx).Where("actor = ?", "admin:adm").Order("seq").Find(&recs).Error; err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, r := range recs {
		actions = append(actions, r.Action)
	}
	for _, want := range []string{audit.ActionUserCreated, audit.ActionUserUpdated, audit.ActionTokenCreated, audit.ActionTokenRevoked} {
		if !slices.Contains(actions, want) {
			t.Errorf("the audit log's actions by the administrator %v lack %s", actions, want)
		}
	}

	// Only administrators may open the pages.
	op := f.client()
	op.login("op")
	if resp, _ := op.do("GET", "/console/admin/users", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("an operator opening the user list: %d", resp.StatusCode)
	}
}

func mustID(t *testing.T, s string) uint {
	t.Helper()
	n := uint(0)
	for _, r := range s {
		n = n*10 + uint(r-'0')
	}
	return n
}

func TestAdminDirectoryTemplatesAndKnowledge(t *testing.T) {
	f, adm, csrf, logs := adminFixture(t)
	post := func(path string, form url.Values) (*http.Response, string) {
		form.Set("csrf_token", csrf)
		return adm.do("POST", path, form)
	}
	// A category with a bad limit is refused in the store's words.
	bad := tickets.CategoryInput{Code: "TS-GN-QN", Name: "供暖期前检修", Parent: "TS-GN", HandleLimit: "5 days"}
	_, err := f.env.Store.SaveCategory(f.env.Ctx, bad)
	want := serviceMessage(t, err)
	resp, page := post("/console/admin/categories", url.Values{"code": {bad.Code}, "name": {bad.Name}, "parent": {bad.Parent}, "handle_limit": {bad.HandleLimit}, "active": {"1"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, want) || !strings.Contains(page, `value="5 days"`) {
		t.Errorf("bad limit: %d, want 400 with %q and the typed limit", resp.StatusCode, want)
	}
	resp, _ = post("/console/admin/categories", url.Values{"code": {bad.Code}, "name": {bad.Name}, "parent": {bad.Parent}, "handle_limit": {"3wd"},
		"department": {"HEAT"}, "active": {"1"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save category: %d", resp.StatusCode)
	}
	cats, err := f.env.Store.Categories(f.env.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range cats {
		found = found || (c.Code == "TS-GN-QN" && c.HandleLimit == "3wd" && c.Department == "HEAT" && c.Active)
	}
	if !found {
		t.Errorf("the category was not saved as typed: %+v", cats)
	}
	if _, page := adm.do("GET", "/console/admin/categories", nil); !strings.Contains(page, `data-category="TS-GN-QN"`) || !strings.Contains(page, "市热力公司") {
		t.Error("the tree does not show the new category with its default department")
	}

	// A department under Dongsheng.
	if resp, _ := post("/console/admin/departments", url.Values{"code": {"DS-FX"}, "name": {"富兴街道"}, "level": {"township"}, "parent": {"DS"},
		"government": {"1"}, "active": {"1"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save department: %d", resp.StatusCode)
	}
	if _, page := adm.do("GET", "/console/admin/departments", nil); !strings.Contains(page, `data-department="DS-FX"`) {
		t.Error("the new department is not listed")
	}

	// A template with an unknown variable is refused as the API refuses it.
	_, err = f.sms.SaveTemplate(f.env.Ctx, "admin:adm", sms.TemplateInput{Name: "ticket_accepted", Body: "您的工单{nope}已受理"})
	want = serviceMessage(t, err)
	if resp, page := post("/console/admin/templates", url.Values{"name": {"ticket_accepted"}, "body": {"您的工单{nope}已受理"}}); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, want) {
		t.Errorf("bad template: %d, want 400 with %q", resp.StatusCode, want)
	}

	// Synonyms are the city's data: 医保 finds nothing until the administrator says what it means.
	op := f.client()
	op.login("op")
	_, page = op.do("GET", "/console/knowledge?q="+url.QueryEscape("社保"), nil)
	if !strings.Contains(page, `id="item-SBZM"`) {
		t.Error("社保 does not find 社会保险参保证明 with the demo's synonyms")
	}
	if resp, _ := post("/console/admin/synonyms", url.Values{"synonyms": {"缴费证明 = 参保证明\n社保 = 社会保险"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save synonyms: %d", resp.StatusCode)
	}
	_, page = op.do("GET", "/console/knowledge?q="+url.QueryEscape("缴费证明"), nil)
	if !strings.Contains(page, `id="item-SBZM"`) {
		t.Error("a synonym the administrator added does not find its item")
	}
	_, page = op.do("GET", "/console/knowledge?q="+url.QueryEscape("公积金"), nil)
	if strings.Contains(page, `id="item-`) {
		t.Error("a synonym the administrator removed still finds items")
	}
	if resp, page := post("/console/admin/synonyms", url.Values{"synonyms": {"社保 社会保险"}}); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "社保 社会保险") {
		t.Errorf("a line without =: %d, want 400 keeping the text", resp.StatusCode)
	}
	for _, want := range []string{"action=save_category target=category:TS-GN-QN", "action=save_department target=department:DS-FX", "action=save_synonyms"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the record of changes lacks %q", want)
		}
	}
	// The security audit log holds them too, with the administrator as the actor; the
	// user and token changes come from the auth service itself.
	var recs []audit.Record
	if err := f.env.DB.WithContext(f.env.Ctx).Order("seq").Find(&recs).Error; err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range recs {
		got[r.Actor+" "+r.Action+" "+r.Target] = true
	}
	for _, want := range []string{"admin:adm directory_changed category:TS-GN-QN", "admin:adm directory_changed department:DS-FX",
		"admin:adm config_changed synonyms"} {
		if !got[want] {
			t.Errorf("the audit log lacks %q: %v", want, got)
		}
	}
	if resp, page := adm.do("GET", "/console/admin/settings", nil); resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="refusal-reasons"`) {
		t.Errorf("settings: %d", resp.StatusCode)
	}
}
