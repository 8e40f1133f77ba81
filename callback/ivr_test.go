package callback

import (
	"context"
	"testing"
	"time"

	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/ivr/aritest"
)

// ivrEnv is the survey service calling through a real controller attached to the ARI
// emulator.
type ivrEnv struct {
	*env
	srv *aritest.Server
}

func newIVREnv(t *testing.T) *ivrEnv {
	t.Helper()
	e := newEnv(t, nil)
	srv, err := aritest.New(aritest.Options{Second: 10 * time.Millisecond, Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	settings := config.DefaultIVR()
	ctrl, err := ivr.New(ivr.Options{Settings: settings, DB: e.db, Tickets: e.store, Log: testLog(), Location: shanghai,
		ARI: config.ARI{URL: []string{srv.URL()}, User: "hotline", Password: "hotline", App: "hotline"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = ctrl.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("the controller did not stop")
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for ctrl.Connected() != 1 || !srv.Connected() {
		if time.Now().After(deadline) {
			t.Fatal("the controller never connected to the emulator")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Asterisk seconds last 10 ms in the emulator: 10 s of ringing is 100 ms.
	e.opts.Dialer, e.opts.Ring, e.opts.KeyWait, e.opts.MaxReason = ctrl, 10*time.Second, time.Second, 5*time.Second
	e.opts.CallTimeout = 3 * time.Second
	e.restart()
	return &ivrEnv{env: e, srv: srv}
}

const landline, landlineLeg = "04778581234", "Local/04778581234@rexian-outbound"

// schedule derives and sends the surveys without calling.
func (e *ivrEnv) schedule() {
	e.t.Helper()
	if _, err := e.svc.ScheduleOnce(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.SendOnce(e.ctx); err != nil {
		e.t.Fatal(err)
	}
}

// callAsync runs a call pass in the background; the returned channel yields its error.
func (e *ivrEnv) callAsync() <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := e.svc.CallOnce(e.ctx)
		done <- err
	}()
	return done
}

func (e *ivrEnv) wait(done <-chan error) {
	e.t.Helper()
	select {
	case err := <-done:
		if err != nil {
			e.t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		e.t.Fatal("the call pass never ended")
	}
}

func (e *ivrEnv) leg() *aritest.Call {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	leg, err := e.srv.WaitOriginated(ctx, landlineLeg)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := leg.WaitPlayed(ctx, func(uri string) bool { return uri == "sound:rexian/survey-question" }); err != nil {
		e.t.Fatalf("the question was never played: %v", leg.Played())
	}
	return leg
}

func TestIVRSurvey(t *testing.T) {
	t.Run("presses 2", func(t *testing.T) {
		e := newIVREnv(t)
		e.srv.SetPhone(landlineLeg, aritest.Phone{})
		num := e.consultation(landline, nil)
		e.clk.Add(2 * time.Hour)
		e.schedule() // the call pass below places the call
		done := e.callAsync()
		e.leg().Press("2")
		e.wait(done)
		sv := e.survey(num)
		if sv.Result != ResultFairlySatisfied || sv.Channel != ChannelIVR || sv.Attempts != 1 || sv.LastCallID == nil {
			t.Fatalf("survey %s by %s, %d attempts, call %v", sv.Result, sv.Channel, sv.Attempts, sv.LastCallID)
		}
	})
	t.Run("hangs up mid-question", func(t *testing.T) {
		e := newIVREnv(t)
		e.srv.SetPhone(landlineLeg, aritest.Phone{})
		num := e.consultation(landline, nil)
		e.clk.Add(2 * time.Hour)
		e.schedule()
		done := e.callAsync()
		e.leg().Hangup()
		e.wait(done)
		sv := e.survey(num)
		if sv.Result != ResultNone || sv.Status != StatusCalling || sv.Attempts != 1 || sv.LastOutcome != string(ivr.SurveyHungUp) ||
			!sv.DueAt.Equal(e.clk.Now().Add(6*time.Hour)) {
			t.Fatalf("survey %s %s, %d attempts, last %s, due %s", sv.Status, sv.Result, sv.Attempts, sv.LastOutcome, sv.DueAt.In(shanghai))
		}
	})
	t.Run("never answers", func(t *testing.T) {
		e := newIVREnv(t)
		e.srv.SetPhone(landlineLeg, aritest.Phone{Never: true})
		e.clk.Set(local(0, "12:00"))
		num := e.consultation(landline, nil)
		var at []time.Time
		for e.clk.Now().Before(local(3, "00:00")) {
			before := e.srv.Originated(landlineLeg)
			e.run()
			if e.srv.Originated(landlineLeg) > before {
				at = append(at, e.clk.Now())
			}
			e.clk.Add(30 * time.Minute)
		}
		want := []time.Time{local(0, "14:00"), local(1, "09:00"), local(1, "15:00")}
		if len(at) != len(want) {
			t.Fatalf("called at %v, want %v", at, want)
		}
		for i := range want {
			if !at[i].Equal(want[i]) {
				t.Errorf("call %d at %s, want %s", i+1, at[i].In(shanghai), want[i].In(shanghai))
			}
		}
		if sv := e.survey(num); sv.Status != StatusManual || sv.Note != ReasonCallsExhausted || sv.LastOutcome != string(ivr.SurveyNoAnswer) {
			t.Fatalf("survey %s (%s), last %s", sv.Status, sv.Note, sv.LastOutcome)
		}
	})
}

// Asterisk's connection drops while the question plays: the attempt does not count, and
// the call is tried again later.
func TestIVROutageDuringCall(t *testing.T) {
	e := newIVREnv(t)
	e.srv.SetPhone(landlineLeg, aritest.Phone{})
	num := e.consultation(landline, nil)
	e.clk.Add(2 * time.Hour)
	e.schedule()
	done := e.callAsync()
	e.leg()
	e.srv.RefuseWebsockets(true)
	e.srv.DropWebsockets()
	e.wait(done)
	sv := e.survey(num)
	if sv.Result != ResultNone || sv.Status != StatusCalling || sv.Attempts != 0 || !sv.DueAt.Equal(e.clk.Now().Add(5*time.Minute)) {
		t.Fatalf("after the outage: %s %s, %d attempts, due %s; want calling again in 5 minutes, no attempt counted",
			sv.Status, sv.Result, sv.Attempts, sv.DueAt.In(shanghai))
	}
}
