package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/ivr/asterisktest"
	"github.com/rexian/rexian/ivr/prompt"
)

// The tests in this file place calls with SIPp through the real Asterisk, started with
// deploy/asterisk as shipped (only ports and paths changed), wired to a rexian running as
// `serve` does with the demo city. Prompts are short tones so that each call takes
// seconds.

// telephony is one Asterisk and, once started, one rexian attached to it.
type telephony struct {
	ast    *asterisktest.Asterisk
	env    []string
	r      *running
	tokens map[string]string // role → "Bearer …"
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
		code, tok, stderr := runCLI(t, tel.env, "", "tokens", "create", "--name", "t-"+role, "--role", role)
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
	tel.r = startAppFor(t, 3*time.Minute, cfg, withShutdownTimeout(5*time.Second))
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

// api sends a request as role and decodes the JSON answer into out (when not nil).
func (tel *telephony) api(t *testing.T, role, method, path, body string, out any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, tel.r.base+"/api/v1"+path, strings.NewReader(body))
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
	status, body := get(t, tel.r.base+"/api/v1/ivr/calls/"+strconv.FormatUint(id, 10)+"/recording?kind="+kind, "Authorization", tel.tokens["supervisor"])
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
