package ivr

import (
	"strings"
	"testing"
	"time"

	"github.com/rexian/rexian/ivr/aritest"
	"github.com/rexian/rexian/tickets"
)

// connected dials a caller who presses 0 and waits until operator wang (PJSIP/8001)
// talks to them; it returns the caller, the operator's leg and the call record.
func (h *harness) connected() (*aritest.Call, *aritest.Call, Record) {
	h.t.Helper()
	h.login("wang", "PJSIP/8001", aritest.Phone{})
	caller := h.dial("13800138000", "12345")
	caller.Press("0")
	leg := h.originated("PJSIP/8001")
	h.eventually("bridged", func() bool { return leg.BridgeID() != "" && caller.BridgeID() == leg.BridgeID() })
	var rec Record
	h.eventually("call record connected", func() bool {
		return h.opts.DB.Where("channel_id = ?", caller.ID()).First(&rec).Error == nil && rec.ConnectedAt != nil
	})
	return caller, leg, rec
}

func (h *harness) control(id uint64, action, target string) ControlResult {
	h.t.Helper()
	res, err := h.ctrl.Control(h.ctx, id, action, target, "", "operator:wang", "王丽", "wang")
	if err != nil {
		h.t.Fatalf("%s %s: %v", action, target, err)
	}
	if res.Message == "" {
		h.t.Errorf("%s: no message says what happened", action)
	}
	return res
}

func (h *harness) department(code, name, phone string) {
	h.t.Helper()
	if _, err := h.store.SaveDepartment(h.ctx, tickets.DepartmentInput{Code: code, Name: name, Level: tickets.LevelCity, Phone: phone}); err != nil {
		h.t.Fatal(err)
	}
}

// Hold takes the citizen out of the bridge onto music on their own channel; resume puts
// them back; the record counts it. Then a three-way call with a department, the
// operator drops out and the citizen and the department stay connected.
func TestHoldAndThreeWay(t *testing.T) {
	h := newHarness(t)
	h.department("zjj", "市住建局", "0477-8581234")
	caller, leg, rec := h.connected()
	bridge := caller.BridgeID()

	h.control(rec.ID, ActHold, "")
	h.eventually("the citizen hears music out of the bridge", func() bool { return caller.BridgeID() == "" && caller.MOH() })
	if leg.BridgeID() != bridge {
		t.Fatal("the operator left the bridge on hold")
	}
	if _, err := h.ctrl.Control(h.ctx, rec.ID, ActHold, "", "", "operator:wang", "王丽", "wang"); err == nil {
		t.Error("holding a held call was accepted")
	}
	h.control(rec.ID, ActResume, "")
	h.eventually("the citizen is back", func() bool { return caller.BridgeID() == bridge && !caller.MOH() })

	// A department that does not answer: the citizen is never dropped.
	h.srv.SetPhone("Local/04778581234@rexian-outbound", aritest.Phone{Busy: true})
	h.control(rec.ID, ActTransfer, "department:zjj")
	h.eventually("the busy department gives the citizen back", func() bool {
		return caller.BridgeID() == bridge && !caller.MOH() && h.srv.Originated("Local/04778581234@rexian-outbound") == 1
	})
	h.originated("Local/04778581234@rexian-outbound") // the busy leg, handed out
	if _, err := h.ctrl.Control(h.ctx, rec.ID, ActTransfer, "department:nope", "", "operator:wang", "王丽", "wang"); err == nil {
		t.Error("a transfer to an unknown department was accepted")
	}

	h.srv.SetPhone("Local/04778581234@rexian-outbound", aritest.Phone{AnswerAfter: 5 * time.Millisecond})
	h.control(rec.ID, ActConference, "department:zjj")
	dept := h.originated("Local/04778581234@rexian-outbound")
	h.eventually("three in one bridge", func() bool {
		return dept.BridgeID() == bridge && caller.BridgeID() == bridge && leg.BridgeID() == bridge
	})
	h.control(rec.ID, ActLeave, "")
	h.waitDone(leg)
	h.waitAgent("wang", AgentReady) // wrap-up is 0 in the tests
	if caller.BridgeID() != bridge || dept.BridgeID() != bridge {
		t.Fatal("the citizen and the department were not left connected")
	}
	dept.Hangup()
	rec = h.record(caller.ID())
	if rec.HoldCount != 2 || rec.Outcome != OutcomeAnswered { // the hold, and the one for the busy transfer
		t.Errorf("record: hold count %d outcome %s", rec.HoldCount, rec.Outcome)
	}
	for _, want := range []string{"话务员 wang", "市住建局"} {
		if !strings.Contains(rec.Parties, want) {
			t.Errorf("parties %q do not name %s", rec.Parties, want)
		}
	}
	for _, want := range []string{"保持通话", "恢复通话", "未接听", "三方通话", "退出三方通话"} {
		if !strings.Contains(rec.Note, want) {
			t.Errorf("note does not say %s:\n%s", want, rec.Note)
		}
	}
	h.idle()
}

// Attended transfer to another operator: the citizen waits on hold while wang talks
// to li, then complete leaves the citizen with li.
func TestConsultAndComplete(t *testing.T) {
	h := newHarness(t)
	caller, leg, rec := h.connected()
	h.ctrl.acd.login("li", "李娜", "PJSIP/8002", nil)
	h.ctrl.acd.setState("li", false, "会议") // not offered callers, but can be consulted
	h.srv.SetPhone("PJSIP/8002", aritest.Phone{AnswerAfter: 5 * time.Millisecond})
	h.control(rec.ID, ActConsult, "operator:li")
	li := h.originated("PJSIP/8002")
	h.eventually("wang talks to li while the citizen is held", func() bool {
		return li.BridgeID() != "" && li.BridgeID() == leg.BridgeID() && caller.BridgeID() == "" && caller.MOH()
	})
	h.control(rec.ID, ActComplete, "")
	h.waitDone(leg)
	h.eventually("the citizen talks to li", func() bool { return caller.BridgeID() == li.BridgeID() && !caller.MOH() })
	caller.Hangup()
	h.waitDone(li)
	rec = h.record(caller.ID())
	if !strings.Contains(rec.Parties, "话务员 李娜") || !strings.Contains(rec.Note, "完成转接") {
		t.Errorf("record: parties %q note %q", rec.Parties, rec.Note)
	}
	h.idle()
}

// A supervisor listens through a snoop channel on the operator's leg, then whispers,
// then barges in; each is noted on the record.
func TestSupervisorListenWhisperBarge(t *testing.T) {
	h := newHarness(t)
	caller, leg, rec := h.connected()
	h.srv.SetPhone("PJSIP/8009", aritest.Phone{AnswerAfter: 5 * time.Millisecond})
	monitor := func(mode string) *aritest.Call {
		t.Helper()
		before := h.srv.Originated("PJSIP/8009")
		if _, err := h.ctrl.Control(h.ctx, rec.ID, mode, "", "PJSIP/8009", "supervisor:zhao", "赵主任", "zhao"); err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		h.eventually("the supervisor's phone rings", func() bool { return h.srv.Originated("PJSIP/8009") == before+1 })
		return h.originated("PJSIP/8009")
	}
	for _, tc := range []struct{ mode, whisper string }{{ActListen, "none"}, {ActWhisper, "out"}} {
		sup := monitor(tc.mode)
		var sn aritest.Snoop
		h.eventually(tc.mode+": a snoop channel on the operator, bridged with the supervisor", func() bool {
			s := h.srv.Snoops()
			if len(s) != 1 {
				return false
			}
			sn = s[0]
			return sn.Bridge != "" && sn.Bridge == sup.BridgeID()
		})
		if sn.Of != leg.ID() || sn.Spy != "both" || sn.Whisper != tc.whisper {
			t.Errorf("%s: snoop %+v, want on %s spy both whisper %s", tc.mode, sn, leg.ID(), tc.whisper)
		}
		if _, err := h.ctrl.Control(h.ctx, rec.ID, ActStopListen, "", "", "supervisor:zhao", "赵主任", "zhao"); err != nil {
			t.Fatal(err)
		}
		h.waitDone(sup)
		h.eventually("the snoop is gone", func() bool { return len(h.srv.Snoops()) == 0 })
	}
	sup := monitor(ActBarge)
	h.eventually("barged into the conversation's bridge", func() bool { return sup.BridgeID() != "" && sup.BridgeID() == caller.BridgeID() })
	caller.Hangup()
	h.waitDone(sup)
	rec = h.record(caller.ID())
	for _, want := range []string{"监听", "耳语", "强插"} {
		if !strings.Contains(rec.Monitored, want) {
			t.Errorf("monitored %q does not say %s", rec.Monitored, want)
		}
	}
	h.idle()
}

// The API: the operator on the call controls it, another operator may not; listen-in is
// for supervisors only (403 for others) and each use is in the security audit log.
func TestControlAPI(t *testing.T) {
	h := newHarness(t)
	caller, _, rec := h.connected()
	id := "/ivr/calls/" + itoa(rec.ID)
	h.srv.SetPhone("PJSIP/8009", aritest.Phone{AnswerAfter: 5 * time.Millisecond})
	tests := []struct {
		name       string
		srv        func() string
		path, body string
		want       int
		contains   string
	}{
		{"another operator", nil, "/control", `{"action":"hold"}`, 403, "not_your_call"},
		{"unknown action", nil, "/control", `{"action":"dance"}`, 400, "invalid_action"},
		{"transfer without target", nil, "/control", `{"action":"transfer"}`, 400, "no_target"},
		{"hold", nil, "/control", `{"action":"hold"}`, 200, "已保持通话"},
		{"resume", nil, "/control", `{"action":"resume"}`, 200, "已恢复通话"},
		{"operator listens in", nil, "/monitor", `{"mode":"listen","phone":"PJSIP/8001"}`, 403, "forbidden"},
		{"supervisor listens in", nil, "/monitor", `{"mode":"listen","phone":"PJSIP/8009"}`, 200, "开始监听"},
		{"bad mode", nil, "/monitor", `{"mode":"spy","phone":"PJSIP/8009"}`, 400, "invalid_mode"},
	}
	op, other, sup := h.api(wang, true), h.api(li, true), h.api(supervisor, true)
	for _, tc := range tests {
		srv := op
		switch {
		case tc.name == "another operator":
			srv = other
		case strings.HasPrefix(tc.name, "supervisor") || tc.name == "bad mode":
			srv = sup
		}
		code, body := request(t, srv, "POST", id+tc.path, tc.body)
		if code != tc.want || !strings.Contains(body, tc.contains) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, code, body, tc.want, tc.contains)
		}
	}
	var n int64
	if err := h.opts.DB.Table("audit_records").Where("action = ? AND target = ? AND actor = ?", ActionCallMonitored, "call:"+itoa(rec.ID), supervisor.Actor()).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d audit records of the listen-in, want 1", n)
	}
	h.eventually("the supervisor listens", func() bool { return len(h.srv.Snoops()) == 1 })
	caller.Hangup()
	h.idle()
}
