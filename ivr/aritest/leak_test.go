package aritest_test

import (
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"go.uber.org/goleak"

	"github.com/rexian/rexian/ivr/aritest"
)

// TestCloseLeavesNothing runs calls with every kind of timer pending
// (playbacks, recordings with limits, ringing originates, bridges) and
// checks that Close stops them all and leaves no goroutine behind.
func TestCloseLeavesNothing(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	func() {
		h := newHarness(t, aritest.Options{Second: time.Second})
		st := h.connect(true)
		h.srv.SetPhone("PJSIP/8002", aritest.Phone{Never: true})
		h.srv.SetPhone("PJSIP/8001", aritest.Phone{AnswerAfter: time.Hour})
		for i := range 5 {
			call, err := h.srv.Dial(h.ctx, aritest.Caller{Number: "1380013800" + string(rune('0'+i)), Dialled: "12345"})
			must(t, err, "Dial")
			st.stasisStart(h.ctx)
			ch := h.cl.Channel().Get(key(ari.ChannelKey, call.ID()))
			must(t, ch.Answer(), "answer")
			_, err = ch.Play("", "sound:long")
			must(t, err, "play")
			_, err = ch.Play("", "sound:queued")
			must(t, err, "play")
			_, err = ch.Record("leak-"+call.ID(), &ari.RecordingOptions{Format: "wav", MaxDuration: time.Hour, MaxSilence: time.Hour})
			must(t, err, "record")
		}
		_, err := h.cl.Channel().Originate(nil, ari.OriginateRequest{Endpoint: "PJSIP/8002", App: "hotline", Timeout: 3600})
		must(t, err, "originate")
		_, err = h.cl.Channel().Originate(nil, ari.OriginateRequest{Endpoint: "PJSIP/8001", App: "hotline", Timeout: 3600})
		must(t, err, "originate")
		br, err := h.cl.Bridge().Create(key(ari.BridgeKey, ""), "mixing", "q")
		must(t, err, "bridge")
		_, err = br.Record("leak-bridge", &ari.RecordingOptions{Format: "wav", MaxDuration: time.Hour})
		must(t, err, "bridge record")
		st.close()
		h.srv.Close()
		h.srv.Close() // a second Close is harmless
		if _, err := h.srv.Dial(h.ctx, aritest.Caller{Number: "1"}); err == nil {
			t.Error("Dial after Close succeeded")
		}
	}()
	// The HTTP client keeps idle connections to the closed server until it
	// notices; they are not the emulator's.
	closeIdle()
}
