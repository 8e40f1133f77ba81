package aritest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/rexian/rexian/ivr/aritest"
)

// recordedAnswers collects every (status, body) error answer in the
// transcripts, so that the table below cannot drift from the recording.
func recordedAnswers(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, f := range []string{"misc.jsonl", "record-message.jsonl", "hangup-mid-playback.jsonl", "reconnect.jsonl", "bridge-agent.jsonl"} {
		for _, e := range loadTranscript(t, f) {
			if e.Dir == "response" && e.Status >= 400 {
				out[fmt.Sprintf("%d %s", e.Status, e.Body)] = true
			}
		}
	}
	return out
}

func TestErrorAnswers(t *testing.T) {
	h := newHarness(t, fastOptions())
	st := h.connect(true)
	live, err := h.srv.Dial(h.ctx, aritest.Caller{Number: "13800138004", Name: "Citizen 13800138004", Dialled: "13800138004", Args: []string{}})
	must(t, err, "Dial")
	st.stasisStart(h.ctx)
	gone, err := h.srv.Dial(h.ctx, aritest.Caller{Number: "13800138010", Dialled: "13800138010"})
	must(t, err, "Dial")
	st.stasisStart(h.ctx)
	gone.Hangup()
	<-gone.Done()
	var leg1 string
	for _, c := range h.srv.Channels() {
		if strings.HasSuffix(c.Name, ";1") && strings.Contains(c.Name, "13800138004") {
			leg1 = c.ID
		}
	}
	status, body := h.do("POST", "/ari/bridges?type=mixing", "")
	if status != 200 {
		t.Fatalf("create bridge: %d %s", status, body)
	}
	var br struct{ ID string }
	must(t, json.Unmarshal([]byte(body), &br), "bridge body")
	status, _ = h.do("POST", "/ari/recordings/stored/x/copy?destinationRecordingName=y", "")
	if status != 404 {
		t.Fatalf("copy of a missing recording: %d", status)
	}
	status, body = h.do("POST", "/ari/channels/"+live.ID()+"/record?name=err-existing&format=wav&maxDurationSeconds=1", "")
	if status != 201 {
		t.Fatalf("record: %d %s", status, body)
	}
	must(t, pollUntil(h.ctx, testTimeout, func() bool { return len(h.srv.StoredRecordings()) == 1 }), "recording stored")

	expand := func(p string) string {
		return strings.NewReplacer("{ch}", live.ID(), "{leg1}", leg1, "{gone}", gone.ID(), "{br}", br.ID).Replace(p)
	}
	tests := []struct {
		name     string
		method   string
		path     string
		body     string
		auth     string // "", "none" or a user:password
		status   int
		want     string
		recorded bool // the same answer is in the transcripts
	}{
		{"no auth", "GET", "/ari/channels", "", "none", 401, `{"message":"Authentication required"}`, true},
		{"wrong password", "GET", "/ari/channels", "", "hotline:wrong", 401, `{"message":"Authentication required"}`, true},
		{"unknown route", "GET", "/ari/nonexistent", "", "", 404, `{"message":"Resource not found"}`, true},
		{"unknown channel", "GET", "/ari/channels/no-such-channel", "", "", 404, `{"message":"Channel not found"}`, true},
		{"gone channel delete", "DELETE", "/ari/channels/{gone}", "", "", 404, `{"message":"Channel not found"}`, true},
		{"gone channel answer", "POST", "/ari/channels/{gone}/answer", "", "", 404, `{"message":"Channel not found"}`, true},
		{"gone channel play", "POST", "/ari/channels/{gone}/play?media=sound:hello-world", "", "", 404, `{"message":"Channel not found"}`, true},
		{"gone channel ring", "POST", "/ari/channels/{gone}/ring", "", "", 404, `{"message":"Channel not found"}`, true},
		{"gone channel moh", "POST", "/ari/channels/{gone}/moh", "", "", 404, `{"message":"Channel not found"}`, true},
		{"gone channel set variable", "POST", "/ari/channels/{gone}/variable?variable=X&value=1", "", "", 404, `{"message":"Channel not found"}`, true},
		{"gone channel get variable", "GET", "/ari/channels/{gone}/variable?variable=X", "", "", 404, `{"message":"Provided channel was not found"}`, true},
		{"gone channel record", "POST", "/ari/channels/{gone}/record?name=gone&format=wav", "", "", 404, `{"message":"Channel not found"}`, true},
		{"gone channel dtmf", "POST", "/ari/channels/{gone}/dtmf?dtmf=1", "", "", 404, `{"message":"Channel not found"}`, true},
		{"gone channel continue", "POST", "/ari/channels/{gone}/continue", "", "", 404, `{"message":"Channel not found"}`, true},
		{"leg not in stasis play", "POST", "/ari/channels/{leg1}/play?media=sound:beep", "", "", 409, `{"message":"Channel not in Stasis application"}`, true},
		{"leg not in stasis answer", "POST", "/ari/channels/{leg1}/answer", "", "", 409, `{"message":"Channel not in Stasis application"}`, true},
		{"leg not in stasis variable", "POST", "/ari/channels/{leg1}/variable?variable=X&value=1", "", "", 409, `{"message":"Channel not in Stasis application"}`, true},
		{"unset variable", "GET", "/ari/channels/{ch}/variable?variable=NOT_SET_VAR", "", "", 404, `{"message":"Provided variable was not found"}`, true},
		{"variable without name", "GET", "/ari/channels/{ch}/variable", "", "", 400, `{"message":"Variable name is required"}`, true},
		{"set variable without name", "POST", "/ari/channels/{ch}/variable?value=x", "", "", 400, `{"message":"Variable name is required"}`, true},
		{"play without media", "POST", "/ari/channels/{ch}/play", "", "", 500, `{"message":"Failed to queue media for playback"}`, true},
		{"record existing, ifExists=fail", "POST", "/ari/channels/{ch}/record?name=err-existing&format=wav&ifExists=fail", "", "", 409, `{"message":"Recording 'err-existing' already exists and can not be overwritten"}`, false},
		{"record unknown format", "POST", "/ari/channels/{ch}/record?name=misc-badfmt&format=xyz", "", "", 422, `{"message":"specified format is unknown on this system"}`, true},
		{"record without name", "POST", "/ari/channels/{ch}/record?format=wav", "", "", 500, `{"message":"Error parsing request"}`, true},
		{"originate unknown technology", "POST", "/ari/channels?endpoint=Bogus/123&app=hotline", "", "", 500, `{"error":"Allocation failed"}`, true},
		{"originate invalid endpoint", "POST", "/ari/channels?endpoint=nope&app=hotline", "", "", 400, `{"message":"Invalid endpoint specified"}`, true},
		{"originate without app", "POST", "/ari/channels?endpoint=Local/s@sim-agent", "", "", 400, `{"message":"Application or extension must be specified"}`, true},
		{"originate without endpoint", "POST", "/ari/channels?app=hotline", "", "", 400, `{"message":"Endpoint must be specified"}`, true},
		{"create unknown technology", "POST", "/ari/channels/create?endpoint=Bogus/123&app=hotline", "", "", 500, `{"error":"Allocation failed"}`, true},
		{"add to unknown bridge", "POST", "/ari/bridges/no-such-bridge/addChannel?channel={ch}", "", "", 404, `{"message":"Bridge not found"}`, true},
		{"delete unknown bridge", "DELETE", "/ari/bridges/no-such-bridge", "", "", 404, `{"message":"Bridge not found"}`, true},
		{"get unknown bridge", "GET", "/ari/bridges/no-such-bridge", "", "", 404, `{"message":"Bridge not found"}`, true},
		{"add unknown channel", "POST", "/ari/bridges/{br}/addChannel?channel=no-such-channel", "", "", 400, `{"message":"Channel not found"}`, true},
		{"add without channel", "POST", "/ari/bridges/{br}/addChannel", "", "", 400, `{"message":"Missing parameter channel"}`, true},
		{"remove non-member", "POST", "/ari/bridges/{br}/removeChannel?channel={ch}", "", "", 422, `{"message":"Channel not in this bridge"}`, true},
		{"bogus bridge type", "POST", "/ari/bridges?type=bogus", "", "", 500, `{"message":"Unable to create bridge. Possible duplicate bridge id '(null)'"}`, true},
		{"unknown playback", "GET", "/ari/playbacks/no-such-playback", "", "", 404, `{"message":"Playback not found"}`, true},
		{"stop unknown playback", "DELETE", "/ari/playbacks/no-such-playback", "", "", 404, `{"message":"Playback not found"}`, true},
		{"control unknown playback", "POST", "/ari/playbacks/no-such-playback/control?operation=pause", "", "", 404, `{"message":"Playback not found"}`, true},
		{"unknown live recording", "GET", "/ari/recordings/live/no-such-rec", "", "", 404, `{"message":"Recording not found"}`, true},
		{"unknown stored recording", "GET", "/ari/recordings/stored/no-such-recording", "", "", 404, `{"message":"Recording not found"}`, true},
		{"unknown stored file", "GET", "/ari/recordings/stored/no-such-recording/file", "", "", 404, `{"message":"Recording not found"}`, true},
		{"copy onto existing", "POST", "/ari/recordings/stored/err-existing/copy?destinationRecordingName=err-existing", "", "", 409, `{"message":"A recording with the same name already exists on the system"}`, true},
		{"unescaped slash", "POST", "/ari/recordings/live/hotline/misc-sub/stop", "", "", 404, `{"message":"Resource not found"}`, true},
		{"unknown sound", "GET", "/ari/sounds/no-such-sound", "", "", 404, `{"message":"Sound not found"}`, true},
		{"unknown application", "GET", "/ari/applications/other", "", "", 404, `{"message":"Application not found"}`, true},
		{"invalid hang-up reason", "DELETE", "/ari/channels/{ch}?reason=bogus", "", "", 400, `{"message":"Invalid reason for hangup provided"}`, false},
		{"JSON body, missing variable name", "POST", "/ari/channels/{ch}/variable", `{"value":"x"}`, "", 400, `{"message":"Variable name is required"}`, true},
	}
	recorded := recordedAnswers(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(h.ctx, tt.method, strings.TrimSuffix(h.srv.URL(), "/ari")+expand(tt.path), strings.NewReader(tt.body))
			must(t, err, "request")
			switch tt.auth {
			case "none":
			case "":
				req.SetBasicAuth("hotline", "hotline")
			default:
				user, pass, _ := strings.Cut(tt.auth, ":")
				req.SetBasicAuth(user, pass)
			}
			resp, err := http.DefaultClient.Do(req)
			must(t, err, "do")
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			must(t, err, "read body")
			if resp.StatusCode != tt.status || string(got) != tt.want {
				t.Errorf("%s %s = %d %s, want %d %s", tt.method, tt.path, resp.StatusCode, got, tt.status, tt.want)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if tt.status == 401 && resp.Header.Get("WWW-Authenticate") != `Basic realm="Asterisk REST Interface"` {
				t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
			if tt.recorded && !recorded[fmt.Sprintf("%d %s", tt.status, tt.want)] {
				t.Errorf("answer %d %s is not in the transcripts", tt.status, tt.want)
			}
		})
	}
	// The same checks through the native client: it reports the status.
	_, err = h.cl.Channel().Data(key("channel", gone.ID()))
	if codeOf(err) != 404 {
		t.Errorf("native Data of a gone channel: %v", err)
	}
	if live.State() != "Ring" {
		t.Errorf("the error requests changed the live call: %s", live.State())
	}
}

// TestRecordingFolderMissing: a spool without recording/ makes every record
// request fail at once with the answer the real Asterisk gives, for channels
// and bridges, and starts no recording; with the folder back, recording works.
func TestRecordingFolderMissing(t *testing.T) {
	opts := fastOptions()
	opts.NoRecordingFolder = true
	h := newHarness(t, opts)
	st := h.connect(false)
	call, err := h.srv.Dial(h.ctx, aritest.Caller{Number: "13800138002", Dialled: "12345"})
	must(t, err, "Dial")
	st.stasisStart(h.ctx)
	status, body := h.do("POST", "/ari/bridges?type=mixing", "")
	if status != 200 {
		t.Fatalf("create bridge: %d %s", status, body)
	}
	var br struct{ ID string }
	must(t, json.Unmarshal([]byte(body), &br), "bridge body")

	const channel = `{"message":"Unrecognized recording error: No such file or directory"}`
	for p, want := range map[string]string{
		"/ari/channels/" + call.ID() + "/record?name=msg-1&format=wav&maxDurationSeconds=30&beep=true&terminateOn=%23&ifExists=overwrite": channel,
		"/ari/channels/" + call.ID() + "/record?name=hotline%2Fmsg-2&format=wav":                                                          channel,
		"/ari/bridges/" + br.ID + "/record?name=conv-1&format=wav":                                                                        `{"message":"Internal Server Error"}`,
	} {
		if status, body := h.do("POST", p, ""); status != 500 || body != want {
			t.Errorf("POST %s = %d %s, want 500 %s", p, status, body, want)
		}
	}
	if status, _ := h.do("GET", "/ari/recordings/live/msg-1", ""); status != 404 {
		t.Errorf("a refused recording is live: %d", status)
	}
	h.srv.SetRecordingFolder(true)
	if status, body := h.do("POST", "/ari/channels/"+call.ID()+"/record?name=msg-3&format=wav&maxDurationSeconds=1", ""); status != 201 {
		t.Errorf("record with the folder back: %d %s", status, body)
	}
}
