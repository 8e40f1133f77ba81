package ivr

import (
	"testing"

	"github.com/rexian/rexian/ivr/aritest"
	"github.com/rexian/rexian/live/livetest"
)

// TestRestartKeepsCallsRecordsAndOperators restarts the controller mid-call: callers
// waiting in two queues, one talking to an operator, one who hangs up while rexian is
// down. The new run continues every call's record (no second record, none left open),
// keeps each waiting caller's queue and place, keeps the operators logged in (the live
// store), leaves the conversation alone, and closes the record of the caller who left
// with the end they reached; the operator's answered call is counted once.
func TestRestartKeepsCallsRecordsAndOperators(t *testing.T) {
	ls := livetest.Open(t)
	h := newHarness(t, withLive(ls))
	h.login("wang", "PJSIP/8001", aritest.Phone{})
	h.login("li", "PJSIP/8002", aritest.Phone{})
	h.ctrl.acd.setState("li", false, "会议") // logged in, paused: must stay so

	talking := h.dial("13800000001", "12345")
	talking.Press("0")
	leg := h.originated("PJSIP/8001")
	h.eventually("bridged", func() bool { return leg.BridgeID() != "" && talking.BridgeID() == leg.BridgeID() })
	bridge := leg.BridgeID()

	complaint := h.dial("13800000002", "12345")
	complaint.Press("1")
	h.eventually("the complaint caller waits", func() bool { return complaint.MOH() })
	consult := h.dial("13800000003", "12345")
	consult.Press("2")
	h.eventually("the consultation caller waits", func() bool { return consult.MOH() })
	leaver := h.dial("13800000004", "12345")
	leaver.Press("0")
	h.eventually("the fourth caller waits", func() bool { return leaver.MOH() })
	before := map[string]Record{}
	for _, c := range []*aritest.Call{talking, complaint, consult, leaver} {
		var rec Record
		h.eventually("the record says where "+c.ID()+" is", func() bool {
			return h.opts.DB.Where("channel_id = ?", c.ID()).First(&rec).Error == nil && (rec.QueuedAt != nil || rec.ConnectedAt != nil)
		})
		before[c.ID()] = rec
	}
	h.eventually("the operators reach the live store", func() bool {
		agents, err := h.ctrl.Live().Agents(h.ctx)
		return err == nil && len(agents) == 2 && agents[1].User == "wang" && agents[1].State == AgentBusy
	})

	h.stop()
	leaver.Hangup() // while rexian is down: nobody hears it
	h.start()

	// The operators are back as they were: wang still talking, li still paused.
	if a := h.waitAgent("wang", AgentBusy); a.CallID != before[talking.ID()].ID {
		t.Errorf("wang is busy with call %d, want %d", a.CallID, before[talking.ID()].ID)
	}
	if a := h.waitAgent("li", AgentPaused); a.Reason != "会议" {
		t.Errorf("li paused for %q, want 会议", a.Reason)
	}
	// The caller who left has their record closed as abandoned in the queue.
	if rec := h.record(leaver.ID()); rec.Outcome != OutcomeAbandonedQueue || rec.ID != before[leaver.ID()].ID {
		t.Errorf("the caller who hung up while rexian was down: record %d outcome %q, want %d abandoned_queue", rec.ID, rec.Outcome, before[leaver.ID()].ID)
	}
	// The waiting callers are back in their queues, at their places.
	h.eventually("both waiting callers are queued again", func() bool {
		_, w := h.ctrl.acd.snapshot()
		return len(w) == 2
	})
	_, waiting := h.ctrl.acd.snapshot()
	for _, w := range waiting {
		rec := before[map[string]string{"13800000002": complaint.ID(), "13800000003": consult.ID()}[w.Caller]]
		if w.Key != itoa(rec.ID) || w.Queue != rec.Queue || !w.Since.Equal(*rec.QueuedAt) {
			t.Errorf("waiting %+v; want call %d in %s since %s", w, rec.ID, rec.Queue, rec.QueuedAt)
		}
	}
	if q := before[complaint.ID()].Queue; q != "complaint" {
		t.Errorf("the complaint caller was in queue %q", q)
	}
	if countPlayed(complaint, "queue-enter") > 1 {
		t.Error("the re-adopted caller was told again that they are being put through")
	}
	// A caller who rings in after the restart and asks for a complaint waits behind the
	// one who waited before it.
	late := h.dial("13800000005", "12345")
	late.Press("1")
	h.eventually("the late caller waits", func() bool { return late.MOH() })
	// The conversation was left alone: same bridge, operator still on.
	if leg.State() != "Up" || talking.BridgeID() != bridge || leg.BridgeID() != bridge {
		t.Fatalf("the conversation was cut: operator %q, bridges %q %q (was %q)", leg.State(), talking.BridgeID(), leg.BridgeID(), bridge)
	}
	talking.Hangup()
	h.waitDone(leg)
	rec := h.record(talking.ID())
	if rec.ID != before[talking.ID()].ID || rec.Outcome != OutcomeAnswered || rec.Operator != "wang" {
		t.Errorf("the conversation's record: %d %q by %q, want %d answered by wang", rec.ID, rec.Outcome, rec.Operator, before[talking.ID()].ID)
	}
	// wang is free: the complaint caller who waited longest is put through first.
	next := h.originated("PJSIP/8001")
	h.eventually("wang takes the caller who waited longest", func() bool {
		return next.BridgeID() != "" && (complaint.BridgeID() == next.BridgeID() || late.BridgeID() == next.BridgeID())
	})
	if complaint.BridgeID() != next.BridgeID() {
		t.Error("the caller who rang in after the restart went before the one who waited since before it")
	}
	if a, _ := h.ctrl.acd.agent("wang"); a.Calls != 1 {
		t.Errorf("wang has %d calls counted, want 1 (the conversation taken over)", a.Calls)
	}
	for _, c := range []*aritest.Call{complaint, consult, late} {
		c.Hangup()
	}
	h.idle()
	var n int64
	h.opts.DB.Model(&Record{}).Count(&n)
	if n != 5 {
		t.Errorf("%d call records for 5 calls", n)
	}
	var open int64
	h.opts.DB.Model(&Record{}).Where("ended_at IS NULL").Count(&open)
	if open != 0 {
		t.Errorf("%d call records left open", open)
	}
}

func countPlayed(c *aritest.Call, name string) int {
	n := 0
	for _, m := range c.Played() {
		if m == "sound:rexian/"+name {
			n++
		}
	}
	return n
}
