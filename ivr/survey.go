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

// Outbound satisfaction calls (回访): the callback package asks the controller to call a
// citizen, ask the survey question and take 1/2/3 by keypad, with a recorded reason
// after 3.

// SurveyRequest is one survey call.
type SurveyRequest struct {
	Number       string // the citizen's number, national format (13800138000, 04778581234)
	TicketNumber string // for the call record and the logs
	// Ring is how long the phone rings before the attempt counts as unanswered
	// (default 40 s).
	Ring time.Duration
	// MaxReason bounds the recorded reason after a 3 (default 60 s).
	MaxReason time.Duration
	// KeyWait is how long the question waits for a key (default 8 s).
	KeyWait time.Duration
}

// SurveyOutcome is how a survey call went.
type SurveyOutcome string

const (
	SurveyAnswered SurveyOutcome = "answered"  // a key 1, 2 or 3 was pressed
	SurveyNoAnswer SurveyOutcome = "no_answer" // rang out
	SurveyBusy     SurveyOutcome = "busy"
	SurveyFailed   SurveyOutcome = "failed"  // could not be placed (congestion, bad number)
	SurveyHungUp   SurveyOutcome = "hung_up" // answered, then hung up before a key
	// SurveyNoKey: answered but no key after the question was asked twice, as a fax
	// machine or an answering machine does. Counts as not reached.
	SurveyNoKey SurveyOutcome = "no_key"
)

// SurveyResult is the answer to one survey call.
type SurveyResult struct {
	Outcome SurveyOutcome
	Key     string // "1", "2" or "3" when answered
	// Reason is the recording of the reason after a 3 ("" when none was said).
	Reason         string
	ReasonDuration time.Duration
	CallID         uint64 // the call record
}

// ErrNoTelephony: no Asterisk node is connected; the survey call cannot be placed now.
var ErrNoTelephony = errors.New("ivr: no Asterisk node connected")

// Survey calls a citizen and asks the survey question. It blocks until the call is over
// (or ctx ends). An error means the attempt could not be made at all (no node, a REST
// failure): try again later; every outcome of a placed call is a result.
func (c *Controller) Survey(ctx context.Context, req SurveyRequest) (SurveyResult, error) {
	if c.cfg.Trunk == "" {
		return SurveyResult{}, errors.New("ivr: no trunk configured (ivr.trunk) for outbound calls")
	}
	n, err := phone.Parse(req.Number)
	if err != nil || !n.Valid {
		return SurveyResult{Outcome: SurveyFailed}, fmt.Errorf("ivr: survey number %q: %w", phone.Mask(req.Number), phone.ErrInvalid)
	}
	if req.Ring <= 0 {
		req.Ring = 40 * time.Second
	}
	if req.MaxReason <= 0 {
		req.MaxReason = 60 * time.Second
	}
	if req.KeyWait <= 0 {
		req.KeyWait = 8 * time.Second
	}
	var nd *node
	for _, x := range c.nodes {
		if x.connected.Load() {
			nd = x
			break
		}
	}
	if nd == nil {
		return SurveyResult{}, ErrNoTelephony
	}
	cl := &call{ctrl: c, node: nd, id: newID("survey-"), caller: n.National, signal: make(chan struct{}, 1)}
	cl.line = c.cfg.Lines[0]
	if err := c.takeOutbound(cl.line); err != nil {
		// Not an attempt: the caller tries again later, when callers left lines free.
		return SurveyResult{}, fmt.Errorf("survey call for ticket %s: %w", req.TicketNumber, err)
	}
	cl.hotline = c.hotline[cl.line.Hotline]
	cl.rec = &Record{
		Node: nd.name, ChannelID: cl.id, Caller: n.National, Dialled: cl.line.Number,
		Hotline: cl.hotline.Code, Direction: "survey", ArrivedAt: c.now().UTC(),
		TicketNumber: req.TicketNumber,
	}
	type out struct {
		res SurveyResult
		err error
	}
	done := make(chan out, 1)
	launched := c.launch(nd, cl, func(ctx context.Context) {
		defer c.freeOutbound(cl.line)
		res, err := cl.survey(ctx, req)
		done <- out{res, err}
	})
	if !launched {
		c.freeOutbound(cl.line)
		// The channel id is new to Asterisk, so nothing can own it; if something did,
		// waiting for a flow that never started would hold the survey worker forever.
		return SurveyResult{}, fmt.Errorf("survey call for ticket %s: channel %s is already in use", req.TicketNumber, cl.id)
	}
	select {
	case o := <-done:
		return o.res, o.err
	case <-ctx.Done():
		cl.cancel()
		o := <-done
		return o.res, o.err
	}
}

// survey is the survey call's flow, on the call's own goroutine.
func (c *call) survey(ctx context.Context, req SurveyRequest) (SurveyResult, error) {
	c.log = c.log.With("ticket", req.TicketNumber, "direction", "survey")
	if err := c.ctrl.records.insert(ctx, c.rec); err != nil {
		c.log.Error("ivr: survey call record not written", "err", err)
	}
	res := SurveyResult{CallID: c.rec.ID}
	outcome, err := c.dialOut(ctx, req.Ring)
	if err != nil || outcome != SurveyAnswered {
		res.Outcome = outcome
		c.markHungup()
		c.finishSurvey(ctx, res)
		return res, err
	}
	now := c.ctrl.now().UTC()
	c.rec.ConnectedAt = &now
	// Who calls and why, before the question: a citizen who hears a bare question from
	// an unknown number hangs up.
	err = c.play(ctx, true, c.sound("survey-hello"))
	var key byte
	if err == nil {
		key, err = c.askSurvey(ctx, req.KeyWait)
	}
	switch {
	case errors.Is(err, errHangup):
		res.Outcome = SurveyHungUp
	case err != nil:
		res.Outcome = SurveyHungUp
		c.log.Warn("ivr: survey call failed", "err", err)
	case key == 0:
		res.Outcome = SurveyNoKey
	default:
		res.Outcome, res.Key = SurveyAnswered, string(key)
	}
	if res.Key == "3" {
		if err := c.play(ctx, false, c.sound("survey-reason")); err == nil {
			name := c.recordingName("survey-reason")
			dur, _, rerr := c.recordMessage(ctx, name, req.MaxReason, c.ctrl.cfg.Voicemail.Format)
			if rerr == nil && (dur > 0 || c.isHungup()) {
				res.Reason, res.ReasonDuration = name, dur
				c.rec.Voicemail = name
			}
		}
	}
	if res.Outcome == SurveyAnswered {
		_ = c.play(ctx, false, c.sound("survey-thanks"))
	}
	c.finishSurvey(ctx, res)
	return res, nil
}

// finishSurvey ends the call and writes its record; a survey call is never left for
// re-adoption.
func (c *call) finishSurvey(ctx context.Context, res SurveyResult) {
	bg := context.WithoutCancel(ctx)
	if !c.isHungup() {
		if err := c.node.rest.hangup(bg, c.id, ""); err != nil {
			c.log.Warn("ivr: hang up survey call", "err", err)
		}
	}
	now := c.ctrl.now().UTC()
	c.rec.EndedAt = &now
	c.rec.Outcome = Outcome("survey_" + string(res.Outcome))
	c.rec.Note = appendNote(c.rec.Note, "回访结果 "+string(res.Outcome)+" "+res.Key)
	if err := c.ctrl.records.save(bg, c.rec); err != nil {
		c.log.Error("ivr: survey call record not saved", "err", err)
	}
}

// dialOut originates the call through the trunk into our app and waits for the answer.
func (c *call) dialOut(ctx context.Context, ring time.Duration) (SurveyOutcome, error) {
	dial := strings.ReplaceAll(c.ctrl.cfg.Trunk, "{number}", c.caller)
	if !config.ValidDialString(dial) {
		return SurveyFailed, fmt.Errorf("ivr: trunk dial string %q is not valid", dial)
	}
	_, err := c.node.rest.originate(ctx, ari.OriginateRequest{
		Endpoint: dial, App: c.node.app, AppArgs: "survey", ChannelID: c.id,
		CallerID: c.line.Number, Timeout: int(ring / time.Second),
	})
	if err != nil {
		if isStatus(err, 400, 500) {
			// Recorded: an endpoint Asterisk cannot dial answers 400 or 500 at once.
			return SurveyFailed, nil
		}
		return SurveyFailed, fmt.Errorf("ivr: survey call: %w", err)
	}
	guard := time.NewTimer(ring + 10*time.Second)
	defer guard.Stop()
	// Through a Local channel ([rexian-outbound]) the leg we hold ends with cause 0 or 16
	// whatever the trunk answered (recorded: busy gives ;1 cause 0); the Dial event says
	// what happened.
	status := ""
	for {
		e, err := c.next(ctx, guard.C)
		if errors.Is(err, errTimeout) {
			_ = c.node.rest.hangup(context.WithoutCancel(ctx), c.id, "")
			return SurveyNoAnswer, nil
		}
		if err != nil {
			_ = c.node.rest.hangup(context.WithoutCancel(ctx), c.id, "")
			return SurveyFailed, err
		}
		switch v := e.ev.(type) {
		case *ari.StasisStart:
			if v.Channel.ID == c.id {
				return SurveyAnswered, nil
			}
		case *ari.Dial:
			if v.Peer.ID == c.id && v.Dialstatus != "" {
				status = v.Dialstatus
			}
		case *ari.ChannelDestroyed:
			if v.Channel.ID == c.id {
				return dialOutcome(v.Cause, status), nil
			}
		}
		if rs, ok := e.cmd.(cmdResync); ok {
			ch, alive := rs.alive[c.id]
			switch {
			case !alive:
				return SurveyNoAnswer, nil
			case ch.State == "Up" && c.node.inOurApp(ch):
				return SurveyAnswered, nil
			}
		}
	}
}

// dialOutcome is what an outbound call that ended unanswered came to, from its hang-up
// cause and the last dial status.
func dialOutcome(cause int, status string) SurveyOutcome {
	switch {
	case cause == 17 || status == "BUSY":
		return SurveyBusy
	case status == "CONGESTION" || status == "CHANUNAVAIL":
		return SurveyFailed
	case cause == 19 || cause == 16 || cause == 21 || status == "NOANSWER" || status == "CANCEL":
		return SurveyNoAnswer
	default:
		return SurveyFailed
	}
}

// askSurvey plays the question up to twice and returns the key 1, 2 or 3 (0: none).
func (c *call) askSurvey(ctx context.Context, wait time.Duration) (byte, error) {
	for try := 0; try < 2; try++ {
		if try > 0 {
			if err := c.play(ctx, true, c.sound("survey-invalid")); err != nil {
				return 0, err
			}
		}
		if err := c.play(ctx, true, c.sound("survey-question")); err != nil {
			return 0, err
		}
		k, err := c.waitDigit(ctx, wait)
		if err != nil {
			return 0, err
		}
		if k == '1' || k == '2' || k == '3' {
			return k, nil
		}
		c.clearDigits()
	}
	return 0, nil
}
