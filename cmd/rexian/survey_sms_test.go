package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/ivr/asterisktest"
	"github.com/rexian/rexian/sms/kannel/kanneltest"
)

// TestSurveySMSWaitsForKannel: "SMS sent" means the gateway took it. With the real
// Kannel's sendsms (smsbox) stopped, or the whole gateway (bearerbox, and with it smsbox
// and the link to the SMS centre), two completed tickets' survey SMS stay queued: no
// survey call is placed on their account however long past the SMS wait, and the API shows
// them queued, not sent. An operator records the second citizen's answer meanwhile, which
// withdraws that SMS. Kannel is started again: the first SMS is accepted, the wait starts
// then, and the survey call reaches the citizen (through the real Asterisk) only once it
// is over; the second SMS never reaches the SMS centre.
func TestSurveySMSWaitsForKannel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		stop, start func(*kanneltest.Kannel, context.Context) error
	}{
		{"smsbox stopped", (*kanneltest.Kannel).StopSmsbox, (*kanneltest.Kannel).StartSmsbox},
		{"bearerbox stopped", (*kanneltest.Kannel).StopBearerbox, (*kanneltest.Kannel).StartBearerbox},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { surveySMSWaitsForKannel(t, tc.stop, tc.start) })
	}
}

func surveySMSWaitsForKannel(t *testing.T, stop, start func(*kanneltest.Kannel, context.Context) error) {
	tel := startAsterisk(t, asterisktest.Options{})
	addr := freeAddr(t)
	k := kanneltest.Start(t, kanneltest.Options{MOURL: "http://" + addr + "/sms/kannel/mo?secret=" + testCallbackSecret, MORecode: true, LogLevel: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := stop(k, ctx); err != nil {
		t.Fatal(err)
	}
	tel.env = append(tel.env,
		"REXIAN_ADDR="+addr,
		"REXIAN_PUBLIC_URL=http://"+addr,
		"REXIAN_SMS_KANNEL_URL="+k.URL(),
		"REXIAN_SMS_KANNEL_USER="+k.User(),
		"REXIAN_SMS_KANNEL_PASSWORD="+k.Password(),
		"REXIAN_SMS_CALLBACK_SECRET="+testCallbackSecret,
		"REXIAN_SMS_POLL_INTERVAL=50ms",
		"REXIAN_CALLBACK_DELAY=0s",
		"REXIAN_CALLBACK_INTERVAL=100ms",
	)
	const wait = 6 * time.Second
	tel.start(t, func(cfg *config.Config) {
		cfg.Callback.Hours, cfg.SMS.QuietHours = "", "" // any hour: the test must not depend on when it runs
		cfg.Callback.SMSWait = wait
	})
	complete := func(phone string) string {
		t.Helper()
		var v struct{ Number string }
		if code := tel.api(t, "operator", "POST", "/tickets", `{"citizen":{"name":"张女士","phone":"`+phone+`"},"content":"社保卡丢了怎么补办","category":"ZX-SHBX","answer":"携带身份证到社保大厅补办，当场制卡。"}`, &v); code != http.StatusCreated {
			t.Fatalf("create ticket: %d", code)
		}
		return v.Number
	}
	type survey struct {
		ID          uint64     `json:"id"`
		Status      string     `json:"status"`
		Result      string     `json:"result"`
		Channel     string     `json:"channel"`
		QueuedAt    *time.Time `json:"sms_queued_at"`
		SentAt      *time.Time `json:"sms_sent_at"`
		Attempts    int        `json:"call_attempts"`
		AnsweredAt  *time.Time `json:"answered_at"`
		LastOutcome string     `json:"last_call_outcome"`
	}
	surveyOf := func(number string) survey {
		t.Helper()
		var out struct{ Surveys []survey }
		if code := tel.api(t, "operator", "GET", "/callback/surveys?ticket="+number, "", &out); code != http.StatusOK || len(out.Surveys) > 1 {
			t.Fatalf("surveys of %s: %d, %+v", number, code, out.Surveys)
		}
		if len(out.Surveys) == 0 {
			return survey{} // not made yet
		}
		return out.Surveys[0]
	}
	smsStatus := func(number string) string {
		t.Helper()
		var out struct{ Messages []struct{ Status string } }
		if code := tel.api(t, "operator", "GET", "/sms/messages?kind=survey&ticket="+number, "", &out); code != http.StatusOK || len(out.Messages) != 1 {
			t.Fatalf("survey SMS of %s: %d, %+v", number, code, out.Messages)
		}
		return out.Messages[0].Status
	}
	const first, second = "13912345678", "13912345679"
	a, b := complete(first), complete(second)
	eventually(t, "both survey SMS queued", func() bool {
		return surveyOf(a).QueuedAt != nil && surveyOf(b).QueuedAt != nil
	})
	queuedAt := time.Now()
	// Well past the SMS wait with the gateway down: no call, nothing counted as sent.
	for time.Since(queuedAt) < wait+3*time.Second {
		for _, n := range []string{a, b} {
			if sv := surveyOf(n); sv.Status != "awaiting_sms" || sv.SentAt != nil || sv.Attempts != 0 {
				t.Fatalf("survey of %s with Kannel down: %+v; want awaiting_sms, not sent, not called", n, sv)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st := smsStatus(a); st != "queued" {
		t.Fatalf("survey SMS %s with Kannel down, want queued", st)
	}
	if log := tel.ast.Log(); strings.Contains(log, "rexian calls "+first) || strings.Contains(log, "rexian calls "+second) {
		t.Fatal("a survey call was placed while its SMS was still queued")
	}

	// The second citizen's answer reaches an operator meanwhile (the web console's form).
	if code := tel.api(t, "operator", "POST", fmt.Sprintf("/callback/surveys/%d/answer", surveyOf(b).ID), `{"result":"satisfied","note":"市民来电时评价"}`, nil); code != http.StatusOK {
		t.Fatalf("manual answer: %d", code)
	}
	if st := smsStatus(b); st != "cancelled" {
		t.Fatalf("the answered survey's SMS is %s, want cancelled", st)
	}

	// Kannel back: the first SMS goes out, and the survey call waits for the wait from then.
	carrier := tel.deliver(ctx, 1, asterisktest.Callee{Ring: 300 * time.Millisecond, Steps: []asterisktest.Step{
		asterisktest.Silence(1500 * time.Millisecond), asterisktest.Press("1"),
	}})
	restarted := time.Now()
	if err := start(k, ctx); err != nil {
		t.Fatal(err)
	}
	var sv survey
	eventually(t, "the survey SMS accepted by Kannel", func() bool { sv = surveyOf(a); return sv.SentAt != nil })
	if sv.SentAt.Before(restarted.Add(-time.Second)) {
		t.Fatalf("sms_sent_at %v is before Kannel was back (%v)", sv.SentAt, restarted)
	}
	d := carrier()
	if d.Err != nil || len(d.Invites) != 1 {
		t.Fatalf("carrier: %v, %d INVITEs\n%s", d.Err, len(d.Invites), d.Output)
	}
	eventually(t, "the survey answered by the call", func() bool { sv = surveyOf(a); return sv.Result == "satisfied" })
	if sv.Channel != "ivr" || sv.AnsweredAt == nil || sv.AnsweredAt.Sub(*sv.SentAt) < wait {
		t.Fatalf("survey %+v: want satisfied by call, at least %s after the SMS was accepted", sv, wait)
	}
	// Each citizen also gets the ticket's result (已办结); the survey SMS asks for 1/2/3.
	// Long messages arrive in parts: join them (by number and reference) first.
	whole := map[string]map[int]string{} // number/ref → seq → text
	for i, m := range k.Received() {
		key, seq := fmt.Sprintf("%s/single-%d", m.To, i), 1
		if ref, _, n, ok := m.Concat(); ok {
			key, seq = fmt.Sprintf("%s/%d", m.To, ref), n
		}
		if whole[key] == nil {
			whole[key] = map[int]string{}
		}
		whole[key][seq] = m.Text
	}
	surveyed := map[string]int{}
	for key, parts := range whole {
		var text string
		for seq := 1; seq <= len(parts); seq++ {
			text += parts[seq]
		}
		if strings.Contains(text, "回复1满意") {
			surveyed[strings.Split(key, "/")[0]]++
		}
	}
	if surveyed[first] != 1 || surveyed[second] != 0 {
		t.Fatalf("survey SMS at the SMS centre by number %v; want one for %s, none for %s (answered meanwhile)", surveyed, first, second)
	}
}
