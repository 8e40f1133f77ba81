package ivr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"

	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/live"
	"github.com/rexian/rexian/tickets"
)

// Options are what a Controller is built from.
type Options struct {
	ARI      config.ARI
	Settings config.IVR
	DB       *gorm.DB
	Tickets  *tickets.Store
	// Live may be nil (no Redis at all): screens then see only this instance.
	Live     *live.Store
	Log      *slog.Logger
	Now      func() time.Time
	Location *time.Location
	// ObserveReply, when set, receives every event→reply latency (rexian sim and the
	// benchmark compute exact percentiles from them).
	ObserveReply func(time.Duration)
}

// Controller answers the hotlines on one or more Asterisk nodes.
type Controller struct {
	cfg     config.IVR
	lines   map[string]config.Line
	hotline map[string]config.Hotline
	menus   map[string]config.Menu
	queues  map[string]config.Queue
	emerg   map[string]string
	ops     map[string]string

	log     *slog.Logger
	now     func() time.Time
	loc     *time.Location
	records records
	tickets *tickets.Store
	acd     *acd
	spells  *spellLog
	live    *liveState

	nodes []*node
	// standby: nodes are controlled under a lease (ari.standby); holding tells how many
	// this instance holds now.
	standby bool
	holding int
	// restoring counts the take-overs bringing the operators back from the live store:
	// meanwhile this instance's own picture (empty) must not overwrite theirs there.
	restoring atomic.Int32

	mu       sync.Mutex
	occupied map[string]int // line number → callers on it
	outbound map[string]int // line number → calls rexian placed on it (call-backs, surveys)
	active   map[uint64]*call
	wg       sync.WaitGroup
	ctx      context.Context

	replyHist   prometheus.Histogram
	observeHook func(time.Duration)
	callsGauge  prometheus.GaugeFunc
	counters    callCounters
}

// New builds a controller; Run connects it.
func New(opts Options) (*Controller, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if err := opts.Settings.Validate("ivr."); err != nil {
		return nil, err
	}
	c := &Controller{
		cfg:         opts.Settings,
		lines:       map[string]config.Line{},
		hotline:     map[string]config.Hotline{},
		menus:       map[string]config.Menu{},
		queues:      map[string]config.Queue{},
		emerg:       map[string]string{},
		ops:         map[string]string{},
		log:         opts.Log.With("component", "ivr"),
		now:         opts.Now,
		loc:         opts.Location,
		records:     records{db: opts.DB},
		tickets:     opts.Tickets,
		occupied:    map[string]int{},
		outbound:    map[string]int{},
		active:      map[uint64]*call{},
		ctx:         context.Background(),
		observeHook: opts.ObserveReply,
		replyHist: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "rexian_ivr_event_reply_seconds",
			Help:    "Time from an ARI event arriving to the answer of the REST request it caused.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, 1},
		}),
	}
	for _, l := range c.cfg.Lines {
		c.lines[l.Number] = l
	}
	for _, h := range c.cfg.Hotlines {
		c.hotline[h.Code] = h
	}
	for _, m := range c.cfg.Menus {
		c.menus[m.Name] = m
	}
	for _, q := range c.cfg.Queues {
		c.queues[q.Name] = q
	}
	for _, e := range c.cfg.Emergency {
		name, dial, _ := config.ParseNamedDial(e)
		c.emerg[name] = dial
	}
	for _, o := range c.cfg.Operators {
		name, dial, _ := config.ParseNamedDial(o)
		c.ops[name] = dial
	}
	c.live = newLiveState(opts.Live, c.log)
	c.acd = newACD(c.now, c.live.touch)
	c.spells = newSpellLog(opts.DB, c.log)
	c.acd.spell = c.spells.add
	c.live.snapshot = c.snapshot
	c.live.apply = c.applyCommand
	for _, u := range opts.ARI.URL {
		n, err := newNode(c, u, opts.ARI.User, opts.ARI.Password, opts.ARI.App, c.log)
		if err != nil {
			return nil, err
		}
		c.nodes = append(c.nodes, n)
	}
	if opts.ARI.Standby {
		if opts.Live == nil {
			return nil, errors.New("ari.standby needs the live store shared by the instances (redis_url)")
		}
		ttl := opts.ARI.LeaseTTL
		if ttl <= 0 {
			ttl = config.DefaultARI().LeaseTTL
		}
		for _, n := range c.nodes {
			n.lease = newLease(opts.Live, n.app, n.name, ttl)
		}
		c.standby = true
	}
	c.live.active = func() bool { return c.Controlling() && c.restoring.Load() == 0 }
	c.callsGauge = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "rexian_ivr_active_calls", Help: "Calls the controller is handling now.",
	}, func() float64 { return float64(c.ActiveCalls()) })
	c.counters = newCallCounters()
	return c, nil
}

// Collectors are the controller's Prometheus metrics.
func (c *Controller) Collectors() []prometheus.Collector {
	return []prometheus.Collector{c.replyHist, c.callsGauge, newCollector(c), c.counters.ended, c.counters.inTarget}
}

// Run keeps the nodes connected and serves calls until ctx ends; then it waits for the
// calls' goroutines to finish their clean-up.
func (c *Controller) Run(ctx context.Context) error {
	c.mu.Lock()
	c.ctx = ctx
	c.mu.Unlock()
	if !c.standby {
		c.restoreAgents(ctx)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); c.live.run(ctx) }()
	spellsDone := make(chan struct{})
	go func() { defer close(spellsDone); c.spells.run(ctx) }()
	for _, n := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if n.lease == nil {
				n.control(ctx)
				return
			}
			c.standBy(ctx, n)
		}()
	}
	<-ctx.Done()
	wg.Wait()
	c.wg.Wait()
	c.acd.stop()
	<-spellsDone
	for _, n := range c.nodes {
		n.rest.close()
	}
	return nil
}

// standBy waits for the node's lease and controls the node while it holds it, again and
// again until ctx ends. Taking a node over is a restart's re-adoption: the operators come
// back from the live store, the calls from Asterisk's channels and their records.
func (c *Controller) standBy(ctx context.Context, n *node) {
	n.log.Info("ari: standing by for the node's lease", "ttl", n.lease.ttl)
	waitLogged := false
	n.lease.hold(ctx, func(err error) {
		switch {
		case errors.Is(err, errLeaseLost):
			n.log.Error("ari: lease lost; this instance stopped controlling the node's calls and stands by", "err", err)
			waitLogged = false
		case err != nil && !waitLogged:
			n.log.Warn("ari: lease not reachable in the live store; standing by", "err", err)
			waitLogged = true
		}
	}, func(held context.Context) {
		waitLogged = false
		start := time.Now()
		c.mu.Lock()
		first := c.holding == 0
		c.holding++
		c.mu.Unlock()
		if first {
			// What this instance knew of the operators is stale (or empty): the holder
			// that went kept the picture in the live store.
			c.restoring.Add(1)
			c.acd.forget()
			c.restoreAgents(held)
			c.restoring.Add(-1)
			c.live.touch()
		}
		n.log.Info("ari: lease taken; this instance controls the node", "took", time.Since(start))
		n.control(held)
		c.mu.Lock()
		c.holding--
		last := c.holding == 0
		c.mu.Unlock()
		if last {
			c.acd.forget()
		}
	})
}

// Controlling reports whether this instance controls at least one node: it then keeps
// the operators' queue, writes the live picture and applies operators' commands. Without
// ari.standby the controller always does.
func (c *Controller) Controlling() bool {
	if !c.standby {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.holding > 0
}

// NodeRole is one node's role on this instance.
type NodeRole struct {
	Node string `json:"node"`
	Role Role   `json:"role"`
}

// Roles tells, node by node, whether this instance controls it or stands by.
func (c *Controller) Roles() []NodeRole {
	out := make([]NodeRole, 0, len(c.nodes))
	for _, n := range c.nodes {
		out = append(out, NodeRole{Node: n.name, Role: n.role()})
	}
	return out
}

// Connected reports how many nodes have their event socket up.
func (c *Controller) Connected() int {
	k := 0
	for _, n := range c.nodes {
		if n.connected.Load() {
			k++
		}
	}
	return k
}

// ActiveCalls is the number of calls being handled.
func (c *Controller) ActiveCalls() int {
	n := 0
	for _, nd := range c.nodes {
		nd.mu.Lock()
		n += len(nd.calls)
		nd.mu.Unlock()
	}
	return n
}

func (c *Controller) observeReply(d time.Duration) {
	c.replyHist.Observe(d.Seconds())
	if c.observeHook != nil {
		c.observeHook(d)
	}
}

// stopping reports whether the controller is shutting down. Calls then leave their
// channels as they are (in Stasis, on hold or talking) for the next run to re-adopt: a
// restart of rexian must not hang up on citizens.
func (c *Controller) stopping() bool {
	c.mu.Lock()
	ctx := c.ctx
	c.mu.Unlock()
	return ctx.Err() != nil
}

// ReplyLatency exposes the event→reply histogram for the benchmark.
func (c *Controller) ReplyLatency() prometheus.Histogram { return c.replyHist }

// startCall begins a call for a channel that entered Stasis and that no call owns.
func (c *Controller) startCall(n *node, ss *ari.StasisStart, at time.Time) {
	if len(ss.Args) > 0 && ss.Args[0] != "" && !isDialled(ss.Args[0]) {
		// A leg we originated whose call is gone (it ended while the phone rang): hang
		// it up so that an operator's phone does not connect to nobody.
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
			defer cancel()
			if err := n.rest.hangup(ctx, ss.Channel.ID, ""); err != nil {
				n.log.Warn("hang up orphan leg", "channel", ss.Channel.ID, "err", err)
			}
		}()
		return
	}
	dialled := ""
	if len(ss.Args) > 0 {
		dialled = ss.Args[0]
	} else if ss.Channel.Dialplan != nil {
		dialled = ss.Channel.Dialplan.Exten
	}
	cl := newCall(c, n, ss.Channel, dialled)
	cl.lastEvt = at
	if !c.launch(n, cl, func(ctx context.Context) { cl.run(ctx) }) {
		// Re-adoption after a reconnect listed the channel before its StasisStart got
		// here, and took it: one flow a channel.
		n.log.Info("ivr: call already taken over on reconnect", "channel", ss.Channel.ID)
	}
}

// isDialled tells the dialled-number argument of an incoming call from the role
// arguments of legs the controller originates ("agent", "callback", "transfer", …).
func isDialled(arg string) bool {
	for _, r := range arg {
		if !(r >= '0' && r <= '9' || r == '+' || r == '-' || r == '*' || r == '#') {
			return false
		}
	}
	return true
}

// launch runs a call's flow on its own goroutine with its clean-up, unless a call
// already owns the channel (false): a StasisStart and the re-adoption after a reconnect
// may both find a new channel, and two flows on one channel would talk over each other.
func (c *Controller) launch(n *node, cl *call, flow func(ctx context.Context)) bool {
	parent := n.controlContext()
	n.mu.Lock()
	if n.calls[cl.id] != nil || n.routes[cl.id] != nil {
		n.mu.Unlock()
		return false
	}
	ctx, cancel := context.WithCancel(parent)
	cl.ctx, cl.cancel = ctx, cancel
	cl.log = n.log.With("channel", cl.id, "caller", cl.caller)
	n.calls[cl.id] = cl
	n.routes[cl.id] = cl
	n.mu.Unlock()
	c.wg.Add(1)
	n.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer n.wg.Done()
		defer cancel()
		defer func() {
			n.mu.Lock()
			delete(n.calls, cl.id)
			delete(n.routes, cl.id)
			for _, id := range cl.routed {
				if n.routes[id] == cl {
					delete(n.routes, id)
				}
			}
			n.mu.Unlock()
		}()
		defer func() {
			// A bug in one call must not take the controller (and every other caller)
			// down: log it with the stack and send the caller to the dialplan's
			// fallback, which takes the message; hang up only if that fails.
			if r := recover(); r != nil {
				cl.log.Error("ivr: call flow panicked; the caller goes to the dialplan's fallback", "panic", r, "stack", string(debug.Stack()))
				ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
				defer cancel()
				if err := n.rest.continueIn(ctx, cl.id, fallbackContext); err != nil {
					_ = n.rest.hangup(ctx, cl.id, "")
				}
			}
		}()
		flow(ctx)
	}()
	return true
}

// lineFor finds the line of a dialled number; an unknown number goes to the first line's
// hotline and is logged, so a dialplan typo never drops a citizen.
func (c *Controller) lineFor(dialled string) (config.Line, bool) {
	if l, ok := c.lines[dialled]; ok {
		return l, true
	}
	return c.cfg.Lines[0], false
}

// takeLine occupies one channel of a line for a caller; false when all are busy,
// counting the calls rexian placed on it.
func (c *Controller) takeLine(l config.Line) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.occupied[l.Number]+c.outbound[l.Number] >= l.Channels {
		return false
	}
	c.occupied[l.Number]++
	c.live.touch()
	return true
}

// ErrLinesReserved: placing the call would take one of the channels kept for callers
// (ivr.outbound_reserve); try again later.
var ErrLinesReserved = errors.New("ivr: the line's free channels are kept for callers (ivr.outbound_reserve)")

// takeOutbound occupies one channel of a line for a call rexian places; it refuses
// (ErrLinesReserved) when fewer than ivr.outbound_reserve channels would stay free.
func (c *Controller) takeOutbound(l config.Line) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.occupied[l.Number]+c.outbound[l.Number]+c.cfg.OutboundReserve >= l.Channels {
		return fmt.Errorf("%w: %s has %d callers and %d calls out of %d channels", ErrLinesReserved, l.Number,
			c.occupied[l.Number], c.outbound[l.Number], l.Channels)
	}
	c.outbound[l.Number]++
	c.live.touch()
	return nil
}

// outboundFree reports whether takeOutbound would succeed now.
func (c *Controller) outboundFree(l config.Line) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.occupied[l.Number]+c.outbound[l.Number]+c.cfg.OutboundReserve < l.Channels
}

func (c *Controller) freeOutbound(l config.Line) {
	c.mu.Lock()
	if c.outbound[l.Number] > 0 {
		c.outbound[l.Number]--
	}
	c.mu.Unlock()
	c.live.touch()
}

func (c *Controller) freeLine(l config.Line) {
	c.mu.Lock()
	if c.occupied[l.Number] > 0 {
		c.occupied[l.Number]--
	}
	c.mu.Unlock()
	c.live.touch()
}

// LineUse is a line's occupancy for live screens: Busy counts every channel in use,
// callers' and the calls rexian placed (Outbound), since both take the trunk's channels.
type LineUse struct {
	Number   string `json:"number"`
	Hotline  string `json:"hotline"`
	Channels int    `json:"channels"`
	Busy     int    `json:"busy"`
	Outbound int    `json:"outbound"`
}

// Snapshot is the live picture: lines, operators and waiting callers.
type Snapshot struct {
	At        time.Time `json:"at"`
	Connected int       `json:"nodes_connected"`
	Nodes     int       `json:"nodes"`
	Lines     []LineUse `json:"lines"`
	Agents    []Agent   `json:"agents"`
	Waiting   []Waiting `json:"waiting"`
	// Roles is what the instance that answers is for each node (active or standby): the
	// picture itself comes from the active one, through the live store on a standby.
	Roles []NodeRole `json:"roles,omitempty"`
}

// Picture is the live picture as this instance shows it: its own when it controls the
// calls, else the active instance's from the live store (nil when none is there), with
// this instance's roles.
func (c *Controller) Picture(ctx context.Context, l *Live) (*Snapshot, error) {
	var s *Snapshot
	if c != nil && c.Controlling() {
		own := c.snapshot()
		s = &own
	} else if l != nil {
		var err error
		if s, err = l.Snapshot(ctx); err != nil || s == nil {
			return nil, err
		}
	}
	if s != nil && c != nil {
		s.Roles = c.Roles()
	}
	return s, nil
}

func (c *Controller) snapshot() Snapshot {
	agents, waiting := c.acd.snapshot()
	s := Snapshot{At: c.now().UTC(), Connected: c.Connected(), Nodes: len(c.nodes), Agents: agents, Waiting: waiting}
	c.mu.Lock()
	for _, l := range c.cfg.Lines {
		s.Lines = append(s.Lines, LineUse{Number: l.Number, Hotline: l.Hotline, Channels: l.Channels,
			Busy: c.occupied[l.Number] + c.outbound[l.Number], Outbound: c.outbound[l.Number]})
	}
	c.mu.Unlock()
	return s
}

// Snapshot returns the live picture of this controller.
func (c *Controller) Snapshot() Snapshot { return c.snapshot() }

// register and unregister keep the calls by record id, for transfers from the console.
func (c *Controller) register(id uint64, cl *call) {
	if id == 0 {
		return
	}
	c.mu.Lock()
	c.active[id] = cl
	c.mu.Unlock()
}

func (c *Controller) unregister(id uint64) {
	c.mu.Lock()
	delete(c.active, id)
	c.mu.Unlock()
}

// ErrNoCall: the call is not (or no longer) handled by this controller.
var ErrNoCall = errors.New("ivr: no such call in progress")

// transfer asks a call in progress to hand the caller to an emergency number.
func (c *Controller) transfer(id uint64, target, by string) error {
	dial, ok := c.emerg[target]
	if !ok {
		return fmt.Errorf("%w: %q is not a configured emergency number (%s)", errUnknownTarget, target, strings.Join(c.emergencyNames(), ", "))
	}
	c.mu.Lock()
	cl := c.active[id]
	c.mu.Unlock()
	if cl == nil {
		return ErrNoCall
	}
	cl.deliver(event{cmd: cmdTransfer{target: target, dial: dial, by: by}})
	return nil
}

var errUnknownTarget = errors.New("ivr: unknown transfer target")

func (c *Controller) emergencyNames() []string {
	var out []string
	for _, e := range c.cfg.Emergency {
		name, _, _ := config.ParseNamedDial(e)
		out = append(out, name)
	}
	return out
}

type cmdTransfer struct{ target, dial, by string }

// applyCommand applies an operator command that arrived from another instance.
func (c *Controller) applyCommand(cmd command) {
	switch cmd.Op {
	case "login":
		c.acd.login(cmd.User, cmd.Name, cmd.Phone, cmd.Skills)
	case "logout":
		c.acd.logout(cmd.User)
	case "ready", "pause":
		c.acd.setState(cmd.User, cmd.Op == "ready", cmd.Reason)
	case "transfer":
		if err := c.transfer(cmd.CallID, cmd.Target, cmd.User); err != nil && !errors.Is(err, ErrNoCall) {
			c.log.Warn("ivr: transfer from another instance failed", "call", cmd.CallID, "err", err)
		}
	case "control":
		// Reason carries the action. The result reaches the screens as call messages.
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if _, err := c.Control(ctx, cmd.CallID, cmd.Reason, cmd.Target, cmd.Phone, "user:"+cmd.User, cmd.Name, cmd.User); err != nil {
				c.log.Warn("ivr: call control from another instance failed", "call", cmd.CallID, "action", cmd.Reason, "err", err)
			}
		}()
	}
}

// nodeNamed finds a node by the name call records carry.
func (c *Controller) nodeNamed(name string) *node {
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	if len(c.nodes) == 1 {
		return c.nodes[0]
	}
	return nil
}

// Live is the controller's live-state access, shared with the API on this instance.
func (c *Controller) Live() *Live { return c.live.Live }

// restoreAgents brings back the operators who were logged in when rexian last stopped,
// from the picture kept in Redis, so that a restart does not log the whole room out.
// Paused ones stay paused; those who were talking stay busy until their conversation is
// taken over (or found ended), the others come back ready.
func (c *Controller) restoreAgents(ctx context.Context) {
	agents, err := c.live.Agents(ctx)
	if err != nil {
		c.log.Warn("ivr: operators not restored: the live store is unreachable; they log in again", "err", err)
		return
	}
	for _, a := range agents {
		c.acd.restore(a)
	}
	if len(agents) > 0 {
		c.log.Info("ivr: operators restored from the live store", "operators", len(agents))
	}
}

// Login puts an operator in the queue on this controller (the API does the same for a
// logged-in user; rexian sim logs in its scripted operators).
func (c *Controller) Login(user, name, phone string, skills []string) Agent {
	return c.acd.login(user, name, phone, skills)
}
