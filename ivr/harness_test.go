package ivr

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/ivr/aritest"
	"github.com/rexian/rexian/live"
	"github.com/rexian/rexian/tickets"
	"github.com/rexian/rexian/tickets/ticketstest"
)

var shanghai = mustZone("Asia/Shanghai")

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// harness is a controller attached to an emulated Asterisk, with a database holding a
// small city.
type harness struct {
	t      *testing.T
	srv    *aritest.Server
	ctrl   *Controller
	store  *tickets.Store
	audit  *audit.Log // records the screen-pops' views of callers' numbers
	opts   Options
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// testSettings is the default telephone set-up with short timers, so that a test runs
// minutes of telephony in a second.
func testSettings() config.IVR {
	s := config.DefaultIVR()
	s.Voicemail.Category = "TS"
	for i := range s.Queues {
		// Asterisk seconds last 10 ms in the emulator: 30 s of ringing is 300 ms.
		s.Queues[i].RingTimeout = 30 * time.Second
		s.Queues[i].WrapUp = 0
		s.Queues[i].MaxWait = 30 * time.Second
		s.Queues[i].AnnounceEvery = 0
	}
	for i := range s.Menus {
		s.Menus[i].Timeout = 3 * time.Second
	}
	s.Status.DigitWait = time.Second
	return s
}

type harnessOption func(*Options, *aritest.Options)

func withSettings(mod func(*config.IVR)) harnessOption {
	return func(o *Options, _ *aritest.Options) { mod(&o.Settings) }
}

func withLive(ls *live.Store) harnessOption {
	return func(o *Options, _ *aritest.Options) { o.Live = ls }
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("REXIAN_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func newHarness(t *testing.T, hopts ...harnessOption) *harness {
	t.Helper()
	env := ticketstest.New(t, ticketstest.Options{Migrations: append(auth.Migrations(), Migrations()...),
		Store: tickets.Options{Location: shanghai}, Audit: true})
	ao := aritest.Options{Second: 10 * time.Millisecond, Log: testLogger(t)}
	o := Options{Settings: testSettings(), DB: env.DB, Tickets: env.Store, Log: testLogger(t), Location: shanghai}
	for _, f := range hopts {
		f(&o, &ao)
	}
	srv, err := aritest.New(ao)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	o.ARI.URL, o.ARI.User, o.ARI.Password, o.ARI.App = []string{srv.URL()}, "hotline", "hotline", "hotline"
	h := &harness{t: t, srv: srv, store: env.Store, audit: env.Audit, opts: o}
	h.start()
	return h
}

// start runs a controller (again) against the same emulator and database.
func (h *harness) start() {
	h.t.Helper()
	ctrl, err := New(h.opts)
	if err != nil {
		h.t.Fatal(err)
	}
	h.ctrl = ctrl
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.done = make(chan struct{})
	go func() { defer close(h.done); _ = ctrl.Run(h.ctx) }()
	h.t.Cleanup(h.stop)
	h.eventually("the controller connects", func() bool { return ctrl.Connected() == 1 && h.srv.Connected() })
}

// stop shuts the controller down and waits for every call goroutine.
func (h *harness) stop() {
	h.cancel()
	select {
	case <-h.done:
	case <-time.After(20 * time.Second):
		h.t.Error("the controller did not stop within 20 s")
	}
}

func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// behindBusyOperator has a first caller (the blocker) take the operator on PJSIP/8001,
// whom the test logged in, and then caller dial and join the queue behind them.
func (h *harness) behindBusyOperator(caller string) (c, blocker *aritest.Call) {
	h.t.Helper()
	blocker = h.dial("13800000009", "12345")
	blocker.Press("0")
	h.originated("PJSIP/8001")
	c = h.dial(caller, "12345")
	c.Press("0")
	return c, blocker
}

func (h *harness) dial(number, dialled string) *aritest.Call {
	h.t.Helper()
	c, err := h.srv.Dial(h.ctx, aritest.Caller{Number: number, Dialled: dialled})
	if err != nil {
		h.t.Fatalf("dial %s: %v", dialled, err)
	}
	return c
}

// waitPlayed waits for a prompt (by name) or another media URI.
func (h *harness) waitPlayed(c *aritest.Call, media string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	defer cancel()
	want := media
	if !strings.Contains(media, ":") {
		want = "sound:rexian/" + media
	}
	if _, err := c.WaitPlayed(ctx, func(uri string) bool { return uri == want }); err != nil {
		h.t.Fatalf("%s never played; played: %v", want, c.Played())
	}
}

func played(c *aritest.Call, name string) bool {
	return slices.Contains(c.Played(), "sound:rexian/"+name)
}

func (h *harness) waitDone(c *aritest.Call) {
	h.t.Helper()
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		h.t.Fatalf("call %s still up; played %v", c.ID(), c.Played())
	}
}

// record waits for the call's record to be final and returns it.
func (h *harness) record(channel string) Record {
	h.t.Helper()
	var rec Record
	h.eventually("the call record of "+channel+" is final", func() bool {
		err := h.opts.DB.Where("channel_id = ?", channel).Order("id DESC").First(&rec).Error
		return err == nil && rec.EndedAt != nil
	})
	return rec
}

// idle waits until the controller holds no call and the emulator no channel or bridge:
// nothing was left behind.
func (h *harness) idle() {
	h.t.Helper()
	h.eventually("every call is cleaned up", func() bool {
		return h.ctrl.ActiveCalls() == 0 && len(h.srv.Channels()) == 0 && len(h.srv.Bridges()) == 0
	})
}

func (h *harness) login(user, phone string, p aritest.Phone) {
	h.t.Helper()
	h.srv.SetPhone(phone, p)
	h.ctrl.acd.login(user, user, phone, nil)
}

func (h *harness) waitAgent(user string, state AgentState) Agent {
	h.t.Helper()
	var a Agent
	h.eventually("operator "+user+" is "+string(state), func() bool {
		var ok bool
		a, ok = h.ctrl.acd.agent(user)
		return ok && a.State == state
	})
	return a
}

func (h *harness) originated(endpoint string) *aritest.Call {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	defer cancel()
	leg, err := h.srv.WaitOriginated(ctx, endpoint)
	if err != nil {
		h.t.Fatalf("%s was never rung: %v", endpoint, err)
	}
	return leg
}

var errStop = errors.New("stop")

var pageOne = api.Page{Page: 1, PerPage: 50}

type cfgIVR = config.IVR

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
