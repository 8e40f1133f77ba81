package ivr

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/CyCoreSystems/ari/v5"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/phone"
	"github.com/rexian/rexian/tickets"
)

// ScreenPop is what an operator's console shows the moment their phone rings.
type ScreenPop struct {
	CallID   uint64            `json:"call_id"`
	Caller   string            `json:"caller"`
	Line     string            `json:"line"`
	Hotline  string            `json:"hotline"`
	Topic    string            `json:"topic,omitempty"`
	WaitedMS int64             `json:"waited_ms"`
	Callback bool              `json:"callback"`
	Tickets  []tickets.Summary `json:"tickets"`
}

// CallEvent is a call's progress for live screens.
type CallEvent struct {
	CallID uint64 `json:"call_id"`
	// State: connected, or calling_back (a call-back's operator answered and hears
	// ring-back while the citizen's phone rings: the console says 回拨中); for the call
	// controls also left (the operator left the conversation), party_answered,
	// party_failed, party_left and monitor, with Message saying what happened.
	State    string `json:"state"`
	Operator string `json:"operator"`
	Caller   string `json:"caller"`
	Hotline  string `json:"hotline"`
	Message  string `json:"message,omitempty"`
}

// screenPop tells the offered operators (and any subscriber) who is calling.
func (c *Controller) screenPop(ctx context.Context, agents []*Agent, cl *call, waited time.Duration) {
	pop := &ScreenPop{
		CallID: cl.rec.ID, Caller: cl.caller, Line: cl.line.Number, Hotline: cl.hotline.Code,
		Topic: cl.rec.Topic, WaitedMS: waited.Milliseconds(), Callback: cl.rec.Direction == "callback",
		Tickets: c.earlierTickets(ctx, cl.caller),
	}
	now := c.now().UTC()
	for _, a := range agents {
		shown := pop
		if c.tickets != nil {
			op := &auth.Principal{Name: a.User, Role: auth.RoleOperator}
			if err := c.tickets.RecordCallerView(ctx, op, CallRef(cl.rec.ID), pop.Tickets); err != nil {
				// A view that cannot be recorded is not shown: the operator still gets
				// the call, with the number masked.
				c.log.ErrorContext(ctx, "screen-pop shown masked: its view could not be recorded", "call", cl.rec.ID, "err", err)
				shown = maskedPop(pop)
			}
		}
		c.live.emit(ctx, Message{Type: "screen_pop", At: now, For: a.User, Pop: shown})
	}
}

// maskedPop is pop with the caller's and the earlier tickets' numbers masked.
func maskedPop(pop *ScreenPop) *ScreenPop {
	m := *pop
	m.Caller = phone.Mask(pop.Caller)
	m.Tickets = make([]tickets.Summary, len(pop.Tickets))
	for i, t := range pop.Tickets {
		t.CitizenPhone = phone.Mask(t.CitizenPhone)
		m.Tickets[i] = t
	}
	return &m
}

func (c *Controller) publishCall(cl *call, a *Agent, state string) {
	c.live.emit(cl.ctx, Message{Type: "call", At: c.now().UTC(), Call: &CallEvent{
		CallID: cl.rec.ID, State: state, Operator: a.User, Caller: cl.caller, Hotline: cl.hotline.Code,
	}})
}

// noteTicket writes a hand-off into the timeline of the ticket registered from this call:
// the call record's own ticket (a voice message), or the one the operator registered with
// external_ref "call:<call id>" (the screen-pop carries the call id).
func (c *Controller) noteTicket(ctx context.Context, rec *Record, note string) {
	if c.tickets == nil || rec.ID == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	number := rec.TicketNumber
	if number == "" {
		n, err := c.ticketByRef(ctx, CallRef(rec.ID))
		if err != nil {
			c.log.Warn("ivr: hand-off not noted on a ticket", "call", rec.ID, "err", err)
			return
		}
		number = n
	}
	if number == "" {
		return // no ticket yet: the call record carries the hand-off
	}
	if _, err := c.tickets.Act(ctx, desk, number, tickets.ActNote, tickets.ActionRequest{Note: note}); err != nil {
		c.log.Warn("ivr: hand-off not noted on the ticket", "ticket", number, "call", rec.ID, "err", err)
	}
}

// CallRef is the external reference that links a ticket to the call it was registered
// from.
func CallRef(callID uint64) string { return "call:" + strconv.FormatUint(callID, 10) }

// adoptOrphans takes over channels left in the Stasis app by a previous run of rexian:
// a caller talking to an operator is left talking and watched until one side hangs up;
// a caller anywhere else goes back to the queue they waited in; an operator or
// call-back leg with no caller is hung up. Conversations are taken over first, so that
// their operators are busy before any waiting caller is offered one.
func (c *Controller) adoptOrphans(ctx context.Context, n *node, orphans []channelInfo, bridges []ari.BridgeData) {
	inBridge := map[string]ari.BridgeData{}
	for _, b := range bridges {
		for _, id := range b.ChannelIDs {
			inBridge[id] = b
		}
	}
	var waiting []channelInfo
	for _, ch := range orphans {
		_, args, _ := cutComma(ch.Dialplan.AppData)
		b, bridged := inBridge[ch.ID]
		switch {
		case args != "" && !isDialled(args):
			if bridged && len(b.ChannelIDs) > 1 {
				continue // the caller's adoption watches this leg
			}
			n.log.Info("ivr: hanging up a leftover leg from before the restart", "channel", ch.ID)
			_ = n.rest.hangup(ctx, ch.ID, "")
		case bridged && len(b.ChannelIDs) > 1:
			cl := newCall(c, n, ch.data(), args)
			others := []string{}
			for _, id := range b.ChannelIDs {
				if id != ch.ID {
					others = append(others, id)
				}
			}
			cl.continueRecord(ctx)
			var a *Agent
			if cl.rec.Operator != "" && cl.rec.ID != 0 {
				a = c.acd.claim(cl.rec.Operator, cl.rec.ID)
			}
			// Registered now, not in the call's goroutine: settleOperators, which runs
			// next, must see the conversation taken over and keep its operator busy.
			c.register(cl.rec.ID, cl)
			// Once launched, the record belongs to the call's goroutine (which saves it).
			id, operator := cl.rec.ID, cl.rec.Operator
			if c.launch(n, cl, func(ctx context.Context) { cl.watchBridge(ctx, b.ID, others, a) }) {
				n.log.Info("ivr: re-adopted a conversation in progress", "channel", ch.ID, "bridge", b.ID, "operator", operator)
			} else {
				c.unregister(id)
			}
		default:
			waiting = append(waiting, ch)
		}
	}
	for _, ch := range waiting {
		// A caller who rang in just as the socket came back may be listed here and
		// have its StasisStart handled at the same moment; whichever comes first owns
		// the channel (see Controller.launch).
		_, args, _ := cutComma(ch.Dialplan.AppData)
		cl := newCall(c, n, ch.data(), args)
		if c.launch(n, cl, func(ctx context.Context) { cl.resume(ctx) }) {
			n.log.Info("ivr: re-adopted a caller; back to the queue", "channel", ch.ID)
		}
	}
}

// closeGone ends the records of a node's calls that ended while no controller watched
// them (the caller hung up while rexian was down): each gets the end it reached, and a
// call-back that was waiting its turn becomes a ticket so that the citizen is called.
// alive are the node's channels, listed at since.
func (c *Controller) closeGone(ctx context.Context, n *node, alive map[string]channelInfo, since time.Time) {
	recs, err := c.records.openRecords(ctx, n.name, since)
	if err != nil {
		n.log.Warn("ivr: records of calls that ended while rexian was down stay open", "err", err)
		return
	}
	for i := range recs {
		rec := &recs[i]
		if _, ok := alive[rec.ChannelID]; ok {
			continue
		}
		n.mu.Lock()
		owned := n.calls[rec.ChannelID] != nil
		n.mu.Unlock()
		c.mu.Lock()
		owned = owned || c.active[rec.ID] != nil
		c.mu.Unlock()
		if owned {
			continue
		}
		switch {
		case rec.ConnectedAt != nil:
			rec.Outcome = OutcomeAnswered
			c.acd.credit(rec.Operator)
		case rec.Voicemail != "":
			rec.Outcome = OutcomeVoicemail // the retry worker registers its ticket
		case rec.Direction == "callback":
			rec.Outcome = OutcomeCallback
			number, err := c.registerMissedCallback(ctx, rec, "rexian 重启时回拨排队中断")
			if err != nil {
				n.log.Error("ivr: interrupted call-back not registered as a ticket", "call", rec.ID, "err", err)
			}
			rec.TicketNumber = number
		case rec.QueuedAt != nil:
			rec.Outcome = OutcomeAbandonedQueue
		default:
			rec.Outcome = OutcomeAbandonedMenu
		}
		now := c.now().UTC()
		rec.EndedAt = &now
		rec.Note = appendNote(rec.Note, "rexian 停止期间通话结束，结束时间为重新连接时间")
		if err := c.records.save(ctx, rec); err != nil {
			n.log.Error("ivr: record of a call that ended while rexian was down not closed", "call", rec.ID, "err", err)
			continue
		}
		n.log.Info("ivr: closed the record of a call that ended while rexian was down", "call", rec.ID, "channel", rec.ChannelID, "outcome", rec.Outcome)
	}
}

// settleOperators frees the operators restored busy whose conversation no controller took
// over on any node: it ended while rexian was down. It waits until every node has been
// taken over once, as the conversation may be on another.
func (c *Controller) settleOperators() {
	for _, n := range c.nodes {
		if n.active.Load() && !n.adopted.Load() {
			return
		}
	}
	c.mu.Lock()
	talking := map[uint64]bool{}
	for id := range c.active {
		talking[id] = true
	}
	c.mu.Unlock()
	c.acd.settle(func(id uint64) bool { return talking[id] })
}

func cutComma(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ',' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// adoptedNote marks a call record a controller took over.
const adoptedNote = "rexian 重启后接管的来电"

// continueRecord takes over the record of the call on c's channel, written by the
// controller that ran it before (one record a call, however often rexian restarts), or
// starts one when there is none (the record was never written).
func (c *call) continueRecord(ctx context.Context) {
	rec, found, err := c.ctrl.records.openRecord(ctx, c.node.name, c.id)
	if err != nil {
		c.log.Error("ivr: call record of an adopted call not read; a new one is written", "err", err)
	}
	if found {
		rec.Note = appendNote(rec.Note, adoptedNote)
		c.rec = &rec
		if c.dialled == "" {
			c.dialled = rec.Dialled
		}
		return
	}
	c.rec = &Record{
		Node: c.node.name, ChannelID: c.id, Caller: c.caller, Dialled: c.dialled,
		Direction: "inbound", ArrivedAt: c.ctrl.now().UTC(), Note: adoptedNote,
	}
}

// resume continues an adopted caller's call: back to the queue they waited in (the
// hotline's queue if they had not reached one), at the place their record says.
func (c *call) resume(ctx context.Context) {
	c.continueRecord(ctx)
	line, _ := c.ctrl.lineFor(c.dialled)
	c.line = line
	c.hotline = c.ctrl.hotline[line.Hotline]
	c.rec.Hotline = c.hotline.Code
	c.log = c.log.With("line", line.Number, "hotline", c.hotline.Code)
	if !c.ctrl.takeLine(line) {
		c.busy(ctx)
		return
	}
	defer c.ctrl.freeLine(line)
	if err := c.ctrl.records.save(ctx, c.rec); err != nil {
		c.log.Error("ivr: call record not written", "err", err)
	}
	c.ctrl.register(c.rec.ID, c)
	defer c.ctrl.unregister(c.rec.ID)
	// A caller who was waiting goes on hearing the music (Asterisk kept playing it) and
	// is not told again that they are being put through.
	c.resumed = c.rec.QueuedAt != nil
	c.patient = true
	q, ok := c.ctrl.queues[c.rec.Queue]
	if !ok {
		q = c.ctrl.queues[c.hotline.Queue]
	}
	outcome, err := c.queue(ctx, q, c.rec.Topic)
	if err != nil && !isEnd(err) {
		outcome = c.fallback(ctx, err)
	}
	c.finish(ctx, outcome)
}

// watchBridge stays with an adopted conversation and ends it cleanly: when one side
// hangs up, the other is hung up, the bridge removed, the record closed as answered and
// the operator (a, when logged in) credited with the call and given their wrap-up.
func (c *call) watchBridge(ctx context.Context, bridge string, others []string, a *Agent) {
	c.route(bridge)
	c.route(others...)
	line, _ := c.ctrl.lineFor(c.rec.Dialled)
	c.line = line
	c.hotline = c.ctrl.hotline[line.Hotline]
	if c.ctrl.takeLine(line) {
		defer c.ctrl.freeLine(line)
	}
	if err := c.ctrl.records.save(ctx, c.rec); err != nil {
		c.log.Error("ivr: call record not saved", "err", err)
	}
	defer c.ctrl.unregister(c.rec.ID) // registered by adoptOrphans
	started := c.ctrl.now()
	bg := context.WithoutCancel(ctx)
	defer func() {
		if c.stopping() {
			return // the conversation goes on; the next run takes it over again
		}
		_ = c.node.rest.hangup(bg, c.id, "")
		for _, id := range others {
			_ = c.node.rest.hangup(bg, id, "")
		}
		_ = c.node.rest.deleteBridge(bg, bridge)
		if a != nil {
			c.ctrl.acd.finished(a, c.ctrl.now().Sub(started), c.ctrl.queues[c.rec.Queue].WrapUp)
		}
		c.markHungup()
		c.finish(bg, OutcomeAnswered)
	}()
	for {
		e, err := c.next(ctx, nil)
		if err != nil {
			return
		}
		switch v := e.ev.(type) {
		case *ari.ChannelHangupRequest:
			for _, id := range others {
				if v.Channel.ID == id {
					return
				}
			}
		case *ari.ChannelLeftBridge:
			return
		}
		if c.handle(e) {
			return
		}
	}
}

// isEnd reports whether a flow's error is the end of the call rather than a failure:
// the caller hung up, or the controller is stopping.
func isEnd(err error) bool {
	return errors.Is(err, errHangup) || errors.Is(err, context.Canceled)
}
