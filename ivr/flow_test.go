package ivr

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/ivr/aritest"
	"github.com/rexian/rexian/tickets"
)

func TestComplaintCallReachesAnOperatorAndIsRecorded(t *testing.T) {
	h := newHarness(t)
	h.login("wang", "PJSIP/8001", aritest.Phone{AnswerAfter: 20 * time.Millisecond})
	caller := h.dial("13800138000", "12345")
	h.waitPlayed(caller, "welcome-mayor")
	h.waitPlayed(caller, "menu-main")
	caller.Press("1")
	leg := h.originated("PJSIP/8001")
	h.eventually("caller and operator share a bridge", func() bool {
		return caller.BridgeID() != "" && caller.BridgeID() == leg.BridgeID()
	})
	h.waitAgent("wang", AgentBusy)
	if caller.MOH() {
		t.Error("the caller still hears music on hold while talking to the operator")
	}
	caller.Hangup()
	h.waitDone(leg) // the operator's leg is hung up with the caller
	rec := h.record(caller.ID())
	if rec.Outcome != OutcomeAnswered || rec.Operator != "wang" || rec.Topic != "complaint" {
		t.Errorf("record: outcome %q operator %q topic %q, want answered by wang, complaint", rec.Outcome, rec.Operator, rec.Topic)
	}
	if rec.Hotline != "mayor" || rec.Dialled != "12345" || rec.Caller != "13800138000" {
		t.Errorf("record: hotline %q dialled %q caller %q", rec.Hotline, rec.Dialled, rec.Caller)
	}
	if rec.ConnectedAt == nil || !rec.InTarget || rec.Recording == "" {
		t.Errorf("record: connected %v in target %v recording %q; want connected within 15 s and recorded", rec.ConnectedAt, rec.InTarget, rec.Recording)
	}
	if !slices.Contains(h.srv.StoredRecordings(), rec.Recording) {
		t.Errorf("conversation recording %q not stored; stored: %v", rec.Recording, h.srv.StoredRecordings())
	}
	h.waitAgent("wang", AgentReady)
	h.idle()
}

func TestBargeInSkipsTheRestOfThePrompt(t *testing.T) {
	h := newHarness(t)
	// The welcome plays long enough to be interrupted; the key goes on to the menu.
	h.srv.Close()
	h = newHarness(t, func(_ *Options, ao *aritest.Options) {
		ao.MediaDuration = func(uri string) time.Duration {
			if strings.Contains(uri, "welcome") {
				return 10 * time.Second
			}
			return 20 * time.Millisecond
		}
	})
	h.login("wang", "PJSIP/8001", aritest.Phone{})
	caller := h.dial("13800138000", "12345")
	h.waitPlayed(caller, "welcome-mayor")
	caller.Press("1")
	h.originated("PJSIP/8001")
	if played(caller, "menu-main") {
		t.Errorf("the menu was played although the caller had already chosen; played %v", caller.Played())
	}
	caller.Hangup()
	h.idle()
}

func TestMenuInvalidKeysThenFallback(t *testing.T) {
	h := newHarness(t)
	h.login("wang", "PJSIP/8001", aritest.Phone{})
	caller := h.dial("13800138000", "12345")
	for i := 0; i < 3; i++ {
		h.eventually("menu played again", func() bool {
			n := 0
			for _, m := range caller.Played() {
				if m == "sound:rexian/menu-main" {
					n++
				}
			}
			return n > i
		})
		caller.Press("7") // not a menu key
	}
	// After three wrong keys the caller goes to the fallback queue, not away.
	h.originated("PJSIP/8001")
	if n := strings.Count(strings.Join(caller.Played(), " "), "menu-invalid"); n != 2 {
		t.Errorf("heard the invalid-key prompt %d times, want 2 (before the 2nd and 3rd menu)", n)
	}
	caller.Hangup()
	h.idle()
}

func TestNoOperatorTakesAVoiceMessageThatBecomesATicket(t *testing.T) {
	h := newHarness(t)
	caller := h.dial("13800138000", "12345")
	h.waitPlayed(caller, "menu-main")
	caller.Press("1")
	h.waitPlayed(caller, "no-agent")
	h.waitPlayed(caller, "voicemail-intro")
	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	defer cancel()
	name, err := caller.WaitRecording(ctx)
	if err != nil {
		t.Fatal(err)
	}
	caller.Speak(5 * time.Second)
	caller.Press("#")
	h.waitPlayed(caller, "voicemail-thanks")
	h.waitPlayed(caller, "voicemail-sms") // a mobile caller is told the number comes by SMS
	h.waitDone(caller)
	rec := h.record(caller.ID())
	if rec.Outcome != OutcomeVoicemail || rec.Voicemail != name || rec.TicketNumber == "" {
		t.Fatalf("record: outcome %q voicemail %q (recorded %q) ticket %q", rec.Outcome, rec.Voicemail, name, rec.TicketNumber)
	}
	if !slices.Contains(caller.Played(), "digits:"+rec.TicketNumber) {
		t.Errorf("the ticket number was not read out; played %v", caller.Played())
	}
	v, err := h.store.Find(ctx, desk, rec.TicketNumber)
	if err != nil {
		t.Fatal(err)
	}
	if v.Channel != tickets.ChannelVoicemail || v.Recording != name || v.Status != tickets.StatusRegistered || !strings.Contains(v.Content, "5 秒") {
		t.Errorf("ticket: channel %s recording %q status %s content %q", v.Channel, v.Recording, v.Status, v.Content)
	}
	if v.Citizen.Phone == "" {
		t.Error("the voice-message ticket does not carry the caller's number")
	}
	// The audio is attached, so that it plays on the ticket's page (an audio attachment
	// gets the player) and outlives Asterisk's recordings.
	want, err := h.srv.RecordingFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Attachments) != 1 || v.Attachments[0].ContentType != "audio/wav" || v.Attachments[0].Size != int64(len(want)) {
		t.Errorf("ticket attachments %+v, want the %d-byte recording as audio/wav", v.Attachments, len(want))
	}
	h.idle()
}

func TestCallerHangsUpDuringVoiceMessageStillMakesATicket(t *testing.T) {
	h := newHarness(t)
	caller := h.dial("13800138000", "12345")
	caller.Press("1")
	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	defer cancel()
	if _, err := caller.WaitRecording(ctx); err != nil {
		t.Fatal(err)
	}
	caller.Speak(3 * time.Second)
	caller.Hangup() // Asterisk ends the recording with "done" and keeps the file
	rec := h.record(caller.ID())
	if rec.Outcome != OutcomeVoicemail || rec.TicketNumber == "" {
		t.Fatalf("record: outcome %q ticket %q; a message cut by a hang-up must still become a ticket", rec.Outcome, rec.TicketNumber)
	}
	h.idle()
}

func TestStatusLookup(t *testing.T) {
	h := newHarness(t)
	ctx := h.ctx
	v, err := h.store.Create(ctx, desk, tickets.NewTicket{
		Content: "小区暖气不热", Category: "TS-GN", Citizen: tickets.NewCitizen{Phone: "13900000001"},
		Dispatch: &tickets.DispatchRequest{},
	})
	if err != nil {
		t.Fatal(err)
	}
	wrong := v.Number[:len(v.Number)-1] + string('0'+(v.Number[len(v.Number)-1]-'0'+1)%10)
	tests := []struct {
		name, keys string
		want       []string
	}{
		{"right number", v.Number + "#", []string{"digits:" + v.Number, "sound:rexian/status-dispatched", "sound:rexian/status-department", "sound:rexian/dept-heat", "sound:rexian/status-due"}},
		{"wrong check digit", wrong + "#", []string{"sound:rexian/status-wrong"}},
		{"overlong input", strings.Repeat("1", 20) + "#", []string{"sound:rexian/status-wrong"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			caller := h.dial("13700000000", "12345")
			h.waitPlayed(caller, "menu-main")
			caller.Press("3")
			h.waitPlayed(caller, "status-ask")
			caller.Press(tc.keys)
			for _, w := range tc.want {
				h.waitPlayed(caller, w)
			}
			caller.Hangup()
			h.waitDone(caller)
		})
	}
	h.idle()
}

func TestAllLinesBusy(t *testing.T) {
	h := newHarness(t, withSettings(func(s *config.IVR) { s.Lines[0].Channels = 1 }))
	first := h.dial("13800000001", "12345")
	h.waitPlayed(first, "menu-main")
	second := h.dial("13800000002", "12345")
	h.waitPlayed(second, "all-busy")
	h.waitPlayed(second, "voicemail-intro") // never dropped without a word
	second.Hangup()
	if rec := h.record(second.ID()); rec.Outcome != OutcomeBusy && rec.Outcome != OutcomeVoicemail {
		t.Errorf("busy caller's outcome %q", rec.Outcome)
	}
	if played(first, "all-busy") {
		t.Error("the first caller heard all lines busy")
	}
	first.Hangup()
	h.idle()
	// The line is free again.
	third := h.dial("13800000003", "12345")
	h.waitPlayed(third, "menu-main")
	third.Hangup()
	h.idle()
}

func TestUnknownDialledNumberGoesToTheMayorHotline(t *testing.T) {
	h := newHarness(t)
	caller := h.dial("13800000001", "99999")
	h.waitPlayed(caller, "welcome-mayor")
	caller.Hangup()
	if rec := h.record(caller.ID()); rec.Hotline != "mayor" || rec.Outcome != OutcomeAbandonedMenu {
		t.Errorf("record: hotline %q outcome %q", rec.Hotline, rec.Outcome)
	}
	h.idle()
}

func TestDirectModeSkipsTheMenu(t *testing.T) {
	h := newHarness(t, withSettings(func(s *config.IVR) {
		s.Hotlines[1].Mode = config.ModeDirect
	}))
	h.login("li", "PJSIP/8002", aritest.Phone{})
	caller := h.dial("13800000001", "8393000")
	h.originated("PJSIP/8002")
	if played(caller, "menu-main") {
		t.Errorf("direct mode played the menu: %v", caller.Played())
	}
	h.waitPlayed(caller, "welcome-government")
	caller.Hangup()
	h.idle()
}

func TestOperatorWhoDoesNotAnswerIsPausedAndTheNextRung(t *testing.T) {
	h := newHarness(t)
	h.login("asleep", "PJSIP/8001", aritest.Phone{Never: true})
	time.Sleep(time.Millisecond) // asleep has been idle longer: rung first
	h.login("awake", "PJSIP/8002", aritest.Phone{AnswerAfter: 10 * time.Millisecond})
	caller := h.dial("13800000001", "12345")
	caller.Press("0")
	a := h.waitAgent("asleep", AgentPaused)
	if a.Reason != PauseNoAnswer {
		t.Errorf("paused for %q, want %q", a.Reason, PauseNoAnswer)
	}
	leg := h.originated("PJSIP/8002")
	h.eventually("caller bridged to the second operator", func() bool {
		return caller.BridgeID() != "" && caller.BridgeID() == leg.BridgeID()
	})
	caller.Hangup()
	rec := h.record(caller.ID())
	if rec.Operator != "awake" || rec.Offers != 2 {
		t.Errorf("record: operator %q after %d offers, want awake after 2", rec.Operator, rec.Offers)
	}
	h.idle()
}

func TestUnreachableOperatorPhone(t *testing.T) {
	h := newHarness(t)
	h.login("gone", "Bogus/1", aritest.Phone{}) // Asterisk: 500 Allocation failed
	caller := h.dial("13800000001", "12345")
	caller.Press("0")
	a := h.waitAgent("gone", AgentPaused)
	if a.Reason != PauseUnreachable {
		t.Errorf("paused for %q, want %q", a.Reason, PauseUnreachable)
	}
	// With nobody left, the caller is offered a voice message rather than music forever.
	h.waitPlayed(caller, "voicemail-intro")
	caller.Hangup()
	h.idle()
}

func TestRingAllFirstAnswerWins(t *testing.T) {
	h := newHarness(t, withSettings(func(s *config.IVR) {
		for i := range s.Queues {
			s.Queues[i].Strategy = config.StrategyRingAll
		}
	}))
	h.login("slow", "PJSIP/8001", aritest.Phone{Never: true})
	h.login("fast", "PJSIP/8002", aritest.Phone{AnswerAfter: 10 * time.Millisecond})
	caller := h.dial("13800000001", "12345")
	caller.Press("0")
	slow := h.originated("PJSIP/8001")
	fast := h.originated("PJSIP/8002")
	h.eventually("caller bridged to the fast operator", func() bool {
		return caller.BridgeID() != "" && caller.BridgeID() == fast.BridgeID()
	})
	h.waitDone(slow) // the other phone stops ringing
	if a, _ := h.ctrl.acd.agent("slow"); a.State != AgentReady {
		t.Errorf("the operator who lost the race is %s, want ready", a.State)
	}
	caller.Hangup()
	h.idle()
}

func TestQueueVoicemailKeyAndWaitLimit(t *testing.T) {
	t.Run("key", func(t *testing.T) {
		h := newHarness(t)
		h.login("busy", "PJSIP/8001", aritest.Phone{})
		h.ctrl.acd.setState("busy", false, "meeting") // logged in, not ready: the caller waits
		h.ctrl.acd.login("other", "other", "PJSIP/8009", nil)
		h.ctrl.acd.setState("other", false, "") // paused too: queue not servable…
		h.ctrl.acd.setState("busy", true, "")   // …until busy is ready, then takes a call
		caller, blocker := h.behindBusyOperator("13800000001")
		h.waitPlayed(caller, "queue-enter")
		h.eventually("caller is waiting", func() bool { return caller.MOH() })
		caller.Press("9")
		h.waitPlayed(caller, "voicemail-intro")
		caller.Hangup()
		blocker.Hangup()
		h.idle()
	})
	t.Run("wait limit", func(t *testing.T) {
		h := newHarness(t, withSettings(func(s *config.IVR) {
			for i := range s.Queues {
				s.Queues[i].MaxWait = time.Second
			}
		}))
		h.login("wang", "PJSIP/8001", aritest.Phone{})
		caller, blocker := h.behindBusyOperator("13800000001")
		h.waitPlayed(caller, "no-agent")
		h.waitPlayed(caller, "voicemail-intro")
		caller.Hangup()
		blocker.Hangup()
		h.idle()
	})
}

func TestPositionAnnouncements(t *testing.T) {
	h := newHarness(t, withSettings(func(s *config.IVR) {
		for i := range s.Queues {
			s.Queues[i].AnnounceEvery = 200 * time.Millisecond
		}
	}))
	h.login("wang", "PJSIP/8001", aritest.Phone{})
	first, blocker := h.behindBusyOperator("13800000001")
	h.eventually("first caller waits", func() bool { return first.MOH() })
	second := h.dial("13800000002", "12345")
	second.Press("0")
	h.waitPlayed(second, "queue-position")
	h.waitPlayed(second, "number:1") // one caller ahead
	h.waitPlayed(first, "number:0")
	h.eventually("music resumes after the announcement", func() bool { return second.MOH() })
	for _, c := range []*aritest.Call{first, second, blocker} {
		c.Hangup()
	}
	h.idle()
}

func TestKnownCallerHearsTheirTicket(t *testing.T) {
	h := newHarness(t)
	v, err := h.store.Create(h.ctx, desk, tickets.NewTicket{Content: "路灯不亮", Category: "TS-WY", Citizen: tickets.NewCitizen{Phone: "13911112222"}})
	if err != nil {
		t.Fatal(err)
	}
	caller := h.dial("13911112222", "12345")
	h.waitPlayed(caller, "known-caller")
	caller.Press("1")
	h.waitPlayed(caller, "digits:"+v.Number)
	h.waitPlayed(caller, "status-registered")
	caller.Hangup()
	h.idle()

	stranger := h.dial("13911113333", "12345")
	h.waitPlayed(stranger, "menu-main")
	if played(stranger, "known-caller") {
		t.Error("a caller with no open ticket was offered one")
	}
	stranger.Hangup()
	h.idle()
}

func TestScreenPopReachesTheOfferedOperator(t *testing.T) {
	h := newHarness(t)
	msgs, cancel := h.ctrl.Live().Hub().Subscribe()
	defer cancel()
	if _, err := h.store.Create(h.ctx, desk, tickets.NewTicket{Content: "噪音扰民", Category: "TS-WY", Citizen: tickets.NewCitizen{Phone: "13811112222"}}); err != nil {
		t.Fatal(err)
	}
	h.login("wang", "PJSIP/8001", aritest.Phone{AnswerAfter: 50 * time.Millisecond})
	caller := h.dial("13811112222", "12345")
	h.waitPlayed(caller, "known-caller")
	caller.Press("2") // not now: to the menu
	h.waitPlayed(caller, "menu-main")
	caller.Press("2") // consultation
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-msgs:
			if m.Type != "screen_pop" {
				continue
			}
			if m.For != "wang" || m.Pop.Caller != "13811112222" || m.Pop.Line != "12345" || m.Pop.Topic != "consultation" || len(m.Pop.Tickets) != 1 {
				t.Fatalf("screen-pop %+v for %q", m.Pop, m.For)
			}
			// The caller's number was shown to wang: the audit log says so, for this call.
			rs, _, err := h.audit.Find(h.ctx, audit.Filter{Action: audit.ActionPIIViewed, Actor: "operator:wang"}, api.Page{Page: 1, PerPage: 5})
			if err != nil || len(rs) != 1 || rs[0].Target != CallRef(m.Pop.CallID) || !strings.Contains(rs[0].Detail, m.Pop.Tickets[0].Number) {
				t.Fatalf("audit of the screen-pop: %+v %v", rs, err)
			}
			caller.Hangup()
			h.idle()
			return
		case <-deadline:
			t.Fatal("no screen-pop")
		}
	}
}

func TestAnswerFailureIsHandled(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		fallback bool // the caller is still there and goes to the dialplan's fallback
	}{
		{"server error", 500, `{"message":"Internal Server Error"}`, true},
		{"channel gone", 404, `{"message":"Channel not found"}`, false},
		{"not in stasis", 409, `{"message":"Channel not in Stasis application"}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.srv.FailNext("POST", "/channels/*/answer", tc.status, tc.body)
			caller := h.dial("13800000001", "12345")
			if tc.fallback {
				h.eventually("the caller is handed to the fallback", func() bool { return caller.Context() == fallbackContext })
				caller.Hangup()
			}
			h.waitDone(caller)
			h.idle()
		})
	}
}

func TestAnOfferCutsAnAnnouncementShort(t *testing.T) {
	h := newHarness(t, withSettings(func(s *config.IVR) {
		for i := range s.Queues {
			s.Queues[i].AnnounceEvery = 100 * time.Millisecond
		}
	}), func(_ *Options, ao *aritest.Options) {
		ao.MediaDuration = func(uri string) time.Duration {
			if strings.Contains(uri, "queue-position") {
				return time.Minute // an announcement far longer than the test
			}
			return 20 * time.Millisecond
		}
	})
	h.login("wang", "PJSIP/8001", aritest.Phone{})
	caller, blocker := h.behindBusyOperator("13800000001")
	h.waitPlayed(caller, "queue-position")
	blocker.Hangup() // wang is free while the caller hears the announcement
	leg := h.originated("PJSIP/8001")
	h.eventually("the caller reaches wang without waiting out the announcement", func() bool {
		return leg.BridgeID() != "" && leg.BridgeID() == caller.BridgeID()
	})
	caller.Hangup()
	h.idle()
}

// TestVoiceMessageUnderARetiredCategory: the voice-message category was retired after
// rexian started; the message still becomes a ticket, under the nearest category in use,
// and the ticket says so.
func TestVoiceMessageUnderARetiredCategory(t *testing.T) {
	h := newHarness(t, withSettings(func(s *config.IVR) { s.Voicemail.Category = "TS-WY" }))
	cats, err := h.store.Categories(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cats {
		if c.Code == "TS-WY" {
			off := false
			c.CategoryInput.Active = &off
			if _, err := h.store.SaveCategory(h.ctx, c.CategoryInput); err != nil {
				t.Fatal(err)
			}
		}
	}
	caller := h.dial("13800138000", "12345")
	h.waitPlayed(caller, "menu-main")
	caller.Press("0") // nobody logged in: voice message
	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	defer cancel()
	if _, err := caller.WaitRecording(ctx); err != nil {
		t.Fatal(err)
	}
	caller.Speak(2 * time.Second)
	caller.Press("#")
	h.waitPlayed(caller, "voicemail-thanks")
	caller.Hangup()
	rec := h.record(caller.ID())
	if rec.TicketNumber == "" {
		t.Fatalf("no ticket for the message: %+v", rec)
	}
	v, err := h.store.Find(h.ctx, desk, rec.TicketNumber)
	if err != nil {
		t.Fatal(err)
	}
	if v.Category.Code != "TS" || !strings.Contains(v.Content, "TS-WY") {
		t.Errorf("ticket under %q saying %q; want the parent TS and a word about TS-WY", v.Category.Code, v.Content)
	}
	h.idle()
}

// TestServiceLevelCountsFromTheQueue: GB/T 33358's 15-second rate counts from when the
// caller asks for a person; a long welcome no longer spoils it, and the figure from the
// arrival is kept beside it.
func TestServiceLevelCountsFromTheQueue(t *testing.T) {
	h := newHarness(t, withSettings(func(s *config.IVR) { s.AnswerTarget = time.Second }), func(_ *Options, ao *aritest.Options) {
		ao.MediaDuration = func(uri string) time.Duration {
			if strings.Contains(uri, "welcome") {
				return 1500 * time.Millisecond // longer than the target
			}
			return 20 * time.Millisecond
		}
	})
	h.login("wang", "PJSIP/8001", aritest.Phone{})
	caller := h.dial("13800138000", "12345")
	h.waitPlayed(caller, "menu-main")
	caller.Press("0")
	leg := h.originated("PJSIP/8001")
	h.eventually("bridged", func() bool { return leg.BridgeID() != "" && caller.BridgeID() == leg.BridgeID() })
	caller.Hangup()
	rec := h.record(caller.ID())
	if !rec.InTarget || rec.InTargetArrival {
		t.Errorf("answered %v after the arrival and %v after the queue: in target from the queue %v (want true), from the arrival %v (want false)",
			rec.ConnectedAt.Sub(rec.ArrivedAt), rec.ConnectedAt.Sub(*rec.QueuedAt), rec.InTarget, rec.InTargetArrival)
	}
	h.idle()
}

// TestAKeyDuringTheWelcomeActsAtOnce: a caller who knows the menu presses 0 during the
// welcome; the welcome stops, the key goes to the menu (not to the known-caller offer,
// though the caller has an open ticket), and the operator's phone rings while
// queue-enter has barely begun.
func TestAKeyDuringTheWelcomeActsAtOnce(t *testing.T) {
	h := newHarness(t, func(_ *Options, ao *aritest.Options) {
		ao.MediaDuration = func(uri string) time.Duration {
			if strings.Contains(uri, "welcome") || strings.Contains(uri, "queue-enter") || strings.Contains(uri, "menu-main") {
				return time.Minute // far longer than the test
			}
			return 20 * time.Millisecond
		}
	})
	if _, err := h.store.Create(h.ctx, desk, tickets.NewTicket{Content: "路灯不亮", Category: "TS-WY", Citizen: tickets.NewCitizen{Phone: "13800138000"}}); err != nil {
		t.Fatal(err)
	}
	h.login("wang", "PJSIP/8001", aritest.Phone{Never: true})
	caller := h.dial("13800138000", "12345")
	h.waitPlayed(caller, "welcome-mayor")
	start := time.Now()
	caller.Press("0")
	h.originated("PJSIP/8001")
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("the operator's phone rang %v after the key", waited)
	}
	for _, p := range []string{"known-caller", "menu-main"} {
		if played(caller, p) {
			t.Errorf("%s played after a key pressed during the welcome; played %v", p, caller.Played())
		}
	}
	caller.Hangup()
	h.idle()
}

// TestAKeyDuringQueueEnterActs: a caller who presses 9 while 正在为您转接 (queue-enter) still
// plays is taken to the voice message at once; the key is not lost when the caller joins
// the queue.
func TestAKeyDuringQueueEnterActs(t *testing.T) {
	h := newHarness(t, func(_ *Options, ao *aritest.Options) {
		ao.MediaDuration = func(uri string) time.Duration {
			if strings.Contains(uri, "queue-enter") {
				return time.Minute // far longer than the test
			}
			return 20 * time.Millisecond
		}
	})
	h.login("wang", "PJSIP/8001", aritest.Phone{})
	caller, blocker := h.behindBusyOperator("13800000001")
	h.waitPlayed(caller, "queue-enter")
	caller.Press("9")
	h.waitPlayed(caller, "voicemail-intro")
	caller.Hangup()
	blocker.Hangup()
	h.idle()
}

// TestAKeyWhileTheOperatorsPhoneRingsActs: with an idle operator the phone rings as the
// caller joins the queue; a caller who presses 9 then is not kept waiting for the
// ringing to end: the phone stops ringing, the operator is ready again and the caller
// leaves a message.
func TestAKeyWhileTheOperatorsPhoneRingsActs(t *testing.T) {
	h := newHarness(t, withSettings(func(s *config.IVR) {
		for i := range s.Queues {
			s.Queues[i].RingTimeout = time.Hour // rings far longer than the test
		}
	}))
	h.login("wang", "PJSIP/8001", aritest.Phone{Never: true})
	caller := h.dial("13800000001", "12345")
	caller.Press("0")
	leg := h.originated("PJSIP/8001")
	caller.Press("9")
	h.waitPlayed(caller, "voicemail-intro")
	h.waitDone(leg)
	h.waitAgent("wang", AgentReady)
	caller.Hangup()
	if rec := h.record(caller.ID()); rec.Offers != 1 {
		t.Errorf("call record %+v; want one operator rung", rec)
	}
	h.idle()
}

// TestDirectLineRingsDuringTheWelcome: on a direct line the idle operator's phone rings
// while the welcome still plays; the operator who answers at once is joined to the
// caller only when the welcome has ended (it says the call is recorded). A caller who
// presses 9 during the welcome goes to the voice message at once; once the operator has
// answered, 9 is ignored.
func TestDirectLineRingsDuringTheWelcome(t *testing.T) {
	const welcome = 1500 * time.Millisecond
	direct := func(o *Options, ao *aritest.Options) {
		o.Settings.Hotlines[1].Mode = config.ModeDirect
		ao.MediaDuration = func(uri string) time.Duration {
			if strings.Contains(uri, "welcome") {
				return welcome
			}
			return 20 * time.Millisecond
		}
	}
	t.Run("operator", func(t *testing.T) {
		h := newHarness(t, direct)
		h.login("li", "PJSIP/8002", aritest.Phone{AnswerAfter: 5 * time.Millisecond})
		start := time.Now()
		caller := h.dial("13800000001", "8393000")
		leg := h.originated("PJSIP/8002")
		if rang := time.Since(start); rang >= welcome {
			t.Errorf("the phone rang %v after the call, after the welcome (%v)", rang, welcome)
		}
		h.eventually("bridged", func() bool { return leg.BridgeID() != "" && caller.BridgeID() == leg.BridgeID() })
		if joined := time.Since(start); joined < welcome {
			t.Errorf("caller and operator joined %v after the call, before the welcome (%v) ended", joined, welcome)
		}
		if !played(caller, "welcome-government") || played(caller, "menu-main") {
			t.Errorf("played %v; want the welcome and no menu", caller.Played())
		}
		caller.Hangup()
		if rec := h.record(caller.ID()); rec.Outcome != OutcomeAnswered || rec.QueuedAt == nil {
			t.Errorf("call record %+v; want answered, queued from the arrival", rec)
		}
		h.idle()
	})
	t.Run("key 9", func(t *testing.T) {
		h := newHarness(t, direct)
		h.login("li", "PJSIP/8002", aritest.Phone{Never: true})
		caller := h.dial("13800000001", "8393000")
		h.originated("PJSIP/8002")
		caller.Press("9")
		h.waitPlayed(caller, "voicemail-intro")
		caller.Hangup()
		h.idle()
	})
	// Once the operator answered, the caller is being put through: 9 during the rest of
	// the welcome or in the conversation leaves no message and drops nobody (the key
	// reaches the operator as a tone, as any key in a conversation does).
	t.Run("key 9 after the answer", func(t *testing.T) {
		h := newHarness(t, direct)
		h.login("li", "PJSIP/8002", aritest.Phone{AnswerAfter: 5 * time.Millisecond})
		caller := h.dial("13800000001", "8393000")
		leg := h.originated("PJSIP/8002")
		h.eventually("the operator answers during the welcome", func() bool { return leg.State() == "Up" })
		caller.Press("9")
		h.eventually("bridged", func() bool { return leg.BridgeID() != "" && caller.BridgeID() == leg.BridgeID() })
		caller.Press("9")
		// The flow takes the caller's events in order: had a 9 sent them to the voice
		// message, it would have played before the hang-up is handled.
		caller.Hangup()
		h.waitDone(leg)
		if rec := h.record(caller.ID()); rec.Outcome != OutcomeAnswered || rec.Operator != "li" {
			t.Errorf("call record %+v; want answered by li", rec)
		}
		if played(caller, "voicemail-intro") {
			t.Errorf("9 after the answer played the voice message: %v", caller.Played())
		}
		h.idle()
	})
}
