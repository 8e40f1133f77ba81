//go:build !race

package aritest_test

import (
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/CyCoreSystems/ari/v5/client/native"

	"github.com/rexian/rexian/ivr/aritest"
)

// TestNativeConnect drives the emulator with the ari/v5 native client as
// the controller uses it: native.Connect (websocket, GET /asterisk/info),
// the bus, handles and their subscriptions.
//
// It is left out of race-detector builds: native.Client.Close writes its
// connected flag while its reconnect goroutine writes the same flag, a data
// race inside ari/v5 v5.3.1 that the detector reports on every Close.
func TestNativeConnect(t *testing.T) {
	h := newHarness(t, fastOptions())
	h.srv.SetPhone("PJSIP/8001", aritest.Phone{AnswerAfter: 5 * time.Millisecond})
	cl, err := native.Connect(&native.Options{
		Application:  "hotline",
		URL:          h.srv.URL(),
		WebsocketURL: h.srv.WebsocketURL(),
		Username:     "hotline",
		Password:     "hotline",
		SubscribeAll: true,
	})
	must(t, err, "native.Connect")
	t.Cleanup(cl.Close)
	must(t, h.srv.WaitConnected(h.ctx), "WaitConnected")
	info, err := cl.Asterisk().Info(nil)
	must(t, err, "info")
	if info.SystemInfo.EntityID != h.srv.EntityID() || info.SystemInfo.Version != "22.10.1" {
		t.Errorf("info = %+v", info.SystemInfo)
	}

	starts := cl.Bus().Subscribe(nil, ari.Events.StasisStart)
	defer starts.Cancel()
	call, err := h.srv.Dial(h.ctx, aritest.Caller{Number: "13800138000", Dialled: "12345"})
	must(t, err, "Dial")
	var ss *ari.StasisStart
	select {
	case e := <-starts.Events():
		ss = e.(*ari.StasisStart)
	case <-h.ctx.Done():
		t.Fatal("no StasisStart on the bus")
	}
	ch := cl.Channel().Get(ss.Key(ari.ChannelKey, ss.Channel.ID))
	ends := ch.Subscribe(ari.Events.StasisEnd)
	defer ends.Cancel()
	must(t, ch.Answer(), "answer")
	pb, err := ch.StagePlay("welcome", "sound:hello-world")
	must(t, err, "stage play")
	finished := pb.Subscribe(ari.Events.PlaybackFinished)
	defer finished.Cancel()
	must(t, pb.Exec(), "play")
	select {
	case e := <-finished.Events():
		if st := e.(*ari.PlaybackFinished).Playback.State; st != "done" {
			t.Errorf("playback state %s", st)
		}
	case <-h.ctx.Done():
		t.Fatal("no PlaybackFinished")
	}
	op, err := cl.Channel().Originate(ch.Key(), ari.OriginateRequest{Endpoint: "PJSIP/8001", App: "hotline", AppArgs: "agent", Timeout: 30})
	must(t, err, "originate")
	select {
	case e := <-starts.Events():
		if e.(*ari.StasisStart).Channel.ID != op.ID() {
			t.Errorf("second StasisStart for %s", e.(*ari.StasisStart).Channel.ID)
		}
	case <-h.ctx.Done():
		t.Fatal("no StasisStart for the operator")
	}
	br, err := cl.Bridge().Create(ari.NewKey(ari.BridgeKey, ""), "mixing", "queue")
	must(t, err, "bridge")
	must(t, br.AddChannel(ch.ID()), "add caller")
	must(t, br.AddChannel(op.ID()), "add operator")
	if call.BridgeID() != br.ID() {
		t.Errorf("caller in bridge %q", call.BridgeID())
	}
	must(t, ch.Hangup(), "hangup")
	select {
	case <-ends.Events():
	case <-h.ctx.Done():
		t.Fatal("no StasisEnd")
	}
	<-call.Done()
}
