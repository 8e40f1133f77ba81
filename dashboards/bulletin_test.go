package dashboards

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/tickets"
)

// bulletinFixture is a day with a completed ticket, an urged overdue one holding markup,
// calls and cards.
func bulletinFixture(t *testing.T) (*env, string) {
	e := newEnv(t)
	heat := e.department("HEAT")
	done := e.ticket("TS-GN", nil)
	e.act(heat, done, tickets.ActSign, tickets.ActionRequest{})
	e.act(heat, done, tickets.ActReply, tickets.ActionRequest{Reply: "已修复。"})
	e.act(desk, done, tickets.ActApprove, tickets.ActionRequest{Answer: "已修复。"})
	late := e.ticket("TS-WY", func(in *tickets.NewTicket) {
		in.Title = `<script>alert(1)</script><img src=x onerror=alert(2)>`
		in.Dispatch = &tickets.DispatchRequest{Departments: []string{"HRSS"}}
	})
	e.call(monday10, ivr.OutcomeAnswered, 3*time.Second)
	e.clk.Add(7 * time.Hour)
	e.markOverdue()
	e.issue()
	if _, err := e.svc.Urge(e.ctx, supervisor, late, UrgeRequest{}); err != nil {
		t.Fatal(err)
	}
	return e, late
}

func TestBulletin(t *testing.T) {
	e, late := bulletinFixture(t)
	b, err := e.svc.Bulletin(e.ctx, supervisor, BulletinDaily, e.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if b.Title != "2026年11月23日 热线工作日报" || b.Figures.Total.Accepted != 2 || len(b.Cards) != 1 || b.Cards[0].Department != "HRSS" {
		t.Errorf("bulletin: %s, figures %+v, cards %+v", b.Title, b.Figures.Total, b.Cards)
	}
	if len(b.Notable) != 1 || b.Notable[0].Number != late || b.Notable[0].Why != "督办1次，超期未办结" {
		t.Errorf("notable: %+v", b.Notable)
	}

	var page bytes.Buffer
	if err := RenderBulletin(&page, b); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	for _, want := range []string{"热线工作日报", "受理群众诉求 2 件", "&lt;script&gt;alert(1)&lt;/script&gt;", "市人力资源和社会保障局"} {
		if !strings.Contains(html, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(html, "<script>") || strings.Contains(html, "<img") {
		t.Error("the page carries markup from a ticket")
	}

	var x bytes.Buffer
	if err := WriteBulletinXLSX(&x, b); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&x)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.GetSheetList(); strings.Join(got, ",") != "概况,承办单位,渠道,三率排名,服务标准,红黄牌,典型案例" {
		t.Errorf("sheets %v", got)
	}
	if v, _ := f.GetCellValue("概况", "B5"); v != "2" {
		t.Errorf("accepted in the workbook = %q", v)
	}
	if v, _ := f.GetCellValue("概况", "B7"); v != "50.00%" {
		t.Errorf("completion rate in the workbook = %q", v)
	}
	if v, _ := f.GetCellValue("典型案例", "A2"); v != late {
		t.Errorf("notable case in the workbook = %q", v)
	}

	for _, kind := range []BulletinKind{BulletinWeekly, BulletinMonthly, BulletinQuarterly, BulletinAnnual} {
		if _, err := e.svc.Bulletin(e.ctx, supervisor, kind, e.clk.Now()); err != nil {
			t.Errorf("%s: %v", kind, err)
		}
	}
	if _, err := e.svc.Bulletin(e.ctx, supervisor, "hourly", e.clk.Now()); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("hourly bulletin: %v", err)
	}
	if _, err := e.svc.Bulletin(e.ctx, e.department("HEAT"), BulletinDaily, e.clk.Now()); !errors.Is(err, api.ErrForbidden) {
		t.Errorf("a department's bulletin: %v", err)
	}
}

func TestBrief(t *testing.T) {
	e, late := bulletinFixture(t)
	b, err := e.svc.DraftBrief(e.ctx, supervisor, BriefRequest{Kind: BriefSpecial, Title: "物业问题专报", Tickets: []string{late}})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Cases) != 1 || b.Cases[0].Citizen != "王某 138****5678" || b.Cases[0].Urges != 1 {
		t.Errorf("brief %+v", b.Cases)
	}
	var page bytes.Buffer
	if err := RenderBrief(&page, b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(page.String(), "<script>") || !strings.Contains(page.String(), "专报") {
		t.Errorf("page:\n%s", page.String())
	}
	for name, in := range map[string]BriefRequest{
		"kind":    {Kind: "memo", Title: "x", Tickets: []string{late}},
		"title":   {Kind: BriefShort, Tickets: []string{late}},
		"none":    {Kind: BriefShort, Title: "x"},
		"unknown": {Kind: BriefShort, Title: "x", Tickets: []string{"2600000000"}},
	} {
		if _, err := e.svc.DraftBrief(e.ctx, supervisor, in); !errors.Is(err, api.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
