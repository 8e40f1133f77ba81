package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/ivr/asterisktest"
)

// TestAsteriskOutboundFigures places 20 call-backs and 20 survey calls in one run through
// the real Asterisk with SIPp as the carrier, on the shipped line (12345: 14 channels, 2
// kept for callers; the dialplan's TRUNK_OUTBOUND_MAX 10), and logs what came of them:
// answered, retried, sent to the manual list, and the lines used at peak. It takes about
// three minutes, so it runs only when asked:
//
//	REXIAN_TEST_OUTBOUND_FIGURES=1 go test -run TestAsteriskOutboundFigures -v -timeout 15m ./cmd/rexian/
//
// The citizens, by number (the carrier picks each one's behaviour from the number dialled):
//   - call-backs: 20 citizens queue while the only operator is busy and press 8; 14 answer
//     and talk, 3 let it ring out, 3 are busy (486). Each call-back is tried 3 times, 2 s
//     apart, ringing 5 s, then becomes a ticket for the desk (the manual list);
//   - surveys: 20 completed tickets with landline numbers; 12 press 1, 2 press 2, 3 are
//     unavailable (480), 3 hang up during the question. Each survey is called 3 times, 5 s
//     apart here (6 h in production), then goes to the manual list.
//
// So the carrier receives 14 + 2×3×3 = 32 INVITEs for each kind, 64 in all. SIPp's run
// lasts as long as the test's context: its -timeout is the whole run, and an earlier two
// minutes stopped the carrier with status 255 a third of the way through.
func TestAsteriskOutboundFigures(t *testing.T) {
	if os.Getenv("REXIAN_TEST_OUTBOUND_FIGURES") != "1" {
		t.Skip("20 call-backs and 20 survey calls through the real Asterisk take minutes; set REXIAN_TEST_OUTBOUND_FIGURES=1 to run them")
	}
	tel := startAsterisk(t, asterisktest.Options{})
	tel.runFor = 8 * time.Minute
	tel.env = append(tel.env, "REXIAN_CALLBACK_DELAY=0s", "REXIAN_CALLBACK_INTERVAL=200ms")
	const (
		tries     = 3
		cbRetry   = 2 * time.Second
		cbRing    = 5 * time.Second
		svRetry   = 5 * time.Second
		citizens  = 20
		batch     = 5 // citizens queueing at once
		blockTalk = 30 * time.Second
	)
	tel.start(t, func(cfg *config.Config) {
		fastQueues(cfg)
		for i := range cfg.IVR.Queues {
			cfg.IVR.Queues[i].CallbackAttempts = tries
			cfg.IVR.Queues[i].CallbackRetry = cbRetry
			cfg.IVR.Queues[i].CallbackRing = cbRing
		}
		cfg.Callback.Hours, cfg.SMS.QuietHours = "", ""
		cfg.Callback.MaxCallAttempts = tries
		cfg.Callback.CallRetry = svRetry // below the 1m a configuration file may set: a test's minutes
	})
	ctx, cancel := context.WithTimeout(context.Background(), 7*time.Minute)
	defer cancel()
	started := time.Now()

	// The lines at peak, as the live panel counts them.
	var (
		mu                     sync.Mutex
		peakBusy, peakOutbound int
	)
	watch, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for watch.Err() == nil {
			for _, l := range tel.controller(t).Snapshot().Lines {
				if l.Number == "12345" {
					mu.Lock()
					peakBusy, peakOutbound = max(peakBusy, l.Busy), max(peakOutbound, l.Outbound)
					mu.Unlock()
				}
			}
			select {
			case <-watch.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	cbNumber := func(i int) string { return fmt.Sprintf("138000010%02d", i) }
	svNumber := func(i int) string { return fmt.Sprintf("04778580%03d", i) }
	answer := []asterisktest.Step{asterisktest.Silence(1500 * time.Millisecond), asterisktest.Press("1")}
	carrier := tel.deliver(ctx, 64,
		asterisktest.Callee{Number: `^138000010(1[5-7])$`, NoAnswer: true},
		asterisktest.Callee{Number: `^138000010(1[89]|20)$`, Ring: 500 * time.Millisecond, Reject: 486},
		asterisktest.Callee{Number: `^04778580(00[1-9]|01[0-2])$`, Ring: 500 * time.Millisecond, Steps: answer},
		asterisktest.Callee{Number: `^0477858001[34]$`, Ring: 500 * time.Millisecond, Steps: []asterisktest.Step{
			asterisktest.Silence(1500 * time.Millisecond), asterisktest.Press("2")}},
		asterisktest.Callee{Number: `^047785800(1[5-7])$`, Ring: 500 * time.Millisecond, Reject: 480},
		asterisktest.Callee{Number: `^047785800(1[89]|20)$`, Ring: 500 * time.Millisecond,
			Steps: []asterisktest.Step{asterisktest.Silence(400 * time.Millisecond)}, HangUp: true},
		// The call-backs the citizens answer: they hear callback-hello, then talk.
		asterisktest.Callee{Ring: time.Second, Steps: []asterisktest.Step{asterisktest.Speak(2 * time.Second)}, HangUp: true},
	)
	phoneCtx, stopPhone := context.WithCancel(ctx)
	defer stopPhone()
	phone := tel.operatorAt(t, phoneCtx, "8001", 1000) // stopped at the end: the count is what the run makes it

	blocker := tel.blockOperator(t, ctx, blockTalk)
	for from := 1; from <= citizens; from += batch {
		var nums []string
		for i := from; i < from+batch && i <= citizens; i++ {
			nums = append(nums, cbNumber(i))
		}
		tel.pressForCallback(t, ctx, nums...)
	}
	queued := time.Since(started)
	// The surveys: completed tickets of citizens with landlines, surveyed at once by call.
	svTickets := make([]string, citizens+1)
	for i := 1; i <= citizens; i++ {
		var v struct{ Number string }
		body := `{"citizen":{"name":"王先生","phone":"` + svNumber(i) + `"},"content":"供暖不热，咨询报修电话","category":"ZX-SHBX","answer":"已告知供热公司报修电话。"}`
		if code := tel.api(t, "operator", "POST", "/tickets", body, &v); code != http.StatusCreated {
			t.Fatalf("create ticket %d: %d", i, code)
		}
		svTickets[i] = v.Number
	}

	type survey struct {
		Status   string `json:"status"`
		Result   string `json:"result"`
		Attempts int    `json:"call_attempts"`
	}
	surveys := func() []survey {
		out := make([]survey, 0, citizens)
		for i := 1; i <= citizens; i++ {
			var page struct{ Surveys []survey }
			if code := tel.api(t, "supervisor", "GET", "/callback/surveys?ticket="+svTickets[i], "", &page); code != http.StatusOK {
				t.Fatalf("surveys of %s: %d", svTickets[i], code)
			}
			if len(page.Surveys) == 1 {
				out = append(out, page.Surveys[0])
			}
		}
		return out
	}
	callbacks := func() []ivr.Record {
		var out []ivr.Record
		for i := 1; i <= citizens; i++ {
			for _, r := range tel.calls(t, cbNumber(i)) {
				if r.Direction == "callback" && r.EndedAt != nil {
					out = append(out, r)
				}
			}
		}
		return out
	}
	// Done when every survey is answered or on the manual list and every call-back ended.
	var svs []survey
	var cbs []ivr.Record
	for {
		svs, cbs = surveys(), callbacks()
		settled := 0
		for _, s := range svs {
			if s.Status == "done" || s.Status == "manual" {
				settled++
			}
		}
		if settled == citizens && len(cbs) == citizens {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("after %s: %d of %d surveys settled, %d of %d call-backs ended", time.Since(started).Round(time.Second),
				settled, citizens, len(cbs), citizens)
		case <-time.After(time.Second):
		}
	}
	took := time.Since(started)
	d := carrier()
	stopWatch()
	<-watched
	stopPhone()
	if b := blocker(); b.Err != nil {
		t.Errorf("blocker: %v\n%s", b.Err, b.Output)
	}
	_ = phone() // stopped: it reports the calls it still expected

	// The figures.
	var cbAnswered, cbRetried, cbManual, cbTries int
	log := tel.ast.Log()
	for i := 1; i <= citizens; i++ {
		n := strings.Count(log, "rexian calls "+cbNumber(i)+";")
		cbTries += n
		if n > 1 {
			cbRetried++
		}
	}
	for _, r := range cbs {
		switch {
		case r.Outcome == ivr.OutcomeAnswered:
			cbAnswered++
		case r.TicketNumber != "":
			cbManual++
		}
	}
	var svAnswered, svRetried, svManual, svTries int
	results := map[string]int{}
	for _, s := range svs {
		svTries += s.Attempts
		if s.Attempts > 1 {
			svRetried++
		}
		switch s.Status {
		case "done":
			svAnswered++
			results[s.Result]++
		case "manual":
			svManual++
		}
	}
	trunkPeak := 0
	for _, m := range regexp.MustCompile(`trunk channels in use: (\d+)`).FindAllStringSubmatch(log, -1) {
		n, _ := strconv.Atoi(m[1])
		trunkPeak = max(trunkPeak, n)
	}
	mu.Lock()
	busy, outbound := peakBusy, peakOutbound
	mu.Unlock()
	t.Logf("20 call-backs + 20 survey calls in %s (citizens queued in %s): carrier INVITEs %d",
		took.Round(time.Second), queued.Round(time.Second), len(d.Invites))
	t.Logf("call-backs: answered %d, retried %d, to the manual list (ticket) %d, tries %d", cbAnswered, cbRetried, cbManual, cbTries)
	t.Logf("surveys: answered %d %v, retried %d, to the manual list %d, calls %d", svAnswered, results, svRetried, svManual, svTries)
	t.Logf("line 12345 at peak: %d of 14 channels busy, %d of them rexian's calls; trunk channels counted by the dialplan before an outbound call: at most %d",
		busy, outbound, trunkPeak)

	if d.Err != nil {
		t.Errorf("carrier: %v\n%s", d.Err, d.Output)
	}
	want := func(what string, got, n int) {
		if got != n {
			t.Errorf("%s: %d, want %d", what, got, n)
		}
	}
	want("carrier INVITEs", len(d.Invites), 64)
	want("call-backs answered", cbAnswered, 14)
	want("call-backs to the manual list", cbManual, 6)
	want("call-backs retried", cbRetried, 6)
	want("survey calls answered", svAnswered, 14)
	want("surveys to the manual list", svManual, 6)
	want("surveys retried", svRetried, 6)
	if busy > 14 {
		t.Errorf("%d channels busy at peak on a 14-channel line", busy)
	}
}
