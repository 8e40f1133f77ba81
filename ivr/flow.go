package ivr

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/CyCoreSystems/ari/v5"

	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/phone"
)

// run is an incoming call from arrival to clean-up.
func (c *call) run(ctx context.Context) {
	line, known := c.ctrl.lineFor(c.dialled)
	if !known {
		c.log.Warn("ivr: call to a number with no line configured; taking it on the first line", "dialled", c.dialled, "line", line.Number)
	}
	c.line = line
	c.hotline = c.ctrl.hotline[line.Hotline]
	c.log = c.log.With("line", line.Number, "hotline", c.hotline.Code)
	c.rec = &Record{
		Node: c.node.name, ChannelID: c.id, Caller: c.caller, Dialled: c.dialled,
		Hotline: c.hotline.Code, Direction: "inbound", ArrivedAt: c.ctrl.now().UTC(),
	}

	if !c.ctrl.takeLine(line) {
		c.busy(ctx)
		return
	}
	defer c.ctrl.freeLine(line)

	// Answer first, write the record after: the caller should not wait on the database.
	err := c.node.rest.answer(ctx, c.id)
	c.observe()
	if err != nil {
		outcome := OutcomeAbandonedMenu
		if !gone(err) && !isStatus(err, 409) {
			outcome = c.fallback(ctx, fmt.Errorf("answer: %w", err))
		}
		c.finish(ctx, outcome)
		return
	}
	if err := c.ctrl.records.insert(ctx, c.rec); err != nil {
		c.log.Error("ivr: call record not written; the call goes on", "err", err)
	}
	c.ctrl.register(c.rec.ID, c)
	defer c.ctrl.unregister(c.rec.ID)

	outcome, err := c.flow(ctx)
	if err != nil && !isEnd(err) {
		outcome = c.fallback(ctx, err)
	}
	c.finish(ctx, outcome)
}

// fallbackContext is deploy/asterisk's dialplan context that serves a caller without
// rexian: an apology and a voice message recorded into the spool, which rexian turns into
// a ticket (package spool).
const fallbackContext = "rexian-fallback"

// fallback hands a caller whose flow failed (a record, play, bridge or originate that
// Asterisk refused, a bug) to the dialplan's fallback, which still takes the message: a
// failure must never lose a caller. The places that fail only return their error; this
// logs it, once, and notes it on the call record.
func (c *call) fallback(ctx context.Context, cause error) Outcome {
	bg := context.WithoutCancel(ctx)
	if c.stopping() {
		// The request failed because this controller let go of the call (shutdown, or
		// the node's lease lost): the channel is the next controller's to take over.
		return OutcomeOngoing
	}
	if c.rec != nil {
		c.rec.Note = appendNote(c.rec.Note, "系统故障，转入自动留言："+cause.Error())
	}
	if c.isHungup() {
		c.log.Error("ivr: call flow failed after the caller hung up", "err", cause)
		return OutcomeFailed
	}
	c.log.Error("ivr: call flow failed; the caller goes to the dialplan's fallback to leave a message", "err", cause, "context", fallbackContext)
	// Music on hold started over ARI would go on in the dialplan.
	_ = c.node.rest.stopMOH(bg, c.id)
	err := c.node.rest.continueIn(bg, c.id, fallbackContext)
	c.observe()
	switch {
	case err == nil:
		// The channel is the dialplan's now: nothing of ours may hang it up.
		c.markHungup()
		return OutcomeFallback
	case gone(err):
		c.markHungup()
		return OutcomeFailed
	}
	c.log.Error("ivr: the dialplan's fallback is out of reach too; apologising and hanging up", "err", err)
	_ = c.play(bg, false, c.sound("error-try-later"))
	return OutcomeFailed
}

// finish writes the outcome and hangs the caller up if still there.
func (c *call) finish(ctx context.Context, outcome Outcome) {
	bg := context.WithoutCancel(ctx)
	if c.stopping() && !c.isHungup() {
		c.log.Info("ivr: controller stopping; the call stays in Asterisk for the next run to re-adopt")
		if c.rec != nil && c.rec.ID != 0 {
			c.rec.Note = appendNote(c.rec.Note, "rexian 停止时通话仍在进行，由重启后的控制器接管")
			if err := c.ctrl.records.save(bg, c.rec); err != nil {
				c.log.Error("ivr: call record not saved", "err", err)
			}
		}
		return
	}
	if !c.isHungup() {
		if err := c.node.rest.hangup(bg, c.id, ""); err != nil {
			c.log.Warn("ivr: hang up", "err", err)
		}
	}
	if c.rec == nil {
		return
	}
	if outcome == OutcomeOngoing {
		outcome = OutcomeAbandonedMenu
	}
	now := c.ctrl.now().UTC()
	c.rec.EndedAt = &now
	c.rec.Outcome = outcome
	c.ctrl.counters.count(c.rec)
	if err := c.ctrl.records.save(bg, c.rec); err != nil {
		c.log.Error("ivr: call record not saved", "outcome", outcome, "err", err)
	}
}

// busy serves a caller over the line's capacity: they hear so and may leave a message;
// no caller is dropped without a word.
func (c *call) busy(ctx context.Context) {
	c.log.Info("ivr: all lines busy", "channels", c.line.Channels)
	if err := c.node.rest.answer(ctx, c.id); err != nil {
		c.observe()
		c.finish(ctx, OutcomeBusy)
		return
	}
	c.observe()
	if err := c.ctrl.records.insert(ctx, c.rec); err != nil {
		c.log.Error("ivr: call record not written", "err", err)
	}
	err := c.play(ctx, false, c.sound("all-busy"))
	outcome := OutcomeBusy
	if err == nil {
		outcome, err = c.voicemail(ctx)
	}
	switch {
	case err != nil && !isEnd(err):
		outcome = c.fallback(ctx, err)
	case outcome != OutcomeVoicemail:
		outcome = OutcomeBusy
	}
	c.finish(ctx, outcome)
}

// flow is the hotline's script after the answer.
func (c *call) flow(ctx context.Context) (Outcome, error) {
	if c.hotline.Mode == config.ModeDirect && !c.hasOpenTicket(ctx) {
		// The caller asked for a person by calling this line: they join the queue at
		// once and an idle operator's phone rings while the welcome plays; the two are
		// joined once it has ended (it says the call is recorded).
		if err := c.startIntro(ctx, c.sound(c.hotline.Welcome)); err != nil {
			return OutcomeAbandonedMenu, err
		}
		return c.queue(ctx, c.ctrl.queues[c.hotline.Queue], "")
	}
	if err := c.play(ctx, true, c.sound(c.hotline.Welcome)); err != nil {
		return OutcomeAbandonedMenu, err
	}
	// A key pressed during the welcome is for the menu (or the queue): it acts at once,
	// and the known-caller offer, which would take it, is skipped.
	if c.hotline.KnownCaller && !c.pendingDigits() {
		if out, done, err := c.knownCaller(ctx); done || err != nil {
			return out, err
		}
	}
	if c.hotline.Mode == config.ModeDirect {
		return c.queue(ctx, c.ctrl.queues[c.hotline.Queue], "")
	}
	return c.menu(ctx, c.ctrl.menus[c.hotline.Menu])
}

// menu plays a keypad menu until a valid key, up to its tries; then the fallback.
func (c *call) menu(ctx context.Context, m config.Menu) (Outcome, error) {
	for try := 0; try < m.Tries; try++ {
		if try > 0 && m.Invalid != "" {
			if err := c.play(ctx, true, c.sound(m.Invalid)); err != nil {
				return OutcomeAbandonedMenu, err
			}
		}
		if err := c.play(ctx, true, c.sound(m.Prompt)); err != nil {
			return OutcomeAbandonedMenu, err
		}
		k, err := c.waitDigit(ctx, m.Timeout)
		if err != nil {
			return OutcomeAbandonedMenu, err
		}
		if k == 0 {
			continue
		}
		opt, ok := option(m, k)
		if !ok {
			c.log.Debug("ivr: invalid menu key", "key", string(k))
			continue
		}
		if opt.Action == config.ActionRepeat {
			try--
			continue
		}
		return c.do(ctx, m, opt)
	}
	return c.do(ctx, m, m.Fallback)
}

func option(m config.Menu, k byte) (config.MenuOption, bool) {
	for _, o := range m.Options {
		if o.Key == string(k) {
			return o, true
		}
	}
	return config.MenuOption{}, false
}

// do carries out a menu choice.
func (c *call) do(ctx context.Context, m config.Menu, o config.MenuOption) (Outcome, error) {
	if o.Topic != "" && c.rec != nil {
		c.rec.Topic = o.Topic
	}
	switch o.Action {
	case config.ActionStatus:
		back, err := c.status(ctx)
		if err != nil || !back {
			return OutcomeStatusLookup, err
		}
		return c.menu(ctx, m)
	case config.ActionVoicemail:
		return c.voicemail(ctx)
	default:
		return c.queue(ctx, c.ctrl.queues[o.Queue], o.Topic)
	}
}

// hasOpenTicket reports whether the known-caller offer would be made to this caller: a
// direct line then plays welcome and offer before the queue, as a menu line does.
func (c *call) hasOpenTicket(ctx context.Context) bool {
	if !c.hotline.KnownCaller || c.caller == "" || c.ctrl.tickets == nil {
		return false
	}
	v, err := c.ctrl.openTicketOf(ctx, c.caller)
	return err == nil && v != nil
}

// knownCaller offers the progress of the caller's open ticket before the menu.
func (c *call) knownCaller(ctx context.Context) (Outcome, bool, error) {
	if c.caller == "" || c.ctrl.tickets == nil {
		return OutcomeOngoing, false, nil
	}
	v, err := c.ctrl.openTicketOf(ctx, c.caller)
	if err != nil {
		c.log.Warn("ivr: known-caller lookup failed; going on with the menu", "err", err)
		return OutcomeOngoing, false, nil
	}
	if v == nil {
		return OutcomeOngoing, false, nil
	}
	if err := c.play(ctx, true, c.sound("known-caller")); err != nil {
		return OutcomeAbandonedMenu, true, err
	}
	k, err := c.waitDigit(ctx, 5*time.Second)
	if err != nil {
		return OutcomeAbandonedMenu, true, err
	}
	if k != '1' {
		return OutcomeOngoing, false, nil
	}
	back, err := c.speakStatus(ctx, v.Number)
	if err != nil || !back {
		return OutcomeStatusLookup, true, err
	}
	return OutcomeOngoing, false, nil
}

// queue waits for an operator: music, position announcements, the voice-message and
// call-back keys, the wait limit.
func (c *call) queue(ctx context.Context, q config.Queue, topic string) (Outcome, error) {
	if !c.patient && !c.ctrl.acd.servable(q) {
		if err := c.play(ctx, false, c.sound("no-agent")); err != nil {
			return OutcomeAbandonedQueue, err
		}
		return c.voicemail(ctx)
	}
	// A caller keeps their place from when they first asked for a person: after an
	// operator who did not answer, and after a restart of rexian (the record says when).
	since := c.ctrl.now()
	if c.rec.QueuedAt == nil {
		t := since.UTC()
		c.rec.QueuedAt = &t
	} else {
		since = *c.rec.QueuedAt
	}
	c.rec.Queue = q.Name
	w := &waiter{
		key: c.waiterKey(), queue: q, since: since, caller: c.caller,
		hotline: c.hotline.Code, line: c.line.Number, offer: make(chan []*Agent, 1),
	}
	w.wake = func() { c.deliver(event{cmd: cmdOffer{}}) }
	// Queued first, told after: an idle operator's phone rings while the caller hears
	// queue-enter, which the offer cuts short. Keys typed after the menu choice are kept:
	// a caller who knows the queue's keys (9, 8) may press them at once.
	c.ctrl.acd.enqueue(w)
	inQueue := true
	defer func() {
		if inQueue {
			c.ctrl.acd.leave(w)
		}
	}()
	// The record says where the caller waits and since when, for a controller that
	// takes the call over should this one stop or die.
	if err := c.ctrl.records.save(ctx, c.rec); err != nil {
		c.log.Error("ivr: call record not saved", "err", err)
	}
	intro := c.introPlaying() != ""
	if !c.resumed && !intro {
		if err := c.play(ctx, true, c.sound("queue-enter")); err != nil {
			return OutcomeAbandonedQueue, err
		}
	}
	deadline := time.NewTimer(q.MaxWait)
	defer deadline.Stop()
	var announce <-chan time.Time
	if q.AnnounceEvery > 0 {
		t := time.NewTicker(q.AnnounceEvery)
		defer t.Stop()
		announce = t.C
	}
	mohOn := false
	moh := func(on bool) {
		if on == mohOn || c.isHungup() || (on && c.introPlaying() != "") {
			return // music starts once the intro has ended
		}
		var err error
		if on {
			err = c.node.rest.moh(ctx, c.id, q.MusicClass)
		} else {
			err = c.node.rest.stopMOH(ctx, c.id)
		}
		c.observe()
		if err != nil && !gone(err) {
			c.log.Warn("ivr: music on hold", "on", on, "err", err)
		}
		mohOn = on
	}
	if len(w.offer) == 0 {
		moh(true) // an offer that cut queue-enter short is taken next
	}
	defer moh(false)
	// keys acts on the keys pressed while waiting; done reports that the caller left
	// the queue for a voice message or a call-back.
	keys := func() (out Outcome, done bool, err error) {
		for {
			k, ok := c.takeDigit()
			if !ok {
				return OutcomeOngoing, false, nil
			}
			if string(k) == q.VoicemailKey || string(k) == q.CallbackKey {
				c.stopIntro(ctx) // the caller's choice acts now
			}
			switch string(k) {
			case q.VoicemailKey:
				c.ctrl.acd.leave(w)
				inQueue = false
				moh(false)
				out, err := c.voicemail(ctx)
				return out, true, err
			case q.CallbackKey:
				moh(false)
				if c.virtualHold(ctx, w) {
					inQueue = false // the waiter now belongs to the call-back
					_ = c.play(ctx, false, c.sound("queue-callback-ok"))
					return OutcomeCallback, true, nil
				}
				if err := c.play(ctx, false, c.sound("queue-callback-no")); err != nil {
					return OutcomeAbandonedQueue, true, err
				}
				moh(true)
			}
		}
	}
	for {
		if out, done, err := keys(); done || err != nil {
			return out, err
		}
		select {
		case agents := <-w.offer:
			inQueue = false
			intro = false // the welcome ends during the ringing; then music, not 正在为您转接
			moh(false)
			res, err := c.connect(ctx, q, agents, w)
			switch {
			case err != nil:
				return OutcomeAbandonedQueue, err
			case res == connected:
				return OutcomeAnswered, nil
			case res == callerLeft:
				return OutcomeAbandonedQueue, errHangup
			}
			// Nobody answered, or the caller chose a key meanwhile: back in the queue at
			// the same place (the key acts next).
			c.ctrl.acd.enqueue(w)
			inQueue = true
			if res == callerChose {
				continue
			}
			if !c.patient && !c.ctrl.acd.servable(q) {
				c.ctrl.acd.leave(w)
				inQueue = false
				if err := c.play(ctx, false, c.sound("no-agent")); err != nil {
					return OutcomeAbandonedQueue, err
				}
				return c.voicemail(ctx)
			}
			moh(true)
		case <-deadline.C:
			c.ctrl.acd.leave(w)
			inQueue = false
			moh(false)
			c.log.Info("ivr: wait limit reached; offering a voice message", "waited", q.MaxWait)
			if err := c.play(ctx, false, c.sound("no-agent")); err != nil {
				return OutcomeAbandonedQueue, err
			}
			return c.voicemail(ctx)
		case <-announce:
			pos, eta := c.ctrl.acd.position(w)
			if pos == 0 {
				continue // taken out meanwhile (an offer is on its way)
			}
			moh(false)
			minutes := int((eta + time.Minute - 1) / time.Minute)
			err := c.play(ctx, true,
				c.sound("queue-position"), "number:"+strconv.Itoa(pos-1), c.sound("queue-position-unit"),
				c.sound("queue-wait"), "number:"+strconv.Itoa(max(minutes, 1)), c.sound("queue-wait-unit"),
				c.sound("queue-options"))
			if err != nil {
				return OutcomeAbandonedQueue, err
			}
			if len(w.offer) == 0 {
				moh(true) // an offer that cut the announcement short is taken next
			}
		case <-c.signal:
			for {
				e, ok := c.pop()
				if !ok {
					break
				}
				if c.handle(e) {
					return OutcomeAbandonedQueue, errHangup
				}
				if cmd, ok := e.cmd.(cmdTransfer); ok {
					c.log.Warn("ivr: transfer asked for a caller not talking to an operator; ignored", "target", cmd.target)
				}
			}
			if intro && c.introPlaying() == "" && len(w.offer) == 0 {
				// The welcome ended and nobody answered yet: 正在为您转接, then music.
				intro = false
				if err := c.play(ctx, true, c.sound("queue-enter")); err != nil {
					return OutcomeAbandonedQueue, err
				}
				if len(w.offer) == 0 {
					moh(true)
				}
			}
		case <-ctx.Done():
			return OutcomeAbandonedQueue, ctx.Err()
		}
	}
}

func (c *call) waiterKey() string {
	if c.rec != nil && c.rec.ID != 0 {
		return strconv.FormatUint(c.rec.ID, 10)
	}
	return c.id
}

type connectResult int

const (
	connected connectResult = iota
	noAnswer
	callerLeft
	noLine // a call-back found no free line (ivr.outbound_reserve); not an attempt
	// callerChose: the caller pressed the queue's voice-message or call-back key while
	// the operator's phone rang; it stopped ringing and the key is left for the queue.
	callerChose
)

// connect rings the offered operators (one, or all at once), bridges the first who
// answers with the caller, records the conversation and stays until one side hangs up.
func (c *call) connect(ctx context.Context, q config.Queue, agents []*Agent, w *waiter) (connectResult, error) {
	waited := c.ctrl.now().Sub(w.since)
	c.ctrl.screenPop(ctx, agents, c, waited)
	legs := map[string]*Agent{}
	var failed []*Agent
	for _, a := range agents {
		legID := newID("agent-")
		c.route(legID)
		c.rec.Offers++
		_, err := c.node.rest.originate(ctx, ari.OriginateRequest{
			Endpoint:  a.Phone,
			App:       c.node.app,
			AppArgs:   "agent",
			ChannelID: legID,
			CallerID:  fmt.Sprintf("\"%s\" <%s>", c.hotline.Name, c.caller),
			Timeout:   int(q.RingTimeout / time.Second),
		})
		c.observe()
		if err != nil {
			c.log.Warn("ivr: cannot ring operator; pausing them", "operator", a.User, "phone", a.Phone, "err", err)
			failed = append(failed, a)
			c.node.unroute(legID)
			continue
		}
		legs[legID] = a
	}
	if len(failed) > 0 {
		c.ctrl.acd.missed(failed, PauseUnreachable, nil)
	}
	if len(legs) == 0 {
		return noAnswer, nil
	}
	hangLegs := func(except string) {
		for id := range legs {
			if id != except {
				if err := c.node.rest.hangup(context.WithoutCancel(ctx), id, ""); err != nil {
					c.log.Warn("ivr: hang up operator leg", "leg", id, "err", err)
				}
			}
		}
	}
	ring := time.NewTimer(q.RingTimeout + 2*time.Second) // Asterisk's own timeout ends it first
	defer ring.Stop()
	var winner string
	var winnerAgent *Agent
	for winner == "" {
		e, err := c.next(ctx, ring.C)
		if errors.Is(err, errTimeout) {
			break
		}
		if err != nil {
			hangLegs("")
			return callerLeft, err
		}
		if rs, ok := e.cmd.(cmdResync); ok {
			// Events lost with the socket: a leg that vanished did not answer; one that
			// is up in our app did.
			for id, a := range legs {
				ch, alive := rs.alive[id]
				switch {
				case !alive:
					delete(legs, id)
					c.ctrl.acd.missed([]*Agent{a}, PauseNoAnswer, nil)
				case ch.State == "Up" && c.node.inOurApp(ch) && winner == "":
					winner, winnerAgent = id, a
				}
			}
		}
		switch v := e.ev.(type) {
		case *ari.StasisStart:
			if a, ok := legs[v.Channel.ID]; ok {
				winner, winnerAgent = v.Channel.ID, a
			}
		case *ari.ChannelDestroyed:
			if a, ok := legs[v.Channel.ID]; ok {
				// No answer (19), busy (17), congestion (34): recorded causes.
				c.log.Info("ivr: operator did not answer", "operator", a.User, "cause", v.Cause, "cause_txt", v.CauseTxt)
				delete(legs, v.Channel.ID)
				reason := PauseNoAnswer
				if v.Cause == 34 || v.Cause == 0 {
					reason = PauseUnreachable
				}
				c.ctrl.acd.missed([]*Agent{a}, reason, nil)
			}
		}
		if c.handle(e) {
			hangLegs("")
			c.ctrl.acd.missed(nil, "", agentsOf(legs))
			return callerLeft, errHangup
		}
		if winner == "" && c.digitPending(q.VoicemailKey, q.CallbackKey) && c.rec.Direction != "callback" {
			// A caller who asks for a voice message or a call-back while the phone rings
			// is not kept waiting for the operator to answer or the ringing to end.
			c.log.Info("ivr: caller chose while the operator's phone rang; it stops ringing")
			hangLegs("")
			c.ctrl.acd.missed(nil, "", agentsOf(legs))
			return callerChose, nil
		}
		if len(legs) == 0 {
			break
		}
	}
	if winner == "" {
		hangLegs("")
		c.ctrl.acd.missed(agentsOf(legs), PauseNoAnswer, nil)
		return noAnswer, nil
	}
	// Ring-all: the others stop ringing and go back to ready.
	var others []*Agent
	for id, a := range legs {
		if id != winner {
			others = append(others, a)
		}
	}
	hangLegs(winner)
	c.ctrl.acd.missed(nil, "", others)
	// The operator answered while the welcome still plays: it ends first (it says the
	// call is recorded); the operator hears a moment's silence.
	if err := c.awaitIntro(ctx); err != nil {
		hangLegs("")
		c.ctrl.acd.finished(winnerAgent, 0, 0)
		return callerLeft, err
	}
	if c.rec.Direction == "callback" {
		if err := c.ctrl.takeOutbound(c.line); err != nil {
			c.log.Info("ivr: call-back waits for a free line", "err", err)
			_ = c.node.rest.hangup(context.WithoutCancel(ctx), winner, "")
			c.ctrl.acd.finished(winnerAgent, 0, 0)
			return noLine, nil
		}
		defer c.ctrl.freeOutbound(c.line)
		ok, err := c.dialCitizen(ctx, winner, winnerAgent, q.CallbackRing)
		if !ok || err != nil {
			if err != nil {
				c.log.Warn("ivr: call-back not placed", "err", err)
			}
			_ = c.node.rest.hangup(context.WithoutCancel(ctx), winner, "")
			c.ctrl.acd.finished(winnerAgent, 0, 0)
			return noAnswer, nil
		}
	}
	return c.talk(ctx, q, winner, winnerAgent, waited)
}

func agentsOf(legs map[string]*Agent) []*Agent {
	out := make([]*Agent, 0, len(legs))
	for _, a := range legs {
		out = append(out, a)
	}
	return out
}

// talk bridges caller and operator and stays until the conversation ends.
func (c *call) talk(ctx context.Context, q config.Queue, leg string, a *Agent, waited time.Duration) (connectResult, error) {
	bg := context.WithoutCancel(ctx)
	c.ctrl.acd.answered(a, c.rec.ID)
	bridge := newID("bridge-")
	c.route(bridge)
	started := c.ctrl.now()
	cv := newConversation(c, q, bridge, leg, a, started)
	defer func() {
		if c.stopping() && !c.isHungup() {
			return // the conversation goes on; the next run re-adopts it
		}
		cv.end(bg)
	}()
	if err := c.node.rest.createBridge(ctx, bridge, "call-"+c.waiterKey()); err != nil {
		c.observe()
		return callerLeft, fmt.Errorf("create bridge: %w", err)
	}
	c.observe()
	for _, ch := range []string{c.id, leg} {
		if err := c.node.rest.addToBridge(ctx, bridge, ch); err != nil {
			switch {
			case isStatus(err, 400, 404, 422) && ch == leg:
				// The operator hung up as they answered: the caller waits on.
				return noAnswer, nil
			case isStatus(err, 400, 404, 422):
				return callerLeft, errHangup
			}
			return callerLeft, fmt.Errorf("add %s to bridge: %w", ch, err)
		}
	}
	now := c.ctrl.now().UTC()
	c.rec.ConnectedAt = &now
	c.rec.Operator = a.User
	c.rec.WaitMS = waited.Milliseconds()
	c.rec.ConnectMS = now.Sub(c.rec.ArrivedAt).Milliseconds()
	// The standard counts from when the caller asked for a person; the figure from the
	// arrival is kept beside it.
	asked := c.rec.ArrivedAt
	if c.rec.QueuedAt != nil {
		asked = *c.rec.QueuedAt
	}
	c.rec.InTarget = now.Sub(asked) <= c.ctrl.cfg.AnswerTarget
	c.rec.InTargetArrival = now.Sub(c.rec.ArrivedAt) <= c.ctrl.cfg.AnswerTarget
	if q.Record {
		name := c.recordingName("call")
		c.route(name)
		if err := c.node.rest.recordBridge(ctx, bridge, name, recordOptions{Format: "wav"}); err != nil {
			c.log.Warn("ivr: conversation not recorded", "err", err)
		} else {
			c.rec.Recording = name
		}
	}
	if err := c.ctrl.records.save(ctx, c.rec); err != nil {
		c.log.Error("ivr: call record not saved", "err", err)
	}
	c.ctrl.publishCall(c, a, "connected")
	for {
		e, err := c.next(ctx, nil)
		if err != nil {
			return connected, err
		}
		if e.ev != nil && cv.event(ctx, e) {
			return connected, nil
		}
		switch cmd := e.cmd.(type) {
		case cmdTransfer:
			c.handOff(ctx, bridge, cmd)
		case cmdControl:
			res, err := cv.control(ctx, cmd)
			cmd.reply <- controlReply{res: res, err: err}
			continue
		case cmdResync:
			// Legs that hung up while the socket was down.
			for _, id := range cv.legs() {
				if _, alive := cmd.alive[id]; !alive && cv.legGone(ctx, id, "") {
					return connected, nil
				}
			}
		}
		if c.handle(e) {
			return connected, nil
		}
	}
}

// handOff adds an emergency number to the conversation: the operator stays on until the
// emergency service answers and may then hang up; the caller stays with the service.
func (c *call) handOff(ctx context.Context, bridge string, cmd cmdTransfer) {
	legID := newID("transfer-")
	c.route(legID)
	_, err := c.node.rest.originate(ctx, ari.OriginateRequest{
		Endpoint: cmd.dial, App: c.node.app, AppArgs: "transfer", ChannelID: legID,
		CallerID: fmt.Sprintf("<%s>", c.caller), Timeout: 60,
	})
	note := fmt.Sprintf("%s 由 %s 转接至 %s", c.ctrl.now().In(c.ctrl.loc).Format("2006-01-02 15:04:05"), cmd.by, cmd.target)
	if err != nil {
		c.log.Error("ivr: emergency hand-off failed", "target", cmd.target, "err", err)
		note += "（转接失败）"
	} else {
		c.rec.Transfer = cmd.target
		go c.joinWhenAnswered(context.WithoutCancel(ctx), legID, bridge)
	}
	c.rec.Note = appendNote(c.rec.Note, note)
	if err := c.ctrl.records.save(ctx, c.rec); err != nil {
		c.log.Error("ivr: call record not saved", "err", err)
	}
	c.ctrl.noteTicket(ctx, c.rec, note)
}

// joinWhenAnswered adds the emergency leg to the bridge once it answers (its StasisStart
// reaches the call's inbox, which is busy in talk; so this polls the channel state).
func (c *call) joinWhenAnswered(ctx context.Context, leg, bridge string) {
	deadline := time.Now().Add(70 * time.Second)
	for time.Now().Before(deadline) {
		chans, err := c.node.rest.channels(ctx)
		if err != nil {
			return
		}
		found := false
		for _, ch := range chans {
			if ch.ID != leg {
				continue
			}
			found = true
			if ch.State == "Up" {
				if err := c.node.rest.addToBridge(ctx, bridge, leg); err != nil {
					c.log.Error("ivr: emergency leg not bridged", "err", err)
				}
				return
			}
		}
		if !found {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func appendNote(old, add string) string {
	if old == "" {
		return add
	}
	return old + "\n" + add
}

// recordingName names a recording by kind, date and call, e.g. call/20261126/1234.
func (c *call) recordingName(kind string) string {
	return fmt.Sprintf("rexian/%s/%s/%s", kind, c.ctrl.now().In(c.ctrl.loc).Format("20060102"), c.waiterKey())
}

// voicemail takes a voice message and turns it into a ticket.
func (c *call) voicemail(ctx context.Context) (Outcome, error) {
	if err := c.play(ctx, false, c.sound("voicemail-intro")); err != nil {
		return OutcomeAbandonedQueue, err
	}
	name := c.recordingName("voicemail")
	c.clearDigits()
	dur, hungup, err := c.recordMessage(ctx, name, c.ctrl.cfg.Voicemail.MaxDuration, c.ctrl.cfg.Voicemail.Format)
	if err != nil && !errors.Is(err, errHangup) {
		return OutcomeFailed, err
	}
	if errors.Is(err, errHangup) {
		return OutcomeAbandonedQueue, errHangup
	}
	if dur == 0 && !hungup {
		// Nothing said: tell the caller rather than opening an empty ticket.
		_ = c.play(ctx, false, c.sound("voicemail-empty"))
		return OutcomeNoMessage, nil
	}
	c.rec.Voicemail = name
	number, regErr := c.ctrl.registerVoicemail(context.WithoutCancel(ctx), c.rec, dur)
	if regErr != nil {
		c.log.Error("ivr: voice message kept but no ticket yet; the retry worker will register it", "recording", name, "err", regErr)
	}
	if c.isHungup() {
		return OutcomeVoicemail, nil
	}
	if number == "" {
		_ = c.play(ctx, false, c.sound("goodbye"))
		return OutcomeVoicemail, nil
	}
	media := []string{c.sound("voicemail-thanks"), "digits:" + number}
	if n, err := phone.Parse(c.caller); err == nil && n.Kind == phone.Mobile {
		media = append(media, c.sound("voicemail-sms"))
	}
	media = append(media, c.sound("goodbye"))
	_ = c.play(ctx, false, media...)
	return OutcomeVoicemail, nil
}
