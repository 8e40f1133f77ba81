package sms

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/tickets"
	"github.com/rexian/rexian/tickets/ticketstest"
)

var shanghai = func() *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return l
}()

// fakeGateway records what it is given. Its behaviour per call comes from next: nil
// accepts.
type fakeGateway struct {
	mu    sync.Mutex
	parts []Part
	count map[uint64]int // part id → submissions
	// next decides the answer to a part; nil accepts it.
	next func(ctx context.Context, p Part) error
	// onAccept runs after a part is accepted, before Submit returns (a delivery report
	// that overtakes the sender's record).
	onAccept func(p Part)
}

var _ Gateway = (*fakeGateway)(nil)

func newFakeGateway() *fakeGateway { return &fakeGateway{count: map[uint64]int{}} }

func (g *fakeGateway) Name() string { return "fake" }

func (g *fakeGateway) Submit(ctx context.Context, p Part) (Submitted, error) {
	g.mu.Lock()
	next := g.next
	g.mu.Unlock()
	if next != nil {
		if err := next(ctx, p); err != nil {
			return Submitted{}, err
		}
	}
	g.mu.Lock()
	g.parts = append(g.parts, p)
	g.count[p.PartID]++
	onAccept := g.onAccept
	g.mu.Unlock()
	if onAccept != nil {
		onAccept(p)
	}
	return Submitted{GatewayID: fmt.Sprintf("gw-%d", p.PartID)}, nil
}

func (g *fakeGateway) setNext(f func(ctx context.Context, p Part) error) {
	g.mu.Lock()
	g.next = f
	g.mu.Unlock()
}

func (g *fakeGateway) submitted() []Part {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Part(nil), g.parts...)
}

// duplicates returns the part ids submitted more than once.
func (g *fakeGateway) duplicates() []uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []uint64
	for id, n := range g.count {
		if n > 1 {
			out = append(out, id)
		}
	}
	return out
}

// fixture is an outbox over a fresh database holding the demo city.
type fixture struct {
	svc     *Service
	db      *gorm.DB
	tickets *tickets.Store
	gw      *fakeGateway
	clock   *ticketstest.Clock
	ctx     context.Context
}

// Monday 2026-11-23 10:00 in the city.
var monday10 = time.Date(2026, 11, 23, 10, 0, 0, 0, shanghai)

func newFixture(t testing.TB, mod ...func(*Options)) *fixture {
	t.Helper()
	clk := ticketstest.NewClock(monday10)
	env := ticketstest.New(t, ticketstest.Options{City: tickets.DemoCity(), Migrations: append(auth.Migrations(), Migrations()...),
		Store: tickets.Options{Location: shanghai, Now: clk.Now}})
	return serviceFixture(t, env.Ctx, env.DB, env.Store, clk, mod...)
}

// fixtureOn is a second outbox over the database of an earlier fixture, as another
// process (or the same one restarted) would be: its own clock, tickets store and service.
func fixtureOn(t testing.TB, db *gorm.DB, mod ...func(*Options)) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ticketstest.Timeout)
	t.Cleanup(cancel)
	clk := ticketstest.NewClock(monday10)
	ts := tickets.NewStore(db, tickets.Options{Location: shanghai, Now: clk.Now, AttachmentDir: filepath.Join(t.TempDir(), "attachments")})
	return serviceFixture(t, ctx, db, ts, clk, mod...)
}

// serviceFixture starts an outbox over db and ts with a fake gateway, and the options
// the tests share before mod changes them.
func serviceFixture(t testing.TB, ctx context.Context, db *gorm.DB, ts *tickets.Store, clk *ticketstest.Clock, mod ...func(*Options)) *fixture {
	t.Helper()
	gw := newFakeGateway()
	opts := Options{Gateway: gw, Now: clk.Now, Location: shanghai, RatePerSecond: 1e6, Concurrency: 8, BatchSize: 50,
		Lease: time.Minute, ReconcileGrace: 2 * time.Minute}
	for _, m := range mod {
		m(&opts)
	}
	svc, err := NewService(db, nil, ts, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{svc: svc, db: db, tickets: ts, gw: gw, clock: clk, ctx: ctx}
}

// enqueue queues a message or fails the test.
func (f *fixture) enqueue(t testing.TB, m NewMessage) *Message {
	t.Helper()
	if m.Kind == "" {
		m.Kind = KindFreeText
	}
	msg, _, err := f.svc.Enqueue(f.ctx, m)
	if err != nil {
		t.Fatalf("enqueue %+v: %v", m, err)
	}
	return msg
}

// load reads a message and its parts.
func (f *fixture) load(t testing.TB, id uint64) (Message, []MessagePart) {
	t.Helper()
	var m Message
	if err := f.db.Where("id = ?", id).Take(&m).Error; err != nil {
		t.Fatalf("load message %d: %v", id, err)
	}
	var ps []MessagePart
	if err := f.db.Where("message_id = ?", id).Order("seq").Find(&ps).Error; err != nil {
		t.Fatal(err)
	}
	return m, ps
}

func (f *fixture) status(t testing.TB, id uint64) Status {
	t.Helper()
	m, _ := f.load(t, id)
	return m.Status
}

// sendAll runs SendOnce until nothing is due.
func (f *fixture) sendAll(t testing.TB) {
	t.Helper()
	for range 1000 {
		n, err := f.svc.SendOnce(f.ctx)
		if err != nil {
			t.Fatalf("SendOnce: %v", err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatal("SendOnce never ran dry")
}

// wantCode fails unless err is an *api.Error of kind and code.
func wantCode(t testing.TB, err error, kind error, code string) {
	t.Helper()
	var ae *api.Error
	if !errors.As(err, &ae) || !errors.Is(err, kind) || ae.Code != code {
		t.Fatalf("error %v; want %v with code %q", err, kind, code)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var operator = &auth.Principal{Name: "zhang", Role: auth.RoleOperator}
