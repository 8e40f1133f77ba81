package ivr

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/auth/authtest"
	"github.com/rexian/rexian/ivr/aritest"
)

var (
	wang       = &auth.Principal{UserID: 1, Name: "wang", DisplayName: "王话务员", Role: auth.RoleOperator}
	li         = &auth.Principal{UserID: 2, Name: "li", DisplayName: "李话务员", Role: auth.RoleOperator}
	supervisor = &auth.Principal{UserID: 3, Name: "zhao", Role: auth.RoleSupervisor}
	dept       = &auth.Principal{UserID: 4, Name: "heat", Role: auth.RoleDepartment, DepartmentID: 1}
)

// api serves the handler for one principal on a real socket (SSE needs one).
func (h *harness) api(p *auth.Principal, withController bool) *httptest.Server {
	ctrl, lv := h.ctrl, h.ctrl.Live()
	if !withController {
		ctrl, lv = nil, NewLive(nil, testLogger(h.t))
	}
	return h.serve(p, ctrl, lv)
}

// serve serves the handler of controller ctrl (nil: none) and live store lv for p.
func (h *harness) serve(p *auth.Principal, ctrl *Controller, lv *Live) *httptest.Server {
	gin.SetMode(gin.TestMode)
	e := gin.New()
	g := e.Group("/api/v1", authtest.As(p))
	NewHandler(HandlerOptions{Controller: ctrl, Live: lv, DB: h.opts.DB, Settings: h.opts.Settings, Location: shanghai, Log: testLogger(h.t), Audit: h.audit}).Routes(g)
	srv := httptest.NewServer(e)
	h.t.Cleanup(srv.Close)
	return srv
}

func request(t *testing.T, srv *httptest.Server, method, path, body string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, srv.URL+"/api/v1"+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAgentAPI(t *testing.T) {
	h := newHarness(t)
	op := h.api(wang, true)
	tests := []struct {
		name, method, path, body string
		want                     int
		contains                 string
	}{
		{"no phone configured", "POST", "/ivr/agents/me/login", `{}`, 400, "no_phone"},
		{"not a dial string", "POST", "/ivr/agents/me/login", `{"phone":"8001"}`, 400, "invalid_phone"},
		{"unknown skill", "POST", "/ivr/agents/me/login", `{"phone":"PJSIP/8001","skills":["cooking"]}`, 400, "unknown_skill"},
		{"unknown field", "POST", "/ivr/agents/me/login", `{"phone":"PJSIP/8001","fone":1}`, 400, ""},
		{"state before login", "POST", "/ivr/agents/me/state", `{"state":"paused"}`, 409, "not_logged_in"},
		{"log in", "POST", "/ivr/agents/me/login", `{"phone":"PJSIP/8001","skills":["complaint"]}`, 200, `"state":"ready"`},
		{"pause", "POST", "/ivr/agents/me/state", `{"state":"paused","reason":"培训"}`, 200, `"state":"paused"`},
		{"bogus state", "POST", "/ivr/agents/me/state", `{"state":"asleep"}`, 400, "invalid_state"},
		{"reason not configured", "POST", "/ivr/agents/me/state", `{"state":"paused","reason":"打游戏"}`, 400, "invalid_reason"},
		{"reason changed while paused", "POST", "/ivr/agents/me/state", `{"state":"paused","reason":"就餐"}`, 200, `"reason":"就餐"`},
		{"ready", "POST", "/ivr/agents/me/state", `{"state":"ready"}`, 200, `"state":"ready"`},
		{"live picture", "GET", "/ivr/live", ``, 200, `"user":"wang"`},
		{"log out", "POST", "/ivr/agents/me/logout", ``, 204, ""},
		{"log out again", "POST", "/ivr/agents/me/logout", ``, 404, "not_logged_in"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := request(t, op, tc.method, tc.path, tc.body)
			if code != tc.want || !strings.Contains(body, tc.contains) {
				t.Fatalf("%s %s = %d %s; want %d containing %q", tc.method, tc.path, code, body, tc.want, tc.contains)
			}
		})
	}
	if code, _ := request(t, h.api(dept, true), "GET", "/ivr/live", ""); code != 403 {
		t.Errorf("a department user read the live picture: %d", code)
	}
	// An instance without the controller and no controller anywhere: a clear 503.
	if code, body := request(t, h.api(li, false), "POST", "/ivr/agents/me/login", `{"phone":"PJSIP/8002"}`); code != 503 || !strings.Contains(body, "ivr_off") {
		t.Errorf("login with no controller running = %d %s, want 503 ivr_off", code, body)
	}
}

func TestConfiguredOperatorPhone(t *testing.T) {
	h := newHarness(t, withSettings(func(s *cfgIVR) { s.Operators = []string{"wang=PJSIP/8011"} }))
	code, body := request(t, h.api(wang, true), "POST", "/ivr/agents/me/login", `{}`)
	if code != 200 || !strings.Contains(body, `"phone":"PJSIP/8011"`) {
		t.Fatalf("login with the configured phone = %d %s", code, body)
	}
}

func TestScreenPopOverServerSentEvents(t *testing.T) {
	h := newHarness(t)
	op := h.api(wang, true)
	other := h.api(li, true)
	h.srv.SetPhone("PJSIP/8001", aritest.Phone{AnswerAfter: 20 * time.Millisecond})
	if code, body := request(t, op, "POST", "/ivr/agents/me/login", `{"phone":"PJSIP/8001"}`); code != 200 {
		t.Fatalf("login = %d %s", code, body)
	}
	pops := func(srv *httptest.Server) <-chan string {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/ivr/events", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
			t.Fatalf("events content type %q", ct)
		}
		out := make(chan string, 16)
		go func() {
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			event := ""
			for sc.Scan() {
				line := sc.Text()
				if strings.HasPrefix(line, "event:") {
					event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
				}
				if strings.HasPrefix(line, "data:") && event == "screen_pop" {
					select {
					case out <- strings.TrimPrefix(line, "data:"):
					default:
					}
				}
			}
		}()
		return out
	}
	mine, theirs := pops(op), pops(other)
	h.eventually("both streams subscribe", func() bool { return h.ctrl.Live().Hub().Subscribers() == 2 })
	caller := h.dial("13812345678", "12345")
	caller.Press("0")
	select {
	case data := <-mine:
		var m Message
		if err := json.Unmarshal([]byte(data), &m); err != nil {
			t.Fatal(err)
		}
		if m.Pop == nil || m.Pop.Caller != "13812345678" || m.For != "wang" {
			t.Fatalf("screen-pop %s", data)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no screen-pop on the operator's event stream")
	}
	h.originated("PJSIP/8001")
	select {
	case data := <-theirs:
		t.Errorf("another operator got wang's screen-pop: %s", data)
	case <-time.After(100 * time.Millisecond):
	}
	caller.Hangup()
	h.idle()
}

func TestCallRecordsStatsTransferAndRecording(t *testing.T) {
	h := newHarness(t)
	op := h.api(wang, true)
	boss := h.api(supervisor, true)
	h.login("wang", "PJSIP/8001", aritest.Phone{})
	h.srv.SetPhone("Local/110@rexian-outbound", aritest.Phone{})

	answered := h.dial("13800000001", "12345")
	answered.Press("0")
	leg := h.originated("PJSIP/8001")
	h.eventually("bridged", func() bool { return leg.BridgeID() != "" && answered.BridgeID() == leg.BridgeID() })
	var rec Record
	h.eventually("record connected", func() bool {
		return h.opts.DB.Where("channel_id = ?", answered.ID()).First(&rec).Error == nil && rec.ConnectedAt != nil
	})
	id := itoa(rec.ID)
	if code, body := request(t, h.api(li, true), "POST", "/ivr/calls/"+id+"/transfer", `{"target":"110"}`); code != 403 {
		t.Errorf("another operator's transfer = %d %s, want 403", code, body)
	}
	if code, body := request(t, op, "POST", "/ivr/calls/"+id+"/transfer", `{"target":"911"}`); code != 400 || !strings.Contains(body, "unknown_target") {
		t.Errorf("transfer to 911 = %d %s, want 400 unknown_target", code, body)
	}
	if code, body := request(t, op, "POST", "/ivr/calls/"+id+"/transfer", `{"target":"110"}`); code != 202 {
		t.Fatalf("transfer = %d %s", code, body)
	}
	police := h.originated("Local/110@rexian-outbound")
	h.eventually("the police join", func() bool { return police.BridgeID() == answered.BridgeID() })
	answered.Hangup()
	police.Hangup()
	h.record(answered.ID())
	if code, body := request(t, op, "POST", "/ivr/calls/"+id+"/transfer", `{"target":"110"}`); code != 409 {
		t.Errorf("transfer of an ended call = %d %s, want 409", code, body)
	}

	abandoned := h.dial("13800000002", "12345")
	h.waitPlayed(abandoned, "menu-main")
	abandoned.Hangup()
	h.record(abandoned.ID())
	h.idle()

	code, body := request(t, boss, "GET", "/ivr/calls?outcome=answered", "")
	if code != 200 || !strings.Contains(body, `"caller":"13800000001"`) || strings.Contains(body, "13800000002") {
		t.Errorf("calls?outcome=answered = %d %s", code, body)
	}
	code, body = request(t, boss, "GET", "/ivr/calls/"+id, "")
	if code != 200 || !strings.Contains(body, `"transfer":"110"`) || !strings.Contains(body, `"operator":"wang"`) {
		t.Errorf("call %s = %d %s", id, code, body)
	}
	for path, want := range map[string]int{"/ivr/calls/999999": 404, "/ivr/calls/abc": 400, "/ivr/calls?from=yesterday": 400} {
		if code, body := request(t, boss, "GET", path, ""); code != want {
			t.Errorf("GET %s = %d %s, want %d", path, code, body, want)
		}
	}
	code, body = request(t, boss, "GET", "/ivr/stats", "")
	var s Stats
	if err := json.Unmarshal([]byte(body), &s); code != 200 || err != nil {
		t.Fatalf("stats = %d %s", code, body)
	}
	if s.Calls != 2 || s.Answered != 1 || s.Abandoned != 1 || s.AnswerRate != 0.5 || s.AbandonRate != 0.5 || s.InTarget != 1 {
		t.Errorf("stats %+v; want 2 calls, 1 answered (in target), 1 abandoned", s)
	}
	// The conversation recording streams from Asterisk.
	resp, err := http.Get(boss.URL + "/api/v1/ivr/calls/" + id + "/recording?kind=conversation")
	if err != nil {
		t.Fatal(err)
	}
	audio, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(audio) < 44 || string(audio[:4]) != "RIFF" {
		t.Errorf("recording = %d, %d bytes", resp.StatusCode, len(audio))
	}
}

// TestCallListFilters lists calls by direction, outcomes, ended and in_target, as the
// dashboards' call figures link to them, and refuses values it does not know.
func TestCallListFilters(t *testing.T) {
	h := newHarness(t)
	boss := h.api(supervisor, false)
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, shanghai).UTC()
	for i, c := range []struct {
		direction string
		outcome   Outcome
		inTarget  bool
	}{
		{"inbound", OutcomeAnswered, true}, {"inbound", OutcomeAnswered, false}, {"inbound", OutcomeAbandonedMenu, false},
		{"inbound", OutcomeAbandonedQueue, false}, {"inbound", OutcomeOngoing, false}, {"callback", OutcomeAnswered, true},
		{"survey", "survey_no_answer", false},
	} {
		rec := Record{Node: "n1", ChannelID: fmt.Sprint("f-", i), Caller: "13800000000", Dialled: "12345", Hotline: "12345",
			Direction: c.direction, ArrivedAt: at.Add(time.Duration(i) * time.Minute), Outcome: c.outcome, InTarget: c.inTarget}
		if err := h.opts.DB.Create(&rec).Error; err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		query string
		want  int
		code  string
		calls int
	}{
		{"direction=inbound", 200, "", 5},
		{"direction=inbound&ended=true", 200, "", 4},
		{"direction=inbound&ended=false", 200, "", 1},
		{"outcome=abandoned_menu,abandoned_queue", 200, "", 2},
		{"outcome=answered", 200, "", 3},
		{"outcome=answered&direction=inbound&in_target=true", 200, "", 1},
		{"in_target=false&ended=true", 200, "", 4},
		{"outcome=survey_no_answer", 200, "", 1},
		{"from=2026-11-23T10:02:00%2B08:00&to=2026-11-23T10:04:00%2B08:00", 200, "", 2},
		{"outcome=hung_up", 400, "invalid_outcome", 0},
		{"outcome=answered,", 400, "invalid_outcome", 0},
		{"direction=outbound", 400, "invalid_direction", 0},
		{"ended=yes", 400, "invalid_ended", 0},
		{"in_target=1x", 400, "invalid_in_target", 0},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			code, body := request(t, boss, "GET", "/ivr/calls?"+tc.query, "")
			var out struct {
				Calls []Record `json:"calls"`
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal([]byte(body), &out); err != nil || code != tc.want || out.Error.Code != tc.code || len(out.Calls) != tc.calls {
				t.Fatalf("GET /ivr/calls?%s = %d %s; want %d %q with %d calls", tc.query, code, body, tc.want, tc.code, tc.calls)
			}
			if code == 400 && tc.code == "invalid_outcome" && !strings.Contains(out.Error.Message, "abandoned_queue") {
				t.Errorf("the message does not list the valid outcomes: %s", out.Error.Message)
			}
		})
	}
}
