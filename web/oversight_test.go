package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/tickets"
)

// dispatched registers a ticket with title, dispatched to department, now.
func (f *fixture) dispatched(title, category, department string) string {
	f.t.Helper()
	in := tickets.NewTicket{Citizen: tickets.NewCitizen{Phone: "13800001234"}, Title: title, Content: "暖气不热，室温只有十二度。",
		Category: category, Dispatch: &tickets.DispatchRequest{}}
	if department != "" {
		in.Dispatch.Departments = []string{department}
	}
	v, err := f.env.Store.Create(f.env.Ctx, &auth.Principal{Name: "op", Role: auth.RoleOperator}, in)
	if err != nil {
		f.t.Fatal(err)
	}
	return v.Number
}

func (f *fixture) departmentUser(code string) *auth.Principal {
	f.t.Helper()
	id, err := f.env.Store.DepartmentByCode(f.env.Ctx, code)
	if err != nil {
		f.t.Fatal(err)
	}
	return &auth.Principal{Name: "u-" + code, Role: auth.RoleDepartment, DepartmentID: id}
}

func TestRatesPage(t *testing.T) {
	f := newFixture(t)
	f.clock.Set(time.Now().UTC()) // the store registers on the real clock
	heat := f.dispatched("暖气不热", "TS-GN", "")
	f.dispatched("路灯不亮", "TS-WY", "DS")
	if _, err := f.env.Store.Act(f.env.Ctx, f.departmentUser("HEAT"), heat, tickets.ActSign, tickets.ActionRequest{}); err != nil {
		t.Fatal(err)
	}
	sup := f.client()
	sup.login("sup")
	resp, page := sup.do("GET", "/console/rates", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("rates: %d\n%s", resp.StatusCode, page)
	}
	for _, want := range []string{"参评范围", "未签收即退回的派单", `<option value="month" selected>本月`,
		`data-key="HEAT"><td class="rank">1</td><td>市热力公司</td><td>100.0% <span class="hint">1/1</span>`,
		`data-key="DS"><td class="rank">2</td>`, `id="districts"`, "服务标准（GB/T 33358-2016）",
		`data-measure="calls_15s"><td>15秒内人工接听率</td><td>≥ 80%</td><td>0</td><td>0</td><td>—</td>`, `data-measure="mailbox_24h"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the rates page lacks %q", want)
		}
	}
	if i, j := strings.Index(page, `data-key="HEAT"`), strings.Index(page, `data-key="DS"`); i < 0 || j < i {
		t.Error("the department that signed in time is not ranked first")
	}

	for _, tt := range []struct{ query, says string }{
		{"period=forever", "统计周期只能是"},
		{"period=custom&from=2026-13-01&to=2026-01-31", "开始日期格式不正确"},
		{"from=2026-02-01&to=2026-01-01", "结束日期早于开始日期"},
		{"period=custom&from=2026-01-01&to=<b>x</b>", "结束日期格式不正确"},
	} {
		resp, page := sup.do("GET", "/console/rates?"+strings.ReplaceAll(tt.query, "<b>x</b>", url.QueryEscape("<b>x</b>")), nil)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, tt.says) || !strings.Contains(page, `id="period-form"`) {
			t.Errorf("%s: %d, want 400 with the form and %q\n%s", tt.query, resp.StatusCode, tt.says, page)
		}
		if strings.Contains(page, "<b>x</b>") {
			t.Errorf("%s: the input is not escaped", tt.query)
		}
	}
}

func TestOverduePageAndUrge(t *testing.T) {
	f := newFixture(t)
	number := f.dispatched("<script>alert(1)</script>暖气不热", "TS-GN", "")
	// Two months on, the ticket is past its deadlines.
	later := time.Now().AddDate(0, 2, 0)
	f.clock.Set(later)
	store := tickets.NewStore(f.env.DB, tickets.Options{Now: func() time.Time { return later }, AttachmentDir: t.TempDir()})
	if n, err := store.MarkOverdue(f.env.Ctx); err != nil || n != 1 {
		t.Fatalf("mark overdue: %d, %v", n, err)
	}

	sup := f.client()
	csrf := sup.login("sup")
	resp, page := sup.do("GET", "/console/overdue", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("overdue: %d\n%s", resp.StatusCode, page)
	}
	for _, want := range []string{`href="/console/tickets/` + number + `"`, "&lt;script&gt;alert(1)&lt;/script&gt;暖气不热", "市热力公司",
		`action="/console/overdue/` + number + `/urge"`, `<td class="urges">0次</td>`, "还没有现场督办记录"} {
		if !strings.Contains(page, want) {
			t.Errorf("the overdue page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script>alert") {
		t.Error("the title is not escaped")
	}

	// Without the session's token nothing happens.
	resp, page = sup.do("POST", "/console/overdue/"+number+"/urge", url.Values{"note": {"请尽快办理"}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "表单已过期") {
		t.Errorf("urge without the token: %d\n%s", resp.StatusCode, page)
	}
	if v := f.find(number); v.UrgeCount != 0 {
		t.Fatalf("a forged urge counted: %d", v.UrgeCount)
	}

	resp, _ = sup.do("POST", "/console/overdue/"+number+"/urge", url.Values{"csrf_token": {csrf}, "note": {"请三日内办结"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/overdue?ok=urged" {
		t.Fatalf("urge: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page = sup.do("GET", resp.Header.Get("Location"), nil)
	if !strings.Contains(page, "督办成功") || !strings.Contains(page, `<td class="urges">1次</td>`) {
		t.Errorf("after the urge the page lacks the flash or the count:\n%s", page)
	}
	v := f.find(number)
	urged := false
	for _, e := range v.Timeline {
		urged = urged || (e.Action == tickets.ActUrge && e.Note == "请三日内办结")
	}
	if v.UrgeCount != 1 || !urged {
		t.Errorf("the ticket was not urged: count %d, timeline %+v", v.UrgeCount, v.Timeline)
	}
	if _, page := sup.do("GET", "/console/tickets/"+number, nil); !strings.Contains(page, `督办 · <span class="actor">督办员 sup</span>`) {
		t.Error("the ticket's timeline does not show the urge")
	}

	// A failed urge says why.
	resp, _ = sup.do("POST", "/console/overdue/2611269999/urge", url.Values{"csrf_token": {csrf}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("urge of no ticket: %d", resp.StatusCode)
	}
	if _, page := sup.do("GET", resp.Header.Get("Location"), nil); !strings.Contains(page, "督办失败：") {
		t.Errorf("a failed urge says nothing:\n%s", page)
	}
	if _, page := sup.do("GET", "/console/overdue?failed=<b>made+up</b>", nil); strings.Contains(page, "made up") || strings.Contains(page, "<b>") {
		t.Error("a link puts its own words into the page")
	}

	// On-site supervision: a missing place keeps what was written; a full record is listed.
	form := url.Values{"csrf_token": {csrf}, "ticket": {number}, "date": {"2026-11-27"}, "people": {"李督查、王科长"},
		"findings": {"现场<b>管道</b>阀门损坏"}}
	resp, page = sup.do("POST", "/console/supervisions", form)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "请填写督办地点") || !strings.Contains(page, "现场&lt;b&gt;管道&lt;/b&gt;阀门损坏") {
		t.Errorf("supervision without a place: %d\n%s", resp.StatusCode, page)
	}
	form.Set("place", "幸福小区5号楼")
	resp, _ = sup.do("POST", "/console/supervisions", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("supervision: %d", resp.StatusCode)
	}
	_, page = sup.do("GET", resp.Header.Get("Location"), nil)
	for _, want := range []string{"现场督办记录已保存", "幸福小区5号楼", "李督查、王科长", "现场&lt;b&gt;管道&lt;/b&gt;阀门损坏"} {
		if !strings.Contains(page, want) {
			t.Errorf("after the supervision the page lacks %q", want)
		}
	}
	resp, _ = sup.do("POST", "/console/supervisions", url.Values{"ticket": {number}, "date": {"2026-11-27"}, "place": {"x"}, "people": {"x"}, "findings": {"x"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("supervision without the token: %d", resp.StatusCode)
	}
}

func TestOversightPagesAreForSupervisors(t *testing.T) {
	f := newFixture(t)
	number := f.dispatched("暖气不热", "TS-GN", "")
	for _, user := range []string{"op", "heat"} {
		c := f.client()
		csrf := c.login(user)
		for _, path := range []string{"/console/rates", "/console/overdue", "/console/rates?period=forever"} {
			if resp, body := c.do("GET", path, nil); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "无权访问") {
				t.Errorf("%s GET %s: %d, want 403", user, path, resp.StatusCode)
			}
		}
		if resp, _ := c.do("POST", "/console/overdue/"+number+"/urge", url.Values{"csrf_token": {csrf}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s urges: %d, want 403", user, resp.StatusCode)
		}
	}
	if v := f.find(number); v.UrgeCount != 0 {
		t.Errorf("a refused urge counted: %d", v.UrgeCount)
	}
}

func (f *fixture) find(number string) *tickets.View {
	f.t.Helper()
	v, err := f.env.Store.Find(f.env.Ctx, &auth.Principal{Name: "sup", Role: auth.RoleSupervisor}, number)
	if err != nil {
		f.t.Fatal(err)
	}
	return v
}
