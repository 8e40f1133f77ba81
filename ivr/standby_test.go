package ivr

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rexian/rexian/ivr/aritest"
	"github.com/rexian/rexian/live"
	"github.com/rexian/rexian/live/livetest"
)

// testLeaseTTL is short so that a take-over happens within a test's second or two.
const testLeaseTTL = time.Second

func withStandby() harnessOption {
	return func(o *Options, _ *aritest.Options) {
		o.ARI.Standby = true
		o.ARI.LeaseTTL = testLeaseTTL
	}
}

// peer is a second controller on the harness's emulator, database and live store.
type peer struct {
	ctrl   *Controller
	cancel context.CancelFunc
	done   chan struct{}
}

func (h *harness) startPeer(ls *live.Store) *peer {
	h.t.Helper()
	o := h.opts
	o.Live = ls
	ctrl, err := New(o)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &peer{ctrl: ctrl, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(p.done); _ = ctrl.Run(ctx) }()
	h.t.Cleanup(p.stop)
	return p
}

func (p *peer) stop() {
	p.cancel()
	<-p.done
}

func role(c *Controller) Role { return c.Roles()[0].Role }

// cuttable is a TCP proxy to Redis that the test can cut, as a network partition between
// one instance and the live store would.
type cuttable struct {
	ln    net.Listener
	to    string
	mu    sync.Mutex
	conns []net.Conn
	cut   bool
}

func newCuttable(t *testing.T, to string) *cuttable {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cuttable{ln: ln, to: to}
	t.Cleanup(func() { ln.Close(); p.setCut(true) })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.cut {
				p.mu.Unlock()
				in.Close()
				continue
			}
			out, err := net.Dial("tcp", to)
			if err != nil {
				p.mu.Unlock()
				in.Close()
				continue
			}
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
	return p
}

func (p *cuttable) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// openVia opens a live store through the proxy, under ls's namespace.
func openVia(t *testing.T, ls *live.Store, p *cuttable) *live.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := live.Open(ctx, "redis://"+p.ln.Addr().String()+"/"+itoa(uint64(ls.Options().DB)), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Namespace = ls.Namespace
	t.Cleanup(func() { s.Close() })
	return s
}

// watchSplit samples both controllers' roles until the test ends and counts the moments
// both controlled the node.
func watchSplit(t *testing.T, a, b func() *Controller) *atomic.Int64 {
	var both atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			if role(a()) == RoleActive && role(b()) == RoleActive {
				both.Add(1)
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return &both
}

// TestStandbyTakesOverWhenTheHolderIsCutOff runs two controllers on one Asterisk: the
// first holds the lease and controls the calls (one conversation, two callers queued),
// the second stands by without connecting. Then the first loses the live store (a
// partition): it must let go of the node before its lease can expire, and the second
// takes over: the conversation is left alone with its operator, the queued callers keep
// their queue and order, operators their states, and no call is recorded twice. When
// the first comes back it stays standby; when the second stops it takes over again.
func TestStandbyTakesOverWhenTheHolderIsCutOff(t *testing.T) {
	ls := livetest.Open(t)
	proxy := newCuttable(t, ls.Options().Addr)
	h := newHarness(t, withLive(openVia(t, ls, proxy)), withStandby())
	a := h.ctrl
	b := h.startPeer(ls)
	both := watchSplit(t, func() *Controller { return a }, func() *Controller { return b.ctrl })

	if role(a) != RoleActive {
		t.Fatalf("the first controller is %s, want active", role(a))
	}
	h.login("wang", "PJSIP/8001", aritest.Phone{})
	h.login("li", "PJSIP/8002", aritest.Phone{})
	h.ctrl.acd.setState("li", false, "会议")

	talking := h.dial("13800000001", "12345")
	talking.Press("0")
	leg := h.originated("PJSIP/8001")
	h.eventually("bridged", func() bool { return leg.BridgeID() != "" && talking.BridgeID() == leg.BridgeID() })
	bridge := leg.BridgeID()
	first := h.dial("13800000002", "12345")
	first.Press("1")
	h.eventually("the first caller waits", func() bool { return first.MOH() })
	second := h.dial("13800000003", "12345")
	second.Press("1")
	h.eventually("the second caller waits", func() bool { return second.MOH() })
	before := map[string]Record{}
	for _, c := range []*aritest.Call{talking, first, second} {
		var rec Record
		h.eventually("the record says where "+c.ID()+" is", func() bool {
			return h.opts.DB.Where("channel_id = ?", c.ID()).First(&rec).Error == nil && (rec.QueuedAt != nil || rec.ConnectedAt != nil)
		})
		before[c.ID()] = rec
	}
	h.eventually("the operators' states reach the live store", func() bool {
		agents, err := b.ctrl.Live().Agents(h.ctx)
		return err == nil && len(agents) == 2
	})
	if role(b.ctrl) != RoleStandby || b.ctrl.Connected() != 0 || h.srv.Sockets() != 1 {
		t.Fatalf("the standby is %s with %d sockets connected; the emulator has %d sockets", role(b.ctrl), b.ctrl.Connected(), h.srv.Sockets())
	}
	if agents, _ := b.ctrl.acd.snapshot(); b.ctrl.Controlling() || len(agents) != 0 {
		t.Error("the standby keeps a queue of its own")
	}

	cut := time.Now()
	proxy.setCut(true)
	h.eventually("the cut-off controller lets go of the node", func() bool { return role(a) == RoleStandby && a.Connected() == 0 })
	let := time.Since(cut)
	h.eventually("the standby takes over", func() bool { return role(b.ctrl) == RoleActive && b.ctrl.Connected() == 1 })
	took := time.Since(cut)
	t.Logf("lease ttl %s: the cut-off holder let go after %s, the standby controlled the node %s after the cut", testLeaseTTL, let.Round(time.Millisecond), took.Round(time.Millisecond))
	if let > testLeaseTTL {
		t.Errorf("the cut-off holder let go after %s, later than its lease's life (%s)", let, testLeaseTTL)
	}

	wang := func() Agent {
		var ag Agent
		h.eventually("wang is busy with the conversation on the new controller", func() bool {
			var ok bool
			ag, ok = b.ctrl.acd.agent("wang")
			return ok && ag.State == AgentBusy
		})
		return ag
	}()
	if wang.CallID != before[talking.ID()].ID {
		t.Errorf("wang is busy with call %d, want %d", wang.CallID, before[talking.ID()].ID)
	}
	if li, ok := b.ctrl.acd.agent("li"); !ok || li.State != AgentPaused || li.Reason != "会议" {
		t.Errorf("li on the new controller: %+v, want paused for 会议", li)
	}
	h.eventually("both callers are queued on the new controller", func() bool {
		_, w := b.ctrl.acd.snapshot()
		return len(w) == 2
	})
	_, waiting := b.ctrl.acd.snapshot()
	for i, c := range []*aritest.Call{first, second} {
		rec := before[c.ID()]
		if w := waiting[i]; w.Key != itoa(rec.ID) || w.Queue != rec.Queue || !w.Since.Equal(*rec.QueuedAt) {
			t.Errorf("place %d: %+v, want call %d in %s since %s", i+1, w, rec.ID, rec.Queue, rec.QueuedAt)
		}
	}
	if leg.State() != "Up" || talking.BridgeID() != bridge || leg.BridgeID() != bridge {
		t.Fatalf("the conversation was cut: operator %q, bridges %q %q (was %q)", leg.State(), talking.BridgeID(), leg.BridgeID(), bridge)
	}

	// The conversation ends: wang takes the caller who waited longest, from the new
	// controller.
	talking.Hangup()
	h.waitDone(leg)
	next := h.originated("PJSIP/8001")
	h.eventually("wang takes the first caller", func() bool { return next.BridgeID() != "" && first.BridgeID() == next.BridgeID() })
	if rec := h.record(talking.ID()); rec.ID != before[talking.ID()].ID || rec.Outcome != OutcomeAnswered || rec.Operator != "wang" {
		t.Errorf("the conversation's record: %d %q by %q, want %d answered by wang", rec.ID, rec.Outcome, rec.Operator, before[talking.ID()].ID)
	}

	// The first controller reaches the live store again: the node is the other's.
	proxy.setCut(false)
	// Its lease attempts fail while the other holds the node; it takes over again when
	// the other stops (a clean stop gives the lease back at once).
	b.stop()
	h.eventually("the first controller takes the node back", func() bool { return role(a) == RoleActive && a.Connected() == 1 })
	h.eventually("the second caller is queued on the first controller again", func() bool {
		_, w := a.acd.snapshot()
		return len(w) == 1 && w[0].Key == itoa(before[second.ID()].ID)
	})
	for _, c := range []*aritest.Call{first, second} {
		c.Hangup()
	}
	h.idle()
	var n, open int64
	h.opts.DB.Model(&Record{}).Count(&n)
	h.opts.DB.Model(&Record{}).Where("ended_at IS NULL").Count(&open)
	if n != 3 || open != 0 {
		t.Errorf("%d call records (%d open) for 3 calls", n, open)
	}
	if k := both.Load(); k != 0 {
		t.Errorf("both controllers controlled the node at %d samples", k)
	}
}

// TestStandbyContention starts three controllers on one node at once: exactly one
// controls it and connects; the others neither connect nor keep a queue, and stay so
// for several lease lives.
func TestStandbyContention(t *testing.T) {
	ls := livetest.Open(t)
	h := newHarness(t, withLive(ls), withStandby())
	peers := []*peer{h.startPeer(ls), h.startPeer(ls)}
	deadline := time.Now().Add(4 * testLeaseTTL)
	for time.Now().Before(deadline) {
		active := 0
		for _, c := range []*Controller{h.ctrl, peers[0].ctrl, peers[1].ctrl} {
			if role(c) == RoleActive {
				active++
			}
		}
		if active != 1 || h.srv.Sockets() != 1 {
			t.Fatalf("%d controllers active, %d event sockets open; want 1 and 1", active, h.srv.Sockets())
		}
		time.Sleep(20 * time.Millisecond) // sampling a steady state, not waiting for an event
	}
	if role(h.ctrl) != RoleActive {
		t.Errorf("the controller that started first is %s", role(h.ctrl))
	}
	// The holder stops: exactly one of the others takes over.
	h.stop()
	h.eventually("one standby takes over", func() bool {
		return (role(peers[0].ctrl) == RoleActive) != (role(peers[1].ctrl) == RoleActive) && h.srv.Sockets() == 1
	})
}

// TestLease covers the lease's own rules: one holder at a time, renewal and release only
// by the holder, and a holder whose key was taken learns it at its next renewal.
func TestLease(t *testing.T) {
	ls := livetest.Open(t)
	ctx := context.Background()
	a := newLease(ls, "hotline", "pbx:8088", testLeaseTTL)
	b := newLease(ls, "hotline", "pbx:8088", testLeaseTTL)
	if ok, valid, err := a.acquire(ctx); !ok || err != nil || time.Until(valid) > testLeaseTTL {
		t.Fatalf("a: acquire = %v, %s, %v", ok, time.Until(valid), err)
	}
	if ok, _, err := b.acquire(ctx); ok || err != nil {
		t.Fatalf("b took a held lease: %v %v", ok, err)
	}
	if _, err := b.renew(ctx); !errors.Is(err, errLeaseLost) {
		t.Errorf("b renewed a's lease: %v", err)
	}
	if err := b.release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.renew(ctx); err != nil {
		t.Errorf("a's lease was released by b: %v", err)
	}
	// a's lease expires (as it would after a kill -9) and b takes it: a's renewal fails.
	ls.Del(ctx, a.key)
	if ok, _, _ := b.acquire(ctx); !ok {
		t.Fatal("b could not take a free lease")
	}
	if _, err := a.renew(ctx); !errors.Is(err, errLeaseLost) {
		t.Errorf("a renewed b's lease: %v", err)
	}
	if err := a.release(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := ls.Get(ctx, a.key).Result(); v != b.token {
		t.Errorf("a's release removed b's lease (key holds %q)", v)
	}
	if ttl := ls.PTTL(ctx, b.key).Val(); ttl <= 0 || ttl > testLeaseTTL {
		t.Errorf("the lease lives %s in Redis, want at most %s", ttl, testLeaseTTL)
	}
}

// TestLeaseLostIsFenced: when the lease's key is taken from under the holder (it
// expired and another instance took it), the holder stops controlling at its next
// renewal: its event socket closes and its calls leave their channels alone.
func TestLeaseLostIsFenced(t *testing.T) {
	ls := livetest.Open(t)
	h := newHarness(t, withLive(ls), withStandby())
	h.login("wang", "PJSIP/8001", aritest.Phone{})
	talking := h.dial("13800000001", "12345")
	talking.Press("0")
	leg := h.originated("PJSIP/8001")
	h.eventually("bridged", func() bool { return leg.BridgeID() != "" && talking.BridgeID() == leg.BridgeID() })
	key := h.ctrl.nodes[0].lease.key
	if err := ls.Set(h.ctx, key, "another-instance", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	// The node's role turns standby as its socket closes, a moment before the
	// controller counts it out of the nodes it controls: wait for both.
	h.eventually("the controller lets go of the node and no longer says it controls calls", func() bool {
		return role(h.ctrl) == RoleStandby && !h.srv.Connected() && h.ctrl.ActiveCalls() == 0 && !h.ctrl.Controlling()
	})
	if talking.State() != "Up" || leg.State() != "Up" || talking.BridgeID() == "" || talking.BridgeID() != leg.BridgeID() {
		t.Errorf("the fenced controller touched the conversation: caller %s, operator %s, bridges %q %q",
			talking.State(), leg.State(), talking.BridgeID(), leg.BridgeID())
	}
	var rec Record
	if err := h.opts.DB.Where("channel_id = ?", talking.ID()).First(&rec).Error; err != nil || rec.EndedAt != nil {
		t.Errorf("the fenced controller closed the conversation's record: %+v %v", rec, err)
	}
	if v, _ := ls.Get(h.ctx, key).Result(); v != "another-instance" {
		t.Errorf("the fenced controller touched the other's lease: %q", v)
	}
}

// TestStandbyCommandsAndRoles: a standby shows the active instance's picture with its own
// role, and passes an operator's commands on; while no instance controls the node (the
// holder cut off, its lease not yet expired) a command is refused with 503 and
// Retry-After, not accepted and lost; once the standby took over it acts at once.
func TestStandbyCommandsAndRoles(t *testing.T) {
	ls := livetest.Open(t)
	proxy := newCuttable(t, ls.Options().Addr)
	h := newHarness(t, withLive(openVia(t, ls, proxy)), withStandby())
	b := h.startPeer(ls)
	if role(h.ctrl) != RoleActive {
		t.Fatalf("the first controller is %s, want active", role(h.ctrl))
	}
	onB := h.serve(wang, b.ctrl, b.ctrl.Live())
	h.eventually("the standby shows the active instance's picture", func() bool {
		code, _ := request(t, onB, "GET", "/ivr/live", "")
		return code == http.StatusOK
	})
	var pic Snapshot
	_, body := request(t, onB, "GET", "/ivr/live", "")
	if err := json.Unmarshal([]byte(body), &pic); err != nil {
		t.Fatal(err)
	}
	if len(pic.Roles) != 1 || pic.Roles[0].Role != RoleStandby || pic.Roles[0].Node == "" {
		t.Errorf("roles on the standby: %+v, want the node as standby", pic.Roles)
	}
	h.eventually("the active instance listens for commands", func() bool {
		code, _ := request(t, onB, "POST", "/ivr/agents/me/login", `{"phone":"PJSIP/8001"}`)
		return code == http.StatusAccepted
	})
	h.eventually("wang logs in on the active instance through the standby, which mirrors it", func() bool {
		agents, err := b.ctrl.Live().Agents(h.ctx)
		return err == nil && len(agents) == 1 && agents[0].User == "wang"
	})

	proxy.setCut(true)
	refused := false
	for deadline := time.Now().Add(10 * testLeaseTTL); !refused && role(b.ctrl) != RoleActive; {
		if time.Now().After(deadline) {
			t.Fatal("the standby never took over")
		}
		req, _ := http.NewRequest("POST", onB.URL+"/api/v1/ivr/agents/me/state", strings.NewReader(`{"state":"paused","reason":"会议"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusAccepted:
			// The holder still listened: the pause was applied there.
		case http.StatusServiceUnavailable:
			refused = true
			if resp.Header.Get("Retry-After") == "" || !strings.Contains(string(b), "no_controller_now") {
				t.Errorf("refusal during the take-over: Retry-After %q, body %s", resp.Header.Get("Retry-After"), b)
			}
		case http.StatusOK:
			// Taken over meanwhile: applied at once.
		default:
			t.Fatalf("pause during the take-over: %d %s", resp.StatusCode, b)
		}
	}
	if !refused {
		t.Error("no command was refused while no instance controlled the node")
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, ok := b.ctrl.acd.agent("wang"); ok && role(b.ctrl) == RoleActive {
			break
		}
		if time.Now().After(deadline) {
			agents, err := b.ctrl.Live().Agents(h.ctx)
			ags, _ := b.ctrl.acd.snapshot()
			t.Fatalf("the standby did not take over with the operators: %s, its operators %+v, the live store's %+v (%v)", role(b.ctrl), ags, agents, err)
		}
	}
	code, body := request(t, onB, "POST", "/ivr/agents/me/state", `{"state":"paused","reason":"会议"}`)
	if code != http.StatusOK {
		t.Fatalf("pause on the new active instance: %d %s", code, body)
	}
	if ag, ok := b.ctrl.acd.agent("wang"); !ok || ag.State != AgentPaused {
		t.Errorf("wang on the new active instance: %+v", ag)
	}
	_, body = request(t, onB, "GET", "/ivr/live", "")
	pic = Snapshot{}
	if err := json.Unmarshal([]byte(body), &pic); err != nil || len(pic.Roles) != 1 || pic.Roles[0].Role != RoleActive {
		t.Errorf("roles on the new active instance: %+v (%v)", pic.Roles, err)
	}
}
