package dashboards

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rexian/rexian/ivr"
)

// The operators' figures are sums over the state log: occupancy leaves not-ready time
// out, handle time is talk plus wrap-up per conversation, not-ready time goes by reason.
func TestAgentFigures(t *testing.T) {
	e := newEnv(t)
	at := monday10.UTC()
	spell := func(user string, st ivr.AgentState, reason string, start time.Duration, secs int64) ivr.Spell {
		s := at.Add(start)
		return ivr.Spell{Operator: user, State: st, Reason: reason, StartedAt: s, EndedAt: s.Add(time.Duration(secs) * time.Second), MS: secs * 1000}
	}
	rows := []ivr.Spell{
		spell("wang", ivr.AgentReady, "", 0, 60),
		spell("wang", ivr.AgentOffered, "", time.Minute, 10),
		spell("wang", ivr.AgentBusy, "", 2*time.Minute, 230),
		spell("wang", ivr.AgentWrapUp, "", 6*time.Minute, 20),
		spell("wang", ivr.AgentPaused, "就餐", 7*time.Minute, 1800),
		spell("li", ivr.AgentBusy, "", 0, 100),
		spell("li", ivr.AgentWrapUp, "", 2*time.Minute, 50),
		spell("li", ivr.AgentPaused, "小休", 3*time.Minute, 300),
		spell("li", ivr.AgentPaused, "no_answer", 9*time.Minute, 30),
		// yesterday: outside the period
		spell("li", ivr.AgentPaused, "会议", -24*time.Hour, 3600),
	}
	if err := e.DB.Create(&rows).Error; err != nil {
		t.Fatal(err)
	}
	p, err := PeriodOf(PeriodToday, monday10, "", "", shanghai)
	if err != nil {
		t.Fatal(err)
	}
	set, err := e.svc.Figures(e.ctx, supervisor, p, GroupNone)
	if err != nil {
		t.Fatal(err)
	}
	occ, aht := 400.0/470.0, 200.0
	want := AgentFigures{Available: true, Occupancy: &occ, Handled: 2, AvgHandleSeconds: &aht,
		TalkSeconds: 330, WrapUpSeconds: 70, IdleSeconds: 70, NotReadySeconds: 2130,
		NotReady: []ReasonTime{{"就餐", 1800}, {"小休", 300}, {"no_answer", 30}}}
	if d := cmp.Diff(want, set.Agents); d != "" {
		t.Fatalf("operator figures (-want +got):\n%s", d)
	}
}
