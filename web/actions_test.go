package web

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/tickets"
)

// TestPagesOfferExactlyWhatTheAPIAccepts renders the ticket page (the desk's for the
// operator and the supervisor, the portal's for departments) of tickets in every status
// and in the situations that once left stale buttons, and takes every workflow action
// through the store on a fresh ticket in the same situation. A control is on the page if
// and only if the action was accepted.
func TestPagesOfferExactlyWhatTheAPIAccepts(t *testing.T) {
	f := newFixture(t)
	ctx := f.env.Ctx
	store := f.env.Store
	op := &auth.Principal{Name: "op", Role: auth.RoleOperator}
	sup := &auth.Principal{Name: "sup", Role: auth.RoleSupervisor}
	users, _, err := f.h.opts.Auth.ListUsers(ctx, auth.UserFilter{})
	if err != nil {
		t.Fatal(err)
	}
	principals := map[string]*auth.Principal{}
	for i := range users {
		principals[users[i].Username] = users[i].Principal()
	}
	do := func(p *auth.Principal, number string, a tickets.Action, req tickets.ActionRequest) {
		t.Helper()
		if _, err := store.Act(ctx, p, number, a, req); err != nil {
			t.Fatalf("set-up: %s %s: %v", a, number, err)
		}
	}
	newTicket := func(category string, dispatch ...string) string {
		t.Helper()
		in := tickets.NewTicket{Content: "小区门口路面塌陷，请尽快修复", Category: category, Citizen: tickets.NewCitizen{Phone: "13800001234"}}
		if len(dispatch) > 0 {
			in.Dispatch = &tickets.DispatchRequest{Departments: dispatch}
		}
		v, err := store.Create(ctx, op, in)
		if err != nil {
			t.Fatal(err)
		}
		return v.Number
	}
	original := newTicket("TS-WY") // what merges go into
	ds := principals["ds"]
	replied := func() string {
		n := newTicket("TS-WY", "DS")
		do(ds, n, tickets.ActSign, tickets.ActionRequest{})
		do(ds, n, tickets.ActReply, tickets.ActionRequest{Reply: "已修复"})
		return n
	}
	situations := []struct {
		name  string
		setup func() string
	}{
		{"registered complaint", func() string { return newTicket("TS-WY") }},
		{"registered consultation", func() string { return newTicket("ZX-SB") }},
		{"dispatched", func() string { return newTicket("TS-WY", "DS") }},
		{"signed", func() string {
			n := newTicket("TS-WY", "DS")
			do(ds, n, tickets.ActSign, tickets.ActionRequest{})
			return n
		}},
		{"extension pending", func() string {
			n := newTicket("TS-WY", "DS")
			until := time.Now().AddDate(0, 0, 20)
			do(ds, n, tickets.ActRequestExtension, tickets.ActionRequest{Reason: "需协调", Until: &until})
			return n
		}},
		{"replied", replied},
		{"returned", func() string {
			n := newTicket("TS-WY", "DS")
			do(ds, n, tickets.ActReturn, tickets.ActionRequest{Reason: "非本单位职责"})
			return n
		}},
		{"return accepted and re-dispatched to a sub-unit", func() string {
			n := newTicket("TS-WY", "DS")
			do(ds, n, tickets.ActReturn, tickets.ActionRequest{Reason: "应由街道办理"})
			do(op, n, tickets.ActAcceptReturn, tickets.ActionRequest{Departments: []string{"DS-JT"}})
			return n
		}},
		{"handed down to a sub-unit", func() string {
			n := newTicket("TS-WY", "DS")
			do(ds, n, tickets.ActRedispatch, tickets.ActionRequest{Department: "DS-JT"})
			return n
		}},
		{"completed", func() string { n := replied(); do(op, n, tickets.ActApprove, tickets.ActionRequest{}); return n }},
		{"completed with an extension asked", func() string {
			n := newTicket("TS-WY", "DS")
			until := time.Now().AddDate(0, 0, 20)
			do(ds, n, tickets.ActSign, tickets.ActionRequest{})
			do(ds, n, tickets.ActRequestExtension, tickets.ActionRequest{Reason: "需协调", Until: &until})
			do(ds, n, tickets.ActReply, tickets.ActionRequest{Reply: "已修复"})
			do(op, n, tickets.ActApprove, tickets.ActionRequest{})
			return n
		}},
		{"refused", func() string {
			n := newTicket("TS-WY")
			do(op, n, tickets.ActRefuse, tickets.ActionRequest{Reason: tickets.DefaultRefusalReasons()[0].Code})
			return n
		}},
		{"merged", func() string {
			n := newTicket("TS-WY")
			do(op, n, tickets.ActMerge, tickets.ActionRequest{Into: original})
			return n
		}},
	}
	// valid is a request each action accepts when the workflow allows it.
	until := time.Now().AddDate(0, 0, 21)
	valid := map[tickets.Action]tickets.ActionRequest{
		tickets.ActDispatch: {Departments: []string{"HEAT"}}, tickets.ActRedispatch: {Department: "DS-ZJ"},
		tickets.ActReply: {Reply: "已办理"}, tickets.ActReturn: {Reason: "非本单位职责"}, tickets.ActRejectReturn: {Note: "属本单位职责"},
		tickets.ActApprove: {Answer: "已办理"}, tickets.ActSendBack: {Note: "请补充"},
		tickets.ActRequestExtension: {Reason: "需协调", Until: &until}, tickets.ActRefuseExtension: {Note: "期限足够"},
		tickets.ActUrge: {Note: "请加快办理"}, tickets.ActAnswer: {Answer: "请携带身份证办理"}, tickets.ActReopen: {Reason: "市民不满意"},
		tickets.ActMerge: {Into: original}, tickets.ActRefuse: {Reason: tickets.DefaultRefusalReasons()[0].Code}, tickets.ActNote: {Note: "市民来电催办"},
	}
	controlRE := regexp.MustCompile(`data-action="([a-z_]+)"`)
	people := []struct {
		user string
		page string
	}{{"op", "/console/tickets/"}, {"sup", "/console/tickets/"}, {"ds", "/portal/tickets/"}, {"heat", "/portal/tickets/"}}
	clients := map[string]*client{}
	for _, who := range people {
		clients[who.user] = f.client()
		clients[who.user].login(who.user)
	}
	seenStatus := map[tickets.Status]bool{}
	everAccepted := map[tickets.Action]bool{}
	for _, sit := range situations {
		number := sit.setup()
		v, err := store.Find(ctx, sup, number)
		if err != nil {
			t.Fatal(err)
		}
		seenStatus[v.Status] = true
		for _, who := range people {
			p := principals[who.user]
			resp, body := clients[who.user].do("GET", who.page+number, nil)
			shown := map[tickets.Action]bool{}
			switch resp.StatusCode {
			case http.StatusOK:
				for _, m := range controlRE.FindAllStringSubmatch(body, -1) {
					shown[tickets.Action(m[1])] = true
				}
			case http.StatusNotFound:
			default:
				t.Fatalf("%s, %s: the page answered %d", sit.name, who.user, resp.StatusCode)
			}
			for _, a := range tickets.Actions {
				n := sit.setup()
				_, err := store.Act(ctx, p, n, a, valid[a])
				accepted := err == nil
				if err != nil && api.Status(err) != http.StatusForbidden && api.Status(err) != http.StatusConflict && api.Status(err) != http.StatusNotFound {
					t.Errorf("%s, %s, %s: refused for its fields, not the workflow: %v", sit.name, who.user, a, err)
				}
				everAccepted[a] = everAccepted[a] || accepted
				if shown[a] != accepted {
					t.Errorf("%s (%s), %s, %s: the page shows the control: %v; the API accepts the action: %v (%v)",
						sit.name, v.Status, who.user, a, shown[a], accepted, err)
				}
			}
		}
	}
	for _, s := range tickets.Statuses {
		if !seenStatus[s] {
			t.Errorf("no situation puts a ticket in status %s", s)
		}
	}
	for _, a := range tickets.Actions {
		if !everAccepted[a] {
			t.Errorf("no situation lets anyone take %s: the test would not see its control", a)
		}
	}
}

// TestPublishShowsTheRedactedAnswerFirst: the supervisor previews the answer with the
// citizen's name and number removed, then publishes it and is told so.
func TestPublishShowsTheRedactedAnswerFirst(t *testing.T) {
	f := newFixture(t)
	ctx := f.env.Ctx
	op := &auth.Principal{Name: "op", Role: auth.RoleOperator}
	v, err := f.env.Store.Create(ctx, op, tickets.NewTicket{Content: "我叫张三，电话13800001234，小区路灯不亮", Category: "ZX-SB",
		Citizen: tickets.NewCitizen{Name: "张三", Phone: "13800001234"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.env.Store.Act(ctx, op, v.Number, tickets.ActAnswer, tickets.ActionRequest{Answer: "张三您好，路灯已修复。"}); err != nil {
		t.Fatal(err)
	}
	sup := f.client()
	csrf := sup.login("sup")
	_, page := sup.do("GET", "/console/tickets/"+v.Number, nil)
	if !strings.Contains(page, `href="/console/tickets/`+v.Number+`/publish"`) {
		t.Fatalf("a completed ticket offers the supervisor no publishing:\n%s", page)
	}
	resp, page := sup.do("GET", "/console/tickets/"+v.Number+"/publish", nil)
	if resp.StatusCode != http.StatusOK || strings.Contains(page, "张三") || strings.Contains(page, "13800001234") || !strings.Contains(page, "路灯已修复") {
		t.Fatalf("the preview (%d) shows personal data or not the answer:\n%s", resp.StatusCode, page)
	}
	resp, _ = sup.do("POST", "/console/tickets/"+v.Number+"/publish", url.Values{"csrf_token": {csrf}, "answer": {"张三您好，路灯已修复。"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("publish: %d", resp.StatusCode)
	}
	_, page = sup.do("GET", resp.Header.Get("Location"), nil)
	if !strings.Contains(page, "已发布到百姓直通车") {
		t.Errorf("no word that the answer was published:\n%s", page)
	}
	answers, _, err := f.dash.PublishedAnswers(ctx, pageOne)
	if err != nil || len(answers) != 1 || strings.Contains(answers[0].Reply, "张三") {
		t.Errorf("published %+v (%v), want one answer without the name", answers, err)
	}
	opc := f.client()
	opc.login("op")
	if resp, _ := opc.do("GET", "/console/tickets/"+v.Number+"/publish", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("an operator opening the publishing page: %d, want 403", resp.StatusCode)
	}
}
