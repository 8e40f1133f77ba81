package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/ivr/asterisktest"
	"github.com/rexian/rexian/tickets"
)

// TestAsteriskCallControls: a SIPp citizen presses 1, desk phone 8001 (SIPp) answers;
// the operator holds and resumes; a supervisor on phone 8003 listens in, then whispers;
// the operator makes a three-way call with a department, whose phone is the carrier
// (a second SIPp), and drops out: the citizen and the department stay in one bridge
// until the citizen hangs up. The record counts the hold and names who took part; the
// conversation recording is not silence.
func TestAsteriskCallControls(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	tel, dept, operator, supDone := startControlDesk(t, ctx, 4*time.Second, 2)

	const caller = "13900139001"
	rec, poll, citizen := callOperator(t, ctx, tel, caller, 20*time.Second)
	act := controlsOf(t, tel, rec.ID)
	act("operator", "/control", `{"action":"hold"}`, "保持")
	act("operator", "/control", `{"action":"resume"}`, "恢复")
	for _, mode := range []string{"listen", "whisper"} {
		act("supervisor", "/monitor", `{"mode":"`+mode+`","phone":"PJSIP/8003"}`, "正在呼叫您的电话")
		word := map[string]string{"listen": "监听", "whisper": "耳语"}[mode]
		poll("the supervisor "+mode+"s", func(r ivr.Record) bool { return strings.Contains(r.Note, "开始"+word) })
		act("supervisor", "/monitor", `{"mode":"stop"}`, "结束")
		poll("the "+mode+" ends", func(r ivr.Record) bool { return strings.Contains(r.Monitored, word) })
	}
	if code := tel.api(t, "operator", "POST", "/ivr/calls/"+strconv.FormatUint(rec.ID, 10)+"/monitor", `{"mode":"listen","phone":"PJSIP/8001"}`, nil); code != http.StatusForbidden {
		t.Errorf("an operator listening in: %d, want 403", code)
	}
	act("operator", "/control", `{"action":"conference","target":"department:t-zjj"}`, "市住建局")
	poll("the department joins", func(r ivr.Record) bool { return strings.Contains(r.Note, "加入三方通话") })
	act("operator", "/control", `{"action":"leave"}`, "继续通话")
	if r := operator(); r.Err != nil {
		t.Fatalf("operator's phone: %v\n%s", r.Err, r.Output)
	}
	// The citizen and the department are still connected, in the call's bridge.
	if n := bridged(t, ctx, tel, "call-"+strconv.FormatUint(rec.ID, 10)); n != 2 {
		t.Fatalf("the call's bridge holds %d channels after the operator left, want 2 (citizen and department)", n)
	}
	if r := <-citizen; r.Err != nil {
		t.Fatalf("citizen: %v\n%s", r.Err, r.Output)
	}
	if d := dept(); d.Err != nil {
		t.Fatalf("department: %v\n%s", d.Err, d.Output)
	}
	if r := <-supDone; r.Err != nil {
		t.Fatalf("supervisor's phone: %v\n%s", r.Err, r.Output)
	}
	*rec = tel.ended(t, caller, nil)
	if rec.Outcome != ivr.OutcomeAnswered || rec.HoldCount != 1 || !strings.Contains(rec.Parties, "市住建局") || !strings.Contains(rec.Parties, "话务员") {
		t.Errorf("record: outcome %s, hold count %d, parties %q", rec.Outcome, rec.HoldCount, rec.Parties)
	}
	wav := tel.recordingBytes(t, rec.ID, "conversation", 5*time.Second)
	f := filepath.Join(t.TempDir(), "conversation.wav")
	if err := os.WriteFile(f, wav, 0o600); err != nil {
		t.Fatal(err)
	}
	if rms := soxRMS(t, f); rms < 0.01 {
		t.Errorf("the conversation recording is silence (RMS amplitude %.4f)", rms)
	}
}

// startControlDesk starts Asterisk and rexian with an operator's phone 8001 that answers
// one call, a department t-zjj (市住建局) whose phone answers once and talks for talk,
// and a supervisor's phone 8003 that answers supRings calls. It returns the phones'
// results: the department's and the operator's once their call ends, the supervisor's on
// the channel.
func startControlDesk(t *testing.T, ctx context.Context, talk time.Duration, supRings int) (tel *telephony, dept func() asterisktest.Delivered, operator func() asterisktest.Result, sup <-chan asterisktest.Result) {
	t.Helper()
	tel = startAsterisk(t, asterisktest.Options{})
	tel.start(t, fastQueues)
	if _, err := tel.r.app.domains.tickets.SaveDepartment(ctx, tickets.DepartmentInput{Code: "t-zjj", Name: "市住建局", Level: tickets.LevelCity, Phone: "0477-8581234"}); err != nil {
		t.Fatal(err)
	}
	dept = tel.deliver(ctx, 1, asterisktest.Callee{Number: "04778581234", Ring: 300 * time.Millisecond,
		Steps: []asterisktest.Step{asterisktest.Speak(talk)}})
	operator = tel.operatorAt(t, ctx, "8001", 1)
	phone, err := tel.ast.Register(ctx, "8003")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan asterisktest.Result, 1)
	go func() { done <- phone.Answer(ctx, supRings, 300*time.Millisecond) }()
	return tel, dept, operator, done
}

// controlsOf returns act, which posts a call control (what: /control or /monitor) on call
// id as role and fails the test unless it is accepted with a message holding want.
func controlsOf(t *testing.T, tel *telephony, id uint64) func(role, what, body, want string) {
	path := "/ivr/calls/" + strconv.FormatUint(id, 10)
	return func(role, what, body, want string) {
		t.Helper()
		var res json.RawMessage
		if code := tel.api(t, role, "POST", path+what, body, &res); code != http.StatusOK || !strings.Contains(string(res), want) {
			t.Fatalf("%s %s: %d %s, want a message with %q", what, body, code, res, want)
		}
	}
}

// transferred checks the end of a transfer to a department on call id: the operator's
// phone is free, the call's bridge holds the citizen and the department, and the
// citizen's call ends well.
func transferred(t *testing.T, ctx context.Context, tel *telephony, id string, operator func() asterisktest.Result, citizen <-chan asterisktest.Result) {
	t.Helper()
	if r := operator(); r.Err != nil {
		t.Fatalf("operator's phone after the transfer: %v\n%s", r.Err, r.Output)
	}
	if n := bridged(t, ctx, tel, "call-"+id); n != 2 {
		t.Fatalf("after the transfer the call's bridge holds %d channels, want 2 (citizen and department)", n)
	}
	if r := <-citizen; r.Err != nil {
		t.Fatalf("citizen: %v\n%s", r.Err, r.Output)
	}
}

// callOperator places a citizen's call from caller who presses 1 for an operator and
// then talks for talk, and waits until the operator has answered. It returns the call's
// record, poll (which waits until the record meets cond and keeps it in the record), and
// the citizen's result once the call ends.
func callOperator(t *testing.T, ctx context.Context, tel *telephony, caller string, talk time.Duration) (*ivr.Record, func(what string, cond func(ivr.Record) bool), <-chan asterisktest.Result) {
	t.Helper()
	citizen := make(chan asterisktest.Result, 1)
	go func() {
		citizen <- tel.ast.Carrier(ctx, asterisktest.Citizen{Steps: []asterisktest.Step{
			asterisktest.Silence(500 * time.Millisecond), asterisktest.Press("1"), asterisktest.Speak(talk),
		}}, caller)
	}()
	rec := new(ivr.Record)
	poll := func(what string, cond func(ivr.Record) bool) {
		t.Helper()
		*rec = pollRecord(t, ctx, tel, caller, what, cond)
	}
	poll("the operator answers", func(r ivr.Record) bool { return r.ConnectedAt != nil })
	return rec, poll, citizen
}

// pollRecord waits until the first call record of caller meets cond, and returns it.
func pollRecord(t *testing.T, ctx context.Context, tel *telephony, caller, what string, cond func(ivr.Record) bool) ivr.Record {
	t.Helper()
	var rec ivr.Record
	for {
		if calls := tel.calls(t, caller); len(calls) > 0 {
			rec = calls[0]
			if cond(rec) {
				return rec
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: timed out; record %+v", what, rec)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// bridged is how many channels Asterisk's bridge named name holds, asked over ARI.
func bridged(t *testing.T, ctx context.Context, tel *telephony, name string) int {
	t.Helper()
	return len(bridgeChannels(t, ctx, tel, name))
}

// hangupChannel hangs a channel up over ARI, as its far end would.
func hangupChannel(t *testing.T, ctx context.Context, tel *telephony, id string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, tel.ast.ARIURL()+"/ari/channels/"+id, nil)
	req.SetBasicAuth(tel.ast.ARIUser(), tel.ast.ARIPassword())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE /ari/channels/%s: %s", id, resp.Status)
	}
}

// bridgeChannels are the ids of the channels in Asterisk's bridge named name, asked
// over ARI (none when there is no such bridge).
func bridgeChannels(t *testing.T, ctx context.Context, tel *telephony, name string) []string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tel.ast.ARIURL()+"/ari/bridges", nil)
	req.SetBasicAuth(tel.ast.ARIUser(), tel.ast.ARIPassword())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []struct {
		Name     string   `json:"name"`
		Channels []string `json:"channels"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	for _, b := range list {
		if b.Name == name {
			return b.Channels
		}
	}
	return nil
}

// TestAsteriskTransfers: blind transfers through the real Asterisk. A department that is
// busy sends the citizen back to the operator, who is told so; one that answers takes
// the citizen over, and the operator's phone is free.
func TestAsteriskTransfers(t *testing.T) {
	t.Parallel()
	tel := startAsterisk(t, asterisktest.Options{})
	tel.start(t, fastQueues)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for _, d := range []tickets.DepartmentInput{
		{Code: "t-rsj", Name: "市人社局", Level: tickets.LevelCity, Phone: "0477-8581111"},
		{Code: "t-zjj", Name: "市住建局", Level: tickets.LevelCity, Phone: "0477-8582222"},
	} {
		if _, err := tel.r.app.domains.tickets.SaveDepartment(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	depts := tel.deliver(ctx, 2,
		asterisktest.Callee{Number: "04778581111", Ring: 300 * time.Millisecond, Reject: 486},
		asterisktest.Callee{Number: "04778582222", Ring: 300 * time.Millisecond, Steps: []asterisktest.Step{asterisktest.Speak(3 * time.Second)}})
	operator := tel.operatorAt(t, ctx, "8001", 1)

	const caller = "13900139002"
	rec, poll, citizen := callOperator(t, ctx, tel, caller, 15*time.Second)
	id := strconv.FormatUint(rec.ID, 10)
	transfer := func(dept string) {
		t.Helper()
		var res json.RawMessage
		if code := tel.api(t, "operator", "POST", "/ivr/calls/"+id+"/control", `{"action":"transfer","target":"department:`+dept+`"}`, &res); code != http.StatusOK {
			t.Fatalf("transfer to %s: %d %s", dept, code, res)
		}
	}

	transfer("t-rsj")
	poll("the busy department sends the citizen back", func(r ivr.Record) bool {
		return strings.Contains(r.Note, "市人社局（0477-8581111） 未接听，市民已回到您的通话")
	})
	if n := bridged(t, ctx, tel, "call-"+id); n != 2 {
		t.Fatalf("after the unanswered transfer the call's bridge holds %d channels, want 2 (citizen and operator)", n)
	}

	transfer("t-zjj")
	poll("the department takes the call", func(r ivr.Record) bool {
		return strings.Contains(r.Note, "市住建局（0477-8582222） 接听，转接完成")
	})
	transferred(t, ctx, tel, id, operator, citizen)
	if d := depts(); d.Err != nil || len(d.Invites) != 2 {
		t.Fatalf("departments: %d INVITEs, %v\n%s", len(d.Invites), d.Err, d.Output)
	}
	*rec = tel.ended(t, caller, nil)
	if rec.Outcome != ivr.OutcomeAnswered || !strings.Contains(rec.Parties, "市住建局") || strings.Contains(rec.Parties, "市人社局") {
		t.Errorf("record: outcome %s, parties %q; want answered, with 市住建局 and without the busy 市人社局", rec.Outcome, rec.Parties)
	}
}

// TestAsteriskConsultAndBarge: through the real Asterisk, a supervisor barges into a
// conversation (their phone joins the call's bridge) and leaves; then the operator
// consults a department while the citizen is held (the operator and the department alone
// in the bridge), and completes the transfer: the citizen and the department talk, the
// operator's phone is free, and the record names the department and says 强插.
func TestAsteriskConsultAndBarge(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	tel, dept, operator, supDone := startControlDesk(t, ctx, 8*time.Second, 1)

	const caller = "13900139003"
	rec, poll, citizen := callOperator(t, ctx, tel, caller, 25*time.Second)
	id := strconv.FormatUint(rec.ID, 10)
	act := controlsOf(t, tel, rec.ID)

	act("supervisor", "/monitor", `{"mode":"barge","phone":"PJSIP/8003"}`, "正在呼叫您的电话")
	poll("the supervisor barges in", func(r ivr.Record) bool { return strings.Contains(r.Note, "开始强插") })
	if n := bridged(t, ctx, tel, "call-"+id); n != 3 {
		t.Fatalf("the call's bridge holds %d channels while the supervisor barges in, want 3", n)
	}
	act("supervisor", "/monitor", `{"mode":"stop"}`, "结束")
	poll("the barge-in ends", func(r ivr.Record) bool { return strings.Contains(r.Monitored, "强插") })
	if r := <-supDone; r.Err != nil {
		t.Fatalf("supervisor's phone: %v\n%s", r.Err, r.Output)
	}

	act("operator", "/control", `{"action":"consult","target":"department:t-zjj"}`, "咨询转接")
	poll("the department answers the consultation", func(r ivr.Record) bool { return strings.Contains(r.Note, "接听（咨询中，市民保持）") })
	if n := bridged(t, ctx, tel, "call-"+id); n != 2 {
		t.Fatalf("the call's bridge holds %d channels while the operator consults, want 2 (operator and department; the citizen held)", n)
	}
	act("operator", "/control", `{"action":"complete"}`, "已转接")
	transferred(t, ctx, tel, id, operator, citizen)
	if d := dept(); d.Err != nil {
		t.Fatalf("department: %v\n%s", d.Err, d.Output)
	}
	*rec = tel.ended(t, caller, nil)
	if rec.Outcome != ivr.OutcomeAnswered || !strings.Contains(rec.Parties, "市住建局") || !strings.Contains(rec.Monitored, "强插") ||
		!strings.Contains(rec.Note, "完成转接") || rec.HoldCount < 1 {
		t.Errorf("record: outcome %s, parties %q, monitored %q, holds %d, note %q", rec.Outcome, rec.Parties, rec.Monitored, rec.HoldCount, rec.Note)
	}
}
