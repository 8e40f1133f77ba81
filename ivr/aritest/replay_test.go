package aritest_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rexian/rexian/ivr/aritest"
)

// The conformance tests replay the recorded transcripts in testdata/
// against the emulator: every REST request is sent again (ids translated),
// the outside world (callers dialling in, pressing keys, talking, hanging
// up; the agent's phone) is scripted from what the recording shows, and each
// request waits until the emulator has sent at least the events the
// recording had received before it. Then the answers are compared (status,
// error bodies, JSON key order, timestamp format) and the event types each
// channel received, in order.

// entry is one line of a transcript.
type entry struct {
	T         float64         `json:"t"`
	Dir       string          `json:"dir"`
	WS        int             `json:"ws"`
	Event     json.RawMessage `json:"event"`
	ID        int             `json:"id"`
	Method    string          `json:"method"`
	Path      string          `json:"path"`
	Body      json.RawMessage `json:"body"`
	Auth      string          `json:"auth"`
	Websocket bool            `json:"websocket"`
	Status    int             `json:"status"`
	BodySize  int             `json:"body_size"`
}

type evChannel struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	State    string `json:"state"`
	Caller   struct{ Name, Number string }
	Dialplan struct {
		Exten string `json:"exten"`
	} `json:"dialplan"`
}

// event is the part of an event the replay needs.
type event struct {
	Type     string     `json:"type"`
	Channel  *evChannel `json:"channel"`
	Peer     *evChannel `json:"peer"`
	Args     []string   `json:"args"`
	Cause    int        `json:"cause"`
	Soft     bool       `json:"soft"`
	Digit    string     `json:"digit"`
	Variable string     `json:"variable"`
	Playback *struct {
		ID     string `json:"id"`
		Target string `json:"target_uri"`
	} `json:"playback"`
	Recording *struct {
		Name     string `json:"name"`
		Target   string `json:"target_uri"`
		Duration int    `json:"duration"`
	} `json:"recording"`
	raw []byte
}

func parseEvent(raw []byte) event {
	var e event
	_ = json.Unmarshal(raw, &e)
	e.raw = raw
	return e
}

func (e event) channel() *evChannel {
	if e.Channel != nil {
		return e.Channel
	}
	return e.Peer
}

func loadTranscript(t *testing.T, name string) []entry {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("open transcript: %v", err)
	}
	defer f.Close()
	var out []entry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

var hexSuffix = regexp.MustCompile(`-[0-9a-f]{8}(;[12])?$`)

// role names a channel without its instance counter:
// "Local/13800138000@hotline-in;2".
func role(name string) string {
	return hexSuffix.ReplaceAllString(name, "$1")
}

// notEmulated are event types the emulator does not send (see the package
// documentation); they are left out of the comparisons.
var notEmulated = map[string]bool{
	"ChannelDialplan":      true,
	"ChannelCallerId":      true,
	"DeviceStateChanged":   true,
	"ChannelConnectedLine": true,
}

func emulatedEvent(e event) bool {
	if notEmulated[e.Type] {
		return false
	}
	if e.Type == "ChannelVarset" && (e.Variable == "BRIDGEPEER" || e.Variable == "PLAYBACKSTATUS") {
		return false
	}
	return true
}

// channelLog tracks channel ids by role in order of first appearance, for
// one side (recording or emulator).
type channelLog struct {
	byRole map[string][]string
	roleOf map[string]string
}

func newChannelLog() *channelLog {
	return &channelLog{byRole: map[string][]string{}, roleOf: map[string]string{}}
}

func (l *channelLog) see(id, name string) {
	if id == "" || name == "" {
		return
	}
	if _, ok := l.roleOf[id]; ok {
		return
	}
	r := role(name)
	l.roleOf[id] = r
	l.byRole[r] = append(l.byRole[r], id)
}

// key is "role#n": the n-th channel of that role.
func (l *channelLog) key(id string) string {
	r, ok := l.roleOf[id]
	if !ok {
		return ""
	}
	for i, x := range l.byRole[r] {
		if x == id {
			return fmt.Sprintf("%s#%d", r, i)
		}
	}
	return ""
}

// seeJSON learns channels from any JSON value (events, response bodies).
func (l *channelLog) seeJSON(v any) {
	switch x := v.(type) {
	case map[string]any:
		id, _ := x["id"].(string)
		name, _ := x["name"].(string)
		if _, isChan := x["dialplan"]; isChan {
			l.see(id, name)
		}
		for _, k := range []string{"channel", "peer"} {
			if c, ok := x[k]; ok {
				l.seeJSON(c)
			}
		}
	case []any:
		for _, e := range x {
			l.seeJSON(e)
		}
	}
}

type replay struct {
	t      *testing.T
	h      *harness
	name   string
	lines  []entry
	rec    *channelLog // the recording's channels
	emu    *channelLog // the emulator's channels
	ids    map[string]string
	socks  map[int]*stream
	order  []*stream
	dialed map[string]bool
	hung   map[string]bool // recording channel ids hung up (by request or script)
	upIDs  map[string]bool // recording channel ids in state Up
	speaks map[string]int  // recording name → duration in the recording
	// compared answers
	problems []string
}

// replayScale maps recorded time to emulated time: with Second = 50ms the
// emulator runs twenty times faster than the recording, which leaves the
// shortest recorded prompt (a 0.42 s beep) 21 ms to be stopped in.
const replayScale = 0.05

// recordedDurations measures how long each media item played in the
// recording; items that never finished there get a minute.
func recordedDurations(lines []entry) map[string]time.Duration {
	type start struct {
		uri string
		t   float64
	}
	started := map[string]start{}
	out := map[string]time.Duration{}
	unfinished := map[string]bool{}
	stopped := map[string]bool{} // playbacks the recording stopped or controlled
	for _, e := range lines {
		if e.Dir == "request" && strings.HasPrefix(e.Path, "/ari/playbacks/") {
			id, _, _ := strings.Cut(strings.TrimPrefix(e.Path, "/ari/playbacks/"), "/")
			stopped[id] = true
		}
		if e.Dir != "event" {
			continue
		}
		var ev struct {
			Type     string `json:"type"`
			Playback *struct {
				ID    string `json:"id"`
				Media string `json:"media_uri"`
				State string `json:"state"`
			} `json:"playback"`
		}
		if json.Unmarshal(e.Event, &ev) != nil || ev.Playback == nil {
			continue
		}
		switch ev.Type {
		case "PlaybackStarted":
			if _, running := started[ev.Playback.ID]; !running || ev.Playback.State == "playing" {
				started[ev.Playback.ID] = start{ev.Playback.Media, e.T}
			}
			unfinished[ev.Playback.Media] = true
		case "PlaybackContinuing", "PlaybackFinished":
			st, ok := started[ev.Playback.ID]
			if ok && !stopped[ev.Playback.ID] && (ev.Type == "PlaybackContinuing" || ev.Playback.State == "done") {
				d := time.Duration((e.T - st.t) * replayScale * float64(time.Millisecond))
				if d > out[st.uri] {
					out[st.uri] = d
				}
				delete(unfinished, st.uri)
			}
			delete(started, ev.Playback.ID)
		}
	}
	for uri := range unfinished {
		if out[uri] == 0 {
			out[uri] = time.Minute // stopped, hung up on or never finished
		}
	}
	return out
}

func newReplay(t *testing.T, file string) *replay {
	lines := loadTranscript(t, file)
	durations := recordedDurations(lines)
	opts := fastOptions()
	opts.Second = time.Duration(replayScale * float64(time.Second))
	opts.MediaDuration = func(uri string) time.Duration {
		if d, ok := durations[uri]; ok && d > 0 {
			// A floor keeps prompts the recording stopped at once
			// playing long enough for a slow machine to stop them too.
			return max(d, 100*time.Millisecond)
		}
		// Played only while no socket listened: a short prompt.
		return time.Duration(0.4 * replayScale * float64(time.Second))
	}
	h := newHarness(t, opts)
	h.srv.SetPhone("Local/s@sim-agent", aritest.Phone{AnswerAfter: 10 * time.Millisecond})
	h.srv.SetPhone("Local/noanswer@sim-agent", aritest.Phone{Never: true})
	h.srv.SetPhone("Local/busy@sim-agent", aritest.Phone{Busy: true})
	h.srv.SetPhone("Local/congest@sim-agent", aritest.Phone{Congested: true})
	h.srv.SetPhone("Local/nope@nowhere", aritest.Phone{Unreachable: true})
	r := &replay{
		t: t, h: h, name: file,
		lines:  lines,
		rec:    newChannelLog(),
		emu:    newChannelLog(),
		ids:    map[string]string{},
		socks:  map[int]*stream{},
		dialed: map[string]bool{},
		hung:   map[string]bool{},
		upIDs:  map[string]bool{},
		speaks: map[string]int{},
	}
	for _, e := range r.lines {
		if e.Dir == "event" {
			ev := parseEvent(e.Event)
			if ev.Type == "RecordingFinished" && ev.Recording != nil {
				r.speaks[ev.Recording.Name] = ev.Recording.Duration
			}
		}
	}
	return r
}

func (r *replay) problem(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
	if testing.Verbose() {
		r.t.Log(fmt.Sprintf(format, args...))
	}
}

// emuFrames are the frames every socket received, socket by socket.
func (r *replay) emuFrames() [][]byte {
	var out [][]byte
	for _, st := range r.order {
		out = append(out, st.frames()...)
	}
	return out
}

func (r *replay) learnEmulator() {
	for _, f := range r.emuFrames() {
		var v any
		if json.Unmarshal(f, &v) == nil {
			r.emu.seeJSON(v)
		}
	}
	for _, c := range r.h.srv.Channels() {
		r.emu.see(c.ID, c.Name)
	}
}

// mapID translates a recorded channel id to the emulator's.
func (r *replay) mapID(recID string) (string, bool) {
	if id, ok := r.ids[recID]; ok {
		return id, true
	}
	k := r.rec.key(recID)
	if k == "" {
		return "", false
	}
	r.learnEmulator()
	parts := strings.SplitN(k, "#", 2)
	var n int
	fmt.Sscan(parts[1], &n)
	ids := r.emu.byRole[parts[0]]
	if n < len(ids) {
		r.ids[recID] = ids[n]
		return ids[n], true
	}
	return "", false
}

var idToken = regexp.MustCompile(`\d{10}\.\d+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

func (r *replay) translate(s string) string {
	return idToken.ReplaceAllStringFunc(s, func(tok string) string {
		if id, ok := r.mapID(tok); ok {
			return id
		}
		if id, ok := r.ids[tok]; ok {
			return id
		}
		return tok
	})
}

// anchors counts the emulated events of each type.
func countTypes(frames [][]byte) map[string]int {
	n := map[string]int{}
	for _, f := range frames {
		e := parseEvent(f)
		if emulatedEvent(e) {
			n[e.Type]++
		}
	}
	return n
}

// waitAnchors waits until the emulator has sent at least as many events of
// each type as the recording had before line i.
func (r *replay) waitAnchors(i int) {
	var recFrames [][]byte
	for _, e := range r.lines[:i] {
		if e.Dir == "event" {
			recFrames = append(recFrames, e.Event)
		}
	}
	want := countTypes(recFrames)
	missing := ""
	err := pollUntil(r.h.ctx, time.Second, func() bool {
		got := countTypes(r.emuFrames())
		missing = ""
		for typ, n := range want {
			if got[typ] < n {
				missing = fmt.Sprintf("%s: %d of %d", typ, got[typ], n)
				return false
			}
		}
		return true
	})
	if err != nil {
		r.problem("line %d: events missing: %s", i+1, missing)
	}
}

func (r *replay) callFor(recID string) *aritest.Call {
	id, ok := r.mapID(recID)
	if !ok {
		return nil
	}
	call, _ := r.h.srv.Call(id)
	return call
}

// script performs what the outside world did at line i.
func (r *replay) script(i int, ev event) {
	ch := ev.channel()
	if ch == nil {
		if ev.Type == "RecordingStarted" && ev.Recording != nil && strings.HasPrefix(ev.Recording.Target, "channel:") {
			id := strings.TrimPrefix(ev.Recording.Target, "channel:")
			if strings.Contains(r.rec.roleOf[id], "@hotline-in") {
				r.waitAnchors(i + 1)
				if call := r.callFor(id); call != nil {
					call.Speak(time.Duration(r.speaks[ev.Recording.Name])*time.Second + 650*time.Millisecond)
				}
			}
		}
		return
	}
	rl := role(ch.Name)
	pair, leg2 := r.pairOf(ch.ID)
	incoming := strings.Contains(rl, "@hotline-in;")
	switch {
	case incoming && !r.dialed[pair]:
		r.dialed[pair] = true
		caller := r.callerAfter(i, strings.TrimSuffix(strings.TrimSuffix(rl, ";1"), ";2")+";2")
		r.waitAnchors(i)
		if _, err := r.h.srv.Dial(r.h.ctx, caller); err != nil {
			r.problem("line %d: Dial: %v", i+1, err)
		}
		r.learnEmulator()
	case strings.HasSuffix(rl, "@hotline-in;2") && ev.Type == "ChannelDtmfReceived":
		r.waitAnchors(i)
		if call := r.callFor(ch.ID); call != nil {
			call.Press(ev.Digit)
		}
	case incoming && ev.Type == "ChannelHangupRequest" && ev.Cause == 16 && leg2 != "" && !r.hung[leg2]:
		// The caller hangs up: the first hang-up event of the pair.
		r.hung[leg2] = true
		r.waitAnchors(i)
		if call := r.callFor(leg2); call != nil {
			call.Hangup()
		}
	case strings.HasSuffix(rl, "@sim-agent;2") && ev.Type == "ChannelHangupRequest" && ev.Soft && !r.hung[ch.ID]:
		r.hung[ch.ID] = true
		leg := r.peerLeg(ch.ID)
		if leg == "" || !r.upIDs[leg] || r.hung[leg] {
			return
		}
		r.waitAnchors(i)
		if call := r.callFor(leg); call != nil {
			call.Hangup()
		}
	}
	if ev.Type == "ChannelStateChange" || ev.Type == "StasisStart" {
		r.upIDs[ch.ID] = ch.State == "Up"
	}
}

// peerLeg finds the ;1 id of the pair a ;2 recorded id belongs to.
func (r *replay) peerLeg(id2 string) string {
	k := r.rec.key(id2)
	if k == "" {
		return ""
	}
	parts := strings.SplitN(k, "#", 2)
	var n int
	fmt.Sscan(parts[1], &n)
	ones := r.rec.byRole[strings.TrimSuffix(parts[0], ";2")+";1"]
	if n < len(ones) {
		return ones[n]
	}
	return ""
}

// pairOf names the Local pair a recorded channel belongs to and returns
// the pair's ;2 id when the recording has shown it.
func (r *replay) pairOf(id string) (pair, leg2 string) {
	k := r.rec.key(id)
	parts := strings.SplitN(k, "#", 2)
	if len(parts) != 2 {
		return "", ""
	}
	base := strings.TrimSuffix(strings.TrimSuffix(parts[0], ";1"), ";2")
	var n int
	fmt.Sscan(parts[1], &n)
	if twos := r.rec.byRole[base+";2"]; n < len(twos) {
		leg2 = twos[n]
	}
	return base + "#" + parts[1], leg2
}

// callerAfter builds the scripted caller from the next StasisStart of a
// channel of role leg2Role.
func (r *replay) callerAfter(i int, leg2Role string) aritest.Caller {
	for _, e := range r.lines[i:] {
		if e.Dir != "event" {
			continue
		}
		ev := parseEvent(e.Event)
		if ev.Type == "StasisStart" && ev.Channel != nil && role(ev.Channel.Name) == leg2Role {
			return aritest.Caller{
				Number:  ev.Channel.Caller.Number,
				Name:    ev.Channel.Caller.Name,
				Dialled: ev.Channel.Dialplan.Exten,
				Args:    ev.Args,
			}
		}
	}
	r.problem("line %d: no StasisStart for %s", i+1, leg2Role)
	return aritest.Caller{}
}

// request replays one REST request or websocket action and compares.
func (r *replay) request(i int, req entry, resp *entry) {
	r.waitAnchors(i)
	switch {
	case req.Websocket && req.Method == "GET":
		st := r.h.connect(strings.Contains(req.Path, "subscribeAll=true"))
		r.socks[len(r.order)+1] = st
		r.order = append(r.order, st)
		return
	case req.Method == "CLOSE":
		if st := r.socks[req.WS]; st != nil {
			before := r.h.srv.Sockets()
			st.close()
			// The server notices the close asynchronously.
			if err := pollUntil(r.h.ctx, 3*time.Second, func() bool { return r.h.srv.Sockets() < before }); err != nil {
				r.problem("line %d: socket close not noticed", i+1)
			}
			r.hangUpUnseen(i)
		}
		return
	}
	if resp == nil {
		return
	}
	// A caller who hung up while no socket was connected left no trace in
	// the recording; script that hang-up when the recording finds the
	// channel gone.
	if resp.Status == 404 && strings.Contains(string(resp.Body), "Channel not found") {
		if m := idToken.FindString(req.Path); m != "" && !r.hung[m] {
			if call := r.callFor(m); call != nil && call.State() != "" {
				call.Hangup()
			}
			r.hung[m] = true
		}
	}
	path := r.translate(req.Path)
	body := ""
	if len(req.Body) > 0 {
		body = r.translate(string(req.Body))
	}
	httpReq, err := http.NewRequestWithContext(r.h.ctx, req.Method, strings.TrimSuffix(r.h.srv.URL(), "/ari")+path, strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	if body != "" {
		httpReq.Header.Set("Content-Type", "application/json")
	}
	switch {
	case req.Auth == "none":
	case strings.HasPrefix(req.Auth, "Basic "):
		httpReq.Header.Set("Authorization", req.Auth)
	default:
		httpReq.SetBasicAuth("hotline", "hotline")
	}
	if req.Method == "DELETE" {
		if m := idToken.FindString(req.Path); m != "" {
			r.hung[m] = true
		}
	}
	hr, err := http.DefaultClient.Do(httpReq)
	if err != nil {
		r.t.Fatalf("%s %s: %v", req.Method, path, err)
	}
	got, _ := io.ReadAll(hr.Body)
	hr.Body.Close()
	where := fmt.Sprintf("line %d %s %s", i+1, req.Method, req.Path)
	if expectedDivergence(r.name, req) {
		return
	}
	if hr.StatusCode != resp.Status {
		r.problem("%s: status %d, recorded %d (%s)", where, hr.StatusCode, resp.Status, got)
		return
	}
	if ct := hr.Header.Get("Content-Type"); (len(resp.Body) > 0 || resp.BodySize > 0) != (ct != "") {
		r.problem("%s: content type %q", where, ct)
	}
	if len(resp.Body) == 0 {
		if len(got) != 0 && resp.BodySize == 0 {
			r.problem("%s: body %s, recorded none", where, got)
		}
		return
	}
	if resp.Status >= 400 {
		if !bytes.Equal(bytes.TrimSpace(got), resp.Body) {
			r.problem("%s: error body %s, recorded %s", where, got, resp.Body)
		}
		return
	}
	var gotV, wantV any
	if err := json.Unmarshal(got, &gotV); err != nil {
		r.problem("%s: response is not JSON: %s", where, got)
		return
	}
	_ = json.Unmarshal(resp.Body, &wantV)
	r.emu.seeJSON(gotV)
	r.learnIDs(resp.Body, got)
	if ws, gs := skeletonOf(r.t, resp.Body), skeletonOf(r.t, got); !skeletonCompatible(ws, gs) {
		r.problem("%s: key order\n recorded %s\n emulator %s", where, ws, gs)
	}
	checkTimestamps(r, where, got)
}

// hangUpUnseen scripts hang-ups the recording could not show: a channel
// that a later request finds gone (404) although no event after line i
// mentions it hung up while no socket was connected.
func (r *replay) hangUpUnseen(i int) {
	for j := i + 1; j < len(r.lines); j++ {
		e := r.lines[j]
		if e.Dir != "response" || e.Status != 404 || !strings.Contains(string(e.Body), "Channel not found") {
			continue
		}
		id := idToken.FindString(e.Path)
		if id == "" || r.hung[id] || r.mentionedAfter(i, id) {
			continue
		}
		r.hung[id] = true
		if call := r.callFor(id); call != nil {
			call.Hangup()
		}
	}
}

func (r *replay) mentionedAfter(i int, id string) bool {
	for _, e := range r.lines[i+1:] {
		if e.Dir == "event" && bytes.Contains(e.Event, []byte(`"`+id+`"`)) {
			return true
		}
	}
	return false
}

// learnIDs maps playback and bridge ids from a response pair.
func (r *replay) learnIDs(rec, emu []byte) {
	var a, b map[string]any
	if json.Unmarshal(rec, &a) != nil || json.Unmarshal(emu, &b) != nil {
		return
	}
	ra, _ := a["id"].(string)
	rb, _ := b["id"].(string)
	if ra != "" && rb != "" {
		if _, isChan := a["dialplan"]; !isChan {
			r.ids[ra] = rb
		}
	}
}

// skeletonOf renders a JSON value's keys in order, recursively; array
// items collapse to their distinct skeletons.
func skeletonOf(t *testing.T, data []byte) string {
	dec := json.NewDecoder(bytes.NewReader(data))
	var sb strings.Builder
	var walk func() error
	walk = func() error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch d := tok.(type) {
		case json.Delim:
			switch d {
			case '{':
				sb.WriteByte('{')
				first := true
				for dec.More() {
					k, err := dec.Token()
					if err != nil {
						return err
					}
					if !first {
						sb.WriteByte(',')
					}
					first = false
					sb.WriteString(k.(string))
					sb.WriteByte(':')
					if err := walk(); err != nil {
						return err
					}
				}
				_, err := dec.Token()
				sb.WriteByte('}')
				return err
			case '[':
				seen := map[string]bool{}
				var items []string
				for dec.More() {
					save := sb.String()
					sb.Reset()
					if err := walk(); err != nil {
						return err
					}
					item := sb.String()
					sb.Reset()
					sb.WriteString(save)
					if !seen[item] {
						seen[item] = true
						items = append(items, item)
					}
				}
				_, err := dec.Token()
				sb.WriteString("[" + strings.Join(items, "|") + "]")
				return err
			}
		case string:
			sb.WriteString("s")
		case float64:
			sb.WriteString("n")
		case bool:
			sb.WriteString("b")
		case nil:
			sb.WriteString("null")
		}
		return nil
	}
	if err := walk(); err != nil {
		t.Fatalf("skeleton of %s: %v", data, err)
	}
	return sb.String()
}

// skeletonCompatible accepts an empty array against a filled one and the
// other way round (lists whose content differs between runs).
func skeletonCompatible(want, got string) bool {
	if want == got {
		return true
	}
	norm := regexp.MustCompile(`\[[^\[\]]*\]`)
	for i := 0; i < 3; i++ {
		want = norm.ReplaceAllString(want, "[]")
		got = norm.ReplaceAllString(got, "[]")
	}
	return want == got
}

var tsFormat = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$`)

func checkTimestamps(r *replay, where string, data []byte) {
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && (k == "timestamp" || k == "creationtime" || strings.HasSuffix(k, "_time")) {
					if !tsFormat.MatchString(s) {
						r.problem("%s: %s %q not in Asterisk's format", where, k, s)
					}
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	var v any
	_ = json.Unmarshal(data, &v)
	walk(v)
}

// expectedDivergence lists the recorded exchanges the emulator answers
// differently on purpose.
func expectedDivergence(file string, req entry) bool {
	// The recording's Asterisk had no chan_pjsip, so PJSIP/100 failed to
	// allocate; the emulator treats PJSIP as a loaded technology because
	// operators' phones are PJSIP endpoints.
	return strings.Contains(req.Path, "endpoint=PJSIP/100")
}

// run replays the whole transcript.
func (r *replay) run() {
	pending := map[int]int{} // request id → line
	start := time.Now()
	for i, e := range r.lines {
		r.pace(start, e.T)
		switch e.Dir {
		case "event":
			var v any
			_ = json.Unmarshal(e.Event, &v)
			r.rec.seeJSON(v)
			ev := parseEvent(e.Event)
			r.script(i, ev)
		case "request":
			pending[e.ID] = i
			var resp *entry
			for j := i + 1; j < len(r.lines); j++ {
				if r.lines[j].Dir == "response" && r.lines[j].ID == e.ID {
					resp = &r.lines[j]
					break
				}
			}
			if resp != nil && len(resp.Body) > 0 {
				var v any
				_ = json.Unmarshal(resp.Body, &v)
				r.rec.seeJSON(v)
			}
			r.request(i, e, resp)
		}
	}
	r.waitAnchors(len(r.lines))
}

// pace follows the recording's timeline, scaled: the emulator's timers
// (media, timeouts) then run in the same order relative to the script.
func (r *replay) pace(start time.Time, ms float64) {
	at := start.Add(time.Duration(ms * replayScale * float64(time.Millisecond)))
	wait := time.Until(at)
	if wait <= 0 {
		return
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-r.h.ctx.Done():
	}
}

// sequences groups emulated event types by channel role and instance;
// playback and recording events count for their target channel.
func sequences(frames [][]byte, log *channelLog) map[string][]string {
	out := map[string][]string{}
	for _, f := range frames {
		e := parseEvent(f)
		if !emulatedEvent(e) {
			continue
		}
		var v any
		_ = json.Unmarshal(f, &v)
		log.seeJSON(v)
		id := ""
		switch {
		case e.channel() != nil:
			id = e.channel().ID
		case e.Playback != nil:
			id = strings.TrimPrefix(e.Playback.Target, "channel:")
		case e.Recording != nil:
			id = strings.TrimPrefix(e.Recording.Target, "channel:")
		}
		k := log.key(id)
		if k == "" {
			k = "(other)"
		}
		out[k] = append(out[k], e.Type+"("+detail(f)+")")
	}
	return out
}

// detail is what an event says beyond its type that a controller acts on:
// states, causes, dial statuses, digits, variables, Stasis arguments.
func detail(frame []byte) string {
	var e struct {
		Type     string `json:"type"`
		Cause    *int   `json:"cause"`
		Soft     bool   `json:"soft"`
		Dial     string `json:"dialstatus"`
		Digit    string `json:"digit"`
		Variable string `json:"variable"`
		Value    string `json:"value"`
		Args     []string
		Channel  *struct {
			State string `json:"state"`
		} `json:"channel"`
		Playback *struct {
			State string `json:"state"`
			Media string `json:"media_uri"`
		} `json:"playback"`
		Recording *struct {
			State string `json:"state"`
		} `json:"recording"`
	}
	_ = json.Unmarshal(frame, &e)
	switch e.Type {
	case "ChannelStateChange":
		return e.Channel.State
	case "Dial":
		return e.Dial
	case "ChannelHangupRequest":
		return fmt.Sprintf("%d soft=%v", *e.Cause, e.Soft)
	case "ChannelDestroyed":
		return fmt.Sprint(*e.Cause)
	case "ChannelDtmfReceived":
		return e.Digit
	case "ChannelVarset":
		return e.Variable + "=" + e.Value
	case "StasisStart":
		return e.Channel.State + " " + strings.Join(e.Args, ",")
	}
	if e.Playback != nil {
		return e.Playback.State + " " + e.Playback.Media
	}
	if e.Recording != nil {
		return e.Recording.State
	}
	return ""
}

// unordered are groups of event types whose relative order Asterisk does
// not keep from one run to the next (the recordings show both orders):
// within a run of adjacent events of one group, the order is not compared.
var unordered = [][]string{
	{"ChannelStateChange", "Dial"},
}

func canonical(seqs map[string][]string) map[string][]string {
	byType := map[string]int{}
	for i, g := range unordered {
		for _, typ := range g {
			byType[typ] = i + 1
		}
	}
	groupOf := func(ev string) int {
		typ, _, _ := strings.Cut(ev, "(")
		return byType[typ]
	}
	out := map[string][]string{}
	for k, seq := range seqs {
		seq = append([]string(nil), seq...)
		for i := 0; i < len(seq); {
			j := i
			for j < len(seq) && groupOf(seq[j]) != 0 && groupOf(seq[j]) == groupOf(seq[i]) {
				j++
			}
			if j > i+1 {
				sort.Strings(seq[i:j])
			}
			if j == i {
				j++
			}
			i = j
		}
		out[k] = seq
	}
	return out
}

// skeletons collects the key skeletons of each event type.
func eventSkeletons(t *testing.T, frames [][]byte) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, f := range frames {
		typ := eventTypeOf(f)
		if out[typ] == nil {
			out[typ] = map[string]bool{}
		}
		out[typ][skeletonOf(t, f)] = true
	}
	return out
}

func TestConformance(t *testing.T) {
	files := []string{
		"answer-play-hangup.jsonl",
		"answer-play-hangup.no-subscribeall.jsonl",
		"hangup-mid-playback.jsonl",
		"hangup-mid-playback.no-subscribeall.jsonl",
		"dtmf-bargein.jsonl",
		"record-message.jsonl",
		"record-message.no-subscribeall.jsonl",
		"bridge-agent.jsonl",
		"bridge-agent.no-subscribeall.jsonl",
		"bridge-agent-failures.jsonl",
		"bridge-agent-failures.no-subscribeall.jsonl",
		"misc.jsonl",
		"reconnect.jsonl",
		"reconnect.no-subscribeall.jsonl",
	}
	// Key skeletons of every recorded event type, from all transcripts.
	recSkeletons := map[string]map[string]bool{}
	for _, f := range files {
		var frames [][]byte
		for _, e := range loadTranscript(t, f) {
			if e.Dir == "event" {
				frames = append(frames, e.Event)
			}
		}
		for typ, set := range eventSkeletons(t, frames) {
			if recSkeletons[typ] == nil {
				recSkeletons[typ] = map[string]bool{}
			}
			for s := range set {
				recSkeletons[typ][s] = true
			}
		}
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(f, ".jsonl"), func(t *testing.T) {
			r := newReplay(t, f)
			r.run()
			var recFrames [][]byte
			for _, e := range r.lines {
				if e.Dir == "event" {
					recFrames = append(recFrames, e.Event)
				}
			}
			emuFrames := r.emuFrames()
			want := canonical(sequences(recFrames, newChannelLog()))
			got := canonical(sequences(emuFrames, newChannelLog()))
			for k := range got {
				if strings.HasPrefix(k, "PJSIP/100") {
					delete(got, k) // see expectedDivergence
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("event types per channel (-recorded +emulator):\n%s", diff)
			}
			for typ, set := range eventSkeletons(t, emuFrames) {
				for s := range set {
					if !recSkeletons[typ][s] && !skeletonInSet(s, recSkeletons[typ]) {
						t.Errorf("%s key order %s not among recorded %v", typ, s, keys(recSkeletons[typ]))
					}
				}
			}
			for _, f := range emuFrames {
				checkTimestamps(r, "event "+eventTypeOf(f), f)
			}
			for _, p := range r.problems {
				t.Error(p)
			}
		})
	}
}

func skeletonInSet(s string, set map[string]bool) bool {
	for w := range set {
		if skeletonCompatible(w, s) {
			return true
		}
	}
	return false
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
