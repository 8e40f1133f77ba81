package web

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/tickets"
)

// figuresCity registers four tickets today: two to the heating company (one with a
// script in its content), one to Dongsheng district, and a consultation answered at once
// (completed). The store stamps them with the real time, so the page's clock is set to it.
func figuresCity(t *testing.T, f *fixture) {
	t.Helper()
	op := &auth.Principal{Name: "op", Role: auth.RoleOperator}
	for _, in := range []tickets.NewTicket{
		{Content: "暖气不热", Category: "TS-GN", Dispatch: &tickets.DispatchRequest{}},
		{Content: "暖气片漏水<script>alert(1)</script>", Category: "TS-GN", Dispatch: &tickets.DispatchRequest{}},
		{Content: "路灯不亮", Category: "TS-WY", Dispatch: &tickets.DispatchRequest{Departments: []string{"DS"}}},
	} {
		if _, err := f.h.opts.Tickets.Create(f.env.Ctx, op, in); err != nil {
			t.Fatal(err)
		}
	}
	v, err := f.h.opts.Tickets.Create(f.env.Ctx, op, tickets.NewTicket{Content: "社保卡怎么补办", Category: "ZX-SB"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.h.opts.Tickets.Act(f.env.Ctx, op, v.Number, tickets.ActAnswer, tickets.ActionRequest{Answer: "携带身份证到社保大厅办理"}); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(time.Now())
}

// figuresPath asks for yesterday and today, so that a test running over midnight still
// finds its tickets.
func figuresPath(f *fixture, group string) string {
	now := f.clock.Now().UTC()
	q := url.Values{"period": {"custom"}, "from": {now.AddDate(0, 0, -1).Format("2006-01-02")}, "to": {now.Format("2006-01-02")}}
	if group != "" {
		q.Set("group", group)
	}
	return "/console/figures?" + q.Encode()
}

var cellRE = regexp.MustCompile(`<tr data-group="([^"]+)"[^>]*>(.*?)</tr>`)
var figureRE = regexp.MustCompile(`<td data-figure="([a-z_]+)">(?:<a href="([^"]+)">)?([^<]*)`)

type figureCellSeen struct{ text, href string }

// rowsOf reads the figures table: group → figure → its text and link.
func rowsOf(page string) map[string]map[string]figureCellSeen {
	out := map[string]map[string]figureCellSeen{}
	for _, m := range cellRE.FindAllStringSubmatch(page, -1) {
		row := map[string]figureCellSeen{}
		for _, c := range figureRE.FindAllStringSubmatch(m[2], -1) {
			row[c[1]] = figureCellSeen{text: c[3], href: html.UnescapeString(c[2])}
		}
		out[m[1]] = row
	}
	return out
}

var ticketLinkRE = regexp.MustCompile(`<a href="/console/tickets/(\d+)">`)

func TestFiguresPage(t *testing.T) {
	f := newFixture(t)
	figuresCity(t, f)
	sup := f.client()
	sup.login("sup")

	resp, page := sup.do("GET", figuresPath(f, ""), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("figures: %d\n%s", resp.StatusCode, page)
	}
	total := rowsOf(page)["total"]
	want := map[string]string{"accepted": "4", "completed": "1", "completion_rate": "25.0%", "completed_on_time": "1",
		"on_time_rate": "100.0%", "overdue_now": "0", "satisfaction_rate": "—"}
	for k, v := range want {
		if got := total[k].text; got != v {
			t.Errorf("total %s: %q, want %q", k, got, v)
		}
	}
	// Each count's link, followed, lists that many tickets.
	for _, k := range []string{"accepted", "completed", "completed_on_time"} {
		href := total[k].href
		if !strings.HasPrefix(href, "/console/tickets?") {
			t.Fatalf("%s links to %q", k, href)
		}
		resp, list := sup.do("GET", href, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", href, resp.StatusCode, list)
		}
		if got := len(ticketLinkRE.FindAllString(list, -1)); got != atoi(t, total[k].text) {
			t.Errorf("%s: the list behind %s shows %d tickets", k, total[k].text, got)
		}
		if !strings.Contains(list, `id="active-filters"`) || !strings.Contains(list, "受理时间：") {
			t.Errorf("%s: the list does not say what it filters", k)
		}
	}
	if !strings.Contains(page, `href="/console/calls?`) {
		t.Error("the call figures do not link to the calls")
	}
	// The trend: a bar of each kind per day, yesterday and today.
	for _, bar := range []string{`class="bar accepted"`, `class="bar completed"`} {
		if got := strings.Count(page, bar); got != 2 {
			t.Errorf("%d %s in the chart, want one per day (2)", got, bar)
		}
	}
	if !strings.Contains(page, "受理 4 件") {
		t.Error("no bar carries the four tickets accepted")
	}
	if !strings.Contains(page, `<svg id="trend-chart" viewBox=`) || !strings.Contains(page, "受理日期（月-日）") {
		t.Error("no chart, or its axis is not labelled")
	}

	// Today's trend shows the last fourteen days.
	if _, page := sup.do("GET", "/console/figures?period=today", nil); strings.Count(page, `class="bar accepted"`) != 14 {
		t.Errorf("today: %d bars, want 14", strings.Count(page, `class="bar accepted"`))
	}

	// By department: the heating company has two, Dongsheng one, the answered
	// consultation none.
	_, page = sup.do("GET", figuresPath(f, "department"), nil)
	rows := rowsOf(page)
	for code, n := range map[string]string{"HEAT": "2", "DS": "1", "none": "1"} {
		if got := rows[code]["accepted"].text; got != n {
			t.Errorf("department %s accepted %q, want %s", code, got, n)
		}
	}
	for _, name := range []string{"市热力公司", "东胜区"} {
		if !strings.Contains(page, name) {
			t.Errorf("the breakdown lacks %s", name)
		}
	}
	href := rows["HEAT"]["accepted"].href
	_, list := sup.do("GET", href, nil)
	if got := len(ticketLinkRE.FindAllString(list, -1)); got != 2 || !strings.Contains(list, "主办单位：市热力公司") {
		t.Errorf("HEAT's accepted list shows %d tickets, or does not name the department", got)
	}
	if strings.Contains(list, "<script>alert") {
		t.Error("the ticket list shows a ticket's script unescaped")
	}
	if strings.Contains(page, "<script>alert") {
		t.Error("the figures page shows a ticket's script unescaped")
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			t.Fatalf("not a count: %q", s)
		}
		n = n*10 + int(r-'0')
	}
	return n
}

func TestFiguresPageRefusesBadInput(t *testing.T) {
	f := newFixture(t)
	sup := f.client()
	sup.login("sup")
	for _, tt := range []struct{ path, says string }{
		{"/console/figures?period=decade", "统计周期只能是"},
		{"/console/figures?period=custom&from=2026-11-30&to=2026-11-01", "早于起始日期"},
		{"/console/figures?period=custom&from=yesterday&to=2026-11-01", "yesterday"},
		{"/console/figures?period=custom", "请填写起始日期和截止日期"},
		{"/console/figures?group=street", "分组只能是"},
	} {
		resp, body := sup.do("GET", tt.path, nil)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, tt.says) || !strings.Contains(body, `id="figures-form"`) {
			t.Errorf("GET %s: %d, want 400 with the form and %q\n%s", tt.path, resp.StatusCode, tt.says, body)
		}
	}
	if resp, body := sup.do("GET", "/console/tickets?overdue=maybe", nil); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "maybe") {
		t.Errorf("a bad ticket filter: %d", resp.StatusCode)
	}
}

func TestFiguresPageIsForSupervisors(t *testing.T) {
	f := newFixture(t)
	op, dept, anon := f.client(), f.client(), f.client()
	op.login("op")
	dept.login("heat")
	for _, c := range []*client{op, dept} {
		if resp, _ := c.do("GET", "/console/figures", nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("status %d, want 403", resp.StatusCode)
		}
	}
	if resp, _ := anon.do("GET", "/console/figures", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("without a session: %d, want the login page", resp.StatusCode)
	}
	f.h.opts.Dashboards = true // the dashboards API is mounted
	sup := f.client()
	sup.login("sup")
	_, page := sup.do("GET", "/console/supervisor", nil)
	if !strings.Contains(page, `href="/console/figures?period=today" id="figures-today"`) || !strings.Contains(page, `id="nav-figures"`) {
		t.Error("the supervisor page does not link to the figures")
	}
	if _, page := op.do("GET", "/console/desk", nil); strings.Contains(page, `id="nav-figures"`) {
		t.Error("an operator's menu offers the figures")
	}
}
