package callback

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/sms"
	"github.com/rexian/rexian/tickets"
)

func TestParseAnswer(t *testing.T) {
	tests := []struct {
		in   string
		want Result
		ok   bool
	}{
		{"1", ResultSatisfied, true},
		{" 2 ", ResultFairlySatisfied, true},
		{"３", ResultDissatisfied, true},
		{"满意", ResultSatisfied, true},
		{"基本满意。", ResultFairlySatisfied, true},
		{"不满意！", ResultDissatisfied, true},
		{"4", ResultNone, false},
		{"路灯还是不亮", ResultNone, false},
		{"", ResultNone, false},
	}
	for _, tc := range tests {
		got, ok := ParseAnswer(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseAnswer(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestPolicyNext(t *testing.T) {
	p := policy{loc: shanghai, hours: Span{9 * 60, 20 * 60}, quiet: Span{21 * 60, 8 * 60}}
	tests := []struct{ at, want time.Time }{
		{local(0, "10:00"), local(0, "10:00")},
		{local(0, "20:30"), local(1, "09:00")},
		{local(0, "06:00"), local(0, "09:00")},
		{local(0, "19:59"), local(0, "19:59")},
	}
	for _, tc := range tests {
		if got := p.next(tc.at); !got.Equal(tc.want) {
			t.Errorf("next(%s) = %s, want %s", tc.at, got.In(shanghai), tc.want)
		}
	}
	// Quiet hours win over allowed hours that reach into them.
	p = policy{loc: shanghai, hours: Span{7 * 60, 22 * 60}, quiet: Span{21 * 60, 8 * 60}}
	if got := p.next(local(0, "07:30")); !got.Equal(local(0, "08:00")) {
		t.Errorf("inside quiet hours: next = %s, want 08:00", got.In(shanghai))
	}
}

func TestSampling(t *testing.T) {
	p := policy{sample: 0.3, category: map[string]float64{"ZX": 0, "TS-GN": 1}}
	if p.rate("ZX-SHBX") != 0 || p.rate("TS-GN") != 1 || p.rate("TS-JT") != 0.3 {
		t.Fatalf("rates: %g %g %g", p.rate("ZX-SHBX"), p.rate("TS-GN"), p.rate("TS-JT"))
	}
	n := 0
	for i := range 2000 {
		num := "26" + strings.Repeat("0", 4) + itoa2(i%100) + itoa2(i/100)
		a, b := sampled(num, 3, 0.3), sampled(num, 3, 0.3)
		if a != b {
			t.Fatal("sampling is not deterministic")
		}
		if a {
			n++
		}
	}
	if n < 500 || n > 700 {
		t.Errorf("%d of 2000 sampled at 0.3", n)
	}
}

// A restart never sends a second survey for the same completion; a reopened ticket that
// is completed again gets a new one.
func TestOneSurveyPerCompletion(t *testing.T) {
	e := newEnv(t, nil)
	num := e.consultation("13800138000", func(in *tickets.NewTicket) {
		in.Channel, in.Location.District = tickets.ChannelWeb, "DSQ"
	})
	e.run()
	e.clk.Add(2*time.Hour + time.Minute)
	e.run()
	sv := e.survey(num)
	if sv.Status != StatusAwaitingSMS {
		t.Fatalf("survey is %s, want awaiting_sms", sv.Status)
	}
	// The dashboards break surveys down by the ticket's channel and district.
	var district uint
	e.db.Raw(`SELECT id FROM departments WHERE code = 'DSQ'`).Scan(&district)
	if sv.TicketChannel != string(tickets.ChannelWeb) || sv.DistrictID == nil || *sv.DistrictID != district || district == 0 {
		t.Errorf("survey of a web ticket in DSQ: channel %q, district %v (DSQ is %d)", sv.TicketChannel, sv.DistrictID, district)
	}
	for range 3 {
		e.restart()
		// A fresh service with no memory: and a lost cursor too.
		e.db.Exec("DELETE FROM callback_cursors")
		e.run()
	}
	if n := len(e.messages(num, sms.KindSurvey)); n != 1 {
		t.Fatalf("%d survey messages after restarts, want 1", n)
	}
	msg := e.messages(num, sms.KindSurvey)[0]
	if !strings.Contains(msg.Text, num) || !strings.Contains(msg.Text, "回复1满意 2基本满意 3不满意") || !strings.Contains(msg.Text, "社保大厅") {
		t.Errorf("survey text %q", msg.Text)
	}
	// Reopened and answered again: a second completion, a second survey.
	if _, err := e.store.Act(e.ctx, desk, num, tickets.ActReopen, tickets.ActionRequest{Reason: "市民来电补充"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Act(e.ctx, desk, num, tickets.ActAnswer, tickets.ActionRequest{Answer: "已补充答复"}); err != nil {
		t.Fatal(err)
	}
	e.run()
	e.clk.Add(3 * time.Hour)
	e.run()
	if ss := e.surveys(num); len(ss) != 2 || ss[1].Status != StatusAwaitingSMS || ss[0].CompletionSeq == ss[1].CompletionSeq {
		t.Fatalf("surveys after a second completion: %+v", ss)
	}
	if n := len(e.messages(num, sms.KindSurvey)); n != 2 {
		t.Errorf("%d survey messages, want 2", n)
	}
}

func TestWhoIsSurveyed(t *testing.T) {
	no := false
	tests := []struct {
		name  string
		phone string
		mod   func(*tickets.NewTicket)
		opts  func(*Options)
		want  Status
		note  string
	}{
		{"mobile", "13800138001", nil, nil, StatusAwaitingSMS, ""},
		{"landline", "04778581234", nil, nil, StatusCalling, ""},
		{"landline without telephony", "04778581234", nil, func(o *Options) { o.Dialer = nil }, StatusManual, ReasonNoTelephony},
		{"anonymous", "13800138002", func(n *tickets.NewTicket) { n.Citizen.Anonymous = true }, nil, StatusSkipped, SkipAnonymous},
		{"wants no reply", "13800138003", func(n *tickets.NewTicket) { n.Citizen.WantsReply = &no }, nil, StatusSkipped, SkipNoReply},
		{"no phone", "", nil, nil, StatusSkipped, SkipNoPhone},
		{"not sampled", "13800138004", nil, func(o *Options) { o.CategorySample = map[string]float64{"ZX": 0} }, StatusSkipped, SkipNotSampled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts)
			num := e.consultation(tc.phone, tc.mod)
			e.clk.Add(2 * time.Hour)
			e.run()
			sv := e.survey(num)
			if sv.Status != tc.want || sv.Note != tc.note {
				t.Fatalf("survey %s (%s), want %s (%s)", sv.Status, sv.Note, tc.want, tc.note)
			}
		})
	}
}

// A completion late in the day is surveyed the next morning, also when the worker was
// down at the time: the missed window is caught up.
func TestMissedWindowCaughtUp(t *testing.T) {
	e := newEnv(t, nil)
	e.clk.Set(local(0, "19:30"))
	num := e.consultation("13800138000", nil)
	e.run()
	if sv := e.survey(num); !sv.DueAt.Equal(local(1, "09:00")) {
		t.Fatalf("due at %s, want 09:00 the next day", sv.DueAt.In(shanghai))
	}
	e.clk.Set(local(0, "23:00"))
	e.run()
	if n := len(e.messages(num, sms.KindSurvey)); n != 0 {
		t.Fatalf("%d survey messages at night", n)
	}
	// Down all morning; back in the afternoon.
	e.clk.Set(local(1, "15:10"))
	e.restart()
	e.run()
	if sv := e.survey(num); sv.Status != StatusAwaitingSMS || sv.SMSQueuedAt == nil || !sv.SMSQueuedAt.Equal(local(1, "15:10")) {
		t.Fatalf("survey %s queued %v, want queued at 15:10", sv.Status, sv.SMSQueuedAt)
	}
}

// sent returns an env with one survey SMS sent (accepted by the gateway) for
// 13800138000 and the ticket's number.
func sent(t *testing.T, mod func(*Options)) (*env, string) {
	e := newEnv(t, mod)
	num := e.consultation("13800138000", nil)
	e.clk.Add(2 * time.Hour)
	e.run()
	e.send()
	e.run()
	if sv := e.survey(num); sv.Status != StatusAwaitingSMS || sv.SentAt == nil {
		t.Fatalf("survey %s sent at %v, want awaiting_sms and sent", sv.Status, sv.SentAt)
	}
	e.clk.Add(10 * time.Minute)
	return e, num
}

// queued returns an env whose gateway is down, with one survey SMS for 13800138000
// queued in the outbox (tried once and refused), and the ticket's number.
func queued(t *testing.T, mod func(*Options)) (*env, string) {
	e := newEnv(t, mod)
	e.gw.setDown(true)
	num := e.consultation("13800138000", nil)
	e.clk.Add(2 * time.Hour)
	e.run()
	e.send()
	e.run()
	if sv := e.survey(num); sv.Status != StatusAwaitingSMS || sv.SentAt != nil || sv.SMSQueuedAt == nil {
		t.Fatalf("survey %s queued at %v sent at %v, want awaiting_sms, queued, not sent", sv.Status, sv.SMSQueuedAt, sv.SentAt)
	}
	return e, num
}

// The wait before the call counts from the gateway's acceptance of the SMS: with the
// gateway down the survey is not called on the SMS's account however long it stays
// queued; once the gateway takes it, the citizen has the whole wait to answer.
func TestSMSWaitStartsWhenTheGatewayAccepts(t *testing.T) {
	e, num := queued(t, nil)
	queuedAt := e.clk.Now()
	for range 20 { // 20 hours down: more than most of a day's wait
		e.clk.Add(time.Hour)
		e.send()
		e.run()
	}
	if n := e.dialer.count(); n != 0 {
		t.Fatalf("%d survey calls while the SMS was still queued", n)
	}
	if sv := e.survey(num); sv.Status != StatusAwaitingSMS || sv.SentAt != nil {
		t.Fatalf("survey %s sent %v while the gateway was down", sv.Status, sv.SentAt)
	}
	e.gw.setDown(false)
	e.clk.Add(20 * time.Minute) // past the outbox's back-off (at most 15 min)
	e.send()
	acceptedAt := e.clk.Now()
	e.run()
	if e.gw.sentTo("13800138000") == 0 {
		t.Fatal("the gateway never got the survey SMS")
	}
	sv := e.survey(num)
	if sv.SentAt == nil || !sv.SentAt.Equal(acceptedAt) || sv.SMSQueuedAt == nil || !sv.SMSQueuedAt.Equal(queuedAt) {
		t.Fatalf("survey sent at %v (queued %v), want sent at the gateway's acceptance %v", sv.SentAt, sv.SMSQueuedAt, acceptedAt)
	}
	if want := acceptedAt.Add(24 * time.Hour); !sv.DueAt.Equal(want) {
		t.Fatalf("call due at %v, want 24 h after the acceptance (%v)", sv.DueAt, want)
	}
	e.clk.Add(23 * time.Hour)
	e.run()
	if n := e.dialer.count(); n != 0 {
		t.Fatalf("called %d times 23 h after the SMS left (24 h after it was queued)", n)
	}
	e.clk.Add(2 * time.Hour) // 09:20, inside the allowed hours
	e.run()
	if n := e.dialer.count(); n != 1 {
		t.Fatalf("%d survey calls once the wait after the acceptance was over, want 1", n)
	}
}

// A survey answered by any channel (SMS, an operator, the survey call) while its SMS is
// still queued withdraws the SMS: the gateway, back up, never sends it.
func TestAnsweredWhileSMSQueued(t *testing.T) {
	tests := []struct {
		name   string
		answer func(e *env, num string)
		result Result
		ch     Channel
		calls  int // survey calls made in all
	}{
		{"by SMS", func(e *env, num string) {
			if m := e.inbound("13800138000", "1"); m.Route != sms.RouteSurvey {
				t.Fatalf("reply routed %s, want survey", m.Route)
			}
		}, ResultSatisfied, ChannelSMS, 0},
		{"by an operator (web)", func(e *env, num string) {
			if _, err := e.svc.Record(e.ctx, desk, e.survey(num).ID, ManualAnswer{Result: ResultFairlySatisfied, Note: "市民来电时顺便评价"}); err != nil {
				t.Fatal(err)
			}
		}, ResultFairlySatisfied, ChannelManual, 0},
		// A survey written before sms_queued_at existed had sent_at set when its SMS was
		// queued, so its call comes once the wait is over even with the SMS still queued.
		{"by a survey call", func(e *env, num string) {
			sv := e.survey(num)
			if err := e.db.Model(&Survey{}).Where("id = ?", sv.ID).Updates(map[string]any{
				"sent_at": *sv.SMSQueuedAt, "due_at": e.clk.Now().UTC()}).Error; err != nil {
				e.t.Fatal(err)
			}
			e.dialer.mu.Lock()
			e.dialer.script = []dialResult{{res: ivr.SurveyResult{Outcome: ivr.SurveyAnswered, Key: "1"}}}
			e.dialer.mu.Unlock()
			e.run() // the wait is over: called in the same pass
			if n := e.dialer.count(); n != 1 {
				e.t.Fatalf("%d survey calls, want 1", n)
			}
		}, ResultSatisfied, ChannelIVR, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, num := queued(t, nil)
			e.clk.Add(time.Hour)
			tc.answer(e, num)
			msgs := e.messages(num, sms.KindSurvey)
			if len(msgs) != 1 || msgs[0].Status != sms.StatusCancelled {
				t.Fatalf("survey SMS %+v, want one, cancelled", msgs)
			}
			e.gw.setDown(false)
			for range 3 {
				e.clk.Add(time.Hour)
				e.send()
				e.run()
			}
			if n := e.gw.sentTo("13800138000"); n != 0 {
				t.Fatalf("the gateway sent %d parts to the citizen who had answered", n)
			}
			if sv := e.survey(num); sv.Status != StatusDone || sv.Result != tc.result || sv.Channel != tc.ch {
				t.Fatalf("survey %s %s by %s, want done %s by %s", sv.Status, sv.Result, sv.Channel, tc.result, tc.ch)
			}
			if n := e.dialer.count(); n != tc.calls {
				t.Fatalf("%d survey calls, want %d: none after the answer", n, tc.calls)
			}
		})
	}
}

// An SMS already accepted is past recalling: a later answer leaves it as it is.
func TestAnswerAfterSMSSentKeepsIt(t *testing.T) {
	e, num := sent(t, nil)
	e.inbound("13800138000", "2")
	if msgs := e.messages(num, sms.KindSurvey); len(msgs) != 1 || msgs[0].Status != sms.StatusSubmitted {
		t.Fatalf("survey SMS %+v, want one, submitted", msgs)
	}
}

func TestSMSAnswers(t *testing.T) {
	tests := []struct {
		name    string
		replies []string
		want    Result
		status  Status
		reason  string
		replied []string // automatic replies, by idempotency key prefix
	}{
		{"1", []string{"1"}, ResultSatisfied, StatusDone, "", nil},
		{"full-width 2", []string{"２"}, ResultFairlySatisfied, StatusDone, "", nil},
		{"the word 满意", []string{"满意"}, ResultSatisfied, StatusDone, "", nil},
		{"the word 不满意", []string{"不满意"}, ResultDissatisfied, StatusDone, "", []string{"survey-reason"}},
		{"changed within the window", []string{"3", "1"}, ResultSatisfied, StatusDone, "", []string{"survey-reason"}},
		{"3 then a reason", []string{"3", "路灯还是不亮"}, ResultDissatisfied, StatusDone, "路灯还是不亮", []string{"survey-reason"}},
		{"unrecognised once", []string{"啥意思", "2"}, ResultFairlySatisfied, StatusDone, "", []string{"survey-clarify"}},
		{"unrecognised twice", []string{"啥意思", "你们是谁"}, ResultNone, StatusManual, "", []string{"survey-clarify"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, num := sent(t, nil)
			for _, r := range tc.replies {
				if m := e.inbound("13800138000", r); m.Route != sms.RouteSurvey {
					t.Fatalf("reply %q routed %s, want survey", r, m.Route)
				}
				e.clk.Add(time.Minute)
			}
			sv := e.survey(num)
			if sv.Result != tc.want || sv.Status != tc.status || sv.Reason != tc.reason {
				t.Fatalf("survey %s %s reason %q; want %s %s %q", sv.Status, sv.Result, sv.Reason, tc.status, tc.want, tc.reason)
			}
			if sv.Result != ResultNone && sv.Channel != ChannelSMS {
				t.Errorf("channel %s, want sms", sv.Channel)
			}
			var keys []string
			for _, m := range e.messages(num, sms.KindReply) {
				keys = append(keys, strings.Split(m.IdempotencyKey, ":")[0])
			}
			if strings.Join(keys, ",") != strings.Join(tc.replied, ",") {
				t.Errorf("automatic replies %v, want %v", keys, tc.replied)
			}
			if tc.reason != "" {
				tk := e.ticket(num)
				last := tk.Timeline[len(tk.Timeline)-1]
				if tk.Status != tickets.StatusRegistered || last.Action != tickets.ActReopen || !strings.Contains(last.Note, tc.reason) {
					t.Errorf("ticket %s, last event %s %q; want reopened with the reason", tk.Status, last.Action, last.Note)
				}
			}
		})
	}
}

// A 3 without a reason reopens the ticket when the answer window is over.
func TestDissatisfiedWithoutReason(t *testing.T) {
	e, num := sent(t, nil)
	e.inbound("13800138000", "3")
	e.run()
	if tk := e.ticket(num); tk.Status != tickets.StatusCompleted {
		t.Fatalf("reopened at once (%s); the reason is still awaited", tk.Status)
	}
	e.clk.Add(2*time.Hour + time.Minute)
	e.run()
	tk := e.ticket(num)
	if last := tk.Timeline[len(tk.Timeline)-1]; tk.Status != tickets.StatusRegistered || !strings.Contains(last.Note, "未说明原因") {
		t.Fatalf("ticket %s, last note %q", tk.Status, last.Note)
	}
	if sv := e.survey(num); sv.EscalatedAt == nil {
		t.Fatal("survey not marked escalated")
	}
	// A late reason goes to a new ticket, not into a closed survey.
	if m := e.inbound("13800138000", "还是没人来修"); m.Route == sms.RouteSurvey {
		t.Error("text after the window was taken as a survey answer")
	}
}

func TestRepliesNotForASurvey(t *testing.T) {
	t.Run("unknown number", func(t *testing.T) {
		e, num := sent(t, nil)
		if m := e.inbound("13900000000", "1"); m.Route == sms.RouteSurvey {
			t.Fatalf("a stranger's 1 was taken as a survey answer")
		}
		if sv := e.survey(num); sv.Result != ResultNone {
			t.Fatalf("survey answered by a stranger: %s", sv.Result)
		}
	})
	t.Run("expired survey", func(t *testing.T) {
		e, num := sent(t, func(o *Options) { o.Dialer = nil })
		e.clk.Add(8 * 24 * time.Hour)
		e.run()
		if m := e.inbound("13800138000", "1"); m.Route == sms.RouteSurvey {
			t.Fatalf("an answer 8 days late was taken")
		}
		if sv := e.survey(num); sv.Result != ResultNone || sv.Status != StatusManual {
			t.Fatalf("survey %s %s", sv.Status, sv.Result)
		}
	})
	t.Run("answered long ago", func(t *testing.T) {
		e, _ := sent(t, nil)
		e.inbound("13800138000", "1")
		e.clk.Add(3 * time.Hour)
		handled, err := e.svc.Answer(e.ctx, "13800138000", "3", e.clk.Now())
		if err != nil || handled {
			t.Fatalf("Answer after the window = %v, %v; want false", handled, err)
		}
	})
}

// The first answer stands when a citizen answers by SMS and by call.
func TestSMSAndCallDoubleAnswer(t *testing.T) {
	e, num := sent(t, nil)
	e.clk.Add(24 * time.Hour)
	e.run() // to calling; the call is answered with 3 ...
	e.dialer.script = []dialResult{{res: ivr.SurveyResult{Outcome: ivr.SurveyAnswered, Key: "3"}}}
	// ... but the SMS answer arrived first.
	e.inbound("13800138000", "1")
	if _, err := e.svc.CallOnce(e.ctx); err != nil {
		t.Fatal(err)
	}
	sv := e.survey(num)
	if sv.Result != ResultSatisfied || sv.Channel != ChannelSMS {
		t.Fatalf("survey %s by %s; the SMS answer should stand", sv.Result, sv.Channel)
	}
	if tk := e.ticket(num); tk.Status != tickets.StatusCompleted {
		t.Fatalf("ticket %s: the call's second answer reopened it", tk.Status)
	}

	// And the other way round: a call answer, then an SMS.
	e2, num2 := sent(t, nil)
	e2.clk.Add(24 * time.Hour)
	e2.dialer.script = []dialResult{{res: ivr.SurveyResult{Outcome: ivr.SurveyAnswered, Key: "2"}}}
	e2.run()
	if m := e2.inbound("13800138000", "3"); m.Route != sms.RouteSurvey {
		t.Errorf("the late SMS answer was routed %s; it is logged as a survey answer", m.Route)
	}
	if sv := e2.survey(num2); sv.Result != ResultFairlySatisfied || sv.Channel != ChannelIVR || sv.Attempts != 1 {
		t.Fatalf("survey %s by %s (%d attempts); the call's answer should stand", sv.Result, sv.Channel, sv.Attempts)
	}
}

// With no gateway (or a gateway down) the survey is queued once; an SMS that expires
// undelivered sends the survey to a call without waiting out the day.
func TestGatewayOutage(t *testing.T) {
	e, num := queued(t, nil)
	for range 3 {
		e.clk.Add(time.Hour)
		e.send()
		e.run()
	}
	msgs := e.messages(num, sms.KindSurvey)
	if len(msgs) != 1 || msgs[0].Status != sms.StatusQueued {
		t.Fatalf("%d messages (%v), want one queued", len(msgs), msgs)
	}
	if sv := e.survey(num); sv.Status != StatusAwaitingSMS {
		t.Fatalf("survey %s before the message expired", sv.Status)
	}
	e.db.Model(&sms.Message{}).Where("id = ?", msgs[0].ID).Update("status", sms.StatusExpired)
	e.dialer.script = []dialResult{{res: ivr.SurveyResult{Outcome: ivr.SurveyAnswered, Key: "1"}}}
	e.run()
	if sv := e.survey(num); sv.Result != ResultSatisfied || sv.Channel != ChannelIVR {
		t.Fatalf("survey %s %s by %s; want satisfied by call", sv.Status, sv.Result, sv.Channel)
	}
}

// An ARI outage is not an attempt: the call is tried again later.
func TestARIOutage(t *testing.T) {
	e := newEnv(t, nil)
	num := e.consultation("04778581234", nil)
	e.clk.Add(2 * time.Hour)
	e.dialer.script = []dialResult{{err: ivr.ErrNoTelephony}, {err: errors.New("ari: 500")}, {res: ivr.SurveyResult{Outcome: ivr.SurveyAnswered, Key: "3", Reason: "survey-reason-1"}}}
	e.run()
	sv := e.survey(num)
	if sv.Attempts != 0 || sv.Status != StatusCalling || !sv.DueAt.Equal(e.clk.Now().Add(5*time.Minute)) {
		t.Fatalf("after an outage: %s, %d attempts, due %s", sv.Status, sv.Attempts, sv.DueAt)
	}
	e.run() // not due yet
	if e.dialer.count() != 1 {
		t.Fatalf("%d calls before the retry time", e.dialer.count())
	}
	e.clk.Add(5 * time.Minute)
	e.run()
	e.clk.Add(5 * time.Minute)
	e.run()
	sv = e.survey(num)
	if sv.Result != ResultDissatisfied || sv.Attempts != 1 || sv.Recording != "survey-reason-1" || sv.EscalatedAt == nil {
		t.Fatalf("survey %+v", sv)
	}
	tk := e.ticket(num)
	if last := tk.Timeline[len(tk.Timeline)-1]; last.Action != tickets.ActReopen || !strings.Contains(last.Note, "survey-reason-1") {
		t.Fatalf("last event %s %q", last.Action, last.Note)
	}
}

// No answer, busy, a hang-up before a key and a fax (no key) are attempts: retried
// CallRetry apart within the allowed hours, then the manual list.
func TestCallRetries(t *testing.T) {
	for _, out := range []ivr.SurveyOutcome{ivr.SurveyNoAnswer, ivr.SurveyBusy, ivr.SurveyHungUp, ivr.SurveyNoKey} {
		t.Run(string(out), func(t *testing.T) {
			e := newEnv(t, nil)
			e.clk.Set(local(0, "12:00"))
			num := e.consultation("04778581234", nil)
			for range 3 {
				e.dialer.script = append(e.dialer.script, dialResult{res: ivr.SurveyResult{Outcome: out}})
			}
			for e.clk.Now().Before(local(3, "00:00")) {
				e.run()
				e.clk.Add(30 * time.Minute)
			}
			at := e.dialer.at
			if len(at) != 3 {
				t.Fatalf("%d calls, want 3: %v", len(at), at)
			}
			// 14:00 (after the 2 h delay), 20:00 is outside the hours (14:00 + 6 h), so the
			// next morning at 09:00, then 15:00.
			for i, w := range []time.Time{local(0, "14:00"), local(1, "09:00"), local(1, "15:00")} {
				if !at[i].Equal(w) {
					t.Errorf("call %d at %s, want %s", i+1, at[i].In(shanghai), w)
				}
			}
			if sv := e.survey(num); sv.Status != StatusManual || sv.Note != ReasonCallsExhausted || sv.Attempts != 3 || sv.LastOutcome != string(out) {
				t.Fatalf("survey %s (%s), %d attempts, last %s", sv.Status, sv.Note, sv.Attempts, sv.LastOutcome)
			}
		})
	}
}

func TestManualList(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Dialer = nil })
	num := e.consultation("04778581234", nil)
	e.clk.Add(2 * time.Hour)
	e.run()
	list, _, err := e.svc.Surveys(e.ctx, Filter{Status: StatusManual}, api.Page{Page: 1, PerPage: 50}, false)
	if err != nil || len(list) != 1 || list[0].Ticket != num {
		t.Fatalf("manual list %v (%v)", list, err)
	}
	id := list[0].ID
	bad := []struct {
		in   ManualAnswer
		kind error
	}{
		{ManualAnswer{Result: "great"}, api.ErrInvalid},
		{ManualAnswer{Result: ResultSatisfied, Reason: "x"}, api.ErrInvalid},
	}
	for _, b := range bad {
		if _, err := e.svc.Record(e.ctx, desk, id, b.in); !errors.Is(err, b.kind) {
			t.Errorf("Record(%+v) = %v, want %v", b.in, err, b.kind)
		}
	}
	if _, err := e.svc.Record(e.ctx, desk, 999999, ManualAnswer{Result: ResultSatisfied}); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("unknown survey: %v", err)
	}
	v, err := e.svc.Record(e.ctx, desk, id, ManualAnswer{Result: ResultUnreachable, Note: "三次无人接听"})
	if err != nil || v.Result != ResultUnreachable || v.Channel != ChannelManual || v.AnsweredBy != "operator:zhang" {
		t.Fatalf("recorded %+v (%v)", v, err)
	}
	if _, err := e.svc.Record(e.ctx, desk, id, ManualAnswer{Result: ResultSatisfied}); !errors.Is(err, api.ErrConflict) {
		t.Errorf("second manual answer: %v, want conflict", err)
	}
}

func TestStats(t *testing.T) {
	e := newEnv(t, nil)
	for _, p := range []string{"13800138001", "13800138002", "13800138003", "13800138004"} {
		e.consultation(p, nil)
	}
	e.consultation("", nil) // skipped: not due
	e.clk.Add(2 * time.Hour)
	e.run()
	e.inbound("13800138001", "1")
	e.inbound("13800138002", "2")
	e.inbound("13800138003", "3")
	st, err := e.svc.Stats(e.ctx, StatsFilter{From: local(0, "00:00"), To: local(1, "00:00"), Group: GroupChannel})
	if err != nil {
		t.Fatal(err)
	}
	tot := st.Total
	if tot.Due != 4 || tot.Done != 3 || tot.Answered != 3 || *tot.ResponseRate != 0.75 || *tot.SatisfactionRate != 2.0/3 || *tot.StrictRate != 1.0/3 {
		t.Fatalf("total %+v", tot)
	}
	for _, g := range []Group{GroupDepartment, GroupCategory} {
		if st, err := e.svc.Stats(e.ctx, StatsFilter{From: local(0, "00:00"), To: local(1, "00:00"), Group: g}); err != nil || st.Total.Due != 4 {
			t.Errorf("group %s: %+v (%v)", g, st.Total, err)
		}
	}
	if _, err := e.svc.Stats(e.ctx, StatsFilter{From: local(0, "00:00"), To: local(1, "00:00"), Group: "weather"}); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("unknown group: %v", err)
	}
}

// TestManualDissatisfiedReopensAsTheOperator: a dissatisfied answer recorded by hand
// reopens the ticket in the name of the operator who recorded it, not of the surveys.
func TestManualDissatisfiedReopensAsTheOperator(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Dialer = nil })
	num := e.consultation("04778581234", nil)
	e.clk.Add(2 * time.Hour)
	e.run()
	list, _, err := e.svc.Surveys(e.ctx, Filter{Status: StatusManual}, api.Page{Page: 1, PerPage: 50}, false)
	if err != nil || len(list) != 1 {
		t.Fatalf("manual list %v (%v)", list, err)
	}
	if _, err := e.svc.Record(e.ctx, desk, list[0].ID, ManualAnswer{Result: ResultDissatisfied, Reason: "问题没有解决"}); err != nil {
		t.Fatal(err)
	}
	v, err := e.store.Find(e.ctx, desk, num)
	if err != nil {
		t.Fatal(err)
	}
	last := v.Timeline[len(v.Timeline)-1]
	if v.Status != tickets.StatusRegistered || last.Action != tickets.ActReopen || last.Actor != desk.Actor() {
		t.Errorf("ticket %s, last event %s by %s; want reopened by %s", v.Status, last.Action, last.Actor, desk.Actor())
	}
}
