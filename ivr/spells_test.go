package ivr

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rexian/rexian/config"
)

// An operator's day as spells: every state left is logged with its length, and a
// not-ready or wrapping-up operator is never offered a caller.
func TestACDSpellsAndStates(t *testing.T) {
	clk := newTestClock()
	q := newACD(clk.now, nil)
	var got []Spell
	q.spell = func(s Spell) { got = append(got, s) }
	gq := testQueue("general", "", config.StrategyLongestIdle)

	q.login("wang", "王丽", "PJSIP/8001", nil)
	clk.add(time.Minute)
	q.setState("wang", false, "就餐")
	w := newWaiter("1", gq, clk.now())
	q.enqueue(w)
	if o := offered(t, w); o != nil {
		t.Fatalf("a not-ready operator was offered a caller: %v", o)
	}
	clk.add(30 * time.Minute)
	q.setState("wang", true, "") // the waiting caller is offered at once
	o := offered(t, w)
	if len(o) != 1 {
		t.Fatalf("ready operator not offered the waiting caller: %v", o)
	}
	a := q.agents["wang"]
	clk.add(3 * time.Second)
	q.answered(a, 7)
	clk.add(4 * time.Minute)
	q.finished(a, 4*time.Minute, time.Hour) // a long wrap-up, ended early below
	if ag, _ := q.agent("wang"); ag.State != AgentWrapUp || !ag.Until.Equal(clk.now().Add(time.Hour)) {
		t.Fatalf("after the call: %s until %v, want wrap_up for an hour", ag.State, ag.Until)
	}
	w2 := newWaiter("2", gq, clk.now())
	q.enqueue(w2)
	if o := offered(t, w2); o != nil {
		t.Fatalf("an operator wrapping up was offered a caller: %v", o)
	}
	clk.add(20 * time.Second)
	q.setState("wang", true, "") // ends the wrap-up early; the second caller is offered
	if o := offered(t, w2); len(o) != 1 {
		t.Fatalf("operator who ended the wrap-up not offered the waiting caller: %v", o)
	}
	q.release(a)
	clk.add(time.Minute)
	q.logout("wang")

	type row struct {
		State  AgentState
		Reason string
		Secs   int64
		Call   uint64
	}
	var rows []row
	for _, s := range got {
		rows = append(rows, row{s.State, s.Reason, s.MS / 1000, s.CallID})
	}
	want := []row{
		{AgentReady, "", 60, 0},
		{AgentPaused, "就餐", 1800, 0},
		{AgentOffered, "", 3, 0},
		{AgentBusy, "", 240, 7},
		{AgentWrapUp, "", 20, 0},
		// offered with no time passing is not logged; released back to ready
		{AgentReady, "", 60, 0},
	}
	if d := cmp.Diff(want, rows); d != "" {
		t.Fatalf("spells (-want +got):\n%s", d)
	}
}
