package callback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/database/dbtest"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/pii"
	"github.com/rexian/rexian/sms"
	"github.com/rexian/rexian/tickets"
)

var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}()

// clock is the injected time: tests move it instead of sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// local is a wall-clock time in the city on the test day (Thursday 26 November 2026).
func local(day int, hm string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", "2026-11-"+itoa2(26+day)+" "+hm, shanghai)
	if err != nil {
		panic(err)
	}
	return t
}

func itoa2(n int) string { return string(rune('0'+n/10)) + string(rune('0'+n%10)) }

// fakeDialer answers survey calls from a script, one result per call.
type fakeDialer struct {
	mu     sync.Mutex
	script []dialResult
	calls  []ivr.SurveyRequest
	at     []time.Time
	clk    *clock
}

type dialResult struct {
	res ivr.SurveyResult
	err error
}

var _ Dialer = (*fakeDialer)(nil)

func (f *fakeDialer) Survey(ctx context.Context, req ivr.SurveyRequest) (ivr.SurveyResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, req)
	f.at = append(f.at, f.clk.Now())
	if len(f.script) == 0 {
		return ivr.SurveyResult{Outcome: ivr.SurveyNoAnswer}, nil
	}
	r := f.script[0]
	f.script = f.script[1:]
	return r.res, r.err
}

func (f *fakeDialer) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// gateway is the SMS gateway the outbox sends through: it accepts every part while up
// and fails (a temporary error: the outbox keeps the message queued) while down.
type gateway struct {
	mu    sync.Mutex
	down  bool
	parts []sms.Part
}

var _ sms.Gateway = (*gateway)(nil)

func (g *gateway) Name() string { return "fake" }

func (g *gateway) Submit(ctx context.Context, p sms.Part) (sms.Submitted, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.down {
		return sms.Submitted{}, errors.New("gateway down")
	}
	g.parts = append(g.parts, p)
	return sms.Submitted{GatewayID: fmt.Sprintf("gw-%d", p.PartID)}, nil
}

func (g *gateway) setDown(down bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.down = down
}

// sentTo is how many parts the gateway accepted for number.
func (g *gateway) sentTo(number string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, p := range g.parts {
		if p.To == number {
			n++
		}
	}
	return n
}

// env is a database with the demo city, the ticket store, the real outbox (sending only
// when a test asks it to, through gw) and the survey service, all on one injected clock.
type env struct {
	t      *testing.T
	ctx    context.Context
	db     *gorm.DB
	clk    *clock
	store  *tickets.Store
	outbox *sms.Service
	gw     *gateway
	svc    *Service
	dialer *fakeDialer
	opts   Options
}

func testLog() *slog.Logger {
	if os.Getenv("REXIAN_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func newEnv(t *testing.T, mod func(*Options)) *env {
	t.Helper()
	db := dbtest.Open(t, auth.Migrations(), tickets.Migrations(), sms.Migrations(), ivr.Migrations(), Migrations())
	return newEnvOn(t, db, mod)
}

func newEnvOn(t *testing.T, db *gorm.DB, mod func(*Options)) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	clk := &clock{t: local(0, "10:00")}
	store := tickets.NewStore(db, tickets.Options{Location: shanghai, Now: clk.Now, AttachmentDir: t.TempDir()})
	var n int64
	db.Model(&tickets.Department{}).Count(&n)
	if n == 0 {
		if err := store.LoadCity(ctx, tickets.DemoCity()); err != nil {
			t.Fatal(err)
		}
	}
	gw := &gateway{}
	outbox, err := sms.NewService(db, nil, store, sms.Options{Now: clk.Now, Location: shanghai, Log: testLog(), Gateway: gw})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, db: db, clk: clk, store: store, outbox: outbox, gw: gw, dialer: &fakeDialer{clk: clk}}
	e.opts = Options{DB: db, Tickets: store, Texter: outbox, Dialer: e.dialer, Log: testLog(), Now: clk.Now, Location: shanghai,
		Hours: Span{9 * 60, 20 * 60}, Quiet: Span{21 * 60, 8 * 60}, Sample: 1}
	if mod != nil {
		mod(&e.opts)
	}
	e.restart()
	outbox.SetSurveyAnswers(e.svc)
	return e
}

// restart builds a new survey service over the same database, as a restarted process.
func (e *env) restart() {
	e.t.Helper()
	svc, err := NewService(e.opts)
	if err != nil {
		e.t.Fatal(err)
	}
	e.svc = svc
	e.outbox.SetSurveyAnswers(svc)
}

var desk = &auth.Principal{Name: "zhang", Role: auth.RoleOperator}

// consultation registers a consultation answered at once: a completion at the clock's time.
func (e *env) consultation(phone string, mod func(*tickets.NewTicket)) string {
	e.t.Helper()
	yes := true
	in := tickets.NewTicket{Channel: tickets.ChannelPhone, Citizen: tickets.NewCitizen{Name: "王先生", Phone: phone, WantsReply: &yes},
		Content: "社保卡怎么补办", Category: "ZX-SHBX", Answer: "携带身份证到社保大厅补办，当场制卡。"}
	if mod != nil {
		mod(&in)
	}
	v, err := e.store.Create(e.ctx, desk, in)
	if err != nil {
		e.t.Fatalf("create ticket: %v", err)
	}
	return v.Number
}

// run makes one full pass of the survey service.
func (e *env) run() {
	e.t.Helper()
	if err := e.svc.RunOnce(e.ctx); err != nil {
		e.t.Fatalf("run: %v", err)
	}
}

// send makes one pass of the outbox's sender: what is due goes to the gateway.
func (e *env) send() {
	e.t.Helper()
	if _, err := e.outbox.SendOnce(e.ctx); err != nil {
		e.t.Fatalf("send SMS: %v", err)
	}
}

func (e *env) surveys(number string) []Survey {
	e.t.Helper()
	var out []Survey
	if err := e.db.Where("ticket_number = ?", number).Order("id").Find(&out).Error; err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) survey(number string) Survey {
	e.t.Helper()
	ss := e.surveys(number)
	if len(ss) != 1 {
		e.t.Fatalf("ticket %s has %d surveys, want 1", number, len(ss))
	}
	return ss[0]
}

func (e *env) messages(number string, kind sms.Kind) []sms.Message {
	e.t.Helper()
	var out []sms.Message
	if err := e.db.Where("ticket_number = ? AND kind = ?", number, kind).Order("id").Find(&out).Error; err != nil {
		e.t.Fatal(err)
	}
	return out
}

// inbound takes an SMS from a citizen as the gateway would hand it to the outbox.
func (e *env) inbound(from, text string) sms.InboundMessage {
	e.t.Helper()
	if err := e.outbox.Receive(e.ctx, sms.Inbound{From: from, To: "12345", Text: text, At: e.clk.Now()}); err != nil {
		e.t.Fatal(err)
	}
	var m sms.InboundMessage
	if err := e.db.Where(pii.Is(e.db, "from", "from_idx", from)).Order("id DESC").First(&m).Error; err != nil {
		e.t.Fatal(err)
	}
	return m
}

func (e *env) ticket(number string) *tickets.View {
	e.t.Helper()
	v, err := e.store.Find(e.ctx, &auth.Principal{Name: "boss", Role: auth.RoleSupervisor}, number)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}
