package ivr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/CyCoreSystems/ari/v5"

	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/phone"
)

// Virtual hold: a waiting caller presses the call-back key and hangs up; their place in
// the queue is kept by a call-back session that, when their turn comes, rings an operator
// first and then calls the citizen through the trunk and bridges the two.

// maxCallbackWait bounds how long a call-back waits for its turn; after that the request
// becomes a ticket so that it is not forgotten.
const maxCallbackWait = 4 * time.Hour

// callbackLineRetry is how long a call-back that found every free line kept for callers
// waits before it takes its turn again.
var callbackLineRetry = 5 * time.Second

// virtualHold hands the waiter over to a call-back session. It refuses callers whose
// number cannot be dialled back (withheld, malformed) or when no trunk is configured.
func (c *call) virtualHold(ctx context.Context, w *waiter) bool {
	if c.ctrl.cfg.Trunk == "" {
		return false
	}
	n, err := phone.Parse(c.caller)
	if err != nil || !n.Valid {
		c.log.Info("ivr: call-back refused: the caller's number cannot be dialled", "err", err)
		return false
	}
	cb := &call{
		ctrl:    c.ctrl,
		node:    c.node,
		id:      newID("callback-"),
		caller:  n.National,
		dialled: c.dialled,
		line:    c.line,
		hotline: c.hotline,
		signal:  make(chan struct{}, 1),
	}
	now := c.ctrl.now().UTC()
	cb.rec = &Record{
		Node: c.node.name, ChannelID: cb.id, Caller: cb.caller, Dialled: c.dialled,
		Hotline: c.hotline.Code, Direction: "callback", Topic: c.rec.Topic,
		ArrivedAt: now, QueuedAt: c.rec.QueuedAt,
		Note: fmt.Sprintf("来电 %d 选择排队回拨", c.rec.ID),
	}
	c.ctrl.acd.markVirtual(w)
	c.ctrl.launch(c.node, cb, func(ctx context.Context) { cb.runCallback(ctx, w) })
	return true
}

// runCallback waits for the turn and calls back, up to the queue's attempts.
func (c *call) runCallback(ctx context.Context, w *waiter) {
	if err := c.ctrl.records.insert(ctx, c.rec); err != nil {
		c.log.Error("ivr: call-back record not written", "err", err)
	}
	c.ctrl.register(c.rec.ID, c)
	defer c.ctrl.unregister(c.rec.ID)
	q := w.queue
	attempts := max(q.CallbackAttempts, 1)
	limit := time.NewTimer(maxCallbackWait)
	defer limit.Stop()
	inQueue := true
	defer func() {
		if inQueue {
			c.ctrl.acd.leave(w)
		}
	}()
	for attempt := 1; attempt <= attempts; attempt++ {
		var agents []*Agent
		select {
		case agents = <-w.offer:
			inQueue = false
		case <-limit.C:
			c.callbackFailed(ctx, "等待超时")
			return
		case <-ctx.Done():
			return
		}
		res := noLine
		var err error
		if c.ctrl.outboundFree(c.line) {
			res, err = c.connect(ctx, q, agents, w)
		} else {
			c.ctrl.acd.missed(nil, "", agents) // the operators take the callers meanwhile
		}
		if err == nil && res == connected {
			c.finish(ctx, OutcomeAnswered)
			return
		}
		if res == noLine {
			// Not an attempt: the citizen keeps the turn and is called once callers
			// leave a line free.
			attempt--
			c.log.Info("ivr: call-back waits for a free line")
			retry := time.NewTimer(callbackLineRetry)
			select {
			case <-retry.C:
			case <-limit.C:
				retry.Stop()
				c.callbackFailed(ctx, "等待超时")
				return
			case <-ctx.Done():
				retry.Stop()
				return
			}
			c.ctrl.acd.requeueFront(w)
			inQueue = true
			continue
		}
		if err != nil && !errors.Is(err, errHangup) {
			c.log.Warn("ivr: call-back attempt failed", "attempt", attempt, "err", err)
		}
		// Reset for the next attempt: the citizen's leg gets a new id.
		c.mu.Lock()
		c.hungup = false
		c.mu.Unlock()
		c.node.mu.Lock()
		delete(c.node.calls, c.id)
		c.id = newID("callback-")
		c.node.calls[c.id] = c
		c.node.routes[c.id] = c
		c.node.mu.Unlock()
		if attempt < attempts {
			// A pause before the next try: a citizen who missed the call may be away
			// from the phone for a moment; the turn is kept meanwhile.
			if q.CallbackRetry > 0 {
				c.log.Info("ivr: call-back not answered; trying again", "attempt", attempt, "of", attempts, "after", q.CallbackRetry)
				pause := time.NewTimer(q.CallbackRetry)
				select {
				case <-pause.C:
				case <-limit.C:
					pause.Stop()
					c.callbackFailed(ctx, fmt.Sprintf("%d 次回拨未接通，等待超时", attempt))
					return
				case <-ctx.Done():
					pause.Stop()
					return
				}
			}
			c.ctrl.acd.requeueFront(w) // keep the front of the queue
			inQueue = true
		}
	}
	c.callbackFailed(ctx, fmt.Sprintf("%d 次回拨未接通", attempts))
}

// callbackFailed turns an unanswered call-back into a ticket for the central desk.
func (c *call) callbackFailed(ctx context.Context, why string) {
	c.rec.Note = appendNote(c.rec.Note, why)
	number, err := c.ctrl.registerMissedCallback(context.WithoutCancel(ctx), c.rec, why)
	if err != nil {
		c.log.Error("ivr: unanswered call-back not registered as a ticket", "err", err)
	}
	c.rec.TicketNumber = number
	c.markHungup() // nothing to hang up: the citizen's leg is gone
	c.finish(ctx, OutcomeCallback)
}

// dialCitizen calls the citizen back through the trunk once the operator answered on
// leg. While the citizen's phone rings the operator hears ring-back and their screen
// says 回拨中; the citizen who answers hears who calls (callback-hello) before the
// operator is put through. It returns false when the citizen does not answer (or hangs
// up during the greeting) or the operator hangs up meanwhile.
func (c *call) dialCitizen(ctx context.Context, leg string, a *Agent, ring time.Duration) (bool, error) {
	if ring <= 0 {
		ring = 30 * time.Second
	}
	dial := strings.ReplaceAll(c.ctrl.cfg.Trunk, "{number}", c.caller)
	if !config.ValidDialString(dial) {
		return false, fmt.Errorf("trunk dial string %q is not valid", dial)
	}
	bg := context.WithoutCancel(ctx)
	c.ctrl.publishCall(c, a, "calling_back")
	ringback := newID("pb-")
	c.route(ringback)
	defer c.node.unroute(ringback)
	if err := c.node.rest.play(ctx, leg, ringback, c.ctrl.cfg.Language, []string{"tone:ring;tonezone=cn"}); err != nil {
		c.log.Warn("ivr: no ring-back for the operator", "leg", leg, "err", err)
	}
	stopRingback := func() {
		if err := c.node.rest.stopPlayback(bg, ringback); err != nil && !gone(err) {
			c.log.Warn("ivr: stop the operator's ring-back", "err", err)
		}
	}
	_, err := c.node.rest.originate(ctx, ari.OriginateRequest{
		Endpoint: dial, App: c.node.app, AppArgs: "callback", ChannelID: c.id,
		CallerID: c.line.Number, Timeout: max(int(ring/time.Second), 1),
	})
	if err != nil {
		stopRingback()
		return false, fmt.Errorf("call back %s: %w", phone.Mask(c.caller), err)
	}
	t := time.NewTimer(ring + 5*time.Second) // Asterisk's own timeout ends it first
	defer t.Stop()
	answered := false
	for !answered {
		e, err := c.next(ctx, t.C)
		if errors.Is(err, errTimeout) {
			_ = c.node.rest.hangup(bg, c.id, "")
			stopRingback()
			return false, nil
		}
		if err != nil {
			stopRingback()
			return false, err
		}
		switch v := e.ev.(type) {
		case *ari.StasisStart:
			answered = v.Channel.ID == c.id
		case *ari.ChannelDestroyed:
			if v.Channel.ID == c.id {
				stopRingback()
				return false, nil
			}
			if v.Channel.ID == leg {
				c.log.Info("ivr: operator hung up while the citizen's phone rang")
				_ = c.node.rest.hangup(bg, c.id, "")
				return false, nil
			}
		case *ari.StasisEnd:
			if v.Channel.ID == leg {
				c.log.Info("ivr: operator hung up while the citizen's phone rang")
				_ = c.node.rest.hangup(bg, c.id, "")
				return false, nil
			}
		}
	}
	stopRingback()
	if err := c.play(ctx, false, c.sound("callback-hello")); err != nil {
		if errors.Is(err, errHangup) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}
