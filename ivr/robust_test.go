package ivr

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/ivr/aritest"
	"github.com/rexian/rexian/live"
	"github.com/rexian/rexian/live/livetest"
	"github.com/rexian/rexian/tickets"
)

// TestHangUpAtEveryPoint hangs the caller up at each stage of the flow and checks that
// nothing is left behind: no call goroutine, channel, bridge, recording or ringing
// operator, and no goroutine of the controller once it stops.
func TestHangUpAtEveryPoint(t *testing.T) {
	tests := []struct {
		name string
		// script drives the call up to the point of hanging up; it returns the side
		// that hangs up (the caller unless it returns an operator's leg).
		script func(h *harness, c *aritest.Call) *aritest.Call
	}{
		{"during the welcome", func(h *harness, c *aritest.Call) *aritest.Call { h.waitPlayed(c, "welcome-mayor"); return c }},
		{"waiting for a menu key", func(h *harness, c *aritest.Call) *aritest.Call { h.waitPlayed(c, "menu-main"); return c }},
		{"keying a ticket number", func(h *harness, c *aritest.Call) *aritest.Call {
			c.Press("3")
			h.waitPlayed(c, "status-ask")
			c.Press("26")
			return c
		}},
		{"waiting in the queue", func(h *harness, c *aritest.Call) *aritest.Call {
			h.ctrl.acd.setState("wang", false, "")
			h.ctrl.acd.login("li", "li", "PJSIP/8002", nil)
			h.srv.SetPhone("PJSIP/8002", aritest.Phone{})
			h.ctrl.acd.setState("li", false, "")
			h.ctrl.acd.setState("li", true, "") // ready again, but a blocker takes li first
			blocker := h.dial("13900000000", "12345")
			blocker.Press("0")
			h.originated("PJSIP/8002")
			c.Press("0")
			h.eventually("caller on hold", func() bool { return c.MOH() })
			h.t.Cleanup(blocker.Hangup)
			return c
		}},
		{"while the operator's phone rings", func(h *harness, c *aritest.Call) *aritest.Call {
			h.srv.SetPhone("PJSIP/8001", aritest.Phone{Never: true})
			c.Press("0")
			h.originated("PJSIP/8001")
			return c
		}},
		{"talking to the operator", func(h *harness, c *aritest.Call) *aritest.Call {
			c.Press("0")
			leg := h.originated("PJSIP/8001")
			h.eventually("bridged", func() bool { return leg.BridgeID() != "" && c.BridgeID() == leg.BridgeID() })
			return c
		}},
		{"operator hangs up first", func(h *harness, c *aritest.Call) *aritest.Call {
			c.Press("0")
			leg := h.originated("PJSIP/8001")
			h.eventually("bridged", func() bool { return leg.BridgeID() != "" && c.BridgeID() == leg.BridgeID() })
			return leg
		}},
		{"during the voice-message prompt", func(h *harness, c *aritest.Call) *aritest.Call {
			h.ctrl.acd.logout("wang")
			c.Press("1")
			h.waitPlayed(c, "voicemail-intro")
			return c
		}},
		{"while recording", func(h *harness, c *aritest.Call) *aritest.Call {
			h.ctrl.acd.logout("wang")
			c.Press("1")
			ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
			defer cancel()
			if _, err := c.WaitRecording(ctx); err != nil {
				h.t.Fatal(err)
			}
			return c
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.login("wang", "PJSIP/8001", aritest.Phone{})
			caller := h.dial("13800138000", "12345")
			who := tc.script(h, caller)
			who.Hangup()
			h.waitDone(caller)
			for _, c := range h.srv.Channels() {
				if c.ID != caller.ID() && !strings.HasPrefix(c.Name, "Local/") {
					continue
				}
			}
			h.eventually("only the blocker (if any) is left", func() bool {
				return h.ctrl.ActiveCalls() <= 1 && len(h.srv.Bridges()) <= 1
			})
			if a, ok := h.ctrl.acd.agent("wang"); ok && (a.State == AgentOffered || a.State == AgentBusy) {
				h.eventually("wang is free again", func() bool {
					a, _ := h.ctrl.acd.agent("wang")
					return a.State != AgentOffered && a.State != AgentBusy
				})
			}
			if rec := h.record(caller.ID()); rec.Outcome == OutcomeOngoing || rec.Outcome == OutcomeFailed {
				t.Errorf("outcome %q after a hang-up", rec.Outcome)
			}
		})
	}
}

func TestNoGoroutineLeftAfterCallsAndShutdown(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(),
		// database/sql and the PostgreSQL driver keep their own pool goroutines until
		// the test's database is closed in a later clean-up.
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"),
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionCleaner"),
		goleak.IgnoreAnyFunction("github.com/jackc/pgx/v5/pgconn.(*PgConn).asyncClose"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
	h := newHarness(t)
	h.login("wang", "PJSIP/8001", aritest.Phone{})
	var calls []*aritest.Call
	for i := 0; i < 10; i++ {
		c := h.dial("1380000000"+string(rune('0'+i)), "12345")
		calls = append(calls, c)
	}
	calls[0].Press("0")
	h.originated("PJSIP/8001")
	calls[1].Press("3")
	calls[2].Press("0")
	for _, c := range calls {
		c.Hangup()
	}
	h.idle()
	h.stop()
	h.srv.Close()
	if n := h.ctrl.ActiveCalls(); n != 0 {
		t.Fatalf("%d calls still held", n)
	}
}

func TestEventSocketDropMidCall(t *testing.T) {
	h := newHarness(t)
	caller := h.dial("13800138000", "12345")
	caller.Press("0") // nobody logged in: voice message
	h.waitPlayed(caller, "voicemail-intro")
	h.ctrl.acd.login("wang", "wang", "PJSIP/8001", nil)

	h.srv.DropWebsockets()
	h.eventually("the controller reconnects", func() bool { return h.ctrl.Connected() == 1 && h.srv.Connected() })
	// The call goes on after the reconnect: the recording ends with # and becomes a ticket.
	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	defer cancel()
	if _, err := caller.WaitRecording(ctx); err != nil {
		t.Fatal(err)
	}
	caller.Speak(2 * time.Second)
	caller.Press("#")
	h.waitPlayed(caller, "voicemail-thanks")
	h.waitDone(caller)
	if rec := h.record(caller.ID()); rec.TicketNumber == "" {
		t.Errorf("no ticket after the reconnect: %+v", rec)
	}
	h.idle()
}

func TestCallerHangsUpWhileTheSocketIsDown(t *testing.T) {
	h := newHarness(t)
	h.login("wang", "PJSIP/8001", aritest.Phone{})
	h.ctrl.acd.setState("wang", false, "")
	h.ctrl.acd.login("li", "li", "PJSIP/8002", nil) // keeps the queue servable, never ready
	h.ctrl.acd.setState("li", false, "")
	h.ctrl.acd.setState("wang", true, "")
	blocker := h.dial("13900000000", "12345")
	blocker.Press("0")
	h.originated("PJSIP/8001")
	caller := h.dial("13800138000", "12345")
	caller.Press("0")
	h.eventually("caller on hold", func() bool { return caller.MOH() })

	h.srv.RefuseWebsockets(true)
	h.srv.DropWebsockets()
	h.eventually("the controller sees the socket gone", func() bool { return h.ctrl.Connected() == 0 })
	caller.Hangup() // the hang-up event is lost: no socket
	h.srv.RefuseWebsockets(false)
	h.eventually("the controller reconnects", func() bool { return h.ctrl.Connected() == 1 && h.srv.Connected() })
	rec := h.record(caller.ID())
	if rec.Outcome != OutcomeAbandonedQueue {
		t.Errorf("outcome %q, want abandoned_queue", rec.Outcome)
	}
	blocker.Hangup()
	h.idle()
}

func TestRestartReadoptsCallers(t *testing.T) {
	h := newHarness(t)
	h.login("wang", "PJSIP/8001", aritest.Phone{})
	talking := h.dial("13800000001", "12345")
	talking.Press("0")
	leg := h.originated("PJSIP/8001")
	h.eventually("bridged", func() bool { return leg.BridgeID() != "" && talking.BridgeID() == leg.BridgeID() })
	waiting := h.dial("13800000002", "12345")
	waiting.Press("0")
	h.eventually("second caller on hold", func() bool { return waiting.MOH() })

	h.stop() // rexian restarts: nobody is hung up
	if talking.State() != "Up" || waiting.State() != "Up" || leg.State() != "Up" {
		t.Fatalf("a stop hung up on citizens: talking %q waiting %q operator %q", talking.State(), waiting.State(), leg.State())
	}
	h.start()
	// The waiting caller is queued again; an operator logging in on the new run takes it.
	h.login("li", "PJSIP/8002", aritest.Phone{})
	leg2 := h.originated("PJSIP/8002")
	h.eventually("the re-adopted caller reaches an operator", func() bool {
		return leg2.BridgeID() != "" && waiting.BridgeID() == leg2.BridgeID()
	})
	// The conversation in progress is watched: when the caller hangs up, the operator's
	// leg and the bridge go too.
	talking.Hangup()
	h.waitDone(leg)
	waiting.Hangup()
	h.idle()
}

func TestCallsAnsweredWhileRedisIsDown(t *testing.T) {
	dead := &live.Store{Client: redis.NewClient(&redis.Options{
		Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 50 * time.Millisecond,
	}), Namespace: "dead"}
	t.Cleanup(func() { dead.Close() })
	h := newHarness(t, withLive(dead))
	h.login("wang", "PJSIP/8001", aritest.Phone{})
	caller := h.dial("13800138000", "12345")
	caller.Press("0")
	leg := h.originated("PJSIP/8001")
	h.eventually("bridged without Redis", func() bool { return leg.BridgeID() != "" && caller.BridgeID() == leg.BridgeID() })
	caller.Hangup()
	if rec := h.record(caller.ID()); rec.Outcome != OutcomeAnswered {
		t.Errorf("outcome %q, want answered", rec.Outcome)
	}
	h.idle()
}

func TestLivePictureIsRebuiltInRedis(t *testing.T) {
	ls := livetest.Open(t)
	h := newHarness(t, withLive(ls))
	h.login("wang", "PJSIP/8001", aritest.Phone{})
	reader := NewLive(ls, testLogger(t)) // another instance
	h.eventually("the picture reaches Redis", func() bool {
		s, err := reader.Snapshot(h.ctx)
		return err == nil && s != nil && len(s.Agents) == 1
	})
	// Redis loses the key (restart, flush): the next change writes the whole picture.
	if err := ls.Del(h.ctx, ls.Key(keySnapshot)).Err(); err != nil {
		t.Fatal(err)
	}
	h.login("li", "PJSIP/8002", aritest.Phone{})
	h.eventually("the picture is rebuilt from the controller", func() bool {
		s, err := reader.Snapshot(h.ctx)
		return err == nil && s != nil && len(s.Agents) == 2 && len(s.Lines) == 2
	})
	// A command from the other instance reaches the controller.
	if err := reader.send(h.ctx, command{Op: "pause", User: "li", Reason: "会议"}); err != nil {
		t.Fatal(err)
	}
	h.waitAgent("li", AgentPaused)
}

func TestVirtualHoldCallsTheCitizenBack(t *testing.T) {
	h := newHarness(t)
	h.login("wang", "PJSIP/8001", aritest.Phone{})
	blocker := h.dial("13900000000", "12345")
	blocker.Press("0")
	h.originated("PJSIP/8001")
	caller := h.dial("13800138000", "12345")
	caller.Press("0")
	h.eventually("caller on hold", func() bool { return caller.MOH() })
	h.srv.SetPhone("Local/13800138000@rexian-outbound", aritest.Phone{AnswerAfter: 5 * time.Millisecond})
	caller.Press("8")
	h.waitPlayed(caller, "queue-callback-ok")
	h.waitDone(caller) // the citizen hangs up and waits for the call
	if rec := h.record(caller.ID()); rec.Outcome != OutcomeCallback {
		t.Errorf("outcome %q, want callback", rec.Outcome)
	}
	blocker.Hangup() // wang is free: the call-back's turn
	citizen := h.originated("Local/13800138000@rexian-outbound")
	h.eventually("citizen bridged with the operator", func() bool {
		return citizen.BridgeID() != "" && len(h.srv.Bridges()) == 1
	})
	citizen.Hangup()
	var rec Record
	h.eventually("call-back record answered", func() bool {
		return h.opts.DB.Where("direction = ?", "callback").First(&rec).Error == nil && rec.Outcome == OutcomeAnswered
	})
	if rec.Operator != "wang" || rec.Caller != "13800138000" {
		t.Errorf("call-back record: operator %q caller %q", rec.Operator, rec.Caller)
	}
	h.idle()
}

func TestEmergencyHandOff(t *testing.T) {
	h := newHarness(t)
	h.srv.SetPhone("Local/120@rexian-outbound", aritest.Phone{AnswerAfter: 5 * time.Millisecond})
	caller, _, rec := h.connected()
	if err := h.ctrl.transfer(rec.ID, "999", "operator:wang"); err == nil {
		t.Error("a transfer to an unconfigured number was accepted")
	}
	// The operator registered the ticket during the call, linked to it.
	v, err := h.store.Create(h.ctx, desk, tickets.NewTicket{Content: "老人突发疾病", Category: "TS-WY", Ref: CallRef(rec.ID), Citizen: tickets.NewCitizen{Phone: "13800138000"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.ctrl.transfer(rec.ID, "120", "operator:wang"); err != nil {
		t.Fatal(err)
	}
	ambulance := h.originated("Local/120@rexian-outbound")
	h.eventually("the emergency service joins the caller", func() bool {
		return ambulance.BridgeID() != "" && ambulance.BridgeID() == caller.BridgeID()
	})
	caller.Hangup()
	rec = h.record(caller.ID())
	if rec.Transfer != "120" || !strings.Contains(rec.Note, "120") {
		t.Errorf("record: transfer %q note %q", rec.Transfer, rec.Note)
	}
	got, err := h.store.Find(h.ctx, desk, v.Number)
	if err != nil {
		t.Fatal(err)
	}
	if last := got.Timeline[len(got.Timeline)-1]; last.Action != tickets.ActNote || !strings.Contains(last.Note, "120") {
		t.Errorf("the ticket's timeline does not say the caller was handed to 120: %+v", last)
	}
	ambulance.Hangup()
	h.idle()
}

func TestKeypadGarbageIsBounded(t *testing.T) {
	h := newHarness(t, withSettings(func(s *config.IVR) {}))
	caller := h.dial("13800138000", "12345")
	h.waitPlayed(caller, "menu-main")
	caller.Press(strings.Repeat("7*#", 300))
	h.eventually("the menu gives up on garbage", func() bool { return played(caller, "voicemail-intro") })
	caller.Hangup()
	h.idle()
}

func TestSurveyCalls(t *testing.T) {
	tests := []struct {
		name    string
		phone   aritest.Phone
		keys    string
		hangup  bool
		want    SurveyOutcome
		wantKey string
		reason  bool
	}{
		{"satisfied", aritest.Phone{}, "1", false, SurveyAnswered, "1", false},
		{"dissatisfied with a reason", aritest.Phone{}, "3", false, SurveyAnswered, "3", true},
		{"garbage then fairly satisfied", aritest.Phone{}, "9", false, SurveyAnswered, "2", false},
		{"no key (fax or answering machine)", aritest.Phone{}, "", false, SurveyNoKey, "", false},
		{"hangs up before a key", aritest.Phone{}, "", true, SurveyHungUp, "", false},
		{"busy", aritest.Phone{Busy: true}, "", false, SurveyBusy, "", false},
		{"no answer", aritest.Phone{Never: true}, "", false, SurveyNoAnswer, "", false},
		{"congested", aritest.Phone{Congested: true}, "", false, SurveyFailed, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.srv.SetPhone("Local/13800138000@rexian-outbound", tc.phone)
			type out struct {
				res SurveyResult
				err error
			}
			done := make(chan out, 1)
			go func() {
				res, err := h.ctrl.Survey(h.ctx, SurveyRequest{Number: "13800138000", TicketNumber: "2600000014", Ring: 10 * time.Second, MaxReason: 5 * time.Second, KeyWait: time.Second})
				done <- out{res, err}
			}()
			if tc.keys != "" || tc.hangup {
				leg := h.originated("Local/13800138000@rexian-outbound")
				h.waitPlayed(leg, "survey-question")
				switch {
				case tc.hangup:
					leg.Hangup()
				case tc.keys == "9":
					leg.Press("9")
					h.waitPlayed(leg, "survey-invalid")
					leg.Press("2")
				default:
					leg.Press(tc.keys)
				}
				if tc.reason {
					ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
					defer cancel()
					if _, err := leg.WaitRecording(ctx); err != nil {
						t.Fatal(err)
					}
					leg.Speak(3 * time.Second)
					leg.Press("#")
				}
			}
			var o out
			select {
			case o = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("survey call never ended")
			}
			if o.err != nil {
				t.Fatal(o.err)
			}
			if o.res.Outcome != tc.want || o.res.Key != tc.wantKey || (o.res.Reason != "") != tc.reason {
				t.Fatalf("result %+v, want %s key %q reason %v", o.res, tc.want, tc.wantKey, tc.reason)
			}
			var rec Record
			if err := h.opts.DB.First(&rec, o.res.CallID).Error; err != nil || rec.Direction != "survey" || rec.EndedAt == nil {
				t.Errorf("survey call record %+v (%v)", rec, err)
			}
			h.idle()
		})
	}
	t.Run("no Asterisk connected", func(t *testing.T) {
		h := newHarness(t)
		h.srv.RefuseWebsockets(true)
		h.srv.DropWebsockets()
		h.eventually("disconnected", func() bool { return h.ctrl.Connected() == 0 })
		if _, err := h.ctrl.Survey(h.ctx, SurveyRequest{Number: "13800138000"}); !errors.Is(err, ErrNoTelephony) {
			t.Fatalf("survey with Asterisk down: %v, want ErrNoTelephony", err)
		}
	})
}

// TestCallDuringReadoptionIsNotTakenForGone: on connecting, the controller lists
// Asterisk's channels to re-adopt calls left from before. A caller who rings in after
// the list was taken but before it arrives already has a call of its own, from the
// socket's StasisStart, and is not in the list: that call must not be ended as gone.
// (Seen under load: the caller was cut off during the welcome.)
func TestCallDuringReadoptionIsNotTakenForGone(t *testing.T) {
	h := newHarness(t, withSettings(func(s *config.IVR) { s.Hotlines[1].Mode = config.ModeDirect }))
	h.stop()
	// A proxy in front of the emulator holds the answer to the channel list back until
	// the caller's call is under way.
	listed, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	target, err := url.Parse(h.srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	base := target.Path // the emulator's URL ends in /ari, which the controller keeps
	target.Path = ""
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(r *http.Response) error {
		if r.Request.Method == http.MethodGet && strings.HasSuffix(r.Request.URL.Path, "/channels") {
			once.Do(func() {
				close(listed)
				select {
				case <-release:
				case <-time.After(10 * time.Second):
				}
			})
		}
		return nil
	}
	ps := httptest.NewServer(proxy)
	t.Cleanup(ps.Close)
	h.opts.ARI.URL = []string{ps.URL + base}
	h.start()
	select {
	case <-listed:
	case <-time.After(10 * time.Second):
		t.Fatal("the controller never listed the channels")
	}
	h.login("li", "PJSIP/8002", aritest.Phone{})
	caller := h.dial("13800000001", "8393000")
	h.waitPlayed(caller, "welcome-government")
	close(release)
	h.originated("PJSIP/8002")
	if caller.State() != "Up" {
		t.Errorf("the caller's channel is %q after the re-adoption, want Up", caller.State())
	}
	caller.Hangup()
	h.idle()
}

// TestOneFlowPerChannel: a channel a call owns is not taken a second time, as the
// re-adoption after a reconnect and the channel's StasisStart may both try.
func TestOneFlowPerChannel(t *testing.T) {
	h := newHarness(t)
	caller := h.dial("13800000001", "12345")
	h.waitPlayed(caller, "welcome-mayor")
	n := h.ctrl.nodes[0]
	second := newCall(h.ctrl, n, ari.ChannelData{ID: caller.ID()}, "12345")
	ran := make(chan struct{})
	if h.ctrl.launch(n, second, func(context.Context) { close(ran) }) {
		<-ran
		t.Error("a second flow was launched on a channel that a call owns")
	}
	if got := h.ctrl.ActiveCalls(); got != 1 {
		t.Errorf("%d active calls, want 1", got)
	}
	caller.Hangup()
	h.idle()
}
