package dashboards

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/callback"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/tickets"
)

// TestRollUpEqualsLive builds six weeks of tickets, calls and surveys, rolls them up and
// checks that every figure set, the three rates and the service-standard panel equal
// the live count, before and after tickets, surveys and calls change and passes run.
func TestRollUpEqualsLive(t *testing.T) {
	e := newEnv(t)
	// Gorm stamps updated_at itself on some writes: on the test's clock, as in service
	// both are the wall clock.
	e.DB.Config.NowFunc = e.clk.Now
	live := NewService(e.DB, Options{Location: shanghai, Now: e.clk.Now})
	live.liveOnly = true
	heat, hrss := e.department("HEAT"), e.department("HRSS")
	boss := &auth.Principal{Name: "wang", Role: auth.RoleSupervisor}

	type made struct {
		number string
		dept   *auth.Principal
	}
	var lateOnes, openOnes, unanswered []made
	var waiting []*callback.Survey
	outcomes := []ivr.Outcome{ivr.OutcomeAnswered, ivr.OutcomeAnswered, ivr.OutcomeAnswered, ivr.OutcomeAbandonedQueue,
		ivr.OutcomeVoicemail, ivr.OutcomeStatusLookup}
	results := []callback.Result{callback.ResultSatisfied, callback.ResultNone, callback.ResultDissatisfied,
		callback.ResultFairlySatisfied, callback.ResultUnreachable}
	channels := []tickets.Channel{tickets.ChannelPhone, tickets.ChannelWeb, tickets.ChannelSMS, tickets.ChannelQQ}
	start := time.Date(2026, 10, 12, 0, 0, 0, 0, shanghai)
	n := 0
	for day := start; day.Before(monday10.Add(-10 * time.Hour)); day = day.AddDate(0, 0, 1) {
		for j := range 5 {
			wait := time.Duration(j*7)*time.Second + time.Duration(n%10)*100*time.Millisecond
			at := day.Add(9*time.Hour + time.Duration(j*37)*time.Minute)
			e.clk.Set(at)
			e.call(at, outcomes[(n+j)%len(outcomes)], wait)
		}
		// A letter or QQ message the desk takes up only the next day, or never.
		if day.Day()%4 == 0 {
			e.clk.Set(day.Add(7 * time.Hour))
			ch := []tickets.Channel{tickets.ChannelQQ, tickets.ChannelMailbox, tickets.ChannelWeb}[day.Day()%3]
			unanswered = append(unanswered, made{e.ticket("TS-GN", func(in *tickets.NewTicket) {
				in.Channel, in.Dispatch = ch, nil
			}), heat})
		}
		if len(unanswered) > 1 && day.Day()%4 == 1 {
			e.clk.Set(day.Add(7 * time.Hour))
			e.act(desk, unanswered[0].number, tickets.ActDispatch, tickets.ActionRequest{Departments: []string{"HEAT"}})
			unanswered = unanswered[1:]
		}
		for j := range 7 {
			e.clk.Set(day.Add(time.Duration(8+j) * time.Hour).Add(time.Duration(n%50) * time.Minute))
			n++
			kind := n % 6
			cat, dept := "TS-GN", heat
			mod := func(in *tickets.NewTicket) {
				in.Channel = channels[n%len(channels)]
				if n%3 == 0 {
					in.Location.District = "DS"
				}
			}
			if kind == 3 || kind == 5 {
				cat, dept = "TS-WY", hrss
				inner := mod
				mod = func(in *tickets.NewTicket) {
					inner(in)
					in.Dispatch = &tickets.DispatchRequest{Departments: []string{"HRSS"}}
				}
			}
			if n%17 == 0 {
				inner := mod
				mod = func(in *tickets.NewTicket) {
					inner(in)
					in.Dispatch, in.Answer = nil, "已当场答复。"
				}
				e.ticket("ZX-SB", mod)
				continue
			}
			num := e.ticket(cat, mod)
			switch kind {
			case 0: // completed on time
				e.act(dept, num, tickets.ActSign, tickets.ActionRequest{})
				e.act(dept, num, tickets.ActReply, tickets.ActionRequest{Reply: "已处理完毕。"})
				e.act(desk, num, tickets.ActApprove, tickets.ActionRequest{Answer: "已处理。"})
				if sv := e.survey(num, results[n%len(results)]); sv.Result == callback.ResultNone {
					waiting = append(waiting, sv)
				}
			case 1: // signed, completed late some days on
				e.act(dept, num, tickets.ActSign, tickets.ActionRequest{})
				lateOnes = append(lateOnes, made{num, dept})
			case 2: // extended
				e.act(dept, num, tickets.ActSign, tickets.ActionRequest{})
				view, err := e.store.Find(e.ctx, desk, num)
				if err != nil {
					t.Fatal(err)
				}
				until := view.DueAt.Add(72 * time.Hour)
				e.act(dept, num, tickets.ActRequestExtension, tickets.ActionRequest{Reason: "需更换管道", Until: &until})
				e.act(boss, num, tickets.ActApproveExtension, tickets.ActionRequest{})
				openOnes = append(openOnes, made{num, dept})
			case 3: // returned
				e.act(dept, num, tickets.ActReturn, tickets.ActionRequest{Reason: "不属于本单位职责"})
			default: // left open: overdue in time
				openOnes = append(openOnes, made{num, dept})
			}
		}
		e.clk.Set(day.Add(20 * time.Hour))
		e.markOverdue()
		// Complete the late ones from more than a week ago.
		for len(lateOnes) > 0 && len(lateOnes) > 20 {
			x := lateOnes[0]
			lateOnes = lateOnes[1:]
			e.act(x.dept, x.number, tickets.ActReply, tickets.ActionRequest{Reply: "迟复。"})
			e.act(desk, x.number, tickets.ActApprove, tickets.ActionRequest{Answer: "已处理。"})
		}
	}
	// A call that arrived just before midnight and is still going on.
	e.clk.Set(monday10.Add(-10*time.Hour - 2*time.Minute))
	going := e.call(e.clk.Now(), "", 0)
	e.clk.Set(monday10.Add(2 * time.Hour))
	t.Logf("%d tickets, %d surveys waiting", n, len(waiting))

	check := func(when string, wantRolled bool) {
		t.Helper()
		now := e.clk.Now()
		var periods []Period
		for _, k := range []PeriodKind{PeriodToday, PeriodWeek, PeriodMonth, PeriodQuarter} {
			p, err := PeriodOf(k, now, "", "", shanghai)
			if err != nil {
				t.Fatal(err)
			}
			periods = append(periods, p)
		}
		for _, r := range [][2]string{{"2026-10-20", "2026-11-10"}, {"2026-10-31", "2026-11-01"}, {"2026-10-12", "2026-11-30"}} {
			p, err := PeriodOf(PeriodCustom, now, r[0], r[1], shanghai)
			if err != nil {
				t.Fatal(err)
			}
			periods = append(periods, p)
		}
		// A period that is not whole days: from an hour to another.
		periods = append(periods, Period{Kind: PeriodCustom, From: time.Date(2026, 10, 28, 13, 0, 0, 0, shanghai),
			To: time.Date(2026, 11, 4, 9, 30, 0, 0, shanghai)})
		rolled := false
		for _, p := range periods {
			pl, err := e.svc.plan(e.ctx, p.From.UTC(), p.To.UTC())
			if err != nil {
				t.Fatal(err)
			}
			rolled = rolled || len(pl.tickets.rolled) > 0 && len(pl.written.rolled) > 0 && len(pl.surveys.rolled) > 0 &&
				len(pl.calls.rolled) > 0
			for _, g := range rollupGroups {
				got, err := e.svc.Figures(e.ctx, supervisor, p, g)
				if err != nil {
					t.Fatal(err)
				}
				want, err := live.Figures(e.ctx, supervisor, p, g)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s: %s %s–%s by %q (-live +rolled):\n%s", when, p.Kind, p.From.Format(time.DateTime),
						p.To.Format(time.DateTime), g, diff)
				}
				if p.Kind == PeriodQuarter && g == GroupNone && (got.Total.Accepted == 0 || got.Total.SurveysAnswered == 0 ||
					got.Calls.Offered == 0 || got.Calls.P90WaitSeconds == nil) {
					t.Errorf("%s: nothing counted: %+v", when, got)
				}
			}
			gotR := sameAsLive(t, when+": rates", p, func(s *Service) (*Ranking, error) { return s.Ranking(e.ctx, supervisor, p) }, e.svc, live)
			gotS := sameAsLive(t, when+": standard", p, func(s *Service) (*StandardPanel, error) { return s.Standard(e.ctx, supervisor, p) }, e.svc, live)
			if p.Kind == PeriodQuarter {
				if gotR.Total.ResponseCounted == 0 || gotR.Total.ResolutionCounted == 0 || gotR.Total.SurveysAnswered == 0 {
					t.Errorf("%s: no rates counted: %+v", when, gotR.Total)
				}
				for _, m := range gotS.Measures {
					if m.Code != "sms_3min" && m.Counted == 0 {
						t.Errorf("%s: nothing counted for %s", when, m.Code)
					}
				}
			}
		}
		// The trend, day by day over six weeks to two days from now, and by month.
		var days, months []Period
		for d := time.Date(2026, 10, 12, 0, 0, 0, 0, shanghai); d.Before(now.AddDate(0, 0, 2)); d = d.AddDate(0, 0, 1) {
			days = append(days, Period{Kind: PeriodCustom, From: d, To: d.AddDate(0, 0, 1)})
		}
		for m := time.Date(2026, 10, 1, 0, 0, 0, 0, shanghai); m.Before(now); m = m.AddDate(0, 1, 0) {
			months = append(months, Period{Kind: PeriodCustom, From: m, To: m.AddDate(0, 1, 0)})
		}
		for _, buckets := range [][]Period{days, months} {
			points, err := e.svc.Trend(e.ctx, supervisor, buckets)
			if err != nil {
				t.Fatal(err)
			}
			for i, b := range buckets {
				want, err := live.Figures(e.ctx, supervisor, b, GroupNone)
				if err != nil {
					t.Fatal(err)
				}
				if got := points[i]; got.Accepted != want.Total.Accepted || got.Completed != want.Total.Completed {
					t.Errorf("%s: trend %s: accepted %d completed %d; live %d, %d", when, b.From.Format(time.DateOnly),
						got.Accepted, got.Completed, want.Total.Accepted, want.Total.Completed)
				}
			}
		}
		if rolled != wantRolled {
			t.Errorf("%s: roll-ups read %v; want %v", when, rolled, wantRolled)
		}
	}
	pass := func() int {
		t.Helper()
		days, err := e.svc.RollUp(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		return days
	}

	check("before any pass", false)
	if days := pass(); days < 40 {
		t.Fatalf("the first pass rebuilt %d days", days)
	}
	check("after the first pass", true)
	e.clk.Set(e.clk.Now().Add(10 * time.Minute))
	if days := pass(); days != 0 {
		t.Errorf("a pass with nothing written rebuilt %d days", days)
	}
	check("after an idle pass", true)

	// Change tickets of past days: late completions, an extension, a return, overdue
	// marking, and new tickets today.
	e.clk.Set(e.clk.Now().Add(5 * time.Minute))
	for _, x := range lateOnes[:5] {
		e.act(x.dept, x.number, tickets.ActReply, tickets.ActionRequest{Reply: "迟复。"})
		e.act(desk, x.number, tickets.ActApprove, tickets.ActionRequest{Answer: "已处理。"})
	}
	for i, x := range openOnes[:12] {
		switch i % 3 {
		case 0:
			_, _ = e.store.Act(e.ctx, x.dept, x.number, tickets.ActSign, tickets.ActionRequest{}) // the extended are signed
			e.act(x.dept, x.number, tickets.ActReply, tickets.ActionRequest{Reply: "已处理完毕。"})
			e.act(desk, x.number, tickets.ActApprove, tickets.ActionRequest{Answer: "已处理。"})
		case 1:
			if _, err := e.store.Act(e.ctx, x.dept, x.number, tickets.ActReturn, tickets.ActionRequest{Reason: "不属于本单位职责"}); err != nil {
				t.Logf("return %s: %v", x.number, err)
			}
		}
	}
	e.ticket("TS-GN", nil)
	e.ticket("TS-WY", func(in *tickets.NewTicket) { in.Dispatch = &tickets.DispatchRequest{Departments: []string{"HRSS"}} })
	// Citizens answer surveys of past completions, the late-night call ends, and the desk
	// takes up an old message.
	for i, sv := range waiting[:min(len(waiting), 6)] {
		e.answerSurvey(sv, results[i%2*2])
	}
	going.Outcome, going.WaitMS, going.InTarget = ivr.OutcomeAnswered, 4000, true
	if err := e.DB.WithContext(e.ctx).Save(going).Error; err != nil {
		t.Fatal(err)
	}
	if len(unanswered) > 0 {
		e.act(desk, unanswered[0].number, tickets.ActDispatch, tickets.ActionRequest{Departments: []string{"HEAT"}})
	}
	e.clk.Set(e.clk.Now().Add(3 * time.Hour))
	e.markOverdue()
	check("after changes, before the pass", true)
	if days := pass(); days == 0 {
		t.Error("the pass after changes rebuilt nothing")
	}
	check("after the next pass", true)

	// The next day: yesterday is whole but not yet clean until a pass after it ends.
	e.clk.Set(monday10.AddDate(0, 0, 1).Add(time.Hour))
	e.ticket("TS-GN", nil)
	check("the next morning", true)
	pass()
	check("after the morning pass", true)
	e.markOverdue()
	e.clk.Set(e.clk.Now().Add(48 * time.Hour))
	e.markOverdue()
	check("two days on", true)
	pass()
	check(fmt.Sprintf("after the pass at %s", e.clk.Now().In(shanghai).Format(time.DateTime)), true)
}

// sameAsLive computes with the roll-ups and live, reports any difference and returns the
// rolled-up answer.
func sameAsLive[T any](t *testing.T, what string, p Period, f func(*Service) (T, error), rolled, live *Service) T {
	t.Helper()
	got, err := f(rolled)
	if err != nil {
		t.Fatal(err)
	}
	want, err := f(live)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s %s–%s (-live +rolled):\n%s", what, p.From.Format(time.DateTime), p.To.Format(time.DateTime), diff)
	}
	return got
}
