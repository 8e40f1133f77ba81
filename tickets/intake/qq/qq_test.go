package qq

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/live/livetest"
	"github.com/rexian/rexian/tickets"
	"github.com/rexian/rexian/tickets/ticketstest"
)

const (
	secret = "onebot-secret"
	token  = "onebot-token"
	self   = 10001
)

var desk = &auth.Principal{UserID: 1, Name: "wang", Role: auth.RoleOperator}

// call is one API call the fake OneBot received.
type call struct {
	Action  string
	UserID  int64   `json:"user_id"`
	GroupID int64   `json:"group_id"`
	Message Message `json:"message"`
}

func (c call) text() string { return c.Message.Text() }

// fakeOneBot is a OneBot HTTP API that records send_* calls, and an image server.
type fakeOneBot struct {
	mu    sync.Mutex
	calls []call
	fail  bool
	png   []byte
}

func (f *fakeOneBot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/img/ok.png":
		w.Write(f.png)
		return
	case strings.HasPrefix(r.URL.Path, "/img/"):
		http.NotFound(w, r)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+token {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	var c call
	if err := json.NewDecoder(r.Body).Decode(&c); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.Action = strings.TrimPrefix(r.URL.Path, "/")
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		http.Error(w, "bot offline", http.StatusBadGateway)
		return
	}
	f.calls = append(f.calls, c)
	fmt.Fprint(w, `{"status":"ok","retcode":0,"data":{"message_id":1}}`)
}

// take returns and forgets the calls so far.
func (f *fakeOneBot) take() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.calls
	f.calls = nil
	return out
}

func (f *fakeOneBot) setFail(v bool) { f.mu.Lock(); f.fail = v; f.mu.Unlock() }

type fixture struct {
	t      *testing.T
	ctx    context.Context
	store  *tickets.Store
	svc    *Service
	engine *gin.Engine
	bot    *fakeOneBot
	botURL string
	clock  *ticketstest.Clock
	msgID  int64
	// closeDB takes the database away, as an outage would.
	closeDB func()
}

func newFixture(t *testing.T, mod ...func(*Options)) *fixture {
	t.Helper()
	gin.SetMode(gin.ReleaseMode)
	env := ticketstest.New(t, ticketstest.Options{Migrations: Migrations()})
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	fake := &fakeOneBot{png: b.Bytes()}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	clk := ticketstest.NewClock(time.Now())
	opts := Options{Store: env.Store, Live: livetest.Open(t), APIURL: srv.URL, AccessToken: token, Secret: secret, Now: clk.Now}
	for _, m := range mod {
		m(&opts)
	}
	svc, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	e := gin.New()
	svc.Routes(e)
	sqlDB, err := env.DB.DB()
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, ctx: env.Ctx, store: env.Store, svc: svc, engine: e, bot: fake, botURL: srv.URL, clock: clk, msgID: 1000,
		closeDB: func() { sqlDB.Close() }}
}

// event builds a message event; message is a JSON value (array of segments or CQ string).
func (f *fixture) event(kind string, user, group int64, message string) []byte {
	f.msgID++
	ev := fmt.Sprintf(`{"time":%d,"self_id":%d,"post_type":"message","message_type":%q,"sub_type":"normal","message_id":%d,"user_id":%d,%s"message":%s,"raw_message":"","font":0,"sender":{"user_id":%d,"nickname":"市民%d","card":""}}`,
		time.Now().Unix(), self, kind, f.msgID, user, groupField(group), message, user, user)
	return []byte(ev)
}

func groupField(g int64) string {
	if g == 0 {
		return ""
	}
	return fmt.Sprintf(`"group_id":%d,`, g)
}

func text(s string) string {
	b, _ := json.Marshal(s)
	return `[{"type":"text","data":{"text":` + string(b) + `}}]`
}

func cq(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// post sends an event by HTTP POST, signed unless sig is given.
func (f *fixture) post(body []byte, sig ...string) int {
	f.t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/onebot/v11/events", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if len(sig) > 0 {
		if sig[0] != "" {
			req.Header.Set("X-Signature", sig[0])
		}
	} else {
		req.Header.Set("X-Signature", Sign(secret, body))
	}
	w := httptest.NewRecorder()
	f.engine.ServeHTTP(w, req)
	return w.Code
}

// say posts a signed event and returns the one reply it caused.
func (f *fixture) say(kind string, user, group int64, message string) call {
	f.t.Helper()
	if code := f.post(f.event(kind, user, group, message)); code != http.StatusNoContent {
		f.t.Fatalf("POST event = %d", code)
	}
	calls := f.bot.take()
	if len(calls) != 1 {
		f.t.Fatalf("%d API calls, want 1: %+v", len(calls), calls)
	}
	return calls[0]
}

func (f *fixture) numberIn(c call) string {
	f.t.Helper()
	i := strings.Index(c.text(), "工单号：")
	if i < 0 {
		f.t.Fatalf("no ticket number in %q", c.text())
	}
	rest := []rune(c.text()[i+len("工单号："):])
	n := ""
	for _, r := range rest {
		if r < '0' || r > '9' {
			break
		}
		n += string(r)
	}
	if !tickets.CheckNumber(n) {
		f.t.Fatalf("%q is not a ticket number", n)
	}
	return n
}

func TestPrivateConversationWithSegments(t *testing.T) {
	f := newFixture(t)
	user := int64(20001)
	img := fmt.Sprintf(`{"type":"image","data":{"file":"a.png","url":"%s/img/ok.png"}}`, f.botURL)
	c := f.say("private", user, 0, `[{"type":"text","data":{"text":"小区暖气不热，<script>alert(1)</script>已经三天了"}},`+img+`]`)
	if c.Action != "send_private_msg" || c.UserID != user || c.text() != askWhere {
		t.Fatalf("first reply %+v", c)
	}
	// The half-told report waits in Redis for the conversation timeout, no longer.
	ttl, err := f.svc.bot.opts.Live.TTL(f.ctx, f.svc.bot.convKey(fmt.Sprintf("%d:p:%d", self, user))).Result()
	if err != nil || ttl <= 0 || ttl > 30*time.Minute {
		t.Errorf("conversation TTL %v (%v), want up to the 30 minute timeout", ttl, err)
	}
	if c = f.say("private", user, 0, text("东胜区交通街道幸福小区3号楼")); c.text() != askPhone {
		t.Fatalf("second reply %q", c.text())
	}
	if c = f.say("private", user, 0, text("12345")); c.text() != askPhoneBad {
		t.Fatalf("bad phone reply %q", c.text())
	}
	c = f.say("private", user, 0, text("138 1234 5678"))
	number := f.numberIn(c)
	v, err := f.store.Find(f.ctx, desk, number)
	if err != nil {
		t.Fatal(err)
	}
	if v.Channel != tickets.ChannelQQ || v.Content != "小区暖气不热，<script>alert(1)</script>已经三天了" || v.Citizen.Phone != "13812345678" ||
		v.Location.District == nil || v.Location.District.Code != "DS" || v.Location.Township == nil || v.Location.Township.Code != "DS-JT" ||
		v.RegisteredBy != "operator:qq" || v.Citizen.Name != "市民20001" {
		t.Errorf("ticket %+v", v)
	}
	if len(v.Attachments) != 1 || v.Attachments[0].ContentType != "image/png" {
		t.Errorf("attachments %+v, want the image", v.Attachments)
	}
	// The conversation is over: the next message starts a new one.
	if c = f.say("private", user, 0, text("你好")); c.text() != askWhat {
		t.Errorf("after registration %q, want the greeting", c.text())
	}

	// 查询 answers the reporter, and nobody else.
	if c = f.say("private", user, 0, text("查询 "+number)); !strings.Contains(c.text(), "已受理") {
		t.Errorf("status answer %q", c.text())
	}
	if c = f.say("private", 20002, 0, text("查询"+number)); c.text() != fmt.Sprintf(noSuchTicket, number) {
		t.Errorf("another user's status answer %q", c.text())
	}
	if c = f.say("private", user, 0, text("查询")); c.text() != queryHelp {
		t.Errorf("status without number %q", c.text())
	}
}

func TestGroupConversationWithCQCodes(t *testing.T) {
	f := newFixture(t)
	user, group := int64(30001), int64(555)
	at := fmt.Sprintf("[CQ:at,qq=%d] ", self)
	// Not addressed to the bot: nothing happens.
	if code := f.post(f.event("group", user, group, cq("今天天气不错"))); code != http.StatusNoContent || len(f.bot.take()) != 0 {
		t.Fatalf("group chatter answered (%d)", code)
	}
	c := f.say("group", user, group, cq(at+"路灯坏了好几天了&#91;急&#93;，晚上很黑 [CQ:image,file=b.jpg,url="+f.botURL+"/img/missing.jpg]"))
	if c.Action != "send_group_msg" || c.GroupID != group || len(c.Message) != 2 || c.Message[0].Type != "at" || c.Message[0].Data["qq"] != "30001" {
		t.Fatalf("group reply %+v", c)
	}
	f.say("group", user, group, cq(at+"康巴什区北区"))
	c = f.say("group", user, group, cq(at+"无"))
	number := f.numberIn(c)
	v, err := f.store.Find(f.ctx, desk, number)
	if err != nil {
		t.Fatal(err)
	}
	if v.Content != "路灯坏了好几天了[急]，晚上很黑" || v.Citizen.Phone != "" || v.Location.District == nil || v.Location.District.Code != "KBS" {
		t.Errorf("ticket %+v", v)
	}
	if len(v.Attachments) != 0 || !strings.Contains(v.Timeline[0].Note, "图片1未能获取") {
		t.Errorf("a failed image should be a note: %q, %+v", v.Timeline[0].Note, v.Attachments)
	}
	if v.ExternalRef != "qq:10001:group:555:30001" {
		t.Errorf("external ref %q", v.ExternalRef)
	}
}

func TestEventsRefused(t *testing.T) {
	tests := []struct {
		name   string
		sig    func(body []byte) string
		status int
	}{
		{"no signature", func([]byte) string { return "" }, http.StatusForbidden},
		{"forged signature", func(b []byte) string { return Sign("guess", b) }, http.StatusForbidden},
		{"signature of another body", func(b []byte) string { return Sign(secret, append(b, ' ')) }, http.StatusForbidden},
		{"not hex", func([]byte) string { return "sha1=zz" }, http.StatusForbidden},
		{"valid", func(b []byte) string { return Sign(secret, b) }, http.StatusNoContent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			body := f.event("private", 40001, 0, text("有人在小区里乱倒垃圾"))
			if code := f.post(body, tt.sig(body)); code != tt.status {
				t.Fatalf("POST = %d, want %d", code, tt.status)
			}
			if calls := f.bot.take(); (len(calls) == 1) != (tt.status == http.StatusNoContent) {
				t.Errorf("%d replies", len(calls))
			}
		})
	}
	t.Run("without secret the access token is required", func(t *testing.T) {
		f := newFixture(t, func(o *Options) { o.Secret = "" })
		body := f.event("private", 40001, 0, text("有人在小区里乱倒垃圾"))
		if code := f.post(body, ""); code != http.StatusForbidden {
			t.Errorf("POST without token = %d", code)
		}
		req := httptest.NewRequest(http.MethodPost, "/onebot/v11/events", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		f.engine.ServeHTTP(w, req)
		if w.Code != http.StatusNoContent {
			t.Errorf("POST with token = %d", w.Code)
		}
	})
	t.Run("malformed events", func(t *testing.T) {
		f := newFixture(t)
		for _, body := range []string{`{`, `{"time":1}`, `{"post_type":"message","self_id":"abc"}`, `{"post_type":"message","message":[{"type":"text","data":{"text":{"x":1}}}]}`} {
			if code := f.post([]byte(body)); code != http.StatusBadRequest {
				t.Errorf("%s = %d, want 400", body, code)
			}
		}
		for _, body := range []string{`{"post_type":"meta_event","meta_event_type":"heartbeat","self_id":10001,"time":1}`,
			`{"post_type":"notice","notice_type":"group_increase","self_id":10001,"user_id":5,"group_id":6}`} {
			if code := f.post([]byte(body)); code != http.StatusNoContent || len(f.bot.take()) != 0 {
				t.Errorf("%s = %d, want 204 and no reply", body, code)
			}
		}
	})
}

func TestReplayIgnored(t *testing.T) {
	f := newFixture(t)
	body := f.event("private", 50001, 0, text("井盖丢了，很危险，在路中间"))
	if code := f.post(body); code != http.StatusNoContent || len(f.bot.take()) != 1 {
		t.Fatalf("first delivery = %d", code)
	}
	if code := f.post(body); code != http.StatusNoContent {
		t.Fatalf("replay = %d", code)
	}
	if calls := f.bot.take(); len(calls) != 0 {
		t.Errorf("the replay was answered: %+v", calls)
	}
	// The conversation did not advance either: the next answer is still the place.
	if c := f.say("private", 50001, 0, text("东胜区")); c.text() != askPhone {
		t.Errorf("after replay %q", c.text())
	}
}

func TestRepliesOnCompletionAndRetry(t *testing.T) {
	f := newFixture(t)
	user := int64(60001)
	f.say("private", user, 0, text("暖气不热，已经一周了"))
	f.say("private", user, 0, text("东胜区幸福小区"))
	// The bot is unreachable when the receipt is due: the ticket is registered anyway.
	f.bot.setFail(true)
	if code := f.post(f.event("private", user, 0, text("无"))); code != http.StatusNoContent {
		t.Fatalf("registration = %d", code)
	}
	list, _, err := f.store.List(f.ctx, desk, tickets.Filter{Channel: tickets.ChannelQQ}, api.Page{Page: 1, PerPage: 10})
	if err != nil || len(list) != 1 {
		t.Fatalf("tickets %v %v", list, err)
	}
	number := list[0].Number
	f.bot.setFail(false)
	r := f.svc.Replies()
	if n, err := r.RunOnce(f.ctx); err != nil || n != 0 {
		t.Fatalf("before the retry delay: sent %d, %v", n, err)
	}
	f.clock.Add(r.Retry + time.Second)
	if n, err := r.RunOnce(f.ctx); err != nil || n != 1 {
		t.Fatalf("retry: sent %d, %v", n, err)
	}
	if calls := f.bot.take(); len(calls) != 1 || !strings.Contains(calls[0].text(), number) {
		t.Fatalf("retried receipt %+v", calls)
	}

	heat, err := f.store.DepartmentByCode(f.ctx, "HEAT")
	if err != nil {
		t.Fatal(err)
	}
	dept := &auth.Principal{UserID: 9, Name: "heat", Role: auth.RoleDepartment, DepartmentID: heat}
	for _, step := range []struct {
		p   *auth.Principal
		a   tickets.Action
		req tickets.ActionRequest
	}{
		{desk, tickets.ActDispatch, tickets.ActionRequest{Departments: []string{"HEAT"}}},
		{dept, tickets.ActSign, tickets.ActionRequest{}},
		{dept, tickets.ActReply, tickets.ActionRequest{Reply: "已派人检修"}},
		{desk, tickets.ActApprove, tickets.ActionRequest{Answer: "已检修管道，室温恢复到20度"}},
	} {
		if _, err := f.store.Act(f.ctx, step.p, number, step.a, step.req); err != nil {
			t.Fatalf("%s: %v", step.a, err)
		}
	}
	if n, err := r.RunOnce(f.ctx); err != nil || n != 1 {
		t.Fatalf("completion: sent %d, %v", n, err)
	}
	calls := f.bot.take()
	if len(calls) != 1 || calls[0].UserID != user || !strings.Contains(calls[0].text(), "已办结") || !strings.Contains(calls[0].text(), "室温恢复到20度") {
		t.Fatalf("completion reply %+v", calls)
	}
	if n, err := r.RunOnce(f.ctx); err != nil || n != 0 || len(f.bot.take()) != 0 {
		t.Errorf("second pass sent %d (%v): the reply is sent once", n, err)
	}
}

func TestReverseWebSocket(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.APIURL = "" }) // replies can only go over the socket
	srv := httptest.NewServer(f.engine)
	t.Cleanup(srv.Close)
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/onebot/v11/ws"
	dial := func(auth string) (*websocket.Conn, int) {
		h := http.Header{"X-Self-ID": {fmt.Sprint(self)}, "X-Client-Role": {"Universal"}}
		if auth != "" {
			h.Set("Authorization", auth)
		}
		conn, res, err := websocket.DefaultDialer.Dial(url, h)
		if err != nil {
			if res == nil {
				t.Fatal(err)
			}
			return nil, res.StatusCode
		}
		t.Cleanup(func() { conn.Close() })
		return conn, http.StatusSwitchingProtocols
	}
	if _, code := dial(""); code != http.StatusUnauthorized {
		t.Errorf("dial without token = %d, want 401", code)
	}
	if _, code := dial("Bearer wrong"); code != http.StatusForbidden {
		t.Errorf("dial with a wrong token = %d, want 403", code)
	}
	conn, _ := dial("Bearer " + token)

	// expect reads frames until an API request arrives, answers it, and returns it.
	expect := func() (string, call) {
		t.Helper()
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		var req struct {
			Action string          `json:"action"`
			Params call            `json:"params"`
			Echo   json.RawMessage `json:"echo"`
		}
		if err := conn.ReadJSON(&req); err != nil {
			t.Fatalf("no API request: %v", err)
		}
		resp := fmt.Sprintf(`{"status":"ok","retcode":0,"data":{"message_id":7},"echo":%s}`, req.Echo)
		if err := conn.WriteMessage(websocket.TextMessage, []byte(resp)); err != nil {
			t.Fatal(err)
		}
		return req.Action, req.Params
	}
	send := func(b []byte) {
		t.Helper()
		if err := conn.WriteMessage(websocket.TextMessage, b); err != nil {
			t.Fatal(err)
		}
	}
	send([]byte(`{"time":1,"self_id":10001,"post_type":"meta_event","meta_event_type":"lifecycle","sub_type":"connect"}`))
	send(f.event("private", 70001, 0, cq("[CQ:face,id=14]垃圾站三天没人清运，臭味很大")))
	if action, c := expect(); action != "send_private_msg" || c.UserID != 70001 || c.text() != askWhere {
		t.Fatalf("first reply %s %+v", action, c)
	}
	send(f.event("private", 70001, 0, text("康巴什区")))
	if _, c := expect(); c.text() != askPhone {
		t.Fatalf("second reply %q", c.text())
	}
	send(f.event("private", 70001, 0, text("13912345678")))
	_, c := expect()
	number := f.numberIn(c)
	if _, err := f.store.Find(f.ctx, desk, number); err != nil {
		t.Fatal(err)
	}
}

func TestDatabaseDownIsToldAndKept(t *testing.T) {
	f := newFixture(t)
	user := int64(80001)
	f.say("private", user, 0, text("小区里的健身器材坏了，有安全隐患"))
	f.say("private", user, 0, text("东胜区交通街道"))
	f.closeDB()
	if c := f.say("private", user, 0, text("无")); c.text() != failedText {
		t.Fatalf("reply with the database down %q, want the apology", c.text())
	}
	conv, err := f.svc.bot.load(f.ctx, fmt.Sprintf("%d:p:%d", self, user))
	if err != nil || conv == nil || conv.Step != stepRetry || conv.Content != "小区里的健身器材坏了，有安全隐患" {
		t.Fatalf("the report was not kept for a retry: %+v %v", conv, err)
	}
}
