package dashboards

import (
	"context"
	"errors"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/tickets"
)

func TestPeriodOf(t *testing.T) {
	at := time.Date(2026, 11, 26, 23, 30, 0, 0, shanghai) // a Thursday
	d := func(y int, m time.Month, day int) time.Time { return time.Date(y, m, day, 0, 0, 0, 0, shanghai) }
	for _, tc := range []struct {
		kind     PeriodKind
		from, to string
		want     [2]time.Time
		err      string
	}{
		{kind: PeriodToday, want: [2]time.Time{d(2026, 11, 26), d(2026, 11, 27)}},
		{kind: PeriodWeek, want: [2]time.Time{d(2026, 11, 23), d(2026, 11, 30)}},
		{kind: PeriodMonth, want: [2]time.Time{d(2026, 11, 1), d(2026, 12, 1)}},
		{kind: PeriodQuarter, want: [2]time.Time{d(2026, 10, 1), d(2027, 1, 1)}},
		{kind: PeriodYear, want: [2]time.Time{d(2026, 1, 1), d(2027, 1, 1)}},
		{kind: PeriodCustom, from: "2026-01-01", to: "2026-01-31", want: [2]time.Time{d(2026, 1, 1), d(2026, 2, 1)}},
		{kind: PeriodCustom, from: "2026-02-01", to: "2026-01-31", err: "invalid_period"},
		{kind: PeriodCustom, from: "yesterday", to: "2026-01-31", err: "invalid_from"},
		{kind: PeriodCustom, from: "2000-01-01", to: "2026-01-31", err: "period_too_long"},
		{kind: "decade", err: "invalid_period"},
	} {
		t.Run(string(tc.kind)+tc.from, func(t *testing.T) {
			p, err := PeriodOf(tc.kind, at.UTC(), tc.from, tc.to, shanghai)
			if tc.err != "" {
				var ae *api.Error
				if !errors.As(err, &ae) || ae.Code != tc.err || !errors.Is(err, api.ErrInvalid) {
					t.Fatalf("err = %v; want %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !p.From.Equal(tc.want[0]) || !p.To.Equal(tc.want[1]) {
				t.Errorf("period = %s – %s; want %s – %s", p.From, p.To, tc.want[0], tc.want[1])
			}
		})
	}
}

func TestFigures(t *testing.T) {
	e := newEnv(t)
	heat := e.department("HEAT")
	// 1: a heating complaint, completed on time.
	t1 := e.ticket("TS-GN", nil)
	e.act(heat, t1, tickets.ActSign, tickets.ActionRequest{})
	e.act(heat, t1, tickets.ActReply, tickets.ActionRequest{Reply: "已派人维修，暖气恢复正常。"})
	e.act(desk, t1, tickets.ActApprove, tickets.ActionRequest{Answer: "已维修。"})
	// 2: a consultation answered at once (no deadline: on time).
	e.ticket("ZX-SB", func(in *tickets.NewTicket) {
		in.Dispatch, in.Answer, in.Channel = nil, "携带身份证到社保大厅办理。", tickets.ChannelWeb
	})
	// 3: a property complaint to HRSS that nobody signs for.
	e.ticket("TS-WY", func(in *tickets.NewTicket) {
		in.Dispatch = &tickets.DispatchRequest{Departments: []string{"HRSS"}}
		in.Location.District = "DS"
	})
	// 6: another to HRSS, returned as not its business.
	t6 := e.ticket("TS-WY", func(in *tickets.NewTicket) { in.Dispatch = &tickets.DispatchRequest{Departments: []string{"HRSS"}} })
	// 4: refused: never accepted, not counted.
	t4 := e.ticket("TS-WY", func(in *tickets.NewTicket) { in.Dispatch = nil })
	e.act(desk, t4, tickets.ActRefuse, tickets.ActionRequest{Reason: tickets.DefaultRefusalReasons()[0].Code})
	// 5: registered yesterday: outside today.
	e.clk.Set(monday10.AddDate(0, 0, -1))
	e.ticket("TS-GN", nil)
	e.clk.Set(monday10.Add(7 * time.Hour)) // 17:00, past t3's sign-for limit
	e.markOverdue()
	e.act(e.department("HRSS"), t6, tickets.ActReturn, tickets.ActionRequest{Reason: "不属于本单位职责"})

	e.call(monday10, ivr.OutcomeAnswered, 5*time.Second)
	e.call(monday10.Add(time.Minute), ivr.OutcomeAnswered, 20*time.Second)
	e.call(monday10.Add(2*time.Minute), ivr.OutcomeAbandonedQueue, 30*time.Second)
	e.call(monday10.Add(3*time.Minute), ivr.OutcomeVoicemail, 0)
	e.call(monday10.AddDate(0, 0, -1), ivr.OutcomeAnswered, time.Second) // yesterday

	p, err := PeriodOf(PeriodToday, e.clk.Now(), "", "", shanghai)
	if err != nil {
		t.Fatal(err)
	}
	set, err := e.svc.Figures(e.ctx, supervisor, p, GroupNone)
	if err != nil {
		t.Fatal(err)
	}
	want := Figures{Key: "total", Name: "合计", Accepted: 4, Completed: 2, CompletedOnTime: 2, OverdueNow: 1, Returns: 1,
		CompletionRate: f64(0.5), OnTimeRate: f64(1)}
	if diff := cmp.Diff(want, set.Total, cmpIgnoreLinks); diff != "" {
		t.Errorf("total (-want +got):\n%s", diff)
	}
	wantCalls := CallFigures{Offered: 4, Answered: 2, Abandoned: 1, Voicemails: 1, InTarget: 1,
		AnswerRate: f64(0.75), ServiceLevel: f64(0.25), ServiceLevelArrival: f64(0), AvgWaitSeconds: f64(12.5), P90WaitSeconds: f64(20)}
	if diff := cmp.Diff(wantCalls, set.Calls, cmpIgnoreLinks); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}

	// Each link lists exactly the tickets counted.
	for figure, n := range map[string]int64{"accepted": 4, "completed": 2, "overdue_now": 1} {
		q, err := url.ParseQuery(set.Total.Tickets[figure])
		if err != nil {
			t.Fatal(err)
		}
		if got := e.listCount(q); got != n {
			t.Errorf("%s: the link lists %d tickets; the figure is %d", figure, got, n)
		}
	}

	byGroup := func(g Group) map[string]Figures {
		set, err := e.svc.Figures(e.ctx, supervisor, p, g)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]Figures{}
		for _, f := range set.Groups {
			m[f.Key] = f
		}
		return m
	}
	dept := byGroup(GroupDepartment)
	if f := dept["HEAT"]; f.Accepted != 1 || f.Completed != 1 || f.Name != "市热力公司" {
		t.Errorf("HEAT: %+v", f)
	}
	if f := dept["HRSS"]; f.Accepted != 2 || f.OverdueNow != 1 || f.Returns != 1 {
		t.Errorf("HRSS: %+v", f)
	}
	if f := dept[noKey]; f.Accepted != 1 || f.Completed != 1 {
		t.Errorf("no lead department (answered at once): %+v", f)
	}
	cat := byGroup(GroupCategory)
	if cat["TS"].Accepted != 3 || cat["ZX"].Accepted != 1 {
		t.Errorf("categories roll up to the top: %+v", cat)
	}
	if q, _ := url.ParseQuery(cat["TS"].Tickets["accepted"]); e.listCount(q) != 3 {
		t.Errorf("the TS link lists %d tickets", e.listCount(q))
	}
	ch := byGroup(GroupChannel)
	if ch["phone"].Accepted != 3 || ch["web"].Accepted != 1 || ch["web"].Name != "网站" {
		t.Errorf("channels: %+v", ch)
	}
	if d := byGroup(GroupDistrict); d["DS"].Accepted != 1 || d[noKey].Accepted != 3 {
		t.Errorf("districts: %+v", d)
	}

	for _, tc := range []struct {
		who  *auth.Principal
		g    Group
		kind error
	}{
		{heat, GroupNone, api.ErrForbidden},
		{desk, GroupNone, api.ErrForbidden},
		{nil, GroupNone, api.ErrForbidden},
		{supervisor, "hotline", api.ErrInvalid},
	} {
		if _, err := e.svc.Figures(e.ctx, tc.who, p, tc.g); !errors.Is(err, tc.kind) {
			t.Errorf("Figures(%v, %q) = %v; want %v", tc.who, tc.g, err, tc.kind)
		}
	}
}

var cmpIgnoreLinks = cmp.FilterPath(func(p cmp.Path) bool {
	switch p.Last().String() {
	case ".Tickets", ".Surveys", ".Links":
		return true
	}
	return false
}, cmp.Ignore())

// listCount counts what GET /api/v1/tickets?q lists for a supervisor.
func (e *env) listCount(q url.Values) int64 {
	e.t.Helper()
	f := tickets.Filter{Department: q.Get("department"), Category: q.Get("category"), Channel: tickets.Channel(q.Get("channel"))}
	for _, s := range splitComma(q.Get("status")) {
		f.Status = append(f.Status, tickets.Status(s))
	}
	if q.Get("overdue") == "true" {
		b := true
		f.Overdue = &b
	}
	if q.Get("open") == "true" {
		b := true
		f.Open = &b
	}
	for k, dst := range map[string]**time.Time{"from": &f.From, "to": &f.To} {
		if v := q.Get(k); v != "" {
			x, err := time.Parse(time.RFC3339, v)
			if err != nil {
				e.t.Fatal(err)
			}
			*dst = &x
		}
	}
	items, _, err := e.store.List(e.ctx, supervisor, f, api.Page{Page: 1, PerPage: 200})
	if err != nil {
		e.t.Fatal(err)
	}
	return int64(len(items))
}

func splitComma(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

// fakeSurveys stands for the callback package's table.
type fakeSurveys struct{ counts map[Group][]SurveyCount }

var _ SurveyCounter = fakeSurveys{}

func (f fakeSurveys) CountSurveys(_ context.Context, _, _ time.Time, g Group) ([]SurveyCount, bool, error) {
	return f.counts[g], true, nil
}

func TestSurveyFigures(t *testing.T) {
	e := newEnv(t)
	// A city that does not keep surveys (the callback package's table is absent).
	if err := e.DB.Migrator().DropTable("callback_surveys"); err != nil {
		t.Fatal(err)
	}
	p, _ := PeriodOf(PeriodToday, e.clk.Now(), "", "", shanghai)
	set, err := e.svc.Figures(e.ctx, supervisor, p, GroupNone)
	if err != nil {
		t.Fatal(err)
	}
	if set.SurveysAvailable || set.Total.SatisfactionRate != nil {
		t.Errorf("without the survey table: available %v, rate %v", set.SurveysAvailable, set.Total.SatisfactionRate)
	}
	heat, _ := e.store.DepartmentByCode(e.ctx, "HEAT")
	svc := NewService(e.DB, Options{Location: shanghai, Now: e.clk.Now, Surveys: fakeSurveys{counts: map[Group][]SurveyCount{
		GroupNone:       {{Key: "", Done: 10, Answered: 8, Satisfied: 7}},
		GroupDepartment: {{Key: strconv.Itoa(int(heat)), Done: 10, Answered: 8, Satisfied: 6}},
	}}})
	set, err = svc.Figures(e.ctx, supervisor, p, GroupNone)
	if err != nil {
		t.Fatal(err)
	}
	if !set.SurveysAvailable || set.Total.SurveysDone != 10 || *set.Total.SatisfactionRate != 0.875 {
		t.Errorf("surveys: %+v", set.Total)
	}
	set, err = svc.Figures(e.ctx, supervisor, p, GroupDepartment)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Groups) != 1 || set.Groups[0].Key != "HEAT" || *set.Groups[0].SatisfactionRate != 0.75 {
		t.Errorf("surveys by department: %+v", set.Groups)
	}
}
