package web

import (
	"bytes"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/callback"
	"github.com/rexian/rexian/dashboards"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/sms"
	"github.com/rexian/rexian/tickets"
	"github.com/rexian/rexian/tickets/ticketstest"
)

const password = "console-test-2026"

var pageOne = api.Page{Page: 1, PerPage: 50}

// fixture is the consoles over the small test city, with a user of each role.
type fixture struct {
	t     testing.TB
	env   *ticketstest.Env
	sms   *sms.Service
	calls *callback.Service
	dash  *dashboards.Service
	h     *Handler
	srv   *httptest.Server
	clock *ticketstest.Clock
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	gin.SetMode(gin.ReleaseMode)
	env := ticketstest.New(t, ticketstest.Options{Migrations: append(append(append(append(auth.Migrations(),
		ivr.Migrations()...), sms.Migrations()...), callback.Migrations()...), dashboards.Migrations()...), Audit: true})
	log := slog.New(slog.DiscardHandler)
	authSvc := auth.NewService(env.DB, nil, auth.Options{Log: log, Departments: env.Store,
		Passwords: auth.PasswordParams{Memory: 64, Time: 1, Threads: 1}, Audit: env.Audit})
	for _, u := range []auth.NewUser{
		{Username: "op", Role: auth.RoleOperator, Password: password},
		{Username: "root", Role: auth.RoleAdmin, Password: password},
		{Username: "sup", Role: auth.RoleSupervisor, Password: password},
		{Username: "heat", Role: auth.RoleDepartment, DepartmentCode: "HEAT", Password: password},
		{Username: "ds", Role: auth.RoleDepartment, DepartmentCode: "DS", Password: password},
	} {
		if _, err := authSvc.CreateUser(env.Ctx, u); err != nil {
			t.Fatalf("create user %s: %v", u.Username, err)
		}
	}
	clock := ticketstest.NewClock(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
	texts, err := sms.NewService(env.DB, nil, env.Store, sms.Options{Log: log, QuietKinds: []sms.Kind{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := texts.LoadDemoMaterials(env.Ctx); err != nil {
		t.Fatal(err)
	}
	calls, err := callback.NewService(callback.Options{DB: env.DB, Tickets: env.Store, Texter: texts, Log: log, Now: clock.Now,
		Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	dash := dashboards.NewService(env.DB, dashboards.Options{Location: time.UTC, Now: clock.Now, Log: log, Tickets: env.Store})
	h, err := NewHandler(Options{Auth: authSvc, Audit: env.Audit, Tickets: env.Store, SMS: texts, Callback: calls, Cards: dash, Log: log,
		IVR:      ivr.HandlerOptions{DB: env.DB, Log: log},
		Location: time.UTC, Now: clock.Now, MaxUploadBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	e := gin.New()
	e.Use(audit.Middleware()) // as the server mounts it: records name the client's address
	h.Routes(e)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &fixture{t: t, env: env, sms: texts, calls: calls, dash: dash, h: h, srv: srv, clock: clock}
}

// client is one browser: a cookie jar, no redirects followed.
type client struct {
	f    *fixture
	http *http.Client
}

func (f *fixture) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{f: f, http: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *client) do(method, path string, form url.Values) (*http.Response, string) {
	c.f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(c.f.env.Ctx, method, c.f.srv.URL+path, body)
	if err != nil {
		c.f.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var tokenRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// token is the CSRF token of a page's forms.
func token(t testing.TB, page string) string {
	t.Helper()
	m := tokenRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf_token in the page:\n%s", page)
	}
	return m[1]
}

// login signs in and returns the session's CSRF token.
func (c *client) login(user string) string {
	c.f.t.Helper()
	_, page := c.do("GET", "/console/login", nil)
	resp, _ := c.do("POST", "/console/login", url.Values{"csrf_token": {token(c.f.t, page)}, "username": {user}, "password": {password}})
	if resp.StatusCode != http.StatusSeeOther {
		c.f.t.Fatalf("login %s: status %d", user, resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	_, home := c.do("GET", loc, nil)
	return token(c.f.t, home)
}

func TestLogin(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, user, pass string
		withToken        bool
		status           int
		location, says   string
	}{
		{"operator goes to the desk", "op", password, true, http.StatusSeeOther, "/console/desk", ""},
		{"supervisor goes to the overview", "sup", password, true, http.StatusSeeOther, "/console/supervisor", ""},
		{"department goes to the portal", "heat", password, true, http.StatusSeeOther, "/portal/", ""},
		{"wrong password keeps the name", "op", "wrong-password", true, http.StatusUnauthorized, "", `value="op"`},
		{"no form token", "op", password, false, http.StatusForbidden, "", "登录表单已过期"},
		{"empty password", "op", "", true, http.StatusBadRequest, "", "请输入用户名和密码"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := f.client()
			_, page := c.do("GET", "/console/login", nil)
			form := url.Values{"username": {tt.user}, "password": {tt.pass}}
			if tt.withToken {
				form.Set("csrf_token", token(t, page))
			}
			resp, body := c.do("POST", "/console/login", form)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if got := resp.Header.Get("Location"); got != tt.location {
				t.Errorf("Location %q, want %q", got, tt.location)
			}
			if !strings.Contains(body, tt.says) {
				t.Errorf("page does not say %q:\n%s", tt.says, body)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); tt.status != http.StatusSeeOther && !strings.Contains(csp, "script-src 'self'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
		})
	}
}

func TestPagesCheckTheRole(t *testing.T) {
	f := newFixture(t)
	anon := f.client()
	resp, _ := anon.do("GET", "/console/desk", nil)
	if got := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || got != "/console/login?next=%2Fconsole%2Fdesk" {
		t.Errorf("without a session: %d %q, want the login page", resp.StatusCode, got)
	}
	op, dept := f.client(), f.client()
	op.login("op")
	dept.login("heat")
	for _, tt := range []struct {
		who    *client
		path   string
		status int
	}{
		{dept, "/console/desk", http.StatusForbidden},
		{dept, "/console/tickets/new", http.StatusForbidden},
		{dept, "/console/inbox", http.StatusForbidden},
		{dept, "/console/callbacks", http.StatusForbidden},
		{op, "/console/callbacks", http.StatusOK},
		{op, "/portal/", http.StatusForbidden},
		{op, "/console/supervisor", http.StatusForbidden},
		{op, "/console/inbox", http.StatusOK},
		{op, "/console/knowledge", http.StatusOK},
		{dept, "/portal/", http.StatusOK},
		{dept, "/portal/search?status=nonsense", http.StatusBadRequest},
	} {
		resp, body := tt.who.do("GET", tt.path, nil)
		if resp.StatusCode != tt.status {
			t.Errorf("GET %s: %d, want %d\n%s", tt.path, resp.StatusCode, tt.status, body)
		}
	}
}

func TestFormsNeedTheSessionToken(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	c.login("op")
	resp, body := c.do("POST", "/console/tickets", url.Values{"csrf_token": {"forged"}, "category": {"TS-GN"}, "content": {"x"}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "表单已过期") {
		t.Errorf("forged token: %d\n%s", resp.StatusCode, body)
	}
	items, _, err := f.env.Store.List(f.env.Ctx, &auth.Principal{Role: auth.RoleOperator}, tickets.Filter{}, pageOne)
	if err != nil || len(items) != 0 {
		t.Errorf("a forged post registered %d tickets (%v)", len(items), err)
	}
}

func TestRegistrationKeepsTheInputOnError(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	csrf := c.login("op")
	resp, body := c.do("POST", "/console/tickets", url.Values{"csrf_token": {csrf}, "phone": {"13800001234"},
		"content": {"楼道灯不亮 <b>已三天</b>"}, "do": {"dispatch"}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("no category: status %d", resp.StatusCode)
	}
	for _, want := range []string{"请选择问题类别", "楼道灯不亮 &lt;b&gt;已三天&lt;/b&gt;", `value="13800001234"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the form shown again lacks %q", want)
		}
	}
	resp, _ = c.do("POST", "/console/tickets", url.Values{"csrf_token": {csrf}, "phone": {"13800001234"},
		"category": {"TS-GN"}, "content": {"暖气不热"}, "do": {"dispatch"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/tickets/") {
		t.Fatalf("register and dispatch: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page := c.do("GET", resp.Header.Get("Location"), nil)
	if !strings.Contains(page, `id="lead">市热力公司`) || !strings.Contains(page, "工单已派单") {
		t.Errorf("the ticket page does not show the dispatch to the category's department:\n%s", page)
	}
}

func TestDepartmentsSeeOnlyTheirTickets(t *testing.T) {
	f := newFixture(t)
	op := &auth.Principal{Name: "op", Role: auth.RoleOperator}
	mine, err := f.h.opts.Tickets.Create(f.env.Ctx, op, tickets.NewTicket{Citizen: tickets.NewCitizen{Phone: "13800001234"},
		Content: "暖气不热", Category: "TS-GN", Dispatch: &tickets.DispatchRequest{}})
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := f.h.opts.Tickets.Create(f.env.Ctx, op, tickets.NewTicket{Content: "路灯不亮", Category: "TS-WY",
		Dispatch: &tickets.DispatchRequest{Departments: []string{"DS"}}})
	if err != nil {
		t.Fatal(err)
	}
	c := f.client()
	c.login("heat")
	resp, body := c.do("GET", "/portal/tickets/"+mine.Number, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "138****1234") || strings.Contains(body, "13800001234") {
		t.Errorf("own ticket: %d, the phone must be masked\n%s", resp.StatusCode, body)
	}
	resp, body = c.do("GET", "/portal/tickets/"+theirs.Number, nil)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "没有找到该工单") {
		t.Errorf("another department's ticket: %d\n%s", resp.StatusCode, body)
	}
	// Acting on it by a forged form is refused the same way.
	_, inbox := c.do("GET", "/portal/", nil)
	resp, _ = c.do("POST", "/portal/tickets/"+theirs.Number+"/sign", url.Values{"csrf_token": {token(t, inbox)}})
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("signing another department's ticket: %d, want 404", resp.StatusCode)
	}
	// A reply without text keeps the department on the page with the message.
	csrf := token(t, inbox)
	if resp, _ := c.do("POST", "/portal/tickets/"+mine.Number+"/sign", url.Values{"csrf_token": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign: %d", resp.StatusCode)
	}
	resp, body = c.do("POST", "/portal/tickets/"+mine.Number+"/reply", url.Values{"csrf_token": {csrf}, "reply": {"  "}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "请填写回复内容") {
		t.Errorf("empty reply: %d\n%s", resp.StatusCode, body)
	}
	resp, body = c.do("POST", "/portal/tickets/"+mine.Number+"/extension", url.Values{"csrf_token": {csrf}, "until": {"next week"}, "reason": {"等配件"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "next week") || !strings.Contains(body, "等配件") {
		t.Errorf("a bad date: %d; the page must name it and keep the reason\n%s", resp.StatusCode, body)
	}
}

func TestDuplicateWarning(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	csrf := c.login("op")
	var numbers []string
	for range 2 {
		resp, _ := c.do("POST", "/console/tickets", url.Values{"csrf_token": {csrf}, "phone": {"13800001234"},
			"category": {"TS-GN"}, "content": {"幸福小区5号楼暖气不热，室温只有12度"}, "do": {"register"}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("register: %d", resp.StatusCode)
		}
		numbers = append(numbers, strings.TrimPrefix(strings.Split(resp.Header.Get("Location"), "?")[0], "/console/tickets/"))
	}
	_, page := c.do("GET", "/console/tickets/"+numbers[1], nil)
	if !strings.Contains(page, `id="duplicates"`) || !strings.Contains(page, `href="/console/tickets/`+numbers[0]+`"`) {
		t.Errorf("the second ticket does not warn of the first:\n%s", page)
	}
}

func TestMaterialsBySMS(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	csrf := c.login("op")
	_, page := c.do("GET", "/console/knowledge?q="+url.QueryEscape("户口"), nil)
	if !strings.Contains(page, "户口迁移") || strings.Contains(page, "食品经营许可") {
		t.Errorf("searching 户口 does not find just the household item:\n%s", page)
	}
	resp, body := c.do("POST", "/console/knowledge/send", url.Values{"csrf_token": {csrf}, "item": {"HJQY"}, "mobile": {"12"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `value="12"`) {
		t.Errorf("a bad mobile: %d, the page must keep it\n%s", resp.StatusCode, body)
	}
	resp, _ = c.do("POST", "/console/knowledge/send", url.Values{"csrf_token": {csrf}, "item": {"HJQY"}, "mobile": {"13800001234"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("send: %d", resp.StatusCode)
	}
	msgs, _, err := f.sms.Messages(f.env.Ctx, sms.MessageFilter{}, pageOne, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "居民户口簿") {
		t.Errorf("queued messages %+v, want the household item's materials", msgs)
	}
}

func TestUploadOverTheLimit(t *testing.T) {
	f := newFixture(t)
	op := &auth.Principal{Name: "op", Role: auth.RoleOperator}
	v, err := f.h.opts.Tickets.Create(f.env.Ctx, op, tickets.NewTicket{Content: "暖气不热", Category: "TS-GN", Dispatch: &tickets.DispatchRequest{}})
	if err != nil {
		t.Fatal(err)
	}
	c := f.client()
	csrf := c.login("heat")
	var body strings.Builder
	w := multipart.NewWriter(&body)
	_ = w.WriteField("csrf_token", csrf)
	_ = w.WriteField("reply", "已处理")
	fw, _ := w.CreateFormFile("file", "big.txt")
	_, _ = fw.Write(make([]byte, 3<<20))
	_ = w.Close()
	req, _ := http.NewRequestWithContext(f.env.Ctx, "POST", f.srv.URL+"/portal/tickets/"+v.Number+"/reply", strings.NewReader(body.String()))
	req.Header.Set("Content-Type", w.FormDataContentType())
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(page), "上限") {
		t.Errorf("a 3 MB upload over a 1 MB limit: %d\n%s", resp.StatusCode, page)
	}
}

func TestPortalActions(t *testing.T) {
	f := newFixture(t)
	op := &auth.Principal{Name: "op", Role: auth.RoleOperator}
	create := func() string {
		v, err := f.h.opts.Tickets.Create(f.env.Ctx, op, tickets.NewTicket{Content: "小区门口路面塌陷", Category: "TS-WY",
			Dispatch: &tickets.DispatchRequest{Departments: []string{"DS"}}})
		if err != nil {
			t.Fatal(err)
		}
		return v.Number
	}
	c := f.client()
	csrf := c.login("ds")
	for _, tt := range []struct {
		name   string
		action string
		form   url.Values
		says   []string
	}{
		{"extension", "extension", url.Values{"until": {"2026-12-31T17:30"}, "reason": {"需协调施工单位"}}, []string{"延期申请已提交", "延期申请中"}},
		{"return", "return", url.Values{"reason": {"属物业管理范围"}}, []string{"已退单", "退单待审定", "属物业管理范围"}},
		{"redispatch", "redispatch", url.Values{"department": {"DS-JT"}, "note": {"请街道核实"}}, []string{"已下派至下级单位", "交通街道办事处", "已下派"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			number := create()
			tt.form.Set("csrf_token", csrf)
			resp, body := c.do("POST", "/portal/tickets/"+number+"/"+tt.action, tt.form)
			if tt.action == "return" {
				// A return asks first, and is not taken until confirmed.
				if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="confirm-form"`) || !strings.Contains(body, "属物业管理范围") {
					t.Fatalf("a return without confirmation: %d\n%s", resp.StatusCode, body)
				}
				if v, _ := f.env.Store.Find(f.env.Ctx, op, number); v.Status != tickets.StatusDispatched {
					t.Fatalf("the return was taken before it was confirmed: %s", v.Status)
				}
				tt.form.Set("confirmed", "1")
				resp, body = c.do("POST", "/portal/tickets/"+number+"/"+tt.action, tt.form)
			}
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("%s: %d\n%s", tt.action, resp.StatusCode, body)
			}
			_, page := c.do("GET", resp.Header.Get("Location"), nil)
			for _, want := range tt.says {
				if !strings.Contains(page, want) {
					t.Errorf("after %s the page lacks %q", tt.action, want)
				}
			}
		})
	}
}

func TestVoiceMessagesPlayInTheInbox(t *testing.T) {
	f := newFixture(t)
	op := &auth.Principal{Name: "op", Role: auth.RoleOperator}
	if _, err := f.h.opts.Tickets.Create(f.env.Ctx, op, tickets.NewTicket{Channel: tickets.ChannelVoicemail, Content: "（语音留言）",
		Category: "TS-GN", Ref: "call:7"}); err != nil {
		t.Fatal(err)
	}
	c := f.client()
	c.login("op")
	_, page := c.do("GET", "/console/inbox", nil)
	if !strings.Contains(page, `<audio controls preload="none" src="/api/v1/ivr/calls/7/recording">`) {
		t.Errorf("the inbox has no player for the voice message:\n%s", page)
	}
}

// TestAttachedVoiceMessagePlaysOnTheTicketPage: the controller attaches a voice message's
// audio to its ticket; the desk's ticket page plays it.
func TestAttachedVoiceMessagePlaysOnTheTicketPage(t *testing.T) {
	f := newFixture(t)
	op := &auth.Principal{Name: "op", Role: auth.RoleOperator}
	v, err := f.h.opts.Tickets.Create(f.env.Ctx, op, tickets.NewTicket{Channel: tickets.ChannelVoicemail, Content: "（语音留言）",
		Category: "TS-GN", Ref: "voicemail:rexian/voicemail/20261206/9"})
	if err != nil {
		t.Fatal(err)
	}
	// A WAV header and a moment of silence.
	wav := append([]byte("RIFF\x24\x08\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x40\x1f\x00\x00\x80\x3e\x00\x00\x02\x00\x10\x00data\x00\x08\x00\x00"), make([]byte, 2048)...)
	att, err := f.h.opts.Tickets.AddAttachment(f.env.Ctx, op, v.Number, "voicemail-"+v.Number+".wav", bytes.NewReader(wav))
	if err != nil {
		t.Fatal(err)
	}
	c := f.client()
	c.login("op")
	_, page := c.do("GET", "/console/tickets/"+v.Number, nil)
	if want := `<audio controls preload="none" src="` + att.URL + `" id="voicemail">`; !strings.Contains(page, want) {
		t.Errorf("the ticket page has no player for the attached voice message (want %s):\n%s", want, page)
	}
}

func TestCountdown(t *testing.T) {
	f := newFixture(t)
	now := f.clock.Now()
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	for _, tt := range []struct {
		name string
		s    tickets.Summary
		want string
	}{
		{"days left", tickets.Summary{Status: tickets.StatusHandling, DueAt: at(48 * time.Hour)}, "ok"},
		{"near", tickets.Summary{Status: tickets.StatusHandling, DueAt: at(3 * time.Hour)}, "near"},
		{"late", tickets.Summary{Status: tickets.StatusHandling, DueAt: at(-time.Minute)}, "late"},
		{"sign-for deadline first", tickets.Summary{Status: tickets.StatusDispatched, SignDueAt: at(time.Hour), DueAt: at(72 * time.Hour)}, "near"},
		{"no deadline", tickets.Summary{Status: tickets.StatusHandling}, "ok"},
	} {
		if got := f.h.countdown(tt.s).Countdown; got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/console/desk":         "/console/desk",
		"/portal/tickets/1":     "/portal/tickets/1",
		"https://evil.example/": "",
		"//evil.example/":       "",
		"/console\\@evil":       "",
		"/api/v1/auth/me":       "",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSearchPages: the desk's and the portal's search boxes, with the registration dates
// that bound a search, for words old and new, short and long.
func TestSearchPages(t *testing.T) {
	f := newFixture(t)
	op := &auth.Principal{Name: "op", Role: auth.RoleOperator}
	create := func(content string) string {
		t.Helper()
		v, err := f.h.opts.Tickets.Create(f.env.Ctx, op, tickets.NewTicket{Citizen: tickets.NewCitizen{Phone: "13800001234"},
			Content: content, Category: "TS-GN", Dispatch: &tickets.DispatchRequest{}})
		if err != nil {
			t.Fatal(err)
		}
		return v.Number
	}
	old := create("暖气片漏水")
	twoYearsAgo := time.Now().AddDate(-2, 0, 0)
	if err := f.env.DB.Exec("UPDATE tickets SET created_at = ?, registered_at = ? WHERE number = ?", twoYearsAgo, twoYearsAgo, old).Error; err != nil {
		t.Fatal(err)
	}
	recent := create("暖气不热")
	longAgo := url.QueryEscape(twoYearsAgo.AddDate(0, -1, 0).Format("2006-01-02"))
	lastYear := url.QueryEscape(time.Now().AddDate(-1, 0, 0).Format("2006-01-02"))
	opc, heat, ds := f.client(), f.client(), f.client()
	opc.login("op")
	heat.login("heat")
	ds.login("ds")
	for _, tc := range []struct {
		name      string
		who       *client
		path      string
		show, not []string
	}{
		{"short word: all years", opc, "/console/tickets?q=" + url.QueryEscape("暖气"), []string{">" + recent + "</a>", ">" + old + "</a>"}, nil},
		{"short word with a date: from then on", opc, "/console/tickets?q=" + url.QueryEscape("暖气") + "&from=" + lastYear,
			[]string{">" + recent + "</a>", `value="` + time.Now().AddDate(-1, 0, 0).Format("2006-01-02") + `"`}, []string{">" + old + "</a>"}},
		{"one character", opc, "/console/tickets?q=" + url.QueryEscape("漏"), []string{">" + old + "</a>"}, []string{">" + recent + "</a>"}},
		{"longer word: all years", opc, "/console/tickets?q=" + url.QueryEscape("暖气片"), []string{">" + old + "</a>"}, []string{">" + recent + "</a>"}},
		{"ticket number", opc, "/console/tickets?q=" + old, []string{">" + old + "</a>"}, []string{">" + recent + "</a>"}},
		{"phone", opc, "/console/tickets?q=" + url.QueryEscape("138 0000 1234"), []string{">" + recent + "</a>", ">" + old + "</a>"}, nil},
		{"portal, short word", heat, "/portal/search?q=" + url.QueryEscape("暖气"), []string{">" + recent + "</a>", ">" + old + "</a>"}, nil},
		{"portal, short word with dates", heat, "/portal/search?q=" + url.QueryEscape("暖气") + "&from=" + longAgo + "&to=" + url.QueryEscape(twoYearsAgo.AddDate(0, 0, 1).Format("2006-01-02")),
			[]string{">" + old + "</a>"}, []string{">" + recent + "</a>"}},
		{"portal, another department's tickets", ds, "/portal/search?q=" + url.QueryEscape("暖气片"), []string{"历史查询"}, []string{">" + old + "</a>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := tc.who.do("GET", tc.path, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d\n%s", tc.path, resp.StatusCode, body)
			}
			for _, s := range tc.show {
				if !strings.Contains(body, s) {
					t.Errorf("GET %s does not show %q", tc.path, s)
				}
			}
			for _, s := range tc.not {
				if strings.Contains(body, s) {
					t.Errorf("GET %s shows %q", tc.path, s)
				}
			}
		})
	}
	if resp, body := opc.do("GET", "/console/tickets?q=x&from=yesterday", nil); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "yesterday") {
		t.Errorf("a bad date: %d\n%s", resp.StatusCode, body)
	}
}

// TestMaterialsFromATicket: opened from a ticket, the knowledge base fills in the
// citizen's number; the send is written into the ticket's timeline and ends on the ticket.
func TestMaterialsFromATicket(t *testing.T) {
	f := newFixture(t)
	v, err := f.h.opts.Tickets.Create(f.env.Ctx, &auth.Principal{Name: "op", Role: auth.RoleOperator},
		tickets.NewTicket{Content: "户口迁移要带什么材料", Category: "ZX-SB", Citizen: tickets.NewCitizen{Phone: "13800001111"}})
	if err != nil {
		t.Fatal(err)
	}
	c := f.client()
	csrf := c.login("op")
	_, page := c.do("GET", "/console/knowledge?q="+url.QueryEscape("户口")+"&ticket="+v.Number, nil)
	if !strings.Contains(page, `value="13800001111"`) || !strings.Contains(page, `id="for-ticket"`) {
		t.Errorf("the send form does not carry the citizen's number and the ticket:\n%s", excerpt(page, "<main"))
	}
	resp, _ := c.do("POST", "/console/knowledge/send", url.Values{"csrf_token": {csrf}, "item": {"HJQY"}, "mobile": {"13800001111"}, "ticket": {v.Number}})
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/console/tickets/"+v.Number+"?ok=sms" {
		t.Fatalf("send: %d to %q, want back to the ticket", resp.StatusCode, loc)
	}
	got, err := f.h.opts.Tickets.Find(f.env.Ctx, &auth.Principal{Name: "op", Role: auth.RoleOperator}, v.Number)
	if err != nil {
		t.Fatal(err)
	}
	noted := false
	for _, e := range got.Timeline {
		noted = noted || (e.Action == tickets.ActNote && strings.Contains(e.Note, "户口迁移") && strings.Contains(e.Note, "138****1111"))
	}
	if !noted {
		t.Errorf("the timeline does not record the send: %+v", got.Timeline)
	}
	if _, page := c.do("GET", "/console/tickets/"+v.Number+"?ok=sms", nil); !strings.Contains(page, "材料清单短信已排队发送") {
		t.Error("the ticket page does not say the message was queued")
	}
	// A ticket the user may not see cannot be named.
	heat := f.client()
	heat.login("heat")
	if resp, _ := heat.do("GET", "/console/knowledge?ticket="+v.Number, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a department opening the desk's knowledge base: %d", resp.StatusCode)
	}
}
