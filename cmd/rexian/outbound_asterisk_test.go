package main

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/ivr/asterisktest"
)

// The tests in this file are rexian's outbound calls (satisfaction surveys, virtual-hold
// call-backs) as the carrier delivers them: SIPp listens on the trunk's contact address
// and plays the citizens rexian calls.

// controller is the running rexian's telephone controller.
func (tel *telephony) controller(t *testing.T) *ivr.Controller {
	t.Helper()
	c := tel.r.app.domains.ivr
	if c == nil {
		t.Fatal("rexian runs without a telephone controller")
	}
	return c
}

// deliver starts the carrier taking calls calls as who says; the returned function waits
// for it.
func (tel *telephony) deliver(ctx context.Context, calls int, who ...asterisktest.Callee) func() asterisktest.Delivered {
	done := make(chan asterisktest.Delivered, 1)
	go func() { done <- tel.ast.Citizens(ctx, calls, who...) }()
	return func() asterisktest.Delivered { return <-done }
}

// TestAsteriskSurveyAnswered: the survey call goes through the dialplan's counted path;
// the citizen hears who calls and why, presses 1, and the result is "satisfied".
func TestAsteriskSurveyAnswered(t *testing.T) {
	tel := startAsterisk(t, asterisktest.Options{})
	tel.start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	wait := tel.deliver(ctx, 1, asterisktest.Callee{Ring: 300 * time.Millisecond, Steps: []asterisktest.Step{
		asterisktest.Silence(1500 * time.Millisecond), asterisktest.Press("1"),
	}})
	res, err := tel.controller(t).Survey(ctx, ivr.SurveyRequest{Number: "13800138000", TicketNumber: "T1", Ring: 10 * time.Second, KeyWait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	d := wait()
	if d.Err != nil {
		t.Fatalf("%v\n%s", d.Err, d.Output)
	}
	if res.Outcome != ivr.SurveyAnswered || res.Key != "1" {
		t.Errorf("survey result %+v, want answered with 1", res)
	}
	if len(d.Invites) != 1 {
		t.Fatalf("carrier got %d INVITEs, want 1", len(d.Invites))
	}
	log := tel.ast.Log()
	if !strings.Contains(log, "rexian calls 13800138000") {
		t.Errorf("the survey call did not pass [rexian-outbound]")
	}
	hello, question := strings.Index(log, "Playing 'rexian/survey-hello."), strings.Index(log, "Playing 'rexian/survey-question.")
	if hello < 0 || question < hello {
		t.Errorf("the citizen did not hear who calls (survey-hello) before the question")
	}
}

// fastQueues makes the demo city's queues quick for a test: no wrap-up.
func fastQueues(cfg *config.Config) {
	for i := range cfg.IVR.Queues {
		cfg.IVR.Queues[i].WrapUp = 0
	}
}

// operatorAt registers desk phone number, logs the operator in with it and starts the
// phone answering calls calls (ringing 300 ms each); the returned function waits for it.
func (tel *telephony) operatorAt(t *testing.T, ctx context.Context, number string, calls int) func() asterisktest.Result {
	t.Helper()
	p, err := tel.ast.Register(ctx, number)
	if err != nil {
		t.Fatal(err)
	}
	if code := tel.api(t, "operator", "POST", "/ivr/agents/me/login", `{"phone":"PJSIP/`+number+`"}`, nil); code != http.StatusOK {
		t.Fatalf("operator login: %d", code)
	}
	done := make(chan asterisktest.Result, 1)
	go func() { done <- p.Answer(ctx, calls, 300*time.Millisecond) }()
	return func() asterisktest.Result { return <-done }
}

// waitSnapshot polls the controller's live picture until cond holds.
func (tel *telephony) waitSnapshot(t *testing.T, ctx context.Context, what string, cond func(ivr.Snapshot) bool) ivr.Snapshot {
	t.Helper()
	for {
		s := tel.controller(t).Snapshot()
		if cond(s) {
			return s
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: never; last picture %+v", what, s)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// queueForCallback: a citizen calls while the only operator is busy, takes the general
// queue (0) and presses 8 to be called back, then hangs up; the blocker's call is
// returned to end (it hangs up after talking for talk).
func (tel *telephony) queueForCallback(t *testing.T, ctx context.Context, citizen string, talk time.Duration) func() asterisktest.Result {
	t.Helper()
	blocker := make(chan asterisktest.Result, 1)
	go func() {
		blocker <- tel.ast.Carrier(ctx, asterisktest.Citizen{Steps: []asterisktest.Step{
			asterisktest.Silence(800 * time.Millisecond), asterisktest.Press("0"), asterisktest.Speak(talk),
		}}, "13900000001")
	}()
	tel.waitSnapshot(t, ctx, "operator busy", func(s ivr.Snapshot) bool {
		return len(s.Agents) == 1 && s.Agents[0].State == ivr.AgentBusy
	})
	r := tel.ast.Carrier(ctx, asterisktest.Citizen{Steps: []asterisktest.Step{
		asterisktest.Silence(800 * time.Millisecond), asterisktest.Press("0"), asterisktest.Silence(1500 * time.Millisecond),
		asterisktest.Press("8"),
	}, AwaitHangup: 10 * time.Second}, citizen)
	if r.Err != nil {
		t.Fatalf("citizen queueing for a call-back: %v\n%s", r.Err, r.Output)
	}
	return func() asterisktest.Result { return <-blocker }
}

// TestAsteriskCallback: virtual hold end to end. The operator answers the call-back,
// hears ring-back and sees 回拨中 while the citizen's phone rings; the citizen hears who
// calls (callback-hello) before being put through. The leg goes through the dialplan's
// counted path and the live panel counts it on the line.
func TestAsteriskCallback(t *testing.T) {
	tel := startAsterisk(t, asterisktest.Options{})
	tel.start(t, fastQueues)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	events, stop := tel.controller(t).Live().Hub().Subscribe()
	defer stop()
	phone := tel.operatorAt(t, ctx, "8001", 2)
	const citizen = "13800138000"
	wait := tel.deliver(ctx, 1, asterisktest.Callee{Ring: 1500 * time.Millisecond, Steps: []asterisktest.Step{
		asterisktest.Speak(3 * time.Second),
	}, HangUp: true})
	blocker := tel.queueForCallback(t, ctx, citizen, 4*time.Second)
	// While the citizen's phone rings: the line counts the call-back's leg.
	s := tel.waitSnapshot(t, ctx, "call-back leg counted", func(s ivr.Snapshot) bool { return s.Lines[0].Outbound == 1 })
	if s.Lines[0].Busy != 1 {
		t.Errorf("line %+v while only the call-back's leg is up: want busy 1 (outbound 1)", s.Lines[0])
	}
	if b := blocker(); b.Err != nil {
		t.Fatalf("blocker: %v\n%s", b.Err, b.Output)
	}
	d := wait()
	if d.Err != nil {
		t.Fatalf("carrier: %v\n%s", d.Err, d.Output)
	}
	if r := phone(); r.Err != nil {
		t.Fatalf("operator's phone: %v\n%s", r.Err, r.Output)
	}
	var note bool
	for !note {
		select {
		case m := <-events:
			note = m.Type == "call" && m.Call != nil && m.Call.State == "calling_back" && m.Call.Caller == citizen
		case <-ctx.Done():
			t.Fatal("no 回拨中 (calling_back) event for the operator's screen")
		}
	}
	rec := tel.ended(t, citizen, func(r ivr.Record) bool { return r.Direction == "callback" })
	if rec.Outcome != ivr.OutcomeAnswered || rec.Operator == "" {
		t.Errorf("call-back record %+v, want answered by the operator", rec)
	}
	log := tel.ast.Log()
	if !regexp.MustCompile(`Local/` + citizen + `@rexian-outbound-\w+;1> Playing 'rexian/callback-hello`).MatchString(log) {
		t.Errorf("the citizen did not hear callback-hello")
	}
	if len(d.Invites) != 1 || !strings.HasPrefix(d.Invites[0], "INVITE sip:"+citizen+"@") {
		t.Errorf("carrier got %d INVITEs, want one for %s", len(d.Invites), citizen)
	}
}

// TestAsteriskCallerID: the carrier receives the hotline's caller id in the form the
// contract names: the shipped configuration sends From 12345 and no P-Asserted-Identity;
// with a display name, the carrier's domain and send_pai both headers carry it.
func TestAsteriskCallerID(t *testing.T) {
	tests := []struct {
		name string
		opts asterisktest.Options
		from string // regular expression on From
		pai  string // on P-Asserted-Identity; "" = absent
	}{
		{"shipped", asterisktest.Options{}, `^<sip:12345@127\.0\.0\.1>;tag=`, ""},
		{"carrier's contract", asterisktest.Options{
			Globals: map[string]string{"TRUNK_CALLERID": "04778393000", "TRUNK_CALLERID_NAME": "12345 Hotline"},
			Trunk:   map[string]string{"from_domain": "sip.carrier.example", "send_pai": "yes"},
		}, `^"12345 Hotline" <sip:04778393000@sip\.carrier\.example>;tag=`, `^"12345 Hotline" <sip:04778393000@sip\.carrier\.example>$`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tel := startAsterisk(t, tc.opts)
			tel.start(t, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			wait := tel.deliver(ctx, 1, asterisktest.Callee{Reject: 486})
			res, err := tel.controller(t).Survey(ctx, ivr.SurveyRequest{Number: "13800138000", TicketNumber: "T1", Ring: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != ivr.SurveyBusy {
				t.Errorf("survey outcome %s, want busy (486)", res.Outcome)
			}
			d := wait()
			if d.Err != nil || len(d.Invites) != 1 {
				t.Fatalf("carrier: %v, %d INVITEs\n%s", d.Err, len(d.Invites), d.Output)
			}
			inv := d.Invites[0]
			if from := asterisktest.Header(inv, "From"); !regexp.MustCompile(tc.from).MatchString(from) {
				t.Errorf("From %q, want %s", from, tc.from)
			}
			pai := asterisktest.Header(inv, "P-Asserted-Identity")
			if (tc.pai == "") != (pai == "") || (tc.pai != "" && !regexp.MustCompile(tc.pai).MatchString(pai)) {
				t.Errorf("P-Asserted-Identity %q, want %q", pai, tc.pai)
			}
		})
	}
}

// TestAsteriskSurveyHangUpMidQuestion: the citizen answers, hears who calls and hangs up
// during the question: the survey is "hung up" (not reached, retried later) and the call
// record is closed.
func TestAsteriskSurveyHangUpMidQuestion(t *testing.T) {
	tel := startAsterisk(t, asterisktest.Options{PromptLength: 2 * time.Second})
	tel.start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	wait := tel.deliver(ctx, 1, asterisktest.Callee{Steps: []asterisktest.Step{asterisktest.Speak(3 * time.Second)}, HangUp: true})
	res, err := tel.controller(t).Survey(ctx, ivr.SurveyRequest{Number: "13800138000", TicketNumber: "T1", Ring: 10 * time.Second, KeyWait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if d := wait(); d.Err != nil {
		t.Fatalf("carrier: %v\n%s", d.Err, d.Output)
	}
	if res.Outcome != ivr.SurveyHungUp || res.Key != "" {
		t.Errorf("survey result %+v, want hung_up without a key", res)
	}
	rec := tel.ended(t, "13800138000", func(r ivr.Record) bool { return r.Direction == "survey" })
	if rec.Outcome != "survey_hung_up" {
		t.Errorf("call record outcome %q, want survey_hung_up", rec.Outcome)
	}
	if !strings.Contains(tel.ast.Log(), "Playing 'rexian/survey-question.") {
		t.Errorf("the citizen never heard the question")
	}
}

// TestAsteriskLinesNearlyFull: 12345 has 3 channels and keeps 2 for callers; with one
// citizen on the line a survey is not placed (the carrier gets no INVITE) and the live
// panel shows the caller; once the caller has gone the survey goes out.
func TestAsteriskLinesNearlyFull(t *testing.T) {
	tel := startAsterisk(t, asterisktest.Options{})
	tel.start(t, func(cfg *config.Config) { cfg.IVR.Lines[0].Channels = 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	caller := make(chan asterisktest.Result, 1)
	go func() {
		caller <- tel.ast.Carrier(ctx, asterisktest.Citizen{Steps: []asterisktest.Step{asterisktest.Speak(3 * time.Second)}}, "13900000002")
	}()
	tel.waitSnapshot(t, ctx, "caller on the line", func(s ivr.Snapshot) bool { return s.Lines[0].Busy == 1 })
	_, err := tel.controller(t).Survey(ctx, ivr.SurveyRequest{Number: "13800138000", TicketNumber: "T1", Ring: 10 * time.Second})
	if !errors.Is(err, ivr.ErrLinesReserved) {
		t.Fatalf("survey with 1 of 3 channels busy and 2 kept: %v, want ErrLinesReserved", err)
	}
	if r := <-caller; r.Err != nil {
		t.Fatalf("caller: %v\n%s", r.Err, r.Output)
	}
	tel.waitSnapshot(t, ctx, "line free", func(s ivr.Snapshot) bool { return s.Lines[0].Busy == 0 })
	wait := tel.deliver(ctx, 1, asterisktest.Callee{Reject: 480})
	if _, err := tel.controller(t).Survey(ctx, ivr.SurveyRequest{Number: "13800138000", TicketNumber: "T1", Ring: 10 * time.Second}); err != nil {
		t.Fatalf("survey on a free line: %v", err)
	}
	if d := wait(); d.Err != nil || len(d.Invites) != 1 {
		t.Fatalf("carrier: %v, %d INVITEs\n%s", d.Err, len(d.Invites), d.Output)
	}
}
