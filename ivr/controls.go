package ivr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/CyCoreSystems/ari/v5"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/config"
)

// Call controls act on a conversation through ARI, so they work the same for a desk
// phone, an external softphone and the browser phone:
//   - hold: the citizen leaves the bridge and hears music on their own channel; resume
//     puts them back.
//   - transfer (blind): the citizen is held while the target rings; when it answers the
//     citizen joins it and the operator's leg is hung up. consult (attended): the
//     citizen is held, the operator talks to the target first, then complete (the
//     citizen joins the target, the operator leaves), conference (all three) or cancel.
//     A target that does not answer puts the citizen back with the operator.
//   - conference (三方通话): the target joins operator and citizen in one bridge; leave
//     takes the operator out and the citizen and the target stay connected (so does the
//     operator hanging up their phone).
//   - listen, whisper, barge (监听、耳语、强插): a supervisor's phone is rung; when it
//     answers it hears a snoop channel on the operator's leg (spy=both; whisper=out lets
//     the operator alone hear the supervisor), or joins the conversation's bridge.
//
// Every control runs on the call's own goroutine (the talk loop), so it never races the
// call's events; its answer goes back to the API on the command's reply channel.

// Control actions.
const (
	ActHold       = "hold"
	ActResume     = "resume"
	ActTransfer   = "transfer"
	ActConsult    = "consult"
	ActComplete   = "complete"
	ActConference = "conference"
	ActCancel     = "cancel"
	ActLeave      = "leave"
	ActListen     = "listen"
	ActWhisper    = "whisper"
	ActBarge      = "barge"
	ActStopListen = "stop"
)

// ControlResult is what a control did, in words for the console.
type ControlResult struct {
	CallID  uint64 `json:"call_id"`
	Action  string `json:"action"`
	Message string `json:"message"`
}

// cmdControl asks a call in conversation to apply a control.
type cmdControl struct {
	action string
	by     string // actor, for the log
	byName string // the person's name, for the record and the timeline
	// target of a transfer, consultation or conference: its label and dial string.
	label, dial string
	// phone is a supervisor's phone for listen, whisper and barge; user their user name.
	phone, user string
	reply       chan controlReply
}

type controlReply struct {
	res ControlResult
	err error
}

// party is a third person rung into the conversation: another operator or a department.
type party struct {
	leg, label, mode string // mode: transfer, consult, conference
	by               string
	answered         bool
	joinedAt         time.Time
}

// monitor is a supervisor listening, whispering or barged in.
type monitor struct {
	leg, snoop, bridge, mode, user, name string
	joinedAt                             time.Time
}

// conversation is the state of one talk: who is in the bridge, who is held or ringing.
type conversation struct {
	c        *call
	q        config.Queue
	bridge   string
	operator string // the operator's leg; "" once they left the conversation
	agent    *Agent
	started  time.Time
	done     bool // the operator's part ended (acd told)
	held     bool
	heldAt   time.Time
	party    *party
	monitors map[string]*monitor // by the supervisor's leg
	// last is who of the parties is left with the citizen after the operator left: their
	// hang-up ends the conversation.
	last string
}

func newConversation(c *call, q config.Queue, bridge, leg string, a *Agent, started time.Time) *conversation {
	return &conversation{c: c, q: q, bridge: bridge, operator: leg, agent: a, started: started, monitors: map[string]*monitor{}}
}

func (cv *conversation) now() time.Time { return cv.c.ctrl.now() }

func (cv *conversation) stamp() string { return cv.now().In(cv.c.ctrl.loc).Format("15:04:05") }

// note writes a line into the call record and, when a ticket is linked, its timeline.
func (cv *conversation) note(ctx context.Context, text string, ticket bool) {
	c := cv.c
	line := cv.stamp() + " " + text
	c.rec.Note = appendNote(c.rec.Note, line)
	if err := c.ctrl.records.save(ctx, c.rec); err != nil {
		c.log.Error("ivr: call record not saved", "err", err)
	}
	if ticket {
		go c.ctrl.noteTicket(context.WithoutCancel(ctx), c.rec, "通话 "+line)
	}
}

// tell sends the operator's (and supervisors') screens a line about their call.
func (cv *conversation) tell(ctx context.Context, state, text string) {
	c := cv.c
	user := ""
	if cv.agent != nil {
		user = cv.agent.User
	}
	c.ctrl.live.emit(ctx, Message{Type: "call", At: c.ctrl.now().UTC(), Call: &CallEvent{
		CallID: c.rec.ID, State: state, Operator: user, Caller: c.caller, Hotline: c.hotline.Code, Message: text,
	}})
}

// addParticipant appends "who, how, how long" to the record's list of participants.
func (cv *conversation) addParticipant(label, role string, from time.Time) string {
	d := cv.now().Sub(from).Round(time.Second)
	entry := fmt.Sprintf("%s（%s）%s 起 %s", label, role, from.In(cv.c.ctrl.loc).Format("15:04:05"), spoken(d))
	cv.c.rec.Parties = appendNote(cv.c.rec.Parties, entry)
	return entry
}

// spoken is a duration as people say it: 2分05秒.
func spoken(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	m, s := int(d/time.Minute), int(d%time.Minute/time.Second)
	if m > 0 {
		return fmt.Sprintf("%d分%02d秒", m, s)
	}
	return fmt.Sprintf("%d秒", s)
}

func controlErr(kind error, code, format string, args ...any) error {
	return api.Errorf(kind, code, format, args...)
}

// control applies one control and says what happened.
func (cv *conversation) control(ctx context.Context, cmd cmdControl) (ControlResult, error) {
	c := cv.c
	res := ControlResult{CallID: c.rec.ID, Action: cmd.action}
	switch cmd.action {
	case ActHold:
		if cv.operator == "" {
			return res, controlErr(api.ErrConflict, "operator_left", "the operator has left this call")
		}
		if cv.held {
			return res, controlErr(api.ErrConflict, "already_held", "the citizen is already on hold")
		}
		if err := cv.hold(ctx); err != nil {
			return res, err
		}
		cv.note(ctx, cmd.byName+" 保持通话", false)
		res.Message = "已保持通话，市民正在听等待音乐。"
	case ActResume:
		if !cv.held {
			return res, controlErr(api.ErrConflict, "not_held", "the citizen is not on hold")
		}
		if cv.party != nil && !cv.party.answered {
			return res, controlErr(api.ErrConflict, "party_ringing", "%s is still ringing: cancel first", cv.party.label)
		}
		held, err := cv.resume(ctx)
		if err != nil {
			return res, err
		}
		cv.note(ctx, fmt.Sprintf("%s 恢复通话（保持 %s）", cmd.byName, spoken(held)), false)
		res.Message = "已恢复通话。"
		if cv.party != nil {
			cv.party.mode = ActConference
			res.Message = "已恢复通话，" + cv.party.label + " 仍在通话中（三方通话）。"
		}
	case ActTransfer, ActConsult, ActConference:
		if cv.operator == "" {
			return res, controlErr(api.ErrConflict, "operator_left", "the operator has left this call")
		}
		if cmd.action == ActConference && cv.party != nil && cv.party.answered && cv.party.mode == ActConsult {
			// Consultation done: the citizen joins, all three talk.
			if _, err := cv.resume(ctx); err != nil {
				return res, err
			}
			cv.party.mode = ActConference
			cv.note(ctx, fmt.Sprintf("%s 发起三方通话：市民与 %s", cmd.byName, cv.party.label), true)
			res.Message = "三方通话已建立：您、市民与 " + cv.party.label + "。"
			return res, nil
		}
		if cv.party != nil {
			return res, controlErr(api.ErrConflict, "party_busy", "%s is already in this call: end that first", cv.party.label)
		}
		if cmd.action != ActConference && !cv.held {
			if err := cv.hold(ctx); err != nil {
				return res, err
			}
		}
		leg := newID("party-")
		c.route(leg)
		_, err := c.node.rest.originate(ctx, ari.OriginateRequest{
			Endpoint: cmd.dial, App: c.node.app, AppArgs: "party", ChannelID: leg,
			CallerID: fmt.Sprintf("\"%s\" <%s>", c.hotline.Name, c.caller), Timeout: int(cv.ringTimeout() / time.Second),
		})
		if err != nil {
			c.node.unroute(leg)
			if cmd.action != ActConference {
				_, _ = cv.resume(ctx)
			}
			cv.note(ctx, fmt.Sprintf("%s 呼叫 %s 失败", cmd.byName, cmd.label), false)
			return res, controlErr(api.ErrUnavailable, "party_unreachable", "%s cannot be rung: %v", cmd.label, err)
		}
		cv.party = &party{leg: leg, label: cmd.label, mode: cmd.action, by: cmd.byName}
		what := map[string]string{ActTransfer: "转接", ActConsult: "咨询转接", ActConference: "三方通话"}[cmd.action]
		cv.note(ctx, fmt.Sprintf("%s %s：呼叫 %s", cmd.byName, what, cmd.label), cmd.action != ActConsult)
		res.Message = "正在呼叫 " + cmd.label + "（" + what + "）"
		if cv.held {
			res.Message += "，市民正在听等待音乐"
		}
		res.Message += "。"
	case ActComplete:
		p := cv.party
		if p == nil || !p.answered {
			return res, controlErr(api.ErrConflict, "no_party", "no one has answered a consultation on this call")
		}
		if cv.held {
			if _, err := cv.resume(ctx); err != nil {
				return res, err
			}
		}
		p.mode = ActTransfer
		cv.operatorLeaves(ctx, fmt.Sprintf("%s 完成转接：市民与 %s 通话", cmd.byName, p.label))
		res.Message = "已转接：市民正在与 " + p.label + " 通话，您已退出。"
	case ActCancel:
		p := cv.party
		if p == nil {
			return res, controlErr(api.ErrConflict, "no_party", "no one is being rung or consulted on this call")
		}
		if cv.operator == "" {
			return res, controlErr(api.ErrConflict, "operator_left", "the operator has left this call")
		}
		cv.dropParty(ctx, p)
		msg := fmt.Sprintf("%s 取消 %s", cmd.byName, p.label)
		if cv.held {
			if _, err := cv.resume(ctx); err != nil {
				return res, err
			}
			msg += "，市民已回到通话"
		}
		cv.note(ctx, msg, false)
		res.Message = "已取消，" + p.label + " 已挂断" + map[bool]string{true: "，市民已回到通话。", false: "。"}[strings.HasSuffix(msg, "回到通话")]
	case ActLeave:
		p := cv.party
		if p == nil || !p.answered || cv.held {
			return res, controlErr(api.ErrConflict, "no_party", "leave needs a three-way call: the citizen and someone else connected")
		}
		p.mode = ActConference
		cv.operatorLeaves(ctx, fmt.Sprintf("%s 退出三方通话，市民与 %s 继续通话", cmd.byName, p.label))
		res.Message = "您已退出，市民与 " + p.label + " 继续通话。"
	case ActListen, ActWhisper, ActBarge:
		return cv.startMonitor(ctx, cmd)
	case ActStopListen:
		for leg, m := range cv.monitors {
			if m.user == cmd.user {
				if err := c.node.rest.hangup(context.WithoutCancel(ctx), leg, ""); err != nil {
					c.log.Warn("ivr: hang up supervisor leg", "err", err)
				}
				res.Message = "已结束" + monitorWord(m.mode) + "。"
				return res, nil
			}
		}
		return res, controlErr(api.ErrConflict, "not_monitoring", "%s is not listening to this call", cmd.user)
	default:
		return res, controlErr(api.ErrInvalid, "invalid_action", "unknown action %q", cmd.action)
	}
	return res, nil
}

func (cv *conversation) ringTimeout() time.Duration {
	if cv.q.RingTimeout > 0 {
		return max(cv.q.RingTimeout, 20*time.Second)
	}
	return 30 * time.Second
}

// hold takes the citizen out of the bridge and plays them music.
func (cv *conversation) hold(ctx context.Context) error {
	c := cv.c
	if err := c.node.rest.removeFromBridge(ctx, cv.bridge, c.id); err != nil && !isStatus(err, 422) {
		return fmt.Errorf("hold: remove the citizen from the bridge: %w", err)
	}
	class := cv.q.MusicClass
	if class == "" {
		class = "default"
	}
	if err := c.node.rest.moh(ctx, c.id, class); err != nil {
		c.log.Warn("ivr: music on hold not started", "err", err)
	}
	cv.held, cv.heldAt = true, cv.now()
	c.rec.HoldCount++
	return nil
}

// resume stops the music and puts the citizen back in the bridge; it returns how long
// they were held.
func (cv *conversation) resume(ctx context.Context) (time.Duration, error) {
	c := cv.c
	if err := c.node.rest.stopMOH(ctx, c.id); err != nil {
		c.log.Warn("ivr: music on hold not stopped", "err", err)
	}
	if err := c.node.rest.addToBridge(ctx, cv.bridge, c.id); err != nil {
		return 0, fmt.Errorf("resume: add the citizen to the bridge: %w", err)
	}
	d := cv.now().Sub(cv.heldAt)
	cv.held = false
	c.rec.HoldMS += d.Milliseconds()
	return d, nil
}

// dropParty hangs up the third party and forgets them.
func (cv *conversation) dropParty(ctx context.Context, p *party) {
	if err := cv.c.node.rest.hangup(context.WithoutCancel(ctx), p.leg, ""); err != nil {
		cv.c.log.Warn("ivr: hang up the third party", "err", err)
	}
	if p.answered {
		cv.addParticipant(p.label, p.mode, p.joinedAt)
	}
	cv.party = nil
}

// operatorLeaves takes the operator out: their leg is hung up, their part counted, and
// the citizen stays with the third party.
func (cv *conversation) operatorLeaves(ctx context.Context, text string) {
	c := cv.c
	leg := cv.operator
	cv.operator = ""
	if cv.party != nil {
		cv.last = cv.party.leg
	}
	if leg != "" {
		if err := c.node.rest.hangup(context.WithoutCancel(ctx), leg, ""); err != nil {
			c.log.Warn("ivr: hang up operator leg", "leg", leg, "err", err)
		}
	}
	cv.finishAgent()
	name := c.rec.Operator
	if cv.agent != nil && cv.agent.Name != "" {
		name = cv.agent.Name
	}
	cv.addParticipant("话务员 "+name, "接听", cv.started)
	cv.note(ctx, text, true)
	cv.tell(ctx, "left", text)
}

func (cv *conversation) finishAgent() {
	if cv.done {
		return
	}
	cv.done = true
	cv.c.ctrl.acd.finished(cv.agent, cv.now().Sub(cv.started), cv.q.WrapUp)
}

// event handles what happens to the legs of the conversation. It reports whether the
// conversation is over (the last person with the citizen hung up).
func (cv *conversation) event(ctx context.Context, e event) bool {
	var id string
	gone := false
	switch v := e.ev.(type) {
	case *ari.StasisStart:
		cv.answered(ctx, v.Channel.ID)
		return false
	case *ari.ChannelHangupRequest:
		id, gone = v.Channel.ID, true
	case *ari.StasisEnd:
		id, gone = v.Channel.ID, true
	case *ari.ChannelDestroyed:
		id, gone = v.Channel.ID, true
	}
	if !gone || id == "" {
		return false
	}
	return cv.legGone(ctx, id, "")
}

// legGone handles a leg that hung up (cause: why, for the note). It reports whether the
// conversation is over.
func (cv *conversation) legGone(ctx context.Context, id, cause string) bool {
	c := cv.c
	if m, ok := cv.monitors[id]; ok {
		cv.endMonitor(ctx, m)
		return false
	}
	for leg, m := range cv.monitors {
		if m.snoop == id { // the snooped leg went: the supervisor has nothing to hear
			_ = c.node.rest.hangup(context.WithoutCancel(ctx), leg, "")
		}
	}
	switch {
	case id == cv.operator:
		p := cv.party
		switch {
		case p != nil && p.answered:
			// The operator hung up with a third party on the line: the citizen stays
			// with them (an attended transfer by hanging up, or leaving a three-way).
			if cv.held {
				if _, err := cv.resume(ctx); err != nil {
					c.log.Error("ivr: citizen not put back after the operator hung up", "err", err)
					return true
				}
			}
			cv.operator = ""
			cv.operatorLeaves(ctx, fmt.Sprintf("话务员挂机，市民与 %s 继续通话", p.label))
			return false
		case p != nil:
			// Still ringing: the citizen waits on hold for them (a blind transfer).
			if !cv.held {
				if err := cv.hold(ctx); err != nil {
					return true
				}
			}
			p.mode = ActTransfer
			cv.operator = ""
			cv.operatorLeaves(ctx, fmt.Sprintf("话务员挂机，市民等待 %s 接听", p.label))
			return false
		}
		return true
	case cv.party != nil && id == cv.party.leg:
		p := cv.party
		cv.party = nil
		if !p.answered {
			if cv.operator == "" {
				cv.note(ctx, p.label+" 未接听，通话结束", true)
				return true
			}
			msg := p.label + " 未接听"
			if cv.held {
				if _, err := cv.resume(ctx); err != nil {
					c.log.Error("ivr: citizen not put back after an unanswered transfer", "err", err)
				}
				msg += "，市民已回到您的通话"
			}
			cv.note(ctx, msg, false)
			cv.tell(ctx, "party_failed", msg+"。")
			return false
		}
		entry := cv.addParticipant(p.label, p.mode, p.joinedAt)
		cv.note(ctx, p.label+" 挂机："+entry, true)
		if cv.operator == "" {
			return true
		}
		msg := p.label + " 已挂机"
		if cv.held {
			if _, err := cv.resume(ctx); err == nil {
				msg += "，市民已回到您的通话"
			}
		}
		cv.tell(ctx, "party_left", msg+"。")
		return false
	case id == cv.last:
		return true
	}
	return false
}

// answered handles a StasisStart of a leg we rang: the third party or a supervisor.
func (cv *conversation) answered(ctx context.Context, id string) {
	c := cv.c
	if p := cv.party; p != nil && p.leg == id && !p.answered {
		if err := c.node.rest.addToBridge(ctx, cv.bridge, id); err != nil {
			c.log.Error("ivr: third party not bridged", "err", err)
			cv.dropParty(ctx, p)
			if cv.held && cv.operator != "" {
				_, _ = cv.resume(ctx)
			}
			cv.tell(ctx, "party_failed", p.label+" 接通失败，市民已回到您的通话。")
			return
		}
		p.answered, p.joinedAt = true, cv.now()
		switch p.mode {
		case ActTransfer:
			if cv.held {
				if _, err := cv.resume(ctx); err != nil {
					c.log.Error("ivr: citizen not put through to the transfer target", "err", err)
					return
				}
			}
			if cv.operator != "" {
				cv.operatorLeaves(ctx, fmt.Sprintf("%s 接听，转接完成", p.label))
			} else {
				cv.last = p.leg
				cv.note(ctx, p.label+" 接听，转接完成", true)
			}
		case ActConsult:
			cv.note(ctx, p.label+" 接听（咨询中，市民保持）", false)
			cv.tell(ctx, "party_answered", p.label+" 已接听：可“完成转接”“三方通话”或“取消”。")
		default:
			cv.note(ctx, p.label+" 接听，加入三方通话", true)
			cv.tell(ctx, "party_answered", p.label+" 已接听，三方通话中；可“退出三方”让市民与其继续通话。")
		}
		return
	}
	if m, ok := cv.monitors[id]; ok && m.joinedAt.IsZero() {
		cv.joinMonitor(ctx, m)
	}
}

func monitorWord(mode string) string {
	switch mode {
	case ActWhisper:
		return "耳语"
	case ActBarge:
		return "强插"
	}
	return "监听"
}

// startMonitor rings the supervisor's phone; joinMonitor connects it once answered.
func (cv *conversation) startMonitor(ctx context.Context, cmd cmdControl) (ControlResult, error) {
	c := cv.c
	res := ControlResult{CallID: c.rec.ID, Action: cmd.action}
	for _, m := range cv.monitors {
		if m.user == cmd.user {
			return res, controlErr(api.ErrConflict, "already_monitoring", "%s is already on this call (%s)", cmd.user, m.mode)
		}
	}
	if cmd.action != ActBarge && cv.operator == "" {
		return res, controlErr(api.ErrConflict, "operator_left", "the operator has left this call: only barge-in is possible")
	}
	leg := newID("monitor-")
	c.route(leg)
	_, err := c.node.rest.originate(ctx, ari.OriginateRequest{
		Endpoint: cmd.phone, App: c.node.app, AppArgs: "monitor", ChannelID: leg,
		CallerID: fmt.Sprintf("\"%s\" <%s>", monitorWord(cmd.action), c.caller), Timeout: 30,
	})
	if err != nil {
		c.node.unroute(leg)
		return res, controlErr(api.ErrUnavailable, "monitor_unreachable", "your phone %s cannot be rung: %v", cmd.phone, err)
	}
	cv.monitors[leg] = &monitor{leg: leg, mode: cmd.action, user: cmd.user, name: cmd.byName}
	res.Message = "正在呼叫您的电话 " + cmd.phone + "，接听后开始" + monitorWord(cmd.action) + "。"
	return res, nil
}

func (cv *conversation) joinMonitor(ctx context.Context, m *monitor) {
	c := cv.c
	m.joinedAt = cv.now()
	fail := func(err error) {
		c.log.Error("ivr: supervisor not connected", "mode", m.mode, "err", err)
		_ = c.node.rest.hangup(context.WithoutCancel(ctx), m.leg, "")
	}
	if m.mode == ActBarge {
		if err := c.node.rest.addToBridge(ctx, cv.bridge, m.leg); err != nil {
			fail(err)
			return
		}
	} else {
		target := cv.operator
		if target == "" {
			fail(errors.New("the operator left"))
			return
		}
		whisper := "none"
		if m.mode == ActWhisper {
			whisper = "out"
		}
		m.snoop = newID("snoop-")
		m.bridge = newID("monitor-bridge-")
		c.route(m.snoop, m.bridge)
		if err := c.node.rest.snoop(ctx, target, m.snoop, c.node.app, "snoop", "both", whisper); err != nil {
			fail(fmt.Errorf("snoop: %w", err))
			return
		}
		if err := c.node.rest.createBridge(ctx, m.bridge, "monitor-"+c.waiterKey()); err != nil {
			fail(fmt.Errorf("monitor bridge: %w", err))
			return
		}
		for _, ch := range []string{m.snoop, m.leg} {
			if err := addOnceInStasis(ctx, c.node.rest, m.bridge, ch); err != nil {
				fail(fmt.Errorf("monitor bridge: add %s: %w", ch, err))
				return
			}
		}
	}
	cv.note(ctx, fmt.Sprintf("班长 %s 开始%s", m.name, monitorWord(m.mode)), false)
	cv.tell(ctx, "monitor", fmt.Sprintf("%s 已接通：%s中。", m.name, monitorWord(m.mode)))
}

// addOnceInStasis adds ch to bridge. Asterisk answers the snoop request once the snoop
// channel exists, but the channel enters the Stasis application on its own thread a
// moment later, and until then a bridge refuses it with 422 "Channel not in Stasis
// application" (seen on Asterisk 22 under load): that refusal is retried briefly.
func addOnceInStasis(ctx context.Context, r *rest, bridge, ch string) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		err := r.addToBridge(ctx, bridge, ch)
		if err == nil || !isStatus(err, http.StatusUnprocessableEntity) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// endMonitor tears down a supervisor's snoop after their phone hung up.
func (cv *conversation) endMonitor(ctx context.Context, m *monitor) {
	c := cv.c
	bg := context.WithoutCancel(ctx)
	delete(cv.monitors, m.leg)
	if m.snoop != "" {
		_ = c.node.rest.hangup(bg, m.snoop, "")
	}
	if m.bridge != "" {
		_ = c.node.rest.deleteBridge(bg, m.bridge)
	}
	if !m.joinedAt.IsZero() {
		c.rec.Monitored = appendNote(c.rec.Monitored, fmt.Sprintf("%s %s %s 起 %s", m.name, monitorWord(m.mode),
			m.joinedAt.In(c.ctrl.loc).Format("15:04:05"), spoken(cv.now().Sub(m.joinedAt))))
		cv.note(ctx, fmt.Sprintf("班长 %s 结束%s（%s）", m.name, monitorWord(m.mode), spoken(cv.now().Sub(m.joinedAt))), false)
	}
}

// end hangs up every leg still up and counts the operator's part.
func (cv *conversation) end(ctx context.Context) {
	c := cv.c
	bg := context.WithoutCancel(ctx)
	for _, m := range cv.monitors {
		_ = c.node.rest.hangup(bg, m.leg, "")
		cv.endMonitor(ctx, m)
	}
	if p := cv.party; p != nil {
		cv.dropParty(ctx, p)
	}
	if cv.last != "" {
		_ = c.node.rest.hangup(bg, cv.last, "")
	}
	if cv.operator != "" {
		if err := c.node.rest.hangup(bg, cv.operator, ""); err != nil {
			c.log.Warn("ivr: hang up operator leg", "leg", cv.operator, "err", err)
		}
	}
	if cv.held {
		c.rec.HoldMS += cv.now().Sub(cv.heldAt).Milliseconds()
		cv.held = false
	}
	if err := c.node.rest.deleteBridge(bg, cv.bridge); err != nil {
		c.log.Warn("ivr: delete bridge", "bridge", cv.bridge, "err", err)
	}
	cv.finishAgent()
}

// legs are the channels of the conversation besides the citizen's.
func (cv *conversation) legs() []string {
	var out []string
	for _, id := range []string{cv.operator, cv.last} {
		if id != "" {
			out = append(out, id)
		}
	}
	if cv.party != nil {
		out = append(out, cv.party.leg)
	}
	for leg := range cv.monitors {
		out = append(out, leg)
	}
	return out
}

// Control applies a call control to call id and waits for its answer. target names a
// transfer, consultation or conference target: "operator:<user>" (logged into the
// queue and not on a call) or "department:<code>" (dialled on its directory phone
// through ivr.trunk). phone is the supervisor's phone for listen, whisper and barge.
func (c *Controller) Control(ctx context.Context, id uint64, action, target, phone string, by, byName, user string) (ControlResult, error) {
	cmd := cmdControl{action: action, by: by, byName: byName, user: user, phone: phone, reply: make(chan controlReply, 1)}
	switch action {
	case ActTransfer, ActConsult, ActConference:
		if target != "" || action != ActConference {
			label, dial, err := c.resolveTarget(ctx, target, user)
			if err != nil {
				return ControlResult{}, err
			}
			cmd.label, cmd.dial = label, dial
		}
	case ActListen, ActWhisper, ActBarge:
		if !config.ValidDialString(phone) {
			return ControlResult{}, api.Errorf(api.ErrInvalid, "no_phone", "name your phone (a dial string such as PJSIP/8003) to listen from")
		}
	}
	c.mu.Lock()
	cl := c.active[id]
	c.mu.Unlock()
	if cl == nil {
		return ControlResult{}, ErrNoCall
	}
	cl.deliver(event{cmd: cmd})
	t := time.NewTimer(15 * time.Second)
	defer t.Stop()
	select {
	case r := <-cmd.reply:
		return r.res, r.err
	case <-t.C:
		// The call is not in a conversation (still in the queue, or ending): its other
		// loops drop the command.
		return ControlResult{}, api.Errorf(api.ErrConflict, "not_talking", "call %d is not in a conversation with an operator", id)
	case <-ctx.Done():
		return ControlResult{}, ctx.Err()
	}
}

// resolveTarget turns "operator:<user>" or "department:<code>" into a label and a dial
// string.
func (c *Controller) resolveTarget(ctx context.Context, target, self string) (string, string, error) {
	kind, ref, _ := strings.Cut(strings.TrimSpace(target), ":")
	switch kind {
	case "operator":
		a, ok := c.acd.agent(ref)
		if !ok {
			return "", "", api.Errorf(api.ErrInvalid, "unknown_target", "operator %q is not logged into the queue", ref)
		}
		if ref == self {
			return "", "", api.Errorf(api.ErrInvalid, "unknown_target", "you cannot transfer a call to yourself")
		}
		if a.State == AgentBusy || a.State == AgentOffered {
			return "", "", api.Errorf(api.ErrConflict, "target_busy", "operator %s is on another call", a.Name)
		}
		return "话务员 " + a.Name, a.Phone, nil
	case "department":
		if c.tickets == nil {
			return "", "", api.Errorf(api.ErrUnavailable, "no_directory", "the directory is not available")
		}
		deps, err := c.tickets.Departments(ctx)
		if err != nil {
			return "", "", fmt.Errorf("transfer target: %w", err)
		}
		for _, d := range deps {
			if d.Code != ref {
				continue
			}
			digits := DialDigits(d.Phone)
			if digits == "" {
				return "", "", api.Errorf(api.ErrInvalid, "target_no_phone", "department %s has no phone number in the directory", d.Name)
			}
			trunk := c.cfg.Trunk
			if trunk == "" {
				return "", "", api.Errorf(api.ErrUnavailable, "no_trunk", "no trunk is configured (ivr.trunk) to call departments")
			}
			return d.Name + "（" + d.Phone + "）", strings.ReplaceAll(trunk, "{number}", digits), nil
		}
		return "", "", api.Errorf(api.ErrInvalid, "unknown_target", "department %q does not exist", ref)
	}
	return "", "", api.Errorf(api.ErrInvalid, "unknown_target", "target must be operator:<user> or department:<code>, not %q", target)
}

// DialDigits keeps the digits of a directory phone number ("0477-8581234" → 04778581234);
// "" when there are fewer than three.
func DialDigits(phone string) string {
	var b strings.Builder
	for _, r := range phone {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	if b.Len() < 3 {
		return ""
	}
	return b.String()
}
