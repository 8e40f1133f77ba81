package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/ivr/asterisktest"
	"github.com/rexian/rexian/tickets"
)

// The browser phone against the real Asterisk: headless Chromium with fake media devices
// (its microphone plays a 1 kHz tone, the operator's voice), SIPp as the citizen (speech
// from SIPp's capture).

// recordPeerConnections keeps every RTCPeerConnection the page makes in
// window.__pcs, so that the test can read the call's audio statistics.
const recordPeerConnections = `(() => {
  const P = window.RTCPeerConnection;
  if (!P) { return; }
  window.__pcs = [];
  window.RTCPeerConnection = function (...args) { const pc = new P(...args); window.__pcs.push(pc); return pc; };
  window.RTCPeerConnection.prototype = P.prototype;
})();`

// audioStats are the last peer connection's audio figures, as JSON.
const audioStats = `(async () => {
  const pc = (window.__pcs || []).at(-1);
  if (!pc) { return "{}"; }
  const o = {};
  (await pc.getStats()).forEach(s => {
    if (s.type === "inbound-rtp" && s.kind === "audio") { o.in_packets = s.packetsReceived; o.in_energy = s.totalAudioEnergy || 0; }
    if (s.type === "outbound-rtp" && s.kind === "audio") { o.out_packets = s.packetsSent; }
    if (s.type === "media-source" && s.kind === "audio") { o.mic_energy = s.totalAudioEnergy || 0; }
  });
  return JSON.stringify(o);
})()`

type callAudio struct {
	InPackets  int     `json:"in_packets"`
	InEnergy   float64 `json:"in_energy"`
	OutPackets int     `json:"out_packets"`
	MicEnergy  float64 `json:"mic_energy"`
}

// phoneBrowser is a Chromium whose microphone is tone (a WAV file), granted without a
// prompt, or refused when deny is set.
func phoneBrowser(t *testing.T, ctx context.Context, name, artifacts string, step *int, tone string, deny bool) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-audio-capture", tone),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	}
	if deny {
		opts = append(opts, chromedp.Flag("deny-permission-prompts", true))
	} else {
		opts = append(opts, chromedp.Flag("use-fake-ui-for-media-stream", true))
	}
	b := newBrowser(t, ctx, name, artifacts, step, opts...)
	b.do("start", chromedp.Navigate("about:blank"))
	if _, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: recordPeerConnections}); err != nil {
		t.Fatalf("%s: watch peer connections: %v", name, err)
	}
	return b
}

// until polls expr in the page until it is true.
func (b *browser) until(what, expr string, within time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(within)
	for !b.eval(expr) {
		if time.Now().After(deadline) {
			b.shot("failed-" + what)
			msg, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(document.getElementById("sp-status")||{}).textContent + " / " + (document.getElementById("sp-message")||{}).textContent`))
			b.t.Fatalf("%s: timed out waiting for %s (phone: %s)", b.name, what, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// phoneIs waits until the phone's status line reads status.
func (b *browser) phoneIs(status string, within time.Duration) {
	b.t.Helper()
	b.until("the phone "+status, `(document.getElementById("sp-status")||{}).textContent === "`+status+`"`, within)
}

// joinWithBrowserPhone opens the desk and joins the queue choosing the browser phone.
func (b *browser) joinWithBrowserPhone(base string) {
	b.t.Helper()
	b.navigate("the desk", base+"/console/desk", "#device-browser")
	b.do("choose the browser phone", chromedp.Click(chromedp.ID("device-browser")))
	b.submit("join the queue", "#join")
}

// agent is user's entry in the live picture.
func (tel *telephony) agent(t *testing.T, user string) (ivr.Agent, bool) {
	t.Helper()
	var s ivr.Snapshot
	if code := tel.api(t, "supervisor", "GET", "/ivr/live", "", &s); code != http.StatusOK {
		t.Fatalf("GET /ivr/live: %d", code)
	}
	for _, a := range s.Agents {
		if a.User == user {
			return a, true
		}
	}
	return ivr.Agent{}, false
}

// soxRMS is the RMS amplitude (0..1) of a WAV file after the sox effects.
func soxRMS(t *testing.T, file string, effects ...string) float64 {
	t.Helper()
	out, err := exec.Command("sox", append([]string{file, "-n"}, append(effects, "stat")...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("sox %s %v: %v\n%s", file, effects, err, out)
	}
	m := regexp.MustCompile(`RMS\s+amplitude:\s+([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("sox stat said no RMS amplitude:\n%s", out)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// TestAsteriskBrowserPhone: operator1 logs in and joins choosing the browser phone; the
// page gets its credentials from rexian and registers to Asterisk over WebSocket, which
// makes the operator ready; a citizen calls 12345 and presses 1; the browser rings, the
// operator answers with a click, the two talk (each side's audio is in the conversation
// recording: the operator's 1 kHz tone and the citizen's speech); on the desk the
// operator holds, resumes, makes a three-way call with a department (a second SIPp) and
// drops out, leaving the citizen and the department connected (browserCallControls); the
// record counts one hold and names who took part. Further calls the operator hangs up.
// A second tab of the same session does not register and can take the phone over.
// operator2's browser refuses the microphone: the page says so and operator2 stays not
// ready. Logging out deletes the endpoint from Asterisk.
//
// REXIAN_TEST_SOFTPHONE_CALLS=50 places that many calls and logs the p95 of the time
// from the queue offering the call to the operator until the browser rings.
func TestAsteriskBrowserPhone(t *testing.T) {
	t.Parallel()
	artifacts := browserArtifacts(t, "browser-softphone")
	calls := 1
	if n, err := strconv.Atoi(os.Getenv("REXIAN_TEST_SOFTPHONE_CALLS")); err == nil && n > 1 {
		calls = n
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute+time.Duration(calls)*10*time.Second)
	defer cancel()
	step := 0
	tel, op, tone := browserPhoneReady(t, ctx, artifacts, &step)
	base := tel.r.base

	var latencies []time.Duration
	for i := range calls {
		caller := fmt.Sprintf("137%08d", i)
		first := i == 0
		speak := 3 * time.Second
		var dept func() asterisktest.Delivered
		if first {
			// The first call goes on to the call controls: the citizen, and the
			// department's phone (the carrier's), talk until the hotline hangs up.
			speak = time.Minute
			dept = tel.deliver(ctx, 1, asterisktest.Callee{Number: "04778581234", Ring: 300 * time.Millisecond,
				Steps: []asterisktest.Step{asterisktest.Speak(30 * time.Second)}})
		}
		citizen := make(chan asterisktest.Result, 1)
		go func() {
			citizen <- tel.ast.Carrier(ctx, asterisktest.Citizen{Steps: []asterisktest.Step{
				asterisktest.Silence(500 * time.Millisecond), asterisktest.Press("1"), asterisktest.Speak(speak),
			}, AwaitHangup: 30 * time.Second}, caller)
		}()
		op.phoneIs("来电", 30*time.Second)
		a, ok := tel.agent(t, "operator1")
		rangAt, err := chromedp.Run(op.ctx, chromedp.Evaluate[string](`document.getElementById("softphone").getAttribute("data-rang-at")`))
		if ms, perr := strconv.ParseInt(rangAt, 10, 64); err == nil && perr == nil && ok && a.State == ivr.AgentOffered {
			latencies = append(latencies, time.UnixMilli(ms).Sub(a.Since))
		} else {
			t.Logf("call %d: no ring latency (agent %+v, rang at %q, %v)", i, a, rangAt, err)
		}
		if first {
			op.shot("ringing")
		}
		op.do("answer", chromedp.Click(chromedp.ID("sp-answer")))
		op.phoneIs("通话中", 10*time.Second)
		if first {
			// Talk until both directions have carried a few seconds of sound.
			var st callAudio
			deadline := time.Now().Add(20 * time.Second)
			for {
				raw, err := chromedp.Run(op.ctx, chromedp.Evaluate[string](audioStats, chromedp.EvalAwaitPromise))
				if err != nil {
					t.Fatal(err)
				}
				_ = json.Unmarshal([]byte(raw), &st)
				if st.InPackets > 200 && st.OutPackets > 200 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("audio did not flow both ways: %+v", st)
				}
				time.Sleep(100 * time.Millisecond)
			}
			op.shot("talking")
			if st.InEnergy <= 0 || st.MicEnergy <= 0 {
				t.Errorf("the browser heard or sent only silence: %+v", st)
			}
			t.Logf("browser audio: %+v", st)
		}
		// Hang up once rexian has bridged the two: a hang-up before that is an
		// operator who dropped the call, and the citizen goes back to the queue.
		var id uint64
		eventually(t, "citizen and operator bridged", func() bool {
			recs := tel.calls(t, caller)
			if len(recs) > 0 && recs[0].ConnectedAt != nil {
				id = recs[0].ID
				return true
			}
			return false
		})
		if first {
			browserCallControls(t, ctx, tel, op, caller, id)
		} else {
			op.do("hang up", chromedp.Click(chromedp.ID("sp-hangup")))
			op.phoneIs("已注册", 10*time.Second)
		}
		if res := <-citizen; res.Err != nil {
			t.Fatalf("citizen %s: %v\n%s", caller, res.Err, res.Output)
		}
		rec := tel.ended(t, caller, nil)
		if rec.Outcome != ivr.OutcomeAnswered || rec.Operator != "operator1" {
			t.Fatalf("call record %+v; want answered by operator1", rec)
		}
		if first {
			if d := dept(); d.Err != nil {
				t.Fatalf("department: %v\n%s", d.Err, d.Output)
			}
			if rec.HoldCount != 1 || !strings.Contains(rec.Parties, "市住建局") || !strings.Contains(rec.Parties, "话务员") {
				t.Errorf("call record: hold count %d, parties %q; want one hold, the operator and 市住建局", rec.HoldCount, rec.Parties)
			}
			checkBothSides(t, tel, rec)
		}
		// The next call is offered once the operator is ready again (after wrap-up).
		eventually(t, "operator1 ready after the call", func() bool {
			a, ok := tel.agent(t, "operator1")
			if ok && a.State == ivr.AgentWrapUp {
				op.eval(`(document.getElementById("ready-form").requestSubmit(), true)`)
			}
			return ok && a.State == ivr.AgentReady
		})
	}
	if len(latencies) > 0 {
		slices.Sort(latencies)
		p95 := latencies[int(math.Ceil(0.95*float64(len(latencies))))-1]
		t.Logf("queue offer → browser ringing over %d calls: median %v, p95 %v, max %v", len(latencies),
			latencies[len(latencies)/2], p95, latencies[len(latencies)-1])
		if p95 > 2*time.Second {
			t.Errorf("p95 from offer to ringing %v, want well under 2 s", p95)
		}
	}

	// A second tab of the same session: the phone stays in the first; taking it over
	// moves it.
	tab, cancelTab := chromedp.NewContext(op.ctx)
	defer cancelTab()
	second := &browser{t: t, ctx: tab, name: "operator-tab2", dir: artifacts, step: &step}
	second.navigate("the desk in a second tab", base+"/console/desk", "#softphone")
	second.until("the other-tab notice", `!document.getElementById("sp-takeover").hidden && document.getElementById("sp-message").textContent.includes("另一个标签页")`, 10*time.Second)
	second.shot("second-tab")
	second.do("take the phone over", chromedp.Click(chromedp.ID("sp-takeover")))
	second.phoneIs("已注册", 20*time.Second)
	op.until("the first tab gives the phone up", `document.getElementById("sp-message").textContent.includes("另一个标签页")`, 10*time.Second)

	// operator2 refuses the microphone.
	op2 := phoneBrowser(t, ctx, "operator2", artifacts, &step, tone, true)
	op2.login(base, "operator2")
	op2.joinWithBrowserPhone(base)
	op2.until("the microphone message", `document.getElementById("sp-message").textContent.includes("麦克风被拒绝")`, 20*time.Second)
	op2.shot("microphone-refused")
	if got := op2.text("#sp-status"); got != "未注册" {
		t.Errorf("operator2's phone reads %q without a microphone, want 未注册", got)
	}
	if a, ok := tel.agent(t, "operator2"); !ok || a.State != ivr.AgentPaused {
		t.Errorf("operator2 without a microphone: %+v, want in the queue but not ready", a)
	}

	// Logging out deletes operator1's endpoint: it can no longer register.
	phone := tel.agentPhone(t, "operator1")
	cancelTab()
	op.logout()
	endpoint := strings.TrimPrefix(phone, "PJSIP/")
	eventually(t, "the endpoint deleted from Asterisk", func() bool {
		out, _ := tel.ast.CLI(ctx, "pjsip show endpoint "+endpoint)
		return strings.Contains(out, "Unable to find")
	})
	if _, ok := tel.agent(t, "operator1"); ok {
		t.Errorf("operator1 still in the queue after logging out with the browser phone")
	}
	if errs := tel.ast.Errors(); len(errs) > 0 {
		t.Errorf("Asterisk logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

// browserCallControls: on the call id that operator1 answered in the browser, the
// operator clicks the desk's call controls, which must not reload the page (that would
// end the browser's call): hold, resume, a three-way call with 市住建局 (whose phone is
// the carrier's) and dropping out. The citizen and the department are then alone in the
// call's bridge; the department's hanging up ends the call.
func browserCallControls(t *testing.T, ctx context.Context, tel *telephony, op *browser, caller string, id uint64) {
	t.Helper()
	callID := strconv.FormatUint(id, 10)
	op.until("the call controls", `!document.getElementById("controls").hidden && document.getElementById("call-id").value === "`+callID+`"`, 10*time.Second)
	op.eval(`(window.__stayed = true)`)
	click := func(button, want string) {
		t.Helper()
		op.do("click "+button, chromedp.Click(chromedp.ID(button)))
		op.until(button+": "+want, `document.getElementById("call-msg").textContent.includes("`+want+`")`, 10*time.Second)
		if !op.eval(`window.__stayed === true`) {
			t.Fatalf("clicking %s reloaded the desk", button)
		}
		if got := op.text("#sp-status"); got != "通话中" {
			t.Fatalf("after %s the browser phone reads %q, want 通话中", button, got)
		}
	}
	click("hold", "已保持通话")
	op.shot("held")
	click("resume", "已恢复通话")
	op.do("choose 市住建局", chromedp.SetValue(chromedp.ID("target"), "department:t-zjj"))
	click("conference", "三方通话")
	eventually(t, "the department joins", func() bool {
		recs := tel.calls(t, caller)
		return len(recs) > 0 && strings.Contains(recs[0].Note, "加入三方通话")
	})
	op.shot("three-way")
	op.do("click leave-call", chromedp.Click(chromedp.ID("leave-call")))
	// The form's answer or the call's own event, whichever comes last, both say it (the
	// department's answer before said how to 退出三方).
	op.until("the page says the operator left", `document.getElementById("call-msg").textContent.includes("退出三方通话")`, 10*time.Second)
	if !op.eval(`window.__stayed === true`) {
		t.Fatal("dropping out reloaded the desk")
	}
	// Asterisk hangs the operator's leg up: the browser's call ends, the phone stays.
	op.phoneIs("已注册", 10*time.Second)
	op.shot("left-three-way")
	channels := bridgeChannels(t, ctx, tel, "call-"+callID)
	if len(channels) != 2 {
		t.Fatalf("the call's bridge holds %v after the operator left, want the citizen and the department", channels)
	}
	for _, ch := range channels {
		if strings.HasPrefix(ch, "party-") {
			hangupChannel(t, ctx, tel, ch)
			return
		}
	}
	t.Fatalf("no department leg (party-…) among the bridge's channels %v", channels)
}

// browserPhoneReady starts Asterisk and rexian with the browser phone, and operator1's
// Chromium (whose microphone plays the returned tone file) logged in and joined with the
// browser phone, registered and ready.
func browserPhoneReady(t *testing.T, ctx context.Context, artifacts string, step *int) (*telephony, *browser, string) {
	t.Helper()
	if _, err := exec.LookPath("sox"); err != nil {
		t.Skip("sox is needed for the operator's voice and to check the recording: apt-get install sox")
	}
	tel := startAsterisk(t, asterisktest.Options{})
	tel.env = append(tel.env, "REXIAN_ARI_SOFTPHONE_WS=ws"+strings.TrimPrefix(tel.ast.ARIURL(), "http")+"/ws")
	tel.start(t, nil)
	// A department with a phone, offered for transfers and three-way calls on the desk.
	if _, err := tel.r.app.domains.tickets.SaveDepartment(ctx, tickets.DepartmentInput{Code: "t-zjj", Name: "市住建局", Level: tickets.LevelCity, Phone: "0477-8581234"}); err != nil {
		t.Fatal(err)
	}
	tone := filepath.Join(t.TempDir(), "operator.wav")
	if out, err := exec.Command("sox", "-n", "-r", "48000", "-c", "1", "-b", "16", tone, "synth", "120", "sine", "1000", "vol", "0.5").CombinedOutput(); err != nil {
		t.Fatalf("sox: %v\n%s", err, out)
	}
	op := phoneBrowser(t, ctx, "operator", artifacts, step, tone, false)
	op.login(tel.r.base, "operator1")
	op.joinWithBrowserPhone(tel.r.base)
	if got := tel.agentPhone(t, "operator1"); !strings.HasPrefix(got, "PJSIP/webrtc-") {
		t.Fatalf("operator1 joined with %q, want the browser phone", got)
	}
	op.phoneIs("已注册", 20*time.Second)
	tel.waitReady(t, "operator1")
	op.shot("registered")
	return tel, op, tone
}

func (tel *telephony) waitReady(t *testing.T, user string) {
	t.Helper()
	eventually(t, user+" ready in the queue", func() bool {
		a, ok := tel.agent(t, user)
		return ok && a.State == ivr.AgentReady
	})
}

// TestAsteriskBrowserPhoneAsteriskRestart: Asterisk restarts while the operator talks
// on the browser phone. The page says the connection dropped and the call ended; it
// reconnects by itself, finds its endpoint gone (Asterisk keeps it in memory), asks
// rexian again, registers, and the operator is ready for the next caller, who is
// answered on the browser.
func TestAsteriskBrowserPhoneAsteriskRestart(t *testing.T) {
	t.Parallel()
	artifacts := browserArtifacts(t, "browser-softphone-restart")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	step := 0
	tel, op, _ := browserPhoneReady(t, ctx, artifacts, &step)
	citizen := make(chan asterisktest.Result, 1)
	go func() {
		citizen <- tel.ast.Carrier(ctx, asterisktest.Citizen{Steps: []asterisktest.Step{
			asterisktest.Silence(500 * time.Millisecond), asterisktest.Press("1"), asterisktest.Speak(30 * time.Second),
		}, AwaitHangup: 30 * time.Second}, "13600136000")
	}()
	op.phoneIs("来电", 30*time.Second)
	op.do("answer", chromedp.Click(chromedp.ID("sp-answer")))
	op.phoneIs("通话中", 10*time.Second)
	if err := tel.ast.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	<-citizen // hung up by the restart, however SIPp reports it
	op.until("the page says the connection dropped", `document.getElementById("sp-status").textContent !== "通话中" && document.getElementById("sp-message").textContent.includes("中断")`, 30*time.Second)
	op.shot("asterisk-restarted")
	op.phoneIs("已注册", 90*time.Second)
	op.shot("registered-again")
	if err := tel.ast.WaitApp(ctx, "hotline"); err != nil {
		t.Fatal(err)
	}
	tel.waitReady(t, "operator1")

	// The next caller reaches the operator on the browser phone.
	go func() {
		citizen <- tel.ast.Carrier(ctx, asterisktest.Citizen{Steps: []asterisktest.Step{
			asterisktest.Silence(500 * time.Millisecond), asterisktest.Press("1"), asterisktest.Speak(3 * time.Second),
		}}, "13600136001")
	}()
	op.phoneIs("来电", 30*time.Second)
	op.do("answer", chromedp.Click(chromedp.ID("sp-answer")))
	op.phoneIs("通话中", 10*time.Second)
	if res := <-citizen; res.Err != nil {
		t.Fatalf("second citizen: %v\n%s", res.Err, res.Output)
	}
	op.phoneIs("已注册", 10*time.Second)
	if rec := tel.ended(t, "13600136001", nil); rec.Outcome != ivr.OutcomeAnswered || rec.Operator != "operator1" {
		t.Errorf("call after the restart: %+v; want answered by operator1", rec)
	}
}

func (tel *telephony) agentPhone(t *testing.T, user string) string {
	t.Helper()
	a, _ := tel.agent(t, user)
	return a.Phone
}

// checkBothSides checks the conversation recording: the operator's 1 kHz tone (band
// 950–1050 Hz) and the citizen's speech (below 800 Hz, where the tone is not) are both
// well above silence.
func checkBothSides(t *testing.T, tel *telephony, rec ivr.Record) {
	t.Helper()
	wav := filepath.Join(t.TempDir(), "conversation.wav")
	if err := os.WriteFile(wav, tel.recordingBytes(t, rec.ID, "conversation", 2*time.Second), 0o644); err != nil {
		t.Fatal(err)
	}
	operator := soxRMS(t, wav, "sinc", "950-1050")
	citizen := soxRMS(t, wav, "sinc", "-800")
	t.Logf("conversation recording: operator band RMS %.4f, citizen band RMS %.4f", operator, citizen)
	if operator < 0.01 {
		t.Errorf("the operator's side of the recording is silent (RMS %.4f in 950-1050 Hz)", operator)
	}
	if citizen < 0.01 {
		t.Errorf("the citizen's side of the recording is silent (RMS %.4f below 800 Hz)", citizen)
	}
}
