package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/ivr/aritest"
)

// TestCallbackRingingInBrowser: an operator at the desk in Chromium answers a call-back
// (virtual hold); while the citizen's phone rings the desk says 回拨中 with the citizen's
// number, and the note goes once the citizen answers and the two are put through.
func TestCallbackRingingInBrowser(t *testing.T) {
	artifacts := browserArtifacts(t, "browser-callback")
	cfg := testConfig(t, testEnv(t, ""))
	// An Asterisk second of 100 ms: the citizen's phone rings for its whole ring time
	// (300 "seconds", 30 s here) while the page is looked at.
	asterisk, err := aritest.New(aritest.Options{Second: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(asterisk.Close)
	cfg.ARI = config.ARI{URL: []string{asterisk.URL()}, User: "hotline", Password: "hotline", App: "hotline"}
	fastQueues(&cfg)
	for i := range cfg.IVR.Queues {
		cfg.IVR.Queues[i].CallbackRing = 5 * time.Minute
	}
	r := startLongApp(t, cfg, WithDemo())
	base := r.base
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	step := 0
	desk := newBrowser(t, ctx, "operator", artifacts, &step)
	desk.login(base, "operator1")
	desk.do("the desk", chromedp.WaitVisible(chromedp.ID("join")))
	eventually(t, "the controller connects to Asterisk", asterisk.Connected)
	asterisk.SetPhone("PJSIP/8001", aritest.Phone{AnswerAfter: 300 * time.Millisecond})
	desk.do("type the phone", chromedp.SetValue(chromedp.ID("phone"), "PJSIP/8001"))
	desk.submit("join the queue", "#join")
	desk.navigate("the desk, live", base+"/console/desk", "#live[data-connected]")

	// The operator is busy with one caller; a second one asks to be called back.
	blocker, err := asterisk.Dial(ctx, aritest.Caller{Number: "13900000000", Dialled: "12345"})
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Hangup()
	blocker.Press("0")
	if _, err := asterisk.WaitOriginated(ctx, "PJSIP/8001"); err != nil {
		t.Fatal(err)
	}
	const citizen = "13800138000"
	caller, err := asterisk.Dial(ctx, aritest.Caller{Number: citizen, Dialled: "12345"})
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Hangup()
	caller.Press("0")
	eventually(t, "the citizen waits in the queue", caller.MOH)
	asterisk.SetPhone("Local/"+citizen+"@rexian-outbound", aritest.Phone{Never: true})
	caller.Press("8")
	if _, err := caller.WaitPlayed(ctx, func(uri string) bool { return strings.Contains(uri, "queue-callback-ok") }); err != nil {
		t.Fatal(err)
	}
	caller.Hangup()
	blocker.Hangup() // the operator is free: the call-back's turn

	leg, err := asterisk.WaitOriginated(ctx, "Local/"+citizen+"@rexian-outbound")
	if err != nil {
		t.Fatal(err)
	}
	desk.do("回拨中 on the desk", chromedp.WaitVisible(chromedp.ID("pop-note")))
	if got := desk.text("#pop-note"); !strings.Contains(got, "回拨中") || !strings.Contains(got, citizen) {
		t.Errorf("desk note %q while the citizen's phone rings, want 回拨中 with %s", got, citizen)
	}
	if st := leg.State(); st != "Ringing" {
		t.Errorf("the citizen's phone is %s, not ringing, while the desk said 回拨中", st)
	}
	desk.shot("calling-back")
	// The citizen answers: put through, the note goes.
	leg.Answer()
	desk.do("the note goes once the citizen is put through", chromedp.WaitNotVisible(chromedp.ID("pop-note")))
	desk.shot("called-back")
	leg.Hangup()
}
