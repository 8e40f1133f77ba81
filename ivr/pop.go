package ivr

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/CyCoreSystems/ari/v5"

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
	CallID   uint64 `json:"call_id"`
	State    string `json:"state"` // connected
	Operator string `json:"operator"`
	Caller   string `json:"caller"`
	Hotline  string `json:"hotline"`
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
		c.live.emit(ctx, Message{Type: "screen_pop", At: now, For: a.User, Pop: pop})
	}
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
// a caller anywhere else is sent to the queue (they were most likely waiting for a
// person); an operator or call-back leg with no caller is hung up.
func (c *Controller) adoptOrphans(ctx context.Context, n *node, orphans []channelInfo, bridges []ari.BridgeData) {
	inBridge := map[string]ari.BridgeData{}
	for _, b := range bridges {
		for _, id := range b.ChannelIDs {
			inBridge[id] = b
		}
	}
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
			if c.launch(n, cl, func(ctx context.Context) { cl.watchBridge(ctx, b.ID, others) }) {
				n.log.Info("ivr: re-adopted a conversation in progress", "channel", ch.ID, "bridge", b.ID)
			}
		default:
			// A caller who rang in just as the socket came back may be listed here and
			// have its StasisStart handled at the same moment; whichever comes first
			// owns the channel (see Controller.launch).
			cl := newCall(c, n, ch.data(), args)
			if c.launch(n, cl, func(ctx context.Context) { cl.resume(ctx) }) {
				n.log.Info("ivr: re-adopted a caller; sending them to the queue", "channel", ch.ID)
			}
		}
	}
}

func cutComma(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ',' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// resume continues an adopted caller's call: straight to the hotline's queue.
func (c *call) resume(ctx context.Context) {
	line, _ := c.ctrl.lineFor(c.dialled)
	c.line = line
	c.hotline = c.ctrl.hotline[line.Hotline]
	c.rec = &Record{
		Node: c.node.name, ChannelID: c.id, Caller: c.caller, Dialled: c.dialled,
		Hotline: c.hotline.Code, Direction: "inbound", ArrivedAt: c.ctrl.now().UTC(),
		Note: "rexian 重启后接管的来电",
	}
	if !c.ctrl.takeLine(line) {
		c.busy(ctx)
		return
	}
	defer c.ctrl.freeLine(line)
	if err := c.ctrl.records.insert(ctx, c.rec); err != nil {
		c.log.Error("ivr: call record not written", "err", err)
	}
	c.ctrl.register(c.rec.ID, c)
	defer c.ctrl.unregister(c.rec.ID)
	// Whatever was playing or on hold before the restart is stopped.
	_ = c.node.rest.stopMOH(ctx, c.id)
	c.patient = true
	outcome, err := c.queue(ctx, c.ctrl.queues[c.hotline.Queue], "")
	if err != nil && !isEnd(err) {
		outcome = c.fallback(ctx, err)
	}
	c.finish(ctx, outcome)
}

// watchBridge stays with an adopted conversation and ends it cleanly: when one side
// hangs up, the other is hung up and the bridge removed.
func (c *call) watchBridge(ctx context.Context, bridge string, others []string) {
	c.route(bridge)
	c.route(others...)
	bg := context.WithoutCancel(ctx)
	defer func() {
		_ = c.node.rest.hangup(bg, c.id, "")
		for _, id := range others {
			_ = c.node.rest.hangup(bg, id, "")
		}
		_ = c.node.rest.deleteBridge(bg, bridge)
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
