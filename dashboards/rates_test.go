package dashboards

import (
	"errors"
	"testing"
	"time"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/tickets"
)

func TestRanking(t *testing.T) {
	e := newEnv(t)
	to := func(code string) func(*tickets.NewTicket) {
		return func(in *tickets.NewTicket) { in.Dispatch = &tickets.DispatchRequest{Departments: []string{code}} }
	}
	heat, bureau := e.department("HEAT"), e.department("DS-ZJ")
	t1 := e.ticket("TS-GN", nil)
	t2 := e.ticket("TS-WY", to("DS-ZJ"))
	e.ticket("TS-WY", to("HRSS"))
	t4 := e.ticket("TS-WY", to("KBS"))
	e.clk.Add(10 * time.Minute)
	e.act(heat, t1, tickets.ActSign, tickets.ActionRequest{})
	e.act(bureau, t2, tickets.ActSign, tickets.ActionRequest{})
	e.act(e.department("KBS"), t4, tickets.ActReturn, tickets.ActionRequest{Reason: "不属于本区"})
	e.clk.Add(10 * time.Minute)
	for who, n := range map[*auth.Principal]string{heat: t1, bureau: t2} {
		e.act(who, n, tickets.ActReply, tickets.ActionRequest{Reply: "已办理。"})
		e.act(desk, n, tickets.ActApprove, tickets.ActionRequest{Answer: "已办理。"})
	}
	e.clk.Set(monday10.Add(7 * time.Hour)) // HRSS's sign-for limit has passed

	p, _ := PeriodOf(PeriodToday, e.clk.Now(), "", "", shanghai)
	r, err := e.svc.Ranking(e.ctx, supervisor, p)
	if err != nil {
		t.Fatal(err)
	}
	type line struct {
		key                    string
		resp, respN, res, resN int64
		rank                   int
	}
	var got []line
	for _, x := range r.Departments {
		got = append(got, line{x.Key, x.Responded, x.ResponseCounted, x.Resolved, x.ResolutionCounted, x.Rank})
	}
	want := []line{{"DS-ZJ", 1, 1, 1, 1, 1}, {"HEAT", 1, 1, 1, 1, 1}, {"HRSS", 0, 1, 0, 0, 3}, {"KBS", 0, 0, 0, 0, 4}}
	if len(got) != len(want) {
		t.Fatalf("departments %+v; want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d = %+v; want %+v", i, got[i], want[i])
		}
	}
	if len(r.Districts) != 2 || r.Districts[0].Key != "DS" || *r.Districts[0].Score != 1 || r.Districts[1].Key != "KBS" || r.Districts[1].Score != nil {
		t.Errorf("districts %+v", r.Districts)
	}
	if _, err := e.svc.Ranking(e.ctx, heat, p); !errors.Is(err, api.ErrForbidden) {
		t.Errorf("a department sees the ranking: %v", err)
	}
}

func TestStandardPanel(t *testing.T) {
	e := newEnv(t)
	intake := func(name string, ch tickets.Channel) string {
		v, err := e.store.Create(e.ctx, &auth.Principal{Name: name, Role: auth.RoleOperator}, tickets.NewTicket{Channel: ch,
			Citizen: tickets.NewCitizen{Name: "赵", Phone: "13900000000"}, Title: "路灯不亮", Content: "小区门口路灯不亮。", Category: "TS-WY"})
		if err != nil {
			t.Fatal(err)
		}
		return v.Number
	}
	quick, slow, letter := intake("web", tickets.ChannelWeb), intake("web", tickets.ChannelWeb), intake("mailbox", tickets.ChannelMailbox)
	unanswered := intake("qq", tickets.ChannelQQ)
	e.clk.Add(2 * time.Minute)
	e.act(desk, quick, tickets.ActDispatch, tickets.ActionRequest{Departments: []string{"HRSS"}})
	e.clk.Add(8 * time.Minute)
	e.act(desk, slow, tickets.ActDispatch, tickets.ActionRequest{Departments: []string{"HRSS"}})
	e.act(desk, letter, tickets.ActNote, tickets.ActionRequest{Note: "已电话联系来信人。"})
	_ = unanswered // ten minutes unanswered: counted, not met
	e.call(monday10, ivr.OutcomeAnswered, 5*time.Second)
	e.call(monday10, ivr.OutcomeAbandonedQueue, 40*time.Second)

	p, _ := PeriodOf(PeriodToday, e.clk.Now(), "", "", shanghai)
	panel, err := e.svc.Standard(e.ctx, supervisor, p)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][2]int64{}
	for _, m := range panel.Measures {
		got[m.Code] = [2]int64{m.Counted, m.Met}
	}
	want := map[string][2]int64{"calls_15s": {2, 1}, "connect_24h": {2, 1}, "sms_3min": {0, 0}, "web_3min": {2, 1}, "qq_3min": {1, 0}, "mailbox_24h": {1, 1}}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %v; want %v", k, got[k], w)
		}
	}
}
