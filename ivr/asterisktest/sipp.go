package asterisktest

import (
	"bytes"
	"context"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// SIPp's own sample captures (Debian sip-tester).
const (
	AudioPcap = "/usr/share/sip-tester/g711a.pcap" // 7 s of speech, G.711 A-law
	dtmfPcap  = "/usr/share/sip-tester/dtmf_2833_1.pcap"
	audioLen  = 7 * time.Second
)

//go:embed scenarios/*.xml
var scenarioFiles embed.FS

var scenarios = template.Must(template.New("").Delims("{{", "}}").ParseFS(scenarioFiles, "scenarios/*.xml"))

// Step is one thing a citizen does once the hotline answered.
type Step struct {
	// Speak sends speech (the audio capture, repeated as needed) for this long.
	Speak time.Duration
	// Press sends these keys as RFC 2833 events, 300 ms apart.
	Press string
	// Silence waits this long sending nothing.
	Silence time.Duration
}

// Speak, Press and Silence build steps.
func Speak(d time.Duration) Step   { return Step{Speak: d} }
func Press(keys string) Step       { return Step{Press: keys} }
func Silence(d time.Duration) Step { return Step{Silence: d} }

// Citizen is what each caller of a Carrier run does.
type Citizen struct {
	// Dialled is the hotline number (the Request-URI), 12345 by default.
	Dialled string
	// Steps run in order after the answer.
	Steps []Step
	// AwaitHangup: after the steps the citizen waits up to this long for the hotline to
	// hang up (answering re-INVITEs meanwhile); zero: the citizen hangs up.
	AwaitHangup time.Duration
	// Trace keeps SIPp's message log (with each message's time) in Result.Messages.
	Trace bool
	// MediaPort is where the calls take their audio (an Ear's Port); a free port if zero.
	MediaPort int
}

// Result is what SIPp reported.
type Result struct {
	Output string // SIPp's screen and error log
	Err    error  // nil when every call succeeded
	// Messages is SIPp's message log when traced (Citizen.Trace; always for a Phone):
	// every SIP message sent and received, each after a line with its time. Sent and
	// Received read it.
	Messages string
}

// Carrier places one call per caller number through the trunk, all at once, each
// citizen doing c's steps, and returns when every call has ended or ctx is done. A call
// fails when Asterisk does not answer, hangs up before the citizen does (unless
// AwaitHangup), or sends the carrier the caller's identity (P-Asserted-Identity or
// Remote-Party-ID) in an answer or re-INVITE.
func (a *Asterisk) Carrier(ctx context.Context, c Citizen, callers ...string) Result {
	a.t.Helper()
	if len(callers) == 0 {
		return Result{Err: errors.New("asterisktest: Carrier needs at least one caller")}
	}
	if c.Dialled == "" {
		c.Dialled = "12345"
	}
	dir := a.t.TempDir()
	steps, err := renderSteps(dir, c.Steps)
	if err != nil {
		return Result{Err: err}
	}
	inf := "SEQUENTIAL\n" + strings.Join(callers, "\n") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "callers.csv"), []byte(inf), 0o644); err != nil {
		return Result{Err: err}
	}
	data := map[string]any{"Steps": steps, "AwaitHangup": c.AwaitHangup.Milliseconds()}
	n := strconv.Itoa(len(callers))
	port, err := a.carrierPort()
	if err != nil {
		return Result{Err: err}
	}
	defer a.freeCarrierPort(port)
	args := []string{"-s", c.Dialled, "-inf", filepath.Join(dir, "callers.csv"), "-m", n, "-l", n, "-r", "50"}
	log := filepath.Join(dir, "messages.log")
	if c.Trace {
		args = append(args, "-trace_msg", "-message_file", log)
	}
	if c.MediaPort != 0 {
		args = append(args, "-mp", strconv.Itoa(c.MediaPort))
	}
	res := a.sipp(ctx, dir, "citizen.xml", data, port, args...)
	if c.Trace {
		b, _ := os.ReadFile(log)
		res.Messages = string(b)
	}
	return res
}

// carrierPort takes a trunk port no other Carrier runs on.
func (a *Asterisk) carrierPort() (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range a.carriers {
		if !a.busy[p] {
			a.busy[p] = true
			return p, nil
		}
	}
	return 0, fmt.Errorf("asterisktest: more than %d Carrier runs at once", len(a.carriers))
}

func (a *Asterisk) freeCarrierPort(p int) {
	a.mu.Lock()
	delete(a.busy, p)
	a.mu.Unlock()
}

// Phone is an operator's desk phone registered to Asterisk.
type Phone struct {
	a      *Asterisk
	number string
	port   int
}

// Register registers desk phone number (8001…) with its password from pjsip.conf, from a
// port of its own, and returns once Asterisk accepted it.
func (a *Asterisk) Register(ctx context.Context, number string) (*Phone, error) {
	pass, ok := a.phones[number]
	if !ok {
		return nil, fmt.Errorf("asterisktest: pjsip.conf has no operator phone %s", number)
	}
	p := &Phone{a: a, number: number, port: freeUDPPort(a.t)}
	data := map[string]any{"User": number, "Password": pass}
	if r := a.sipp(ctx, a.t.TempDir(), "register.xml", data, p.port, "-m", "1"); r.Err != nil {
		return nil, fmt.Errorf("register %s: %w\n%s", number, r.Err, r.Output)
	}
	return p, nil
}

// Answer waits for calls to the phone: each rings for ringFor, is answered, and the
// operator speaks until the other side hangs up. It returns when calls calls have ended
// well (Err nil) or ctx is done (Err says how many did); start it in a goroutine before
// the call is placed.
func (p *Phone) Answer(ctx context.Context, calls int, ringFor time.Duration) Result {
	dir := p.a.t.TempDir()
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan Result, 1)
	data := map[string]any{"RingFor": ringFor.Milliseconds(), "Audio": AudioPcap}
	log := filepath.Join(dir, "messages.log")
	go func() {
		r := p.a.sipp(ctx, dir, "phone.xml", data, p.port, "-trace_msg", "-message_file", log)
		b, _ := os.ReadFile(log)
		r.Messages = string(b)
		done <- r
	}()
	// SIPp counts Asterisk's qualify requests among the calls a server takes, so the
	// scenario notes each answered call in a file instead.
	for {
		b, _ := os.ReadFile(filepath.Join(dir, "answered.log"))
		if n := strings.Count(string(b), "answered\n"); n >= calls {
			stop()
			r := <-done
			r.Err = nil
			return r
		}
		select {
		case r := <-done:
			b, _ := os.ReadFile(filepath.Join(dir, "answered.log"))
			if r.Err == nil {
				r.Err = fmt.Errorf("phone %s: %d of %d calls answered", p.number, strings.Count(string(b), "answered\n"), calls)
			}
			return r
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// sipp runs one SIPp with the named scenario rendered into dir, from local port port,
// taking audio on a free media port unless args name one (-mp).
func (a *Asterisk) sipp(ctx context.Context, dir, scenario string, data any, port int, args ...string) Result {
	var xml bytes.Buffer
	if err := scenarios.ExecuteTemplate(&xml, scenario, data); err != nil {
		return Result{Err: err}
	}
	file := filepath.Join(dir, scenario)
	if err := os.WriteFile(file, xml.Bytes(), 0o644); err != nil {
		return Result{Err: err}
	}
	// -timeout is SIPp's whole run, not one call's: with -timeout_error, reaching it ends
	// SIPp with status 255 however many calls are still to come. A run the test gives
	// longer than two minutes (many calls, retries minutes apart) keeps that time.
	timeout := 120 * time.Second
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) > timeout {
		timeout = time.Until(dl).Round(time.Second)
	}
	all := []string{
		"-sf", file, "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-mi", "127.0.0.1",
		"-timeout", strconv.Itoa(int(timeout.Seconds())) + "s", "-timeout_error", "-trace_err", "-nostdin",
	}
	ownMedia := !slices.Contains(args, "-mp")
	all = append(all, args...)
	all = append(all, a.SIPAddr())
	var out bytes.Buffer
	var err error
	for try := 1; ; try++ {
		run := all
		if ownMedia {
			run = append([]string{"-mp", strconv.Itoa(freeUDPPort(a.t))}, all...)
		}
		cmd := exec.CommandContext(ctx, "sipp", run...)
		cmd.Dir = dir
		out.Reset()
		cmd.Stdout, cmd.Stderr = &out, &out
		err = cmd.Run()
		// Another process took the media port between its choice and SIPp's bind: SIPp
		// stops before sending anything, so it may start again on another.
		if err == nil || !ownMedia || try == 3 || !strings.Contains(out.String(), "Unable to bind") {
			break
		}
		for _, l := range errorLogs(dir) {
			os.Remove(l)
		}
	}
	res := Result{Output: lastLines(out.String(), 40)}
	if logs := errorLogs(dir); len(logs) > 0 {
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			res.Output += "\n--- " + filepath.Base(l) + ":\n" + lastLines(string(b), 60)
		}
	}
	if err != nil {
		res.Err = fmt.Errorf("sipp %s: %w", scenario, err)
	}
	return res
}

// errorLogs are the error logs SIPp left in dir (-trace_err).
func errorLogs(dir string) []string {
	logs, _ := filepath.Glob(filepath.Join(dir, "*_errors.log"))
	return logs
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// scenarioStep is a step as the citizen scenario plays it: a capture to start (none:
// silence) and how long before the next step.
type scenarioStep struct {
	Pcap  string
	Pause int64 // milliseconds
}

func renderSteps(dir string, steps []Step) ([]scenarioStep, error) {
	var out []scenarioStep
	keys := newDTMF() // one RTP stream across the call's keys: timestamps keep rising
	for i, s := range steps {
		switch {
		case s.Speak > 0:
			for left := s.Speak; left > 0; left -= audioLen {
				out = append(out, scenarioStep{Pcap: AudioPcap, Pause: min(left, audioLen).Milliseconds()})
			}
		case s.Press != "":
			file := filepath.Join(dir, fmt.Sprintf("dtmf-%d.pcap", i))
			d, err := keys.write(file, s.Press, 300*time.Millisecond)
			if err != nil {
				return nil, err
			}
			out = append(out, scenarioStep{Pcap: file, Pause: (d + 100*time.Millisecond).Milliseconds()})
		case s.Silence > 0:
			out = append(out, scenarioStep{Pause: s.Silence.Milliseconds()})
		}
	}
	return out, nil
}

// WriteDTMF writes a capture of RFC 2833 events for keys to file, each key its own event
// with a newer RTP timestamp and rising sequence numbers, gap apart, from SIPp's sample of
// one key, and returns how long it plays. Asterisk takes an event's end only when its
// timestamp is newer than the previous one's, so SIPp's own per-key captures played one
// after another lose keys.
func WriteDTMF(file, keys string, gap time.Duration) (time.Duration, error) {
	return newDTMF().write(file, keys, gap)
}

// dtmf is the RTP state of one caller's keys: a later capture of the same call goes on
// from the earlier one's sequence number and timestamp.
type dtmf struct {
	seq int
	rts uint32
}

// newDTMF starts above every stock capture's timestamp.
func newDTMF() *dtmf { return &dtmf{seq: 20000, rts: 10000000} }

func (st *dtmf) write(file, keys string, gap time.Duration) (time.Duration, error) {
	tmpl, err := os.ReadFile(dtmfPcap)
	if err != nil {
		return 0, err
	}
	type packet struct {
		rel  int64 // µs after the first
		data []byte
	}
	var pk []packet
	var t0 int64
	for off := 24; off+16 <= len(tmpl); {
		ts := int64(binary.LittleEndian.Uint32(tmpl[off:]))
		tus := int64(binary.LittleEndian.Uint32(tmpl[off+4:]))
		incl := int(binary.LittleEndian.Uint32(tmpl[off+8:]))
		if off+16+incl > len(tmpl) || incl < 54 {
			return 0, fmt.Errorf("%s: unexpected packet layout", dtmfPcap)
		}
		us := ts*1e6 + tus
		if len(pk) == 0 {
			t0 = us
		}
		pk = append(pk, packet{rel: us - t0, data: tmpl[off+16 : off+16+incl]})
		off += 16 + incl
	}
	if len(pk) == 0 {
		return 0, fmt.Errorf("%s: no packets", dtmfPcap)
	}
	firstSeq := int(binary.BigEndian.Uint16(pk[0].data[44:]))
	code := map[rune]byte{'*': 10, '#': 11}
	for d := '0'; d <= '9'; d++ {
		code[d] = byte(d - '0')
	}
	out := bytes.NewBuffer(append([]byte(nil), tmpl[:24]...))
	seq, rts := st.seq, st.rts
	step := int64(140*time.Millisecond+gap) / 1000
	var base int64
	for _, k := range keys {
		ev, ok := code[k]
		if !ok {
			return 0, fmt.Errorf("asterisktest: %q is not a phone key", k)
		}
		last := seq
		for _, p := range pk {
			b := append([]byte(nil), p.data...)
			s := seq + int(binary.BigEndian.Uint16(b[44:])) - firstSeq
			binary.BigEndian.PutUint16(b[44:], uint16(s))
			binary.BigEndian.PutUint32(b[46:], rts)
			b[54] = ev
			binary.BigEndian.PutUint16(b[40:], 0) // UDP checksum off
			us := base + p.rel
			var hdr [16]byte
			binary.LittleEndian.PutUint32(hdr[0:], uint32(1000+us/1e6))
			binary.LittleEndian.PutUint32(hdr[4:], uint32(us%1e6))
			binary.LittleEndian.PutUint32(hdr[8:], uint32(len(b)))
			binary.LittleEndian.PutUint32(hdr[12:], uint32(len(b)))
			out.Write(hdr[:])
			out.Write(b)
			last = s
		}
		seq = last + 1
		rts += uint32(8*(step/1000) + 160)
		base += step
	}
	st.seq, st.rts = seq, rts
	return time.Duration(base) * time.Microsecond, os.WriteFile(file, out.Bytes(), 0o644)
}

// Callee is what a citizen that rexian calls (a survey, a call-back) does with the call
// the carrier delivers.
type Callee struct {
	// Number is a regular expression (POSIX extended) on the whole dialled number that
	// picks this behaviour ("": any number; put it last). ^ and $ may be left out.
	Number string
	// Ring is how long the phone rings (180 Ringing) before the answer or the rejection.
	Ring time.Duration
	// Reject answers with this final SIP status instead (480, 486, 404, 503).
	Reject int
	// NoAnswer rings until the hotline gives up (CANCEL).
	NoAnswer bool
	// Steps run in order after the answer.
	Steps []Step
	// HangUp: the citizen hangs up after the steps; otherwise it waits up to Wait (default
	// 60 s) for the hotline to hang up.
	HangUp bool
	Wait   time.Duration
}

// Delivered is what the carrier saw of the calls rexian placed.
type Delivered struct {
	Result
	// Invites are the INVITEs received, as sent by Asterisk (start line and headers).
	Invites []string
}

var reasons = map[int]string{404: "Not Found", 480: "Temporarily Unavailable", 486: "Busy Here", 503: "Service Unavailable", 603: "Decline"}

// Citizens plays the carrier delivering rexian's outbound calls: it takes calls calls on
// the trunk's contact address, each handled by the first of who whose Number matches the
// dialled number (the last one when none does), and returns once they ended or ctx is
// done. Start it in a goroutine before the calls are placed.
func (a *Asterisk) Citizens(ctx context.Context, calls int, who ...Callee) Delivered {
	a.t.Helper()
	if len(who) == 0 {
		who = []Callee{{}}
	}
	dir := a.t.TempDir()
	type behaviour struct {
		Pattern  string
		Ring     int64
		Reject   int
		Reason   string
		NoAnswer bool
		Steps    []scenarioStep
		HangUp   bool
		Wait     int64
	}
	var bs []behaviour
	for i, c := range who {
		sub := filepath.Join(dir, "b"+strconv.Itoa(i)) // each behaviour's key captures apart
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return Delivered{Result: Result{Err: err}}
		}
		steps, err := renderSteps(sub, c.Steps)
		if err != nil {
			return Delivered{Result: Result{Err: err}}
		}
		if c.Wait <= 0 {
			c.Wait = 60 * time.Second
		}
		if c.Reject != 0 && reasons[c.Reject] == "" {
			return Delivered{Result: Result{Err: fmt.Errorf("asterisktest: no reason phrase for status %d", c.Reject)}}
		}
		// The scenario anchors the pattern between "INVITE sip:" and "@"; anchors of its
		// own would match nothing there.
		pattern := strings.TrimSuffix(strings.TrimPrefix(c.Number, "^"), "$")
		bs = append(bs, behaviour{Pattern: pattern, Ring: c.Ring.Milliseconds(), Reject: c.Reject, Reason: reasons[c.Reject],
			NoAnswer: c.NoAnswer, Steps: steps, HangUp: c.HangUp, Wait: c.Wait.Milliseconds()})
	}
	data := map[string]any{"Rules": bs[:len(bs)-1], "Behaviours": bs}
	log := filepath.Join(dir, "messages.log")
	res := a.sipp(ctx, dir, "callee.xml", data, a.callee, "-m", strconv.Itoa(calls), "-trace_msg", "-message_file", log)
	b, _ := os.ReadFile(log)
	return Delivered{Result: res, Invites: receivedInvites(string(b))}
}

// Sent returns when SIPp sent each request of method (INVITE, BYE…) in a message log
// (Result.Messages), in order; Received when it received them. SIPp stamps each message
// with this machine's clock, so the times of two SIPp runs compare: from a citizen's
// INVITE sent to an operator's phone's INVITE received is how long the caller waited for
// the phone to ring.
func Sent(messages, method string) []time.Time { return stamps(messages, "sent", method) }

// Received: see Sent.
func Received(messages, method string) []time.Time { return stamps(messages, "received", method) }

// stamps reads SIPp's message log: each message follows a line of dashes and its local
// time ("----… 2026-12-06 08:58:03.179763"), then "UDP message sent (N bytes):" or
// "UDP message received [N] bytes :", an empty line and the message.
func stamps(messages, dir, method string) []time.Time {
	var out []time.Time
	const rule = "----------------------------------------------- "
	for _, part := range strings.Split(messages, rule)[1:] {
		stamp, rest, _ := strings.Cut(part, "\n")
		kind, msg, _ := strings.Cut(rest, "\n")
		if !strings.Contains(kind, "message "+dir) || !strings.HasPrefix(strings.TrimLeft(msg, "\r\n"), method+" ") {
			continue
		}
		if t, err := time.ParseInLocation("2006-01-02 15:04:05.999999", strings.TrimSpace(stamp), time.Local); err == nil {
			out = append(out, t)
		}
	}
	return out
}

// receivedInvites picks the INVITEs out of SIPp's message log.
func receivedInvites(log string) []string {
	var out []string
	for _, part := range strings.Split(log, "message received [")[1:] {
		_, msg, ok := strings.Cut(part, "\n")
		if !ok {
			continue
		}
		msg = strings.TrimLeft(msg, "\r\n")
		if !strings.HasPrefix(msg, "INVITE ") {
			continue
		}
		if head, _, ok := strings.Cut(strings.ReplaceAll(msg, "\r\n", "\n"), "\n\n"); ok {
			msg = head
		}
		out = append(out, msg)
	}
	return out
}

// Header is the value of the first header name in a SIP message ("" when absent).
func Header(msg, name string) string {
	for _, line := range strings.Split(msg, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
