package aritest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/rexian/rexian/ivr/aritest"
)

func TestDialWithoutSocketFails(t *testing.T) {
	h := newHarness(t, fastOptions())
	_, err := h.srv.Dial(h.ctx, aritest.Caller{Number: "13800138006", Dialled: "12345"})
	if !errors.Is(err, aritest.ErrNoApp) {
		t.Fatalf("Dial without socket: err = %v, want ErrNoApp", err)
	}
	if n := len(h.srv.Channels()); n != 0 {
		t.Fatalf("channels after a failed Stasis: %d, want 0", n)
	}
}

func TestCallerPressesAndHangsUp(t *testing.T) {
	h := newHarness(t, fastOptions())
	st := h.connect(false)
	call, err := h.srv.Dial(h.ctx, aritest.Caller{Number: "13800138001", Name: "Citizen", Dialled: "12345"})
	must(t, err, "Dial")
	ss := st.stasisStart(h.ctx)
	if diff := cmp.Diff([]string{"12345"}, ss.Args); diff != "" {
		t.Errorf("StasisStart args (-want +got):\n%s", diff)
	}
	if ss.Channel.State != "Ring" || ss.Channel.Caller.Number != "13800138001" || ss.Channel.Caller.Name != "Citizen" {
		t.Errorf("StasisStart channel = %+v", ss.Channel)
	}
	if call.ID() != ss.Channel.ID {
		t.Fatalf("call id %s, StasisStart for %s", call.ID(), ss.Channel.ID)
	}
	ch := h.cl.Channel().Get(key(ari.ChannelKey, call.ID()))
	must(t, ch.Answer(), "answer")
	if got := call.State(); got != "Up" {
		t.Fatalf("state after answer = %q", got)
	}
	// DTMF does not stop a playback.
	pb, err := ch.Play("menu", "sound:menu")
	must(t, err, "play")
	call.Press("12#")
	var digits []string
	for range 3 {
		ev, _ := st.await(h.ctx, ari.Events.ChannelDtmfReceived)
		d := ev.(*ari.ChannelDtmfReceived)
		digits = append(digits, d.Digit)
		if d.DurationMs != 100 {
			t.Errorf("duration_ms = %d, want 100", d.DurationMs)
		}
	}
	if diff := cmp.Diff([]string{"1", "2", "#"}, digits); diff != "" {
		t.Errorf("digits (-want +got):\n%s", diff)
	}
	ev, _ := st.await(h.ctx, ari.Events.PlaybackFinished)
	if got := ev.(*ari.PlaybackFinished).Playback; got.State != "done" || got.ID != pb.ID() {
		t.Errorf("PlaybackFinished = %+v, want done for %s", got, pb.ID())
	}
	if uri, err := call.WaitPlayed(h.ctx, func(u string) bool { return u == "sound:menu" }); err != nil || uri != "sound:menu" {
		t.Fatalf("WaitPlayed = %q, %v", uri, err)
	}
	call.Hangup()
	st.await(h.ctx, ari.Events.StasisEnd)
	select {
	case <-call.Done():
	case <-h.ctx.Done():
		t.Fatal("call not done")
	}
	if call.Cause() != 16 || call.State() != "" {
		t.Errorf("after hang-up: cause %d state %q", call.Cause(), call.State())
	}
	_, err = ch.Data()
	if codeOf(err) != 404 {
		t.Errorf("GET gone channel: %v (code %d), want 404", err, codeOf(err))
	}
}

func TestOriginateOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		endpoint  string
		phone     *aritest.Phone
		timeout   int
		hangup    bool // controller DELETEs while it rings
		wantCause int
		wantDial  []string
		wantStart bool
	}{
		{name: "answers", endpoint: "PJSIP/8001", phone: &aritest.Phone{AnswerAfter: 5 * time.Millisecond}, timeout: 30, wantDial: []string{"", "RINGING", "ANSWER"}, wantStart: true},
		{name: "busy", endpoint: "PJSIP/8003", phone: &aritest.Phone{Busy: true}, timeout: 30, wantCause: 17, wantDial: []string{"", "BUSY"}},
		{name: "congested", endpoint: "PJSIP/8004", phone: &aritest.Phone{Congested: true}, timeout: 30, wantCause: 34, wantDial: []string{"", "CONGESTION"}},
		{name: "no answer", endpoint: "PJSIP/8002", phone: &aritest.Phone{Never: true}, timeout: 5, wantCause: 19, wantDial: []string{"", "RINGING"}},
		{name: "unscripted rings", endpoint: "SIP/9999", timeout: 3, wantCause: 19, wantDial: []string{"", "RINGING"}},
		{name: "deleted while ringing", endpoint: "IAX2/7000", phone: &aritest.Phone{Never: true}, timeout: 30, hangup: true, wantCause: 16, wantDial: []string{"", "RINGING", "NOANSWER"}},
		{name: "local busy", endpoint: "Local/busy@sim-agent", phone: &aritest.Phone{Busy: true}, timeout: 30, wantCause: 0, wantDial: []string{"", "BUSY"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, fastOptions())
			st := h.connect(false)
			if tt.phone != nil {
				h.srv.SetPhone(tt.endpoint, *tt.phone)
			}
			ch, err := h.cl.Channel().Originate(nil, ari.OriginateRequest{
				Endpoint: tt.endpoint, App: "hotline", AppArgs: "operator,8001",
				CallerID: `"Citizen" <13800138000>`, Timeout: tt.timeout,
			})
			must(t, err, "originate")
			leg, err := h.srv.WaitOriginated(h.ctx, tt.endpoint)
			must(t, err, "WaitOriginated")
			if leg.ID() != ch.ID() {
				t.Fatalf("leg %s, originated %s", leg.ID(), ch.ID())
			}
			if h.srv.Originated(tt.endpoint) != 1 {
				t.Errorf("Originated = %d", h.srv.Originated(tt.endpoint))
			}
			if tt.hangup {
				if err := leg.WaitState(h.ctx, "Ringing"); err != nil {
					t.Fatal(err)
				}
				must(t, ch.Hangup(), "hangup")
			}
			if tt.wantStart {
				ss := st.stasisStart(h.ctx)
				if diff := cmp.Diff([]string{"operator", "8001"}, ss.Args); diff != "" || ss.Channel.ID != ch.ID() || ss.Channel.State != "Up" {
					t.Fatalf("StasisStart %+v args %v", ss.Channel, ss.Args)
				}
				if ss.Channel.Caller.Number != "13800138000" || ss.Channel.Caller.Name != "Citizen" {
					t.Errorf("caller id = %+v", ss.Channel.Caller)
				}
				leg.Hangup()
			}
			select {
			case <-leg.Done():
			case <-h.ctx.Done():
				t.Fatal("leg never ended")
			}
			if got := leg.Cause(); got != tt.wantCause && !tt.wantStart {
				t.Errorf("cause = %d, want %d", got, tt.wantCause)
			}
			st.await(h.ctx, ari.Events.ChannelDestroyed)
			var dial []string
			for _, f := range st.frames() {
				ev, err := ari.DecodeEvent(f)
				must(t, err, "decode")
				if d, ok := ev.(*ari.Dial); ok && d.Peer.ID == ch.ID() {
					dial = append(dial, d.Dialstatus)
				}
			}
			if diff := cmp.Diff(tt.wantDial, dial); diff != "" {
				t.Errorf("Dial statuses (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOriginateErrors(t *testing.T) {
	h := newHarness(t, fastOptions())
	tests := []struct {
		name     string
		req      ari.OriginateRequest
		wantCode int
	}{
		{"unknown technology", ari.OriginateRequest{Endpoint: "Bogus/123", App: "hotline"}, 500},
		{"no technology", ari.OriginateRequest{Endpoint: "nope", App: "hotline"}, 400},
		{"no app or extension", ari.OriginateRequest{Endpoint: "PJSIP/8001"}, 400},
		{"no endpoint", ari.OriginateRequest{App: "hotline"}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.cl.Channel().Originate(nil, tt.req)
			if codeOf(err) != tt.wantCode {
				t.Fatalf("err = %v (code %d), want %d", err, codeOf(err), tt.wantCode)
			}
		})
	}
	status, body := h.do("POST", "/ari/channels?endpoint=Bogus/123&app=hotline", "")
	if status != 500 || body != `{"error":"Allocation failed"}` {
		t.Errorf("unknown technology: %d %s", status, body)
	}
}

func TestBridgeWithOperatorAndRecording(t *testing.T) {
	h := newHarness(t, fastOptions())
	st := h.connect(true)
	h.srv.SetPhone("PJSIP/8001", aritest.Phone{AnswerAfter: 20 * time.Millisecond})
	call, err := h.srv.Dial(h.ctx, aritest.Caller{Number: "13800138003", Dialled: "12345"})
	must(t, err, "Dial")
	st.stasisStart(h.ctx)
	caller := h.cl.Channel().Get(key(ari.ChannelKey, call.ID()))
	must(t, caller.Answer(), "answer")
	br, err := h.cl.Bridge().Create(key(ari.BridgeKey, ""), "mixing", "queue-1")
	must(t, err, "bridge create")
	must(t, br.AddChannel(call.ID()), "add caller")
	must(t, br.MOH("default"), "moh")
	if !call.MOH() || call.BridgeID() != br.ID() {
		t.Fatalf("caller MOH %v bridge %q", call.MOH(), call.BridgeID())
	}
	op, err := h.cl.Channel().Originate(nil, ari.OriginateRequest{Endpoint: "PJSIP/8001", App: "hotline", AppArgs: "agent", Timeout: 30})
	must(t, err, "originate")
	ss := st.stasisStart(h.ctx)
	if ss.Channel.ID != op.ID() {
		t.Fatalf("StasisStart for %s, want operator %s", ss.Channel.ID, op.ID())
	}
	leg, err := h.srv.WaitOriginated(h.ctx, "PJSIP/8001")
	must(t, err, "WaitOriginated")
	must(t, br.StopMOH(), "stop moh")
	must(t, br.AddChannel(op.ID()), "add operator")
	rec, err := br.Record("call-1", &ari.RecordingOptions{Format: "wav", Exists: "overwrite"})
	must(t, err, "bridge record")
	st.await(h.ctx, ari.Events.RecordingStarted)
	data, err := br.Data()
	must(t, err, "bridge data")
	if data.Technology != "softmix" || len(data.ChannelIDs) != 2 {
		t.Errorf("bridge = %+v", data)
	}
	leg.Hangup()
	ev, _ := st.await(h.ctx, ari.Events.ChannelLeftBridge)
	if ev.(*ari.ChannelLeftBridge).Channel.ID != op.ID() {
		t.Errorf("left bridge: %s", ev.(*ari.ChannelLeftBridge).Channel.ID)
	}
	must(t, br.Delete(), "delete bridge")
	st.await(h.ctx, ari.Events.BridgeDestroyed)
	if call.BridgeID() != "" || call.State() != "Up" || !call.InStasis() {
		t.Errorf("caller after bridge delete: bridge %q state %q", call.BridgeID(), call.State())
	}
	if got := h.srv.StoredRecordings(); len(got) != 1 || got[0] != rec.ID() {
		t.Errorf("stored = %v", got)
	}
	// With subscribeAll bridge recording events arrive twice.
	st.waitCount(h.ctx, "RecordingFinished", 2)
	must(t, caller.Hangup(), "hangup")
	<-call.Done()
}

func TestRecordingTerminateOnAndSpeak(t *testing.T) {
	h := newHarness(t, fastOptions())
	st := h.connect(false)
	call, err := h.srv.Dial(h.ctx, aritest.Caller{Number: "13800138002", Dialled: "12345"})
	must(t, err, "Dial")
	st.stasisStart(h.ctx)
	ch := h.cl.Channel().Get(key(ari.ChannelKey, call.ID()))
	must(t, ch.Answer(), "answer")
	_, err = ch.Record("voicemail/13800138002", &ari.RecordingOptions{Format: "wav", MaxDuration: 120 * time.Second, Terminate: "#", Exists: "overwrite", Beep: true})
	must(t, err, "record")
	name, err := call.WaitRecording(h.ctx)
	must(t, err, "WaitRecording")
	call.Speak(5650 * time.Millisecond)
	call.Press("#")
	ev, _ := st.await(h.ctx, ari.Events.RecordingFinished)
	fin := ev.(*ari.RecordingFinished).Recording
	if fin.Name != name || fin.State != "done" || time.Duration(fin.Duration) != 5*time.Second {
		t.Fatalf("RecordingFinished = %+v", fin)
	}
	file, err := h.srv.RecordingFile(name)
	must(t, err, "RecordingFile")
	if len(file) != 44+5650*16 {
		t.Errorf("wav size = %d, want %d", len(file), 44+5650*16)
	}
	status, _ := h.do("GET", "/ari/recordings/stored/voicemail%2F13800138002", "")
	if status != 200 {
		t.Errorf("stored with slash: %d", status)
	}
	status, body := h.do("GET", "/ari/recordings/stored/voicemail/13800138002", "")
	if status != 404 || body != `{"message":"Resource not found"}` {
		t.Errorf("unescaped slash: %d %s", status, body)
	}
}

func TestRecordingLimits(t *testing.T) {
	tests := []struct {
		name      string
		opts      ari.RecordingOptions
		speak     time.Duration
		wantAudio time.Duration
	}{
		{"max duration", ari.RecordingOptions{Format: "wav", MaxDuration: 2 * time.Second}, 0, 0},
		{"max silence", ari.RecordingOptions{Format: "wav", MaxSilence: 1 * time.Second}, 0, 0},
		{"speech capped by max duration", ari.RecordingOptions{Format: "wav", MaxDuration: 2 * time.Second}, 3 * time.Second, 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, fastOptions())
			st := h.connect(false)
			call, err := h.srv.Dial(h.ctx, aritest.Caller{Number: "1", Dialled: "12345"})
			must(t, err, "Dial")
			st.stasisStart(h.ctx)
			ch := h.cl.Channel().Get(key(ari.ChannelKey, call.ID()))
			_, err = ch.Record("r", &tt.opts)
			must(t, err, "record")
			if tt.speak > 0 {
				if _, err := call.WaitRecording(h.ctx); err != nil {
					t.Fatal(err)
				}
				call.Speak(tt.speak)
			}
			ev, _ := st.await(h.ctx, ari.Events.RecordingFinished)
			if got := time.Duration(ev.(*ari.RecordingFinished).Recording.Duration); got != tt.wantAudio {
				t.Errorf("duration = %v, want %v", got, tt.wantAudio)
			}
			file, err := h.srv.RecordingFile("r")
			must(t, err, "file")
			if want := 44 + int(tt.wantAudio/time.Millisecond)*16; len(file) != want {
				t.Errorf("file = %d bytes, want %d", len(file), want)
			}
		})
	}
}

func TestSocketLossAndReplacement(t *testing.T) {
	h := newHarness(t, fastOptions())
	st1 := h.connect(true)
	call, err := h.srv.Dial(h.ctx, aritest.Caller{Number: "13800138005", Dialled: "12345"})
	must(t, err, "Dial")
	st1.stasisStart(h.ctx)

	// A second socket replaces the first, which then hears nothing more.
	st2 := h.connect(true)
	ev, raw := st1.await(h.ctx, "ApplicationReplaced")
	if ev.GetApplication() != "hotline" || !strings.HasPrefix(string(raw), `{"type":"ApplicationReplaced","timestamp":`) {
		t.Errorf("ApplicationReplaced = %s", raw)
	}
	ch := h.cl.Channel().Get(key(ari.ChannelKey, call.ID()))
	must(t, ch.SetVariable("WHILE_TWO", "1"), "set variable")
	st2.await(h.ctx, ari.Events.ChannelVarset)

	// Network loss: events in the gap are lost, the channel stays.
	h.srv.DropWebsockets()
	<-st1.done
	<-st2.done
	if h.srv.Connected() {
		t.Fatal("still connected after DropWebsockets")
	}
	if _, err := h.cl.Application().Data(key(ari.ApplicationKey, "hotline")); codeOf(err) != 404 {
		t.Errorf("application after loss with subscribeAll: %v", err)
	}
	must(t, ch.SetVariable("DURING_GAP", "1"), "set variable in gap")
	if _, err := h.srv.Dial(h.ctx, aritest.Caller{Number: "2", Dialled: "12345"}); !errors.Is(err, aritest.ErrNoApp) {
		t.Errorf("Dial in gap: %v", err)
	}
	h.srv.RefuseWebsockets(true)
	status, _ := h.do("GET", "/ari/channels", "")
	if status != 200 {
		t.Errorf("REST while refusing sockets: %d", status)
	}
	h.srv.RefuseWebsockets(false)
	st3 := h.connect(true)
	list, err := h.cl.Channel().List(nil)
	must(t, err, "list")
	if len(list) != 2 {
		t.Errorf("channels after reconnect = %d, want the Local pair", len(list))
	}
	must(t, ch.SetVariable("AFTER", "1"), "set variable after")
	ev, _ = st3.await(h.ctx, ari.Events.ChannelVarset)
	if v := ev.(*ari.ChannelVarset); v.Variable != "AFTER" {
		t.Errorf("first event on new socket = %s=%s, want AFTER (nothing replayed)", v.Variable, v.Value)
	}
	call.Hangup()
	st3.await(h.ctx, ari.Events.StasisEnd)
}

func TestFailNext(t *testing.T) {
	h := newHarness(t, fastOptions())
	st := h.connect(false)
	call, err := h.srv.Dial(h.ctx, aritest.Caller{Number: "1", Dialled: "12345"})
	must(t, err, "Dial")
	st.stasisStart(h.ctx)
	h.srv.FailNext("POST", "/channels/*/answer", 503, `{"message":"overloaded"}`)
	ch := h.cl.Channel().Get(key(ari.ChannelKey, call.ID()))
	if err := ch.Answer(); codeOf(err) != 503 {
		t.Fatalf("first answer: %v", err)
	}
	if call.State() != "Ring" {
		t.Errorf("a failed request changed the state to %s", call.State())
	}
	must(t, ch.Answer(), "second answer")
	if call.State() != "Up" {
		t.Errorf("state = %s", call.State())
	}
	if h.srv.Requests() < 2 {
		t.Errorf("Requests = %d", h.srv.Requests())
	}
}

func TestWaitPlayedHonoursContext(t *testing.T) {
	h := newHarness(t, fastOptions())
	st := h.connect(false)
	call, err := h.srv.Dial(h.ctx, aritest.Caller{Number: "1", Dialled: "12345"})
	must(t, err, "Dial")
	st.stasisStart(h.ctx)
	ctx, cancel := context.WithTimeout(h.ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := call.WaitPlayed(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitPlayed with nothing played: %v", err)
	}
}

// TestOriginateSimulatedCitizen: POST /channels to Local/<number>@hotline-in
// with a dialplan extension (as the timing recording and `rexian sim` do)
// answers with the ;1 leg while the ;2 leg enters Stasis as a caller.
func TestOriginateSimulatedCitizen(t *testing.T) {
	h := newHarness(t, fastOptions())
	st := h.connect(false)
	status, body := h.do("POST", "/ari/channels?endpoint=Local/13900000000@hotline-in&context=sim-caller&extension=s&priority=1&timeout=30", "")
	if status != 200 || !strings.Contains(body, `"name":"Local/13900000000@hotline-in-`) || !strings.Contains(body, `;1","state":"Down"`) {
		t.Fatalf("originate: %d %s", status, body)
	}
	ss := st.stasisStart(h.ctx)
	if ss.Channel.Caller.Number != "13900000000" || ss.Channel.Caller.Name != "Citizen 13900000000" || len(ss.Args) != 0 || ss.Channel.Dialplan.Priority != 3 {
		t.Errorf("StasisStart = %+v args %v", ss.Channel, ss.Args)
	}
	call, ok := h.srv.Call(ss.Channel.ID)
	if !ok {
		t.Fatal("no handle for the simulated citizen")
	}
	call.Hangup()
	st.await(h.ctx, ari.Events.StasisEnd)
	if n := len(h.srv.Channels()); n != 0 {
		t.Errorf("%d channels left", n)
	}
}

func TestScriptInspection(t *testing.T) {
	h := newHarness(t, fastOptions())
	st := h.connect(false)
	h.srv.SetPhone("PJSIP/8002", aritest.Phone{Never: true})
	name := `张三 "Zhang"`
	call, err := h.srv.Dial(h.ctx, aritest.Caller{Number: "13800138000", Name: name, Dialled: "12345"})
	must(t, err, "Dial")
	ev, raw := st.await(h.ctx, ari.Events.StasisStart)
	if got := ev.(*ari.StasisStart).Channel.Caller.Name; got != name {
		t.Errorf("caller name = %q", got)
	}
	if !strings.Contains(string(raw), `"name":"张三 \"Zhang\""`) {
		t.Errorf("caller name not written as Asterisk writes it: %s", raw)
	}
	ch := h.cl.Channel().Get(key(ari.ChannelKey, call.ID()))
	must(t, ch.Ring(), "ring")
	if !call.Ringing() || call.State() != "Ring" {
		t.Errorf("after ring: ringing %v state %s", call.Ringing(), call.State())
	}
	must(t, ch.Answer(), "answer")
	must(t, ch.MOH("default"), "moh")
	if !call.MOH() {
		t.Error("MOH not on")
	}
	must(t, ch.StopMOH(), "stop moh")
	if call.MOH() {
		t.Error("MOH still on")
	}
	must(t, ch.SetVariable("HOTLINE_LINE", "mayor"), "set variable")
	if v := call.Variable("HOTLINE_LINE"); v != "mayor" {
		t.Errorf("Variable = %q", v)
	}
	must(t, ch.SendDTMF("12", nil), "dtmf")
	if call.Heard() != "12" {
		t.Errorf("Heard = %q", call.Heard())
	}
	_, err = ch.Play("list", "sound:a,digits:12")
	must(t, err, "play list")
	st.await(h.ctx, ari.Events.PlaybackContinuing)
	ev, _ = st.await(h.ctx, ari.Events.PlaybackFinished)
	if pb := ev.(*ari.PlaybackFinished).Playback; pb.MediaURI != "digits:12" || pb.State != "done" {
		t.Errorf("list finished as %+v", pb)
	}
	br, err := h.cl.Bridge().Create(key(ari.BridgeKey, ""), "mixing", "q")
	must(t, err, "bridge")
	must(t, br.AddChannel(call.ID()), "add")
	_, err = br.Play("queue-pos", "sound:queue-position")
	must(t, err, "bridge play")
	if _, err := call.WaitPlayed(h.ctx, func(u string) bool { return u == "sound:queue-position" }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"sound:a", "digits:12", "sound:queue-position"}, call.Played()); diff != "" {
		t.Errorf("Played (-want +got):\n%s", diff)
	}
	if bs := h.srv.Bridges(); len(bs) != 1 || len(bs[0].ChannelIDs) != 1 || bs[0].ChannelIDs[0] != call.ID() {
		t.Errorf("Bridges = %+v", bs)
	}
	must(t, br.Delete(), "delete bridge")

	// A phone that never answers by itself can be answered by the script.
	_, err = h.cl.Channel().Originate(nil, ari.OriginateRequest{Endpoint: "PJSIP/8002", App: "hotline", Timeout: 30})
	must(t, err, "originate")
	leg, err := h.srv.WaitOriginated(h.ctx, "PJSIP/8002")
	must(t, err, "WaitOriginated")
	if leg.State() != "Ringing" || !strings.HasPrefix(leg.Name(), "PJSIP/8002-") {
		t.Errorf("leg %s state %s", leg.Name(), leg.State())
	}
	leg.Answer()
	if ss := st.stasisStart(h.ctx); ss.Channel.ID != leg.ID() {
		t.Errorf("StasisStart for %s", ss.Channel.ID)
	}

	// continue sends the caller back to the dialplan: out of Stasis, alive.
	must(t, ch.Continue("hotline-in", "voicemail", 1), "continue")
	st.await(h.ctx, ari.Events.StasisEnd)
	if call.InStasis() || call.State() != "Up" {
		t.Errorf("after continue: in Stasis %v, state %s", call.InStasis(), call.State())
	}
	call.Hangup()
	<-call.Done()

	types := call.EventTypes()
	want := []string{"StasisStart", "ChannelStateChange", "ChannelVarset", "PlaybackStarted", "PlaybackContinuing", "PlaybackStarted", "PlaybackFinished", "ChannelEnteredBridge", "PlaybackStarted", "PlaybackFinished", "ChannelLeftBridge", "StasisEnd"}
	if diff := cmp.Diff(want, types); diff != "" {
		t.Errorf("events sent about the caller (-want +got):\n%s", diff)
	}
	for _, e := range call.Events() {
		if d, err := e.Decode(); err != nil || d.GetType() != e.Type {
			t.Errorf("decode %s: %v", e.JSON, err)
		}
	}
}
