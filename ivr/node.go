package ivr

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/gorilla/websocket"
)

// node is one Asterisk: its REST interface, its event socket, and the calls it owns.
//
// One goroutine reads the socket and routes each event by the ids it names (channel,
// bridge, playback, recording) to the call that registered them. It never blocks on a
// call: each call has an unbounded inbox, so a slow database write in one call cannot
// make the reader drop another call's hang-up (the native client's bus drops events when
// a subscriber's 100-event buffer is full).
type node struct {
	name string // the URL's host, for logs
	app  string
	rest *rest
	ws   string // ws://host:8088/ari/events?app=…
	auth string
	ctrl *Controller
	log  *slog.Logger

	mu     sync.Mutex
	routes map[string]*call // channel id, bridge id, playback id or recording name → call
	calls  map[string]*call // caller channel id → call

	connected atomic.Bool
	// replaced is set when another controller took the Stasis app over on this node:
	// the socket stays open but carries no more calls, until the next connect.
	replaced atomic.Bool
	// adopted: the node's channels were listed and taken over at least once.
	adopted atomic.Bool
	entity  atomic.Value // string: Asterisk's entity id

	// lease is the node's control lease with ari.standby (nil without): the node is
	// controlled only while it is held.
	lease *lease
	// active: this instance controls the node (always, without ari.standby).
	active atomic.Bool
	// ctl is the context the node's calls run under: it ends when the controller stops
	// or the lease is lost, and its calls then leave their channels as they are.
	ctlMu sync.Mutex
	ctl   context.Context
	// calls' goroutines, so that a node given up waits for its calls to let go.
	wg sync.WaitGroup
}

func newNode(ctrl *Controller, rawURL, user, pass, app string, log *slog.Logger) (*node, error) {
	r, err := newREST(rawURL, user, pass)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(r.base)
	ws := *u
	ws.Scheme = "ws"
	if u.Scheme == "https" {
		ws.Scheme = "wss"
	}
	ws.Path += "/events"
	// Without subscribeAll the app hears about its own channels only, which is all the
	// controller needs and less traffic (recorded: 119 % CPU instead of 133 %).
	ws.RawQuery = url.Values{"app": {app}}.Encode()
	n := &node{
		name:   u.Host,
		app:    app,
		rest:   r,
		ws:     ws.String(),
		auth:   "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass)),
		ctrl:   ctrl,
		routes: map[string]*call{},
		calls:  map[string]*call{},
	}
	n.log = log.With("node", n.name)
	n.entity.Store("")
	n.ctl = context.Background()
	return n, nil
}

// control connects the node and serves its calls until ctx ends (the controller stops or
// the lease is lost); then it waits for the node's calls, which leave their channels in
// Asterisk for whoever controls the node next.
func (n *node) control(ctx context.Context) {
	n.ctlMu.Lock()
	n.ctl = ctx
	n.ctlMu.Unlock()
	n.active.Store(true)
	n.run(ctx)
	n.active.Store(false)
	n.adopted.Store(false)
	n.wg.Wait()
}

// controlContext is the context a call on this node runs under.
func (n *node) controlContext() context.Context {
	n.ctlMu.Lock()
	defer n.ctlMu.Unlock()
	return n.ctl
}

// fenced reports whether this instance stopped controlling the node (its lease was lost
// or the controller stops): its calls must no longer touch their channels.
func (n *node) fenced() bool { return n.controlContext().Err() != nil }

// Role is what this instance is for the node.
func (n *node) role() Role {
	if n.active.Load() {
		return RoleActive
	}
	return RoleStandby
}

// run keeps the event socket open until ctx ends, reconnecting with capped exponential
// backoff and jitter, and re-adopting the node's channels after every (re)connect.
func (n *node) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	const maxBackoff = 10 * time.Second
	failures := 0
	for ctx.Err() == nil {
		up, err := n.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if up {
			backoff, failures = 100*time.Millisecond, 0
		}
		failures++
		// The first failure is worth a warning; a node that stays down is logged once a
		// minute or so rather than ten times a second.
		if failures == 1 || failures%30 == 0 {
			n.log.Warn("ari: event socket down; reconnecting", "err", err, "retry_in", backoff, "failures", failures)
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// session runs one socket connection. up reports whether it was established.
func (n *node) session(ctx context.Context) (up bool, err error) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, Proxy: nil}
	conn, resp, err := d.DialContext(ctx, n.ws, http.Header{"Authorization": {n.auth}})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusUnauthorized {
			return false, fmt.Errorf("connect %s: Asterisk refused the ARI user and password (check ari.user, ari.password and ari.conf)", n.name)
		}
		return false, fmt.Errorf("connect %s: %w", n.name, err)
	}
	// Close the socket when ctx ends so that the blocked read returns.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()

	if info, err := n.rest.info(ctx); err == nil {
		n.entity.Store(info.SystemInfo.EntityID)
	}
	n.replaced.Store(false)
	n.connected.Store(true)
	defer n.connected.Store(false)
	n.log.Info("ari: connected", "app", n.app)

	// Events that arrived while no socket was open are lost for good (recorded: nothing
	// is replayed). Re-adopting reconciles the calls with what Asterisk has now.
	go n.adopt(ctx)

	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			if ctx.Err() != nil {
				return true, ctx.Err()
			}
			return true, fmt.Errorf("read %s: %w", n.name, err)
		}
		received := time.Now()
		ev, err := ari.DecodeEvent(data)
		if err != nil || ev == nil {
			n.log.Warn("ari: undecodable event ignored", "err", err, "bytes", len(data))
			continue
		}
		n.dispatch(ev, received)
	}
}

// event is what a call's inbox carries: an ARI event with the time it was read off the
// socket, or a command from the controller (transfer, shutdown).
type event struct {
	ev  ari.Event
	at  time.Time
	cmd any
}

// dispatch routes one event. It only looks up maps and appends to inboxes.
func (n *node) dispatch(ev ari.Event, at time.Time) {
	if ss, ok := ev.(*ari.StasisStart); ok {
		n.mu.Lock()
		c := n.routes[ss.Channel.ID]
		n.mu.Unlock()
		if c != nil {
			c.deliver(event{ev: ev, at: at})
			return
		}
		n.ctrl.startCall(n, ss, at)
		return
	}
	if _, ok := ev.(*ari.ApplicationReplaced); ok {
		// Another rexian took the app over: Asterisk sends this socket nothing more.
		n.replaced.Store(true)
		n.log.Error("ari: another controller connected to this Asterisk with the same app; this one gets no more events", "app", n.app)
		return
	}
	var seen [4]*call
	k := 0
	n.mu.Lock()
	for _, key := range ev.Keys() {
		c := n.routes[key.ID]
		if c == nil {
			continue
		}
		dup := false
		for i := 0; i < k; i++ {
			dup = dup || seen[i] == c
		}
		if !dup && k < len(seen) {
			seen[k] = c
			k++
		}
	}
	n.mu.Unlock()
	for i := 0; i < k; i++ {
		seen[i].deliver(event{ev: ev, at: at})
	}
}

// route makes events naming id go to c.
func (n *node) route(id string, c *call) {
	n.mu.Lock()
	n.routes[id] = c
	n.mu.Unlock()
}

func (n *node) unroute(ids ...string) {
	n.mu.Lock()
	for _, id := range ids {
		delete(n.routes, id)
	}
	n.mu.Unlock()
}

// adopt reconciles the node's channels with the calls this controller runs, after a
// (re)connect: a call whose channel is gone (the caller hung up while no socket was open)
// is ended; a channel in our Stasis app that no call owns (rexian restarted mid-call) is
// taken over so that the caller is not left in silence.
//
// Only the calls that ran before the channels were listed can be missing from the list:
// a caller who rings in while the list is on its way starts a call from the new socket's
// StasisStart and is not in it, and must not be taken for gone.
func (n *node) adopt(ctx context.Context) {
	n.mu.Lock()
	before := make(map[string]*call, len(n.calls))
	for id, c := range n.calls {
		before[id] = c
	}
	n.mu.Unlock()
	listed := n.ctrl.now().UTC()
	chans, err := n.rest.channels(ctx)
	if err != nil {
		n.log.Warn("ari: cannot list channels to re-adopt calls", "err", err)
		return
	}
	// Operators restored busy whose conversation is not taken over below are free.
	defer func() {
		n.adopted.Store(true)
		n.ctrl.settleOperators()
	}()
	alive := make(map[string]channelInfo, len(chans))
	for _, ch := range chans {
		alive[ch.ID] = ch
	}
	n.mu.Lock()
	var lost []*call
	for id, c := range before {
		if _, ok := alive[id]; !ok && n.calls[id] == c {
			lost = append(lost, c)
		}
	}
	owned := make(map[string]bool, len(n.routes))
	for id := range n.routes {
		owned[id] = true
	}
	n.mu.Unlock()
	for _, c := range lost {
		c.deliver(event{cmd: cmdGone{}})
	}
	// The others may have missed events while the socket was down (a playback that
	// finished, a phone that answered): each checks what it is waiting for.
	n.mu.Lock()
	for id, c := range n.calls {
		if _, ok := alive[id]; ok {
			c.deliver(event{cmd: cmdResync{alive: alive}})
		}
	}
	n.mu.Unlock()
	// Calls that ended while no controller watched them (rexian stopped or died) get
	// their records closed with the end they reached.
	n.ctrl.closeGone(ctx, n, alive, listed)
	var orphans []channelInfo
	for _, ch := range chans {
		if owned[ch.ID] || !n.inOurApp(ch) {
			continue
		}
		orphans = append(orphans, ch)
	}
	if len(orphans) == 0 {
		return
	}
	bridges, err := n.rest.bridges(ctx)
	if err != nil {
		n.log.Warn("ari: cannot list bridges to re-adopt calls", "err", err)
	}
	n.ctrl.adoptOrphans(ctx, n, orphans, bridges)
}

// inOurApp reports whether a channel sits in this node's Stasis app.
func (n *node) inOurApp(ch channelInfo) bool {
	app, _, _ := strings.Cut(ch.Dialplan.AppData, ",")
	return ch.Dialplan.AppName == "Stasis" && app == n.app
}

func (n *node) entityID() string { return n.entity.Load().(string) }

// errHangup ends a call's flow: the caller hung up.
var errHangup = errors.New("caller hung up")
