package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	t.Parallel()
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

// operatorPhone registers desk phone number and logs the test's operator in with it.
func (tel *telephony) operatorPhone(t *testing.T, ctx context.Context, number string) *asterisktest.Phone {
	t.Helper()
	p, err := tel.ast.Register(ctx, number)
	if err != nil {
		t.Fatal(err)
	}
	if code := tel.api(t, "operator", "POST", "/ivr/agents/me/login", `{"phone":"PJSIP/`+number+`"}`, nil); code != http.StatusOK {
		t.Fatalf("operator login: %d", code)
	}
	return p
}

// operatorAt is operatorPhone that starts the phone answering calls calls (ringing 300
// ms each); the returned function waits for it.
func (tel *telephony) operatorAt(t *testing.T, ctx context.Context, number string, calls int) func() asterisktest.Result {
	t.Helper()
	return answering(ctx, tel.operatorPhone(t, ctx, number), calls, 300*time.Millisecond)
}

// answering starts p answering calls calls, each ringing for ring; the returned
// function waits for it.
func answering(ctx context.Context, p *asterisktest.Phone, calls int, ring time.Duration) func() asterisktest.Result {
	done := make(chan asterisktest.Result, 1)
	go func() { done <- p.Answer(ctx, calls, ring) }()
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
	blocker := tel.blockOperator(t, ctx, talk)
	tel.pressForCallback(t, ctx, citizen)
	return blocker
}

// blockOperator: a caller takes the general queue (0) and talks to the only operator for
// talk; it returns once the operator is busy, with a function that waits for the call.
func (tel *telephony) blockOperator(t *testing.T, ctx context.Context, talk time.Duration) func() asterisktest.Result {
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
	return func() asterisktest.Result { return <-blocker }
}

// pressForCallback: the citizens call at once, take the general queue (0), press 8 to be
// called back and hang up once the hotline has confirmed it.
func (tel *telephony) pressForCallback(t *testing.T, ctx context.Context, citizens ...string) {
	t.Helper()
	r := tel.ast.Carrier(ctx, asterisktest.Citizen{Steps: []asterisktest.Step{
		asterisktest.Silence(800 * time.Millisecond), asterisktest.Press("0"), asterisktest.Silence(1500 * time.Millisecond),
		asterisktest.Press("8"),
	}, AwaitHangup: 10 * time.Second}, citizens...)
	if r.Err != nil {
		t.Fatalf("citizens %v queueing for a call-back: %v\n%s", citizens, r.Err, r.Output)
	}
}

// TestAsteriskCallback: virtual hold end to end. The operator answers the call-back,
// hears ring-back and sees 回拨中 while the citizen's phone rings; the citizen hears who
// calls (callback-hello) before being put through. The leg goes through the dialplan's
// counted path and the live panel counts it on the line.
func TestAsteriskCallback(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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

// TestAsteriskCallbackNobodyAnswers: virtual hold when the citizen never picks up (the
// phone rings out) or the carrier rejects the call (480). The call-back is tried three
// times, a pause apart, each time with the operator on the line first; then the request
// becomes a ticket (排队回拨未接通) for the desk to call the citizen by hand.
func TestAsteriskCallbackNobodyAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		callee asterisktest.Callee
	}{
		{"rings out", asterisktest.Callee{NoAnswer: true}},
		{"rejected (480)", asterisktest.Callee{Ring: 500 * time.Millisecond, Reject: 480}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tel := startAsterisk(t, asterisktest.Options{})
			const retry = 2 * time.Second
			tel.start(t, func(cfg *config.Config) {
				fastQueues(cfg)
				for i := range cfg.IVR.Queues {
					cfg.IVR.Queues[i].CallbackAttempts = 3
					cfg.IVR.Queues[i].CallbackRetry = retry
					cfg.IVR.Queues[i].CallbackRing = 5 * time.Second
				}
			})
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			// The blocker's call, then the operator's leg of each try.
			phone := tel.operatorAt(t, ctx, "8001", 4)
			const citizen = "13800138000"
			wait := tel.deliver(ctx, 3, tc.callee)
			started := time.Now()
			blocker := tel.queueForCallback(t, ctx, citizen, 6*time.Second)
			if b := blocker(); b.Err != nil {
				t.Fatalf("blocker: %v\n%s", b.Err, b.Output)
			}
			d := wait()
			if d.Err != nil {
				t.Fatalf("carrier: %v\n%s", d.Err, d.Output)
			}
			if len(d.Invites) != 3 {
				t.Fatalf("carrier got %d INVITEs, want 3 tries", len(d.Invites))
			}
			for _, inv := range d.Invites {
				if !strings.HasPrefix(inv, "INVITE sip:"+citizen+"@") {
					t.Errorf("INVITE %q, want one for %s", strings.SplitN(inv, "\n", 2)[0], citizen)
				}
			}
			if r := phone(); r.Err != nil {
				t.Fatalf("operator's phone: %v\n%s", r.Err, r.Output)
			}
			rec := tel.ended(t, citizen, func(r ivr.Record) bool { return r.Direction == "callback" })
			if rec.Outcome != ivr.OutcomeCallback || rec.TicketNumber == "" || rec.ConnectedAt != nil {
				t.Fatalf("call-back record %+v, want unanswered with a ticket", rec)
			}
			if took := time.Since(started); took < 2*retry {
				t.Errorf("three tries in %s: less than the two pauses of %s between them", took, retry)
			}
			var tk struct {
				Number, Title, Content string
				Citizen                struct{ Phone string }
			}
			if code := tel.api(t, "supervisor", "GET", "/tickets/"+rec.TicketNumber, "", &tk); code != http.StatusOK {
				t.Fatalf("GET the call-back's ticket: %d", code)
			}
			if !strings.Contains(tk.Title, "排队回拨未接通") || !strings.Contains(tk.Content, "3 次回拨未接通") || tk.Citizen.Phone != citizen {
				t.Errorf("ticket %+v, want 排队回拨未接通 for %s after 3 tries", tk, citizen)
			}
			if n := strings.Count(tel.ast.Log(), "rexian calls "+citizen); n != 3 {
				t.Errorf("%d call-back tries through [rexian-outbound], want 3", n)
			}
		})
	}
}

// TestAsteriskEmergencyHandOff: an operator hands a caller to 110. The hand-off leg goes
// through the dialplan ([rexian-outbound], then [rexian-emergency]), where the trunk
// channel it takes is counted like every other, not straight to the trunk; the carrier
// receives the INVITE for 110 and the call record names the hand-off.
func TestAsteriskEmergencyHandOff(t *testing.T) {
	t.Parallel()
	tel := startAsterisk(t, asterisktest.Options{})
	tel.start(t, fastQueues)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	phone := tel.operatorAt(t, ctx, "8001", 1)
	police := tel.deliver(ctx, 1, asterisktest.Callee{Number: "^110$", Ring: 300 * time.Millisecond,
		Steps: []asterisktest.Step{asterisktest.Speak(2 * time.Second)}, HangUp: true})
	const caller = "13900139001"
	done := make(chan asterisktest.Result, 1)
	go func() {
		done <- tel.ast.Carrier(ctx, asterisktest.Citizen{Steps: []asterisktest.Step{
			asterisktest.Silence(500 * time.Millisecond), asterisktest.Press("0"), asterisktest.Speak(12 * time.Second),
		}}, caller)
	}()
	var id uint64
	for id == 0 {
		for _, r := range tel.calls(t, caller) {
			if r.ConnectedAt != nil && r.EndedAt == nil {
				id = r.ID
			}
		}
		select {
		case <-ctx.Done():
			t.Fatal("the caller never reached the operator")
		case <-time.After(50 * time.Millisecond):
		}
	}
	if code := tel.api(t, "supervisor", "POST", fmt.Sprintf("/ivr/calls/%d/transfer", id), `{"target":"110"}`, nil); code != http.StatusAccepted {
		t.Fatalf("transfer to 110: %d", code)
	}
	d := police()
	if d.Err != nil || len(d.Invites) != 1 || !strings.HasPrefix(d.Invites[0], "INVITE sip:110@") {
		t.Fatalf("carrier: %v, INVITEs %q\n%s", d.Err, d.Invites, d.Output)
	}
	if r := <-done; r.Err != nil {
		t.Fatalf("caller: %v\n%s", r.Err, r.Output)
	}
	if r := phone(); r.Err != nil {
		t.Fatalf("operator's phone: %v\n%s", r.Err, r.Output)
	}
	rec := tel.ended(t, caller, nil)
	if rec.Transfer != "110" {
		t.Errorf("call record %+v, want the hand-off to 110", rec)
	}
	log := tel.ast.Log()
	if !strings.Contains(log, "Local/110@rexian-outbound") || !strings.Contains(log, "emergency hand-off to 110") {
		t.Errorf("the hand-off did not go through [rexian-outbound] and [rexian-emergency]")
	}
	if !regexp.MustCompile(`Executing \[s@rexian-trunk-count:1\] Set\("PJSIP/trunk-[0-9a-f]+", "GROUP\(trunk\)=lines"\)`).MatchString(log) {
		t.Errorf("the hand-off's trunk channel was not counted (no pre-dial GROUP(trunk) on it)")
	}
}

// ariGet asks the test's Asterisk's REST interface for path and decodes the answer.
func (tel *telephony) ariGet(t *testing.T, ctx context.Context, path string, out any) error {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", tel.ast.ARIURL()+"/ari"+path, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(tel.ast.ARIUser(), tel.ast.ARIPassword())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// TestAsteriskCallbackRingback: while the citizen's phone rings (5 s) during a call-back,
// the operator who already answered is not left in silence: Asterisk streams RTP (the
// ring-back tone) to the operator's phone, measured on the operator's channel, and the
// operator's console is told 回拨中 (calling_back).
func TestAsteriskCallbackRingback(t *testing.T) {
	t.Parallel()
	tel := startAsterisk(t, asterisktest.Options{})
	tel.start(t, fastQueues)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	events, stop := tel.controller(t).Live().Hub().Subscribe()
	defer stop()
	phone := tel.operatorAt(t, ctx, "8001", 2)
	const citizen = "13800138000"
	wait := tel.deliver(ctx, 1, asterisktest.Callee{Ring: 6 * time.Second, Steps: []asterisktest.Step{
		asterisktest.Speak(2 * time.Second),
	}, HangUp: true})
	blocker := tel.queueForCallback(t, ctx, citizen, 6*time.Second)
	// The call-back's turn: the operator answered and the citizen's phone rings.
	for note := false; !note; {
		select {
		case m := <-events:
			note = m.Type == "call" && m.Call != nil && m.Call.State == "calling_back" && m.Call.Caller == citizen
		case <-ctx.Done():
			t.Fatal("no 回拨中 (calling_back) event for the operator's screen")
		}
	}
	type channel struct {
		ID, Name, State string
	}
	var op channel
	for op.ID == "" {
		var chans []channel
		if err := tel.ariGet(t, ctx, "/channels", &chans); err != nil {
			t.Fatal(err)
		}
		for _, c := range chans {
			if strings.HasPrefix(c.Name, "PJSIP/8001-") && c.State == "Up" {
				op = c
			}
		}
		if ctx.Err() != nil {
			t.Fatal("the operator's channel never came up")
		}
	}
	type rtpStats struct {
		TxCount int `json:"txcount"`
	}
	var before, after rtpStats
	if err := tel.ariGet(t, ctx, "/channels/"+op.ID+"/rtp_statistics", &before); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // a measuring interval, not a wait for an event
	if err := tel.ariGet(t, ctx, "/channels/"+op.ID+"/rtp_statistics", &after); err != nil {
		t.Fatal(err)
	}
	var up []channel
	if err := tel.ariGet(t, ctx, "/channels", &up); err != nil {
		t.Fatal(err)
	}
	for _, c := range up {
		if strings.HasPrefix(c.Name, "PJSIP/trunk-") && c.State == "Up" {
			t.Fatalf("the citizen answered during the measurement (%s is up): ring for longer", c.Name)
		}
	}
	// 20 ms packets: about 50 a second while a tone plays; none to a channel left silent.
	if sent := after.TxCount - before.TxCount; sent < 25 {
		t.Errorf("%d RTP packets to the operator's phone in a second while the citizen's phone rang; want ring-back (about 50)", sent)
	}
	if b := blocker(); b.Err != nil {
		t.Fatalf("blocker: %v\n%s", b.Err, b.Output)
	}
	if d := wait(); d.Err != nil {
		t.Fatalf("carrier: %v\n%s", d.Err, d.Output)
	}
	if r := phone(); r.Err != nil {
		t.Fatalf("operator's phone: %v\n%s", r.Err, r.Output)
	}
	if rec := tel.ended(t, citizen, func(r ivr.Record) bool { return r.Direction == "callback" }); rec.Outcome != ivr.OutcomeAnswered {
		t.Errorf("call-back record %+v, want answered", rec)
	}
}
