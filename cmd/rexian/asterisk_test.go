package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/database/dbtest"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/ivr/asterisktest"
	"github.com/rexian/rexian/ivr/prompt"
)

// The tests in this file place calls with SIPp through the real Asterisk, started with
// deploy/asterisk as shipped (only ports and paths changed), wired to a rexian running as
// `serve` does with the demo city. Prompts are short tones so that each call takes
// seconds.
//
// They run in parallel with each other (t.Parallel), as do the other tests that mostly
// wait on calls and on Kannel: each has its own Asterisk, SIPp, ports, database and Redis
// namespace, and shares nothing with the others. scripts/test runs several at once.

// telephony is one Asterisk and, once started, one rexian attached to it.
type telephony struct {
	ast    *asterisktest.Asterisk
	env    []string
	r      *running
	proc   *serveProcess     // rexian as a process of its own instead of r (startProcess)
	tokens map[string]string // role → "Bearer …"
	opts   []Option          // for each start of rexian
	runFor time.Duration     // how long rexian may run (default 3 minutes)
}

// startAsterisk starts an Asterisk with every prompt the demo city's rexian plays and
// seeds rexian's database; rexian itself is started by start.
func startAsterisk(t *testing.T, opts asterisktest.Options) *telephony {
	t.Helper()
	var names []string
	for _, set := range []map[string]string{config.DefaultPrompts(), prompt.DialplanTexts()} {
		for n := range set {
			names = append(names, n)
		}
	}
	for n := range prompt.DigitTexts() {
		opts.Digits = append(opts.Digits, n)
	}
	opts.Prompts = append(opts.Prompts, names...)
	tel := &telephony{ast: asterisktest.Start(t, opts), tokens: map[string]string{}}
	tel.env = append(testEnv(t, ""),
		"REXIAN_ARI_URL="+tel.ast.ARIURL(),
		"REXIAN_ARI_USER="+tel.ast.ARIUser(),
		"REXIAN_ARI_PASSWORD="+tel.ast.ARIPassword(),
		"REXIAN_IVR_SPOOL_DIR="+tel.ast.SpoolDir(),
	)
	if code, _, stderr := runCLI(t, tel.env, "", "seed", "--demo"); code != exitOK {
		t.Fatalf("seed --demo: exit %d: %s", code, stderr)
	}
	for _, role := range []string{"operator", "supervisor"} {
		code, tok, stderr := runCLI(t, tel.env, "", "tokens", "create", "--name", "t-"+role, "--role", role, "--scope", "*")
		if code != exitOK {
			t.Fatalf("tokens create: %s", stderr)
		}
		tel.tokens[role] = "Bearer " + strings.TrimSpace(tok)
	}
	return tel
}

// start runs rexian and waits until its controller is attached to Asterisk.
func (tel *telephony) start(t *testing.T, mod func(*config.Config)) {
	t.Helper()
	cfg := testConfig(t, tel.env)
	if mod != nil {
		mod(&cfg)
	}
	runFor := tel.runFor
	if runFor <= 0 {
		runFor = 3 * time.Minute
	}
	tel.r = startAppFor(t, runFor, cfg, append([]Option{withShutdownTimeout(5 * time.Second)}, tel.opts...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tel.ast.WaitApp(ctx, cfg.ARI.App); err != nil {
		t.Fatal(err)
	}
	// The progress lookup names the department: its prompt, as `prompts --departments`
	// would render it.
	depts, err := tel.r.app.domains.tickets.Departments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range depts {
		if err := tel.ast.AddPrompts(prompt.DepartmentName(d.Code)); err != nil {
			t.Fatal(err)
		}
	}
}

// base is the URL of the running rexian.
func (tel *telephony) base() string {
	if tel.proc != nil {
		return tel.proc.base
	}
	return tel.r.base
}

// api sends a request as role and decodes the JSON answer into out (when not nil).
func (tel *telephony) api(t *testing.T, role, method, path, body string, out any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, tel.base()+"/api/v1"+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", tel.tokens[role])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %d, body not JSON: %v", method, path, resp.StatusCode, err)
		}
	}
	return resp.StatusCode
}

// calls lists the call records of caller, newest first.
func (tel *telephony) calls(t *testing.T, caller string) []ivr.Record {
	t.Helper()
	var page struct{ Calls []ivr.Record }
	if code := tel.api(t, "supervisor", "GET", "/ivr/calls?caller="+caller, "", &page); code != http.StatusOK {
		t.Fatalf("GET /ivr/calls: %d", code)
	}
	return page.Calls
}

// ended waits until caller's newest call has ended and returns its record.
func (tel *telephony) ended(t *testing.T, caller string, cond func(ivr.Record) bool) ivr.Record {
	t.Helper()
	var last []ivr.Record
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		last = tel.calls(t, caller)
		if len(last) > 0 && last[0].EndedAt != nil && (cond == nil || cond(last[0])) {
			return last[0]
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no ended call of %s as wanted; records: %+v", caller, last)
	return ivr.Record{}
}

// recordingBytes fetches a call's recording through rexian and checks it is a WAV with
// at least min of sound (8 kHz 16-bit: 16000 bytes a second).
func (tel *telephony) recordingBytes(t *testing.T, id uint64, kind string, min time.Duration) []byte {
	t.Helper()
	status, body := get(t, tel.base()+"/api/v1/ivr/calls/"+strconv.FormatUint(id, 10)+"/recording?kind="+kind, "Authorization", tel.tokens["supervisor"])
	if status != http.StatusOK || !strings.HasPrefix(body, "RIFF") {
		t.Fatalf("recording of call %d (%s): %d %.80q", id, kind, status, body)
	}
	if got := time.Duration(len(body)-44) * time.Second / 16000; got < min {
		t.Errorf("recording of call %d (%s) holds %v of sound, want at least %v", id, kind, got, min)
	}
	return []byte(body)
}

// TestAsteriskVoiceMessage: nobody is at the desk; a citizen presses 1, hears that no
// operator can answer, speaks after the beep and hangs up. The message becomes a
// voice-message ticket of the caller, its recording is in Asterisk's spool and plays
// through rexian.
func TestAsteriskVoiceMessage(t *testing.T) {
	t.Parallel()
	tel := startAsterisk(t, asterisktest.Options{})
	tel.start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const caller = "13800138000"
	res := tel.ast.Carrier(ctx, asterisktest.Citizen{Steps: []asterisktest.Step{
		asterisktest.Silence(500 * time.Millisecond), asterisktest.Press("1"), asterisktest.Speak(5 * time.Second),
	}}, caller)
	if res.Err != nil {
		t.Fatalf("%v\n%s", res.Err, res.Output)
	}
	rec := tel.ended(t, caller, func(r ivr.Record) bool { return r.TicketNumber != "" })
	if rec.Outcome != ivr.OutcomeVoicemail || rec.Voicemail == "" || rec.Topic != "complaint" {
		t.Errorf("call record %+v; want a complaint ending in a voice message", rec)
	}
	if fi, err := os.Stat(filepath.Join(tel.ast.RecordingDir(), rec.Voicemail+".wav")); err != nil || fi.Size() < 16000 {
		t.Errorf("Asterisk's recording %s: %v", rec.Voicemail, err)
	}
	tel.recordingBytes(t, rec.ID, "voicemail", 2*time.Second)
	var tk struct {
		Number, Channel string
		Category        struct{ Code string }
		Citizen         struct{ Phone string }
	}
	if code := tel.api(t, "operator", "GET", "/tickets/"+rec.TicketNumber, "", &tk); code != http.StatusOK {
		t.Fatalf("GET ticket %s: %d", rec.TicketNumber, code)
	}
	if tk.Channel != "voicemail" || tk.Citizen.Phone != caller || tk.Category.Code != "QZ" {
		t.Errorf("ticket %+v; want a voice message of %s in QZ", tk, caller)
	}
	if errs := tel.ast.Errors(); len(errs) > 0 {
		t.Errorf("Asterisk logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

// played counts how often Asterisk played sound (e.g. "rexian/all-busy") to anyone, from
// its log: what callers heard.
func (tel *telephony) played(sound string) int {
	return strings.Count(tel.ast.Log(), "Playing '"+sound+".")
}

// TestAsteriskOperatorAnswers: phone 8001 registers with the credentials of pjsip.conf, its
// operator joins the queue, a citizen presses 1: the phone rings, the operator answers, the
// two talk and the conversation is recorded; the citizen hangs up and the phone is hung
// up. The carrier never hears the citizen's own number back as the connected party.
func TestAsteriskOperatorAnswers(t *testing.T) {
	t.Parallel()
	tel := startAsterisk(t, asterisktest.Options{})
	tel.start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	answered := answering(ctx, tel.operatorPhone(t, ctx, "8001"), 1, 500*time.Millisecond)

	const caller = "13900139000"
	res := tel.ast.Carrier(ctx, asterisktest.Citizen{Steps: []asterisktest.Step{
		asterisktest.Silence(500 * time.Millisecond), asterisktest.Press("1"), asterisktest.Speak(8 * time.Second),
	}}, caller)
	if res.Err != nil {
		t.Fatalf("citizen: %v\n%s", res.Err, res.Output)
	}
	if r := answered(); r.Err != nil {
		t.Fatalf("phone 8001: %v\n%s", r.Err, r.Output)
	}
	rec := tel.ended(t, caller, nil)
	if rec.Outcome != ivr.OutcomeAnswered || rec.ConnectedAt == nil || rec.Operator == "" || rec.Recording == "" {
		t.Fatalf("call record %+v; want answered by an operator and recorded", rec)
	}
	tel.recordingBytes(t, rec.ID, "conversation", 2*time.Second)
}

// TestAsteriskAllLinesBusy: 16 citizens call the 14 lines of 12345 at once and say
// nothing to the menu. Exactly two hear that all lines are busy, and their words become
// voice-message tickets; nobody is dropped without a word.
func TestAsteriskAllLinesBusy(t *testing.T) {
	t.Parallel()
	tel := startAsterisk(t, asterisktest.Options{})
	tel.start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var callers []string
	for i := range 16 {
		callers = append(callers, "1370000"+strconv.Itoa(1000+i))
	}
	res := tel.ast.Carrier(ctx, asterisktest.Citizen{Steps: []asterisktest.Step{asterisktest.Speak(5 * time.Second)}}, callers...)
	if res.Err != nil {
		t.Fatalf("%v\n%s", res.Err, res.Output)
	}
	if n := tel.played("rexian/all-busy"); n != 2 {
		t.Errorf("%d callers heard all-busy, want 2", n)
	}
	var busy, menu int
	for _, c := range callers {
		rec := tel.ended(t, c, nil)
		switch {
		case rec.Outcome == ivr.OutcomeVoicemail && rec.TicketNumber != "":
			busy++
		case rec.Outcome == ivr.OutcomeAbandonedMenu:
			menu++
		default:
			t.Errorf("call of %s: %+v", c, rec)
		}
	}
	if busy != 2 || menu != 14 {
		t.Errorf("%d voice messages after all-busy and %d callers in the menu, want 2 and 14", busy, menu)
	}
}

// TestAsteriskStatusLookup: a citizen presses 3, keys in a ticket number and #, and hears
// the ticket's number, its state, the handling department and the due date.
func TestAsteriskStatusLookup(t *testing.T) {
	t.Parallel()
	tel := startAsterisk(t, asterisktest.Options{})
	tel.start(t, nil)
	var tk struct {
		Number string
		Lead   struct{ Code string } `json:"lead_department"`
	}
	body := `{"title":"路灯不亮","content":"东胜区某小区路灯不亮","category":"TS-GN","citizen":{"phone":"13600136000"},"dispatch":{"departments":["DSQ"]}}`
	if code := tel.api(t, "operator", "POST", "/tickets", body, &tk); code != http.StatusCreated || tk.Number == "" {
		t.Fatalf("POST /tickets: %d %+v", code, tk)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const caller = "13600136001"
	res := tel.ast.Carrier(ctx, asterisktest.Citizen{Steps: []asterisktest.Step{
		asterisktest.Silence(500 * time.Millisecond), asterisktest.Press("3"), asterisktest.Silence(700 * time.Millisecond),
		asterisktest.Press(tk.Number + "#"), asterisktest.Silence(5 * time.Second),
	}}, caller)
	if res.Err != nil {
		t.Fatalf("%v\n%s", res.Err, res.Output)
	}
	rec := tel.ended(t, caller, nil)
	if rec.Outcome != ivr.OutcomeStatusLookup {
		t.Errorf("call record %+v; want a status lookup", rec)
	}
	for _, sound := range []string{"rexian/status-number", "rexian/status-dispatched", "rexian/status-department", "rexian/dept-dsq", "rexian/status-due"} {
		if tel.played(sound) != 1 {
			t.Errorf("the caller did not hear %s once (%d)", sound, tel.played(sound))
		}
	}
	// digits: plays the number from the Mandarin digits, one file a digit.
	if n := strings.Count(tel.ast.Log(), "Playing 'digits/"); n < len(tk.Number) {
		t.Errorf("%d digits played, want at least the %d of %s", n, len(tk.Number), tk.Number)
	}
}

// TestAsteriskOutage: while rexian is down a citizen hears the dialplan's apology and
// leaves a message, which Asterisk records into the spool; rexian, once started, turns it
// into a ticket of the caller and moves the file to done/.
func TestAsteriskOutage(t *testing.T) {
	t.Parallel()
	tel := startAsterisk(t, asterisktest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const caller = "13500135000"
	res := tel.ast.Carrier(ctx, asterisktest.Citizen{Steps: []asterisktest.Step{asterisktest.Speak(3 * time.Second)}}, caller)
	if res.Err != nil {
		t.Fatalf("%v\n%s", res.Err, res.Output)
	}
	if tel.played("rexian/fallback-sorry") != 1 {
		t.Errorf("the caller did not hear the apology")
	}
	// The dialplan's hang-up handler moves the message out of incoming/ after the BYE.
	var files []string
	deadline := time.Now().Add(10 * time.Second)
	for len(files) == 0 && time.Now().Before(deadline) {
		if files, _ = filepath.Glob(filepath.Join(tel.ast.SpoolDir(), "*_"+caller+"_12345_*.wav")); len(files) == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if len(files) != 1 {
		t.Fatalf("spool holds %v, want the message of %s", files, caller)
	}
	// The import leaves files younger than a few seconds for a later pass (one may still
	// be moving); an outage lasts longer than that, so the message is dated a minute back.
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(files[0], old, old); err != nil {
		t.Fatal(err)
	}
	tel.start(t, nil)
	var list struct {
		Tickets []struct {
			Number, Channel string
		}
	}
	deadline = time.Now().Add(30 * time.Second)
	for len(list.Tickets) == 0 && time.Now().Before(deadline) {
		tel.api(t, "operator", "GET", "/tickets?phone="+caller, "", &list)
		if len(list.Tickets) == 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if len(list.Tickets) != 1 || list.Tickets[0].Channel != "voicemail" {
		t.Fatalf("tickets of %s: %+v, want one voice message", caller, list.Tickets)
	}
	done := filepath.Join(tel.ast.SpoolDir(), "done", filepath.Base(files[0]))
	for deadline = time.Now().Add(10 * time.Second); !fileExists(done) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if !fileExists(done) {
		t.Errorf("the imported message is not in done/")
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestAsteriskDoctor: rexian doctor checks each Asterisk node through ARI. On a node whose
// spool lacks recording/ and one prompt, with rexian not attached, it fails those three
// with their fixes; once they are put right and rexian runs, the node passes.
func TestAsteriskDoctor(t *testing.T) {
	t.Parallel()
	tel := startAsterisk(t, asterisktest.Options{NoRecordingFolder: true})
	if err := os.Remove(filepath.Join(tel.ast.Root(), "lib", "sounds", "zh", "rexian", "menu-main.wav")); err != nil {
		t.Fatal(err)
	}
	node := "asterisk " + tel.ast.ARIURL()
	code, out, _ := runCLI(t, tel.env, "", "doctor")
	for _, tt := range []struct{ check, detail, fix string }{
		{node + " application", "hotline not registered", "start rexian serve"},
		{node + " prompts", "rexian/menu-main", "rexian prompts"},
		{node + " recording", "Asterisk refuses to record", "/var/spool/asterisk/recording"},
	} {
		if l := doctorLine(out, tt.check); !strings.HasPrefix(l, "FAIL") || !strings.Contains(l, tt.detail) || !strings.Contains(out, tt.fix) {
			t.Errorf("%s: %q; want FAIL with %q and the fix %q in\n%s", tt.check, l, tt.detail, tt.fix, out)
		}
	}
	for _, check := range []string{node + " ARI", "voice-message spool"} {
		if l := doctorLine(out, check); !strings.HasPrefix(l, "ok") {
			t.Errorf("%s: %q in\n%s", check, l, out)
		}
	}
	if code == exitOK {
		t.Errorf("doctor passed with failures:\n%s", out)
	}

	// Wrong credentials: the ARI line says so.
	env := append(append([]string{}, tel.env...), "REXIAN_ARI_PASSWORD=wrong")
	if _, out, _ := runCLI(t, env, "", "doctor"); !strings.HasPrefix(doctorLine(out, node+" ARI"), "FAIL") || !strings.Contains(out, "ari.conf") {
		t.Errorf("wrong ARI password:\n%s", out)
	}

	if err := os.MkdirAll(tel.ast.RecordingDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := tel.ast.AddPrompts("menu-main"); err != nil {
		t.Fatal(err)
	}
	tel.start(t, nil)
	code, out, stderr := runCLI(t, tel.env, "", "doctor")
	for _, check := range []string{node + " ARI", node + " application", node + " prompts", node + " recording", "voice-message spool"} {
		if l := doctorLine(out, check); !strings.HasPrefix(l, "ok") {
			t.Errorf("%s after the fixes: %q in\n%s%s", check, l, out, stderr)
		}
	}
	if code != exitOK {
		t.Errorf("doctor after the fixes: exit %d\n%s%s", code, out, stderr)
	}
	// Asterisk removes a cancelled recording's file from its recorder thread, just after
	// the cancel is answered: wait for it with a deadline.
	var left []os.DirEntry
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		left, _ = os.ReadDir(filepath.Join(tel.ast.RecordingDir(), "rexian", "doctor"))
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(left) > 0 {
		t.Errorf("the test recording stayed: %v", left)
	}
}

// TestAsteriskLoad places 100 calls at once with audio through the real Asterisk: welcome,
// menu (1), the queue while the logged-in operator can be rung (or the apology that
// nobody can answer), 9 for a voice message, four seconds of speech, hang up. It fails when a call is lost (SIPp saw it fail, or it
// did not end as a voice message with a ticket) and logs rexian's and Asterisk's
// processor time in the same run and the event→REST p99. It takes a minute and both
// cores: run it with REXIAN_TEST_ASTERISK_LOAD=1.
func TestAsteriskLoad(t *testing.T) {
	if os.Getenv("REXIAN_TEST_ASTERISK_LOAD") != "1" {
		t.Skip("100 concurrent calls through the real Asterisk; set REXIAN_TEST_ASTERISK_LOAD=1 to run them")
	}
	const calls = 100
	tel := startAsterisk(t, asterisktest.Options{})
	tel.start(t, func(c *config.Config) { c.IVR.Lines[0].Channels = calls })
	if code := tel.api(t, "operator", "POST", "/ivr/agents/me/login", `{"phone":"PJSIP/8001"}`, nil); code != http.StatusOK {
		t.Fatalf("operator login: %d", code)
	}
	var callers []string
	for i := range calls {
		callers = append(callers, "1380000"+strconv.Itoa(1000+i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	astBefore, err := tel.ast.CPU()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res := tel.ast.Carrier(ctx, asterisktest.Citizen{Steps: []asterisktest.Step{
		// A key pressed while 正在为您转接 still plays is dropped when the caller joins the
		// queue: wait for the music before pressing 9.
		asterisktest.Silence(500 * time.Millisecond), asterisktest.Press("1"), asterisktest.Silence(3 * time.Second),
		asterisktest.Press("9"), asterisktest.Silence(500 * time.Millisecond), asterisktest.Speak(4 * time.Second),
	}}, callers...)
	lost, queued, fallback := 0, 0, 0
	for _, c := range callers {
		rec := tel.ended(t, c, nil)
		switch {
		case rec.Outcome == ivr.OutcomeVoicemail && rec.TicketNumber != "":
		case rec.Outcome == ivr.OutcomeFallback && tel.spooled(c):
			// rexian could not serve it and sent it on to the dialplan, which took the
			// message into the spool: not lost, imported on the next pass.
			fallback++
		default:
			lost++
			t.Errorf("call of %s: %+v", c, rec)
		}
		if rec.QueuedAt != nil {
			queued++
		}
	}
	wall := time.Since(start)
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	astAfter, _ := tel.ast.CPU()
	if res.Err != nil {
		t.Errorf("SIPp: %v\n%s", res.Err, res.Output)
	}
	cpu := func(r syscall.Rusage) time.Duration {
		return time.Duration(r.Utime.Nano() + r.Stime.Nano())
	}
	rexianCPU := cpu(after) - cpu(before)
	_, metrics := get(t, tel.r.base+"/metrics")
	// The operator's phone is not registered: the first callers queue and ring it, it
	// fails and is paused, and later callers hear that nobody can answer.
	t.Logf("%d calls (%d through the queue, %d sent on to the dialplan's fallback) in %v, %d lost; CPU: rexian (this process) %v = %.1f %% of a core, Asterisk %v = %.1f %% of a core; event→REST p99 ≤ %s",
		calls, queued, fallback, wall.Round(time.Millisecond), lost, rexianCPU.Round(time.Millisecond), 100*rexianCPU.Seconds()/wall.Seconds(),
		(astAfter - astBefore).Round(time.Millisecond), 100*(astAfter-astBefore).Seconds()/wall.Seconds(), p99Bucket(metrics, "rexian_ivr_event_reply_seconds"))
}

// p99Bucket is the upper bound of the histogram bucket holding the 99th percentile, from
// Prometheus text.
func p99Bucket(metrics, name string) string {
	var bounds []string
	var counts []float64
	for _, l := range strings.Split(metrics, "\n") {
		if !strings.HasPrefix(l, name+`_bucket{le="`) {
			continue
		}
		rest := strings.TrimPrefix(l, name+`_bucket{le="`)
		le, n, _ := strings.Cut(rest, `"} `)
		v, _ := strconv.ParseFloat(strings.TrimSpace(n), 64)
		bounds, counts = append(bounds, le), append(counts, v)
	}
	if len(counts) == 0 || counts[len(counts)-1] == 0 {
		return "?"
	}
	total := counts[len(counts)-1]
	for i, c := range counts {
		if c >= 0.99*total {
			return bounds[i] + " s"
		}
	}
	return "?"
}

// spooled waits up to ten seconds for a message of caller in the fallback's spool.
func (tel *telephony) spooled(caller string) bool {
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, dir := range []string{tel.ast.SpoolDir(), filepath.Join(tel.ast.SpoolDir(), "done")} {
			if files, _ := filepath.Glob(filepath.Join(dir, "*_"+caller+"_*.wav")); len(files) > 0 {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// renderPrompts speaks the named prompts of the demo city with espeak-ng into the
// Asterisk's sounds, replacing the short tones, so that a call lasts as long as in the
// field; it returns each prompt's length.
func (tel *telephony) renderPrompts(t *testing.T, names ...string) map[string]time.Duration {
	t.Helper()
	texts := map[string]string{}
	for _, n := range names {
		texts[n] = config.DefaultPrompts()[n]
	}
	dir := filepath.Join(tel.ast.Root(), "lib", "sounds", "zh", "rexian")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := prompt.Render(ctx, texts, dir, prompt.Options{Force: true}); err != nil {
		if errors.Is(err, prompt.ErrToolMissing) {
			dbtest.Unavailable(t, "espeak-ng and sox", "apt-get install espeak-ng sox (scripts/test does it)", err)
		}
		t.Fatal(err)
	}
	out := map[string]time.Duration{}
	for _, n := range names {
		fi, err := os.Stat(filepath.Join(dir, n+".wav"))
		if err != nil {
			t.Fatal(err)
		}
		out[n] = time.Duration(fi.Size()-44) * time.Second / 16000
	}
	return out
}

// TestAsteriskRingTime measures, with the prompts spoken as shipped, how long a caller
// waits for an idle operator's phone to ring: from the citizen's INVITE (SIPp as the
// carrier) to the INVITE reaching phone 8001 (SIPp as the phone), both as SIPp stamped
// them. On the menu line the caller presses 1 at once; the second line is set to direct
// mode (hotlines[].mode: direct), where the caller presses nothing. The targets (6 s
// and 3 s) are logged; the test fails only far beyond them, so a loaded machine cannot
// make it flaky.
func TestAsteriskRingTime(t *testing.T) {
	t.Parallel()
	tel := startAsterisk(t, asterisktest.Options{})
	lengths := tel.renderPrompts(t, "welcome-mayor", "welcome-government", "menu-main", "queue-enter")
	t.Logf("prompts as spoken: %v", lengths)
	tel.start(t, func(c *config.Config) {
		for i := range c.IVR.Hotlines {
			if c.IVR.Hotlines[i].Code == "government" {
				c.IVR.Hotlines[i].Mode = config.ModeDirect
			}
		}
		fastQueues(c)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ph := tel.operatorPhone(t, ctx, "8001")
	for _, tt := range []struct {
		name, dialled, caller string
		steps                 []asterisktest.Step
		target, bound         time.Duration
	}{
		{"menu, 1 at once", "12345", "13900139001", []asterisktest.Step{asterisktest.Press("1"), asterisktest.Speak(3 * time.Second)}, 6 * time.Second, 15 * time.Second},
		{"direct", "8393000", "13900139002", []asterisktest.Step{asterisktest.Speak(6 * time.Second)}, 3 * time.Second, 12 * time.Second},
	} {
		answered := answering(ctx, ph, 1, 500*time.Millisecond)
		res := tel.ast.Carrier(ctx, asterisktest.Citizen{Dialled: tt.dialled, Steps: tt.steps, Trace: true}, tt.caller)
		if res.Err != nil {
			t.Fatalf("%s: citizen: %v\n%s", tt.name, res.Err, res.Output)
		}
		phone := answered()
		if phone.Err != nil {
			t.Fatalf("%s: phone 8001: %v\n%s", tt.name, phone.Err, phone.Output)
		}
		rec := tel.ended(t, tt.caller, nil)
		if rec.Outcome != ivr.OutcomeAnswered {
			t.Errorf("%s: call record %+v; want answered", tt.name, rec)
		}
		sent, rang := asterisktest.Sent(res.Messages, "INVITE"), asterisktest.Received(phone.Messages, "INVITE")
		if len(sent) == 0 || len(rang) == 0 {
			t.Fatalf("%s: INVITE times missing: citizen %v, phone %v", tt.name, sent, rang)
		}
		ring := rang[0].Sub(sent[0])
		t.Logf("%s: the operator's phone rang %v after the citizen's INVITE (target %v; answered %v after the arrival)",
			tt.name, ring.Round(time.Millisecond), tt.target, rec.ConnectedAt.Sub(rec.ArrivedAt).Round(time.Millisecond))
		if ring > tt.bound {
			t.Errorf("%s: the operator's phone rang %v after the INVITE, far beyond the target %v", tt.name, ring, tt.target)
		}
	}
}

// TestAsteriskKeysInTheQueue: keys pressed as the caller joins the queue act. Phone 8001
// talks with a first citizen; a second presses 1 and, while 正在为您转接 (spoken as
// shipped) still plays, 9: they are taken to the voice message, which becomes a ticket.
// Then, with the operator free, a third presses 1 and, while the phone rings, 9: the
// phone stops ringing and the caller leaves a message too.
func TestAsteriskKeysInTheQueue(t *testing.T) {
	t.Parallel()
	tel := startAsterisk(t, asterisktest.Options{})
	tel.renderPrompts(t, "queue-enter")
	tel.start(t, fastQueues)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ph := tel.operatorPhone(t, ctx, "8001")
	answered := answering(ctx, ph, 1, 0)
	const first, second, third = "13900139011", "13900139012", "13900139013"
	talked := make(chan asterisktest.Result, 1)
	go func() {
		talked <- tel.ast.Carrier(ctx, asterisktest.Citizen{Steps: []asterisktest.Step{asterisktest.Press("1"), asterisktest.Speak(20 * time.Second)}}, first)
	}()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if recs := tel.calls(t, first); len(recs) > 0 && recs[0].ConnectedAt != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first citizen never reached the operator: %+v", tel.calls(t, first))
		}
	}
	res := tel.ast.Carrier(ctx, asterisktest.Citizen{Steps: []asterisktest.Step{
		asterisktest.Press("1"), asterisktest.Silence(800 * time.Millisecond), asterisktest.Press("9"),
		asterisktest.Silence(time.Second), asterisktest.Speak(3 * time.Second),
	}}, second)
	if res.Err != nil {
		t.Fatalf("second citizen: %v\n%s", res.Err, res.Output)
	}
	rec := tel.ended(t, second, func(r ivr.Record) bool { return r.TicketNumber != "" })
	if rec.Outcome != ivr.OutcomeVoicemail || rec.QueuedAt == nil {
		t.Errorf("second citizen: %+v; want queued, then a voice message", rec)
	}
	if r := <-talked; r.Err != nil {
		t.Fatalf("first citizen: %v\n%s", r.Err, r.Output)
	}
	if r := answered(); r.Err != nil {
		t.Fatalf("phone 8001: %v\n%s", r.Err, r.Output)
	}

	// The operator is free again: the third caller's key acts while the phone rings.
	tel.ended(t, first, nil)
	rang := make(chan asterisktest.Result, 1)
	go func() { rang <- ph.Answer(ctx, 1, 30*time.Second) }()
	res = tel.ast.Carrier(ctx, asterisktest.Citizen{Steps: []asterisktest.Step{
		asterisktest.Press("1"), asterisktest.Silence(1500 * time.Millisecond), asterisktest.Press("9"),
		asterisktest.Silence(time.Second), asterisktest.Speak(3 * time.Second),
	}}, third)
	if res.Err != nil {
		t.Fatalf("third citizen: %v\n%s", res.Err, res.Output)
	}
	rec = tel.ended(t, third, func(r ivr.Record) bool { return r.TicketNumber != "" })
	if rec.Outcome != ivr.OutcomeVoicemail || rec.Offers == 0 {
		t.Errorf("third citizen: %+v; want the phone rung, then a voice message", rec)
	}
	var live ivr.Snapshot
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		tel.api(t, "supervisor", "GET", "/ivr/live", "", &live)
		if len(live.Agents) == 1 && live.Agents[0].State == ivr.AgentReady {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("operators after the caller left the ringing: %+v; want one, ready", live.Agents)
		}
	}
}

// TestAsteriskFlowFailureFallback: the spool lacks recording/, so Asterisk refuses the
// voice message rexian asks it to record. The caller is not lost: rexian sends the call on
// to the dialplan's [rexian-fallback], which apologises and records the message into the
// voice-message spool, and rexian's import turns it into a ticket of the caller.
func TestAsteriskFlowFailureFallback(t *testing.T) {
	t.Parallel()
	tel := startAsterisk(t, asterisktest.Options{NoRecordingFolder: true})
	tel.start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const caller = "13700137000"
	res := tel.ast.Carrier(ctx, asterisktest.Citizen{Steps: []asterisktest.Step{
		asterisktest.Silence(500 * time.Millisecond), asterisktest.Press("1"), asterisktest.Speak(6 * time.Second),
	}}, caller)
	if res.Err != nil {
		t.Fatalf("%v\n%s", res.Err, res.Output)
	}
	rec := tel.ended(t, caller, nil)
	if rec.Outcome != ivr.OutcomeFallback || !strings.Contains(rec.Note, "record") {
		t.Errorf("call record %+v; want sent on to the fallback, the cause noted", rec)
	}
	if tel.played("rexian/fallback-sorry") != 1 {
		t.Errorf("the caller did not hear the dialplan's apology")
	}
	var files []string
	for deadline := time.Now().Add(10 * time.Second); len(files) == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		files, _ = filepath.Glob(filepath.Join(tel.ast.SpoolDir(), "*_"+caller+"_12345_*.wav"))
	}
	if len(files) != 1 {
		t.Fatalf("spool holds %v, want the message of %s", files, caller)
	}
	if fi, err := os.Stat(files[0]); err != nil || fi.Size() < 16000 {
		t.Errorf("the spooled message %s holds no speech: %v", files[0], err)
	}
	// The import leaves files younger than a few seconds for its next pass (every 30 s).
	old := time.Now().Add(-time.Minute)
	if err := os.Chtimes(files[0], old, old); err != nil {
		t.Fatal(err)
	}
	var list struct {
		Tickets []struct{ Number, Channel string }
	}
	for deadline := time.Now().Add(75 * time.Second); len(list.Tickets) == 0 && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		tel.api(t, "operator", "GET", "/tickets?phone="+caller, "", &list)
	}
	if len(list.Tickets) != 1 || list.Tickets[0].Channel != "voicemail" {
		t.Fatalf("tickets of %s: %+v, want one voice message from the spool", caller, list.Tickets)
	}
}

// TestAsteriskRestartReadopts: rexian stops (gracefully) and starts again while phone 8001
// talks with one citizen and two more wait in the general queue; the third hangs up
// while rexian is down. Nobody is cut off: the conversation goes on (SIPp fails a call
// the hotline hangs up first), the second caller keeps queue and arrival and reaches the
// operator once the first hangs up, and every call keeps one record, closed with the end
// it reached, the third's too.
func TestAsteriskRestartReadopts(t *testing.T) {
	t.Parallel()
	restartReadopts(t, false)
}

// TestAsteriskKill9Readopts is TestAsteriskRestartReadopts with `rexian serve` as a
// process of its own killed with SIGKILL instead of stopped: nothing is wound down or
// written at the end, and the next run finds the calls, their open records and the
// operator's state as the killed one left them.
func TestAsteriskKill9Readopts(t *testing.T) {
	t.Parallel()
	restartReadopts(t, true)
}

func restartReadopts(t *testing.T, kill bool) {
	tel := startAsterisk(t, asterisktest.Options{})
	// Operators' states live in Redis across the restart: a Redis both runs share.
	redisURL := privateRedis(t)
	for i, kv := range tel.env {
		if strings.HasPrefix(kv, "REXIAN_REDIS_URL=") {
			tel.env[i] = "REXIAN_REDIS_URL=" + redisURL
		}
	}
	start, stop := func() { tel.start(t, fastQueues) }, func() {
		tel.r.stop()
		if err := tel.r.wait(t); err != nil {
			t.Fatalf("rexian stopped with %v", err)
		}
	}
	if kill {
		start, stop = tel.startProcess(t, fastQueues)
	}
	start()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	answered := answering(ctx, tel.operatorPhone(t, ctx, "8001"), 2, 0)
	const talking, waiting, leaving = "13900139021", "13900139022", "13900139023"
	call, result := tel.queueCallers(ctx)
	until := func(caller, what string, cond func(ivr.Record) bool) ivr.Record {
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if recs := tel.calls(t, caller); len(recs) > 0 && cond(recs[0]) {
				return recs[0]
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never %s: %+v", caller, what, tel.calls(t, caller))
			}
		}
	}
	call(talking, 25*time.Second)
	until(talking, "talked", func(r ivr.Record) bool { return r.ConnectedAt != nil })
	call(waiting, 50*time.Second)
	before := until(waiting, "queued", func(r ivr.Record) bool { return r.QueuedAt != nil })
	call(leaving, 4*time.Second)
	until(leaving, "queued", func(r ivr.Record) bool { return r.QueuedAt != nil })

	stop()
	if r := result(leaving); r.Err != nil {
		t.Fatalf("the caller who left while rexian was down: %v\n%s", r.Err, r.Output)
	}
	start()

	if r := result(talking); r.Err != nil {
		t.Errorf("the conversation across the restart: %v\n%s", r.Err, r.Output)
	}
	if r := result(waiting); r.Err != nil {
		t.Errorf("the waiting caller: %v\n%s", r.Err, r.Output)
	}
	if r := answered(); r.Err != nil {
		t.Errorf("phone 8001: %v\n%s", r.Err, r.Output)
	}
	for _, tt := range []struct {
		caller  string
		outcome ivr.Outcome
	}{{talking, ivr.OutcomeAnswered}, {waiting, ivr.OutcomeAnswered}, {leaving, ivr.OutcomeAbandonedQueue}} {
		tel.ended(t, tt.caller, nil)
		recs := tel.calls(t, tt.caller)
		if len(recs) != 1 || recs[0].Outcome != tt.outcome {
			t.Errorf("records of %s: %+v; want one, %s", tt.caller, recs, tt.outcome)
		}
	}
	after := tel.calls(t, waiting)[0]
	if after.ID != before.ID || after.Queue != before.Queue || after.QueuedAt == nil || !after.QueuedAt.Equal(*before.QueuedAt) {
		t.Errorf("the waiting caller's record went from %+v to %+v; want the same record, queue and arrival", before, after)
	}
}
