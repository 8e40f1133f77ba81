package aritest_test

import (
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/rexian/rexian/ivr/aritest"
)

func TestZZTiming(t *testing.T) {
	h := newHarness(t, aritest.Options{MediaDuration: func(string) time.Duration { return time.Millisecond }, Second: 10 * time.Millisecond})
	st := h.connect(false)
	h.srv.SetPhone("PJSIP/operator", aritest.Phone{})
	for i := 0; i < 5; i++ {
		t0 := time.Now()
		call, _ := h.srv.Dial(h.ctx, aritest.Caller{Number: "1", Dialled: "12345"})
		st.stasisStart(h.ctx)
		t1 := time.Now()
		ch := h.cl.Channel().Get(key(ari.ChannelKey, call.ID()))
		ch.Answer()
		t2 := time.Now()
		ch.Play("pb"+call.ID(), "sound:x")
		t3 := time.Now()
		st.await(h.ctx, "PlaybackFinished")
		t4 := time.Now()
		br, _ := h.cl.Bridge().Create(key(ari.BridgeKey, ""), "mixing", "q")
		br.AddChannel(call.ID())
		t5 := time.Now()
		h.cl.Channel().Originate(nil, ari.OriginateRequest{Endpoint: "PJSIP/operator", App: "hotline", ChannelID: "op" + call.ID(), Timeout: 30})
		t6 := time.Now()
		st.stasisStart(h.ctx)
		t7 := time.Now()
		ch.Hangup()
		t8 := time.Now()
		t.Log(t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), t4.Sub(t3), t5.Sub(t4), t6.Sub(t5), t7.Sub(t6), t8.Sub(t7))
	}
}
