package web

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/tickets"
)

// TestTimelinesNamePeople: the ticket pages name people by display name, department
// users by their unit and channels in words, never "role:username"; the place is the
// citizen's address with the district as an area.
func TestTimelinesNamePeople(t *testing.T) {
	f := newFixture(t)
	ctx := f.env.Ctx
	if _, err := f.h.opts.Auth.CreateUser(ctx, auth.NewUser{Username: "wangli", DisplayName: "话务员 王丽", Role: auth.RoleOperator, Password: password}); err != nil {
		t.Fatal(err)
	}
	web := &auth.Principal{Name: "web", Role: auth.RoleOperator}
	v, err := f.env.Store.Create(ctx, web, tickets.NewTicket{Channel: tickets.ChannelWeb, Content: "路灯不亮", Category: "TS-WY",
		Location: tickets.NewLocation{District: "DS", Township: "DS-JT", Address: "宝日陶亥社区3号楼"}})
	if err != nil {
		t.Fatal(err)
	}
	wangli := &auth.Principal{Name: "wangli", Role: auth.RoleOperator}
	ds := &auth.Principal{Name: "ds", Role: auth.RoleDepartment}
	if id, err := f.env.Store.DepartmentByCode(ctx, "DS"); err == nil {
		ds.DepartmentID = id
	}
	for _, step := range []struct {
		p *auth.Principal
		a tickets.Action
		r tickets.ActionRequest
	}{{wangli, tickets.ActDispatch, tickets.ActionRequest{Departments: []string{"DS"}}}, {ds, tickets.ActSign, tickets.ActionRequest{}}} {
		if _, err := f.env.Store.Act(ctx, step.p, v.Number, step.a, step.r); err != nil {
			t.Fatal(err)
		}
	}
	roleName := regexp.MustCompile(`\b(operator|supervisor|department|admin|integrator|system):[a-z0-9._-]+`)
	for _, who := range []struct{ user, path string }{{"op", "/console/tickets/"}, {"ds", "/portal/tickets/"}} {
		c := f.client()
		c.login(who.user)
		_, page := c.do("GET", who.path+v.Number, nil)
		for _, want := range []string{`受理 · <span class="actor">网上受理</span>`, `派单 · <span class="actor">话务员 王丽</span>`,
			`签收 · <span class="actor">东胜区人民政府</span>`, `<dd id="place">东胜区 交通街道 宝日陶亥社区3号楼</dd>`} {
			if !strings.Contains(page, want) {
				t.Errorf("%s: the page lacks %s", who.user, want)
			}
		}
		if m := roleName.FindString(page); m != "" {
			t.Errorf("%s: the page shows %q", who.user, m)
		}
	}
}

// TestPortalInboxByStage: the department's inbox separates the stages, and a replied
// ticket waits for the centre instead of counting down.
func TestPortalInboxByStage(t *testing.T) {
	f := newFixture(t)
	ctx := f.env.Ctx
	op := &auth.Principal{Name: "op", Role: auth.RoleOperator}
	v, err := f.env.Store.Create(ctx, op, tickets.NewTicket{Content: "路灯不亮", Category: "TS-WY",
		Dispatch: &tickets.DispatchRequest{Departments: []string{"DS"}}})
	if err != nil {
		t.Fatal(err)
	}
	c := f.client()
	csrf := c.login("ds")
	for _, a := range []struct{ action, field string }{{"sign", ""}, {"reply", "reply"}} {
		form := url.Values{"csrf_token": {csrf}}
		if a.field != "" {
			form.Set(a.field, "已修复")
		}
		if resp, body := c.do("POST", "/portal/tickets/"+v.Number+"/"+a.action, form); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: %d\n%s", a.action, resp.StatusCode, body)
		}
	}
	_, page := c.do("GET", "/portal/", nil)
	for _, want := range []string{`id="group-to-sign"`, `id="group-handling"`, `id="group-returned"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the inbox lacks %s", want)
		}
	}
	replied := page[strings.Index(page, `id="group-replied"`):]
	replied = replied[:strings.Index(replied, "</section>")]
	if !strings.Contains(replied, v.Number) || !strings.Contains(replied, "已回复，等待中心审核") || strings.Contains(replied, "data-due") {
		t.Errorf("the replied ticket does not wait for the centre:\n%s", replied)
	}
	if resp, _ := c.do("GET", "/favicon.ico", nil); resp.StatusCode != http.StatusMovedPermanently {
		t.Errorf("favicon: %d", resp.StatusCode)
	}
}
