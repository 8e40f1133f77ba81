package ivr

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/CyCoreSystems/ari/v5"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/config"
)

// call is one caller's channel in Stasis and everything the controller does for it. It
// runs in its own goroutine (run); events reach it through its inbox.
type call struct {
	ctrl *Controller
	node *node
	log  *slog.Logger

	id      string // the caller's channel id
	caller  string // caller number as Asterisk gave it
	dialled string
	line    config.Line
	hotline config.Hotline

	mu      sync.Mutex
	inbox   []event
	signal  chan struct{} // capacity 1: something was queued
	hungup  bool
	digits  []byte // keys pressed and not yet consumed (type-ahead)
	routed  []string
	lastEvt time.Time // when the event being handled was read off the socket

	rec *Record
	// patient: wait in the queue even with no operator logged in (a caller re-adopted
	// after a restart, while operators' phones come back).
	patient bool
	// resumed: a caller adopted while waiting in a queue; they have heard queue-enter.
	resumed bool
	// intro is the playback (the welcome of a direct line) that goes on while the caller
	// already waits in the queue and an operator's phone may ring; "" once it ended.
	intro string

	// cleanup work registered as the flow goes (bridge, agent legs, recordings).
	ctx    context.Context
	cancel context.CancelFunc
}

func newCall(ctrl *Controller, n *node, ch ari.ChannelData, dialled string) *call {
	c := &call{
		ctrl:    ctrl,
		node:    n,
		id:      ch.ID,
		dialled: dialled,
		signal:  make(chan struct{}, 1),
	}
	if ch.Caller != nil {
		c.caller = strings.TrimSpace(ch.Caller.Number)
	}
	return c
}

// deliver queues an event for the call; it never blocks.
func (c *call) deliver(e event) {
	c.mu.Lock()
	c.inbox = append(c.inbox, e)
	c.mu.Unlock()
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// next returns the next event, or an error when ctx ends or the timer fires (timeout
// <= 0: no timer).
func (c *call) next(ctx context.Context, timer <-chan time.Time) (event, error) {
	for {
		c.mu.Lock()
		if len(c.inbox) > 0 {
			e := c.inbox[0]
			c.inbox[0] = event{}
			c.inbox = c.inbox[1:]
			if e.ev != nil {
				c.lastEvt = e.at
			}
			c.mu.Unlock()
			return e, nil
		}
		c.mu.Unlock()
		select {
		case <-c.signal:
		case <-timer:
			return event{}, errTimeout
		case <-ctx.Done():
			return event{}, ctx.Err()
		}
	}
}

var errTimeout = errors.New("timeout")

// pop returns a queued event without waiting.
func (c *call) pop() (event, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.inbox) == 0 {
		return event{}, false
	}
	e := c.inbox[0]
	c.inbox[0] = event{}
	c.inbox = c.inbox[1:]
	if e.ev != nil {
		c.lastEvt = e.at
	}
	return e, true
}

// route registers ids whose events go to this call; they are removed when the call ends.
func (c *call) route(ids ...string) {
	for _, id := range ids {
		c.node.route(id, c)
	}
	c.mu.Lock()
	c.routed = append(c.routed, ids...)
	c.mu.Unlock()
}

// observe records, for the benchmark and the metrics, how long the controller took from
// reading the event that led to a REST request to that request's answer.
func (c *call) observe() {
	c.mu.Lock()
	at := c.lastEvt
	c.lastEvt = time.Time{}
	c.mu.Unlock()
	if !at.IsZero() {
		c.ctrl.observeReply(time.Since(at))
	}
}

// handle applies what every wait does with an event: hang-ups end the call, keys are
// kept for whoever reads them next. It reports whether the call is over.
func (c *call) handle(e event) bool {
	switch v := e.ev.(type) {
	case *ari.ChannelHangupRequest:
		if v.Channel.ID == c.id {
			c.markHungup()
		}
	case *ari.StasisEnd:
		if v.Channel.ID == c.id {
			c.markHungup()
		}
	case *ari.ChannelDestroyed:
		if v.Channel.ID == c.id {
			c.markHungup()
		}
	case *ari.PlaybackFinished:
		c.mu.Lock()
		if v.Playback.ID == c.intro && c.intro != "" {
			c.node.unroute(c.intro)
			c.intro = ""
		}
		c.mu.Unlock()
	case *ari.ChannelDtmfReceived:
		if v.Channel.ID == c.id && len(v.Digit) == 1 {
			c.mu.Lock()
			// Bound the type-ahead: a caller leaning on the keypad must not grow memory.
			if len(c.digits) < 64 {
				c.digits = append(c.digits, v.Digit[0])
			}
			c.mu.Unlock()
		}
	}
	if _, ok := e.cmd.(cmdGone); ok {
		c.markHungup()
	}
	if cmd, ok := e.cmd.(cmdControl); ok {
		// Read anywhere but in a conversation: nothing to control.
		select {
		case cmd.reply <- controlReply{err: api.Errorf(api.ErrConflict, "not_talking", "the call is not in a conversation with an operator")}:
		default:
		}
	}
	return c.isHungup()
}

func (c *call) markHungup() {
	c.mu.Lock()
	c.hungup = true
	c.mu.Unlock()
}

func (c *call) isHungup() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hungup
}

// takeDigit returns the oldest key not yet consumed.
func (c *call) takeDigit() (byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.digits) == 0 {
		return 0, false
	}
	d := c.digits[0]
	c.digits = c.digits[1:]
	return d, true
}

func (c *call) clearDigits() {
	c.mu.Lock()
	c.digits = c.digits[:0]
	c.mu.Unlock()
}

// digitPending reports whether one of keys (each one character; "" never matches) was
// pressed and not yet consumed.
func (c *call) digitPending(keys ...string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range c.digits {
		for _, k := range keys {
			if k == string(d) {
				return true
			}
		}
	}
	return false
}

func (c *call) pendingDigits() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.digits) > 0
}

// cmdGone tells a call that its channel vanished while the event socket was down.
type cmdGone struct{}

// cmdOffer tells a waiting call that an operator is being offered: an announcement in
// progress stops so that the operator's phone rings at once.
type cmdOffer struct{}

// cmdResync tells a call that the event socket reconnected: events may have been lost,
// so whatever it waits for must be checked. alive are the node's channels now.
type cmdResync struct{ alive map[string]channelInfo }

// newID returns a random id for playbacks, bridges and originated channels, chosen by
// us so that events for it are routed before the request is even sent.
func newID(prefix string) string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// sound is the media URI of a configured prompt.
func (c *call) sound(name string) string {
	return "sound:" + c.ctrl.cfg.PromptDir + "/" + name
}

// startIntro starts media on the caller's channel without waiting for it: the caller
// hears it while the flow goes on (a direct line's welcome while the operator's phone
// rings). play, and the bridge to an operator, wait for it to end; stopIntro cuts it.
func (c *call) startIntro(ctx context.Context, media ...string) error {
	id := newID("pb-")
	c.route(id)
	err := c.node.rest.play(ctx, c.id, id, c.ctrl.cfg.Language, media)
	c.observe()
	if err != nil {
		c.node.unroute(id)
		if gone(err) || isStatus(err, 409) {
			c.markHungup()
			return errHangup
		}
		return fmt.Errorf("play %v: %w", media, err)
	}
	c.mu.Lock()
	c.intro = id
	c.mu.Unlock()
	return nil
}

func (c *call) introPlaying() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.intro
}

// awaitIntro waits until the intro has ended (keys pressed meanwhile are kept).
func (c *call) awaitIntro(ctx context.Context) error {
	if c.introPlaying() == "" {
		return nil
	}
	// A playback whose end is never told must not hold the call forever.
	guard := time.NewTimer(5 * time.Minute)
	defer guard.Stop()
	for c.introPlaying() != "" {
		e, err := c.next(ctx, guard.C)
		if errors.Is(err, errTimeout) {
			c.stopIntro(ctx)
			return nil
		}
		if err != nil {
			return err
		}
		if c.handle(e) {
			return errHangup
		}
		if _, ok := e.cmd.(cmdResync); ok {
			if id := c.introPlaying(); id != "" {
				if done, err := c.node.rest.playbackDone(ctx, id); err == nil && done {
					c.mu.Lock()
					c.intro = "" // its PlaybackFinished was lost with the socket
					c.mu.Unlock()
				}
			}
		}
	}
	return nil
}

// stopIntro cuts the intro short (the caller pressed a key that acts now).
func (c *call) stopIntro(ctx context.Context) {
	c.mu.Lock()
	id := c.intro
	c.intro = ""
	c.mu.Unlock()
	if id == "" {
		return
	}
	defer c.node.unroute(id)
	if err := c.node.rest.stopPlayback(context.WithoutCancel(ctx), id); err != nil {
		c.log.Warn("stop playback", "playback", id, "err", err)
	}
}

// play plays media on the caller's channel and waits until it ends. With bargeIn a key
// stops it (Asterisk itself does not: recorded) and is kept for the next read; a key
// already pressed before the playback skips it. It returns errHangup when the caller
// hangs up.
func (c *call) play(ctx context.Context, bargeIn bool, media ...string) error {
	if c.isHungup() {
		return errHangup
	}
	if bargeIn && c.pendingDigits() {
		return nil
	}
	if err := c.awaitIntro(ctx); err != nil {
		return err
	}
	id := newID("pb-")
	c.route(id)
	defer c.node.unroute(id)
	err := c.node.rest.play(ctx, c.id, id, c.ctrl.cfg.Language, media)
	c.observe()
	if err != nil {
		if gone(err) || isStatus(err, 409) {
			c.markHungup()
			return errHangup
		}
		return fmt.Errorf("play %v: %w", media, err)
	}
	stopped := false
	// A playback whose media never finishes (recorded: an unknown scheme sends no
	// PlaybackFinished) must not hold the call forever.
	guard := time.NewTimer(10 * time.Minute)
	defer guard.Stop()
	for {
		e, err := c.next(ctx, guard.C)
		if err != nil {
			if errors.Is(err, errTimeout) {
				_ = c.node.rest.stopPlayback(context.WithoutCancel(ctx), id)
				return nil
			}
			return err
		}
		if pf, ok := e.ev.(*ari.PlaybackFinished); ok && pf.Playback.ID == id {
			return nil
		}
		if _, ok := e.cmd.(cmdResync); ok {
			if finished, err := c.node.rest.playbackDone(ctx, id); err == nil && finished {
				return nil // its PlaybackFinished was lost with the socket
			}
		}
		if _, ok := e.cmd.(cmdOffer); ok && bargeIn {
			if err := c.node.rest.stopPlayback(ctx, id); err != nil {
				c.log.Warn("stop playback for an offer", "playback", id, "err", err)
			}
			return nil
		}
		if c.handle(e) {
			return errHangup
		}
		if bargeIn && !stopped && c.pendingDigits() {
			stopped = true
			err := c.node.rest.stopPlayback(ctx, id)
			c.observe()
			if err != nil {
				c.log.Warn("stop playback", "playback", id, "err", err)
				return nil
			}
			// PlaybackFinished follows within a millisecond (recorded); wait for it so
			// that the next playback is not queued behind this one.
		}
	}
}

// waitDigit waits up to d for one key (a key pressed earlier counts at once).
func (c *call) waitDigit(ctx context.Context, d time.Duration) (byte, error) {
	if k, ok := c.takeDigit(); ok {
		return k, nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		e, err := c.next(ctx, t.C)
		if errors.Is(err, errTimeout) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		if c.handle(e) {
			return 0, errHangup
		}
		if k, ok := c.takeDigit(); ok {
			return k, nil
		}
	}
}

// collect reads keys until # (not returned), max keys, or wait without a key. Overlong
// input is cut at max and the rest discarded, so a caller leaning on the keypad gets
// "wrong number", not a stuck line.
func (c *call) collect(ctx context.Context, max int, wait time.Duration) (string, error) {
	var b strings.Builder
	for {
		k, err := c.waitDigit(ctx, wait)
		if err != nil {
			return "", err
		}
		switch {
		case k == 0 || k == '#':
			return b.String(), nil
		case k == '*':
			// * starts over, as callers expect from phone menus.
			b.Reset()
		case k >= '0' && k <= '9':
			if b.Len() >= max {
				c.clearDigits()
				return b.String() + "+", nil // marks overlong input as invalid
			}
			b.WriteByte(k)
		}
	}
}

// recordMessage records the caller until # or max, and returns the duration. It waits
// for RecordingFinished even after the caller hung up: Asterisk ends the recording then
// and keeps the file (recorded), and the voice message must not be lost.
func (c *call) recordMessage(ctx context.Context, name string, max time.Duration, format string) (time.Duration, bool, error) {
	c.route(name)
	defer c.node.unroute(name)
	err := c.node.rest.record(ctx, c.id, name, recordOptions{Format: format, MaxDuration: max, Beep: true, TerminateOn: "#"})
	c.observe()
	if err != nil {
		if gone(err) || isStatus(err, 409) {
			c.markHungup()
			return 0, false, errHangup
		}
		return 0, false, fmt.Errorf("record %s: %w", name, err)
	}
	guard := time.NewTimer(max + 30*time.Second)
	defer guard.Stop()
	// After a hang-up the call's context may already be cancelled; the recording's
	// end is still worth a few seconds.
	wctx := ctx
	for {
		e, err := c.next(wctx, guard.C)
		if err != nil {
			if c.isHungup() || errors.Is(err, errTimeout) {
				// No RecordingFinished came: assume the file is there (Asterisk keeps it
				// on hang-up) and let the ticket carry the name.
				return 0, c.isHungup(), nil
			}
			return 0, false, err
		}
		if _, ok := e.cmd.(cmdResync); ok {
			if finished, err := c.node.rest.recordingDone(ctx, name); err == nil && finished {
				return 0, c.isHungup(), nil // its RecordingFinished was lost with the socket
			}
		}
		switch v := e.ev.(type) {
		case *ari.RecordingFinished:
			if v.Recording.Name == name {
				return time.Duration(v.Recording.Duration), c.isHungup(), nil
			}
		case *ari.RecordingFailed:
			if v.Recording.Name == name {
				return 0, c.isHungup(), fmt.Errorf("record %s: failed: %s", name, v.Recording.Cause)
			}
		}
		if c.handle(e) && wctx == ctx {
			// Hung up: give Asterisk a moment to finish the file and say so.
			var cancel context.CancelFunc
			wctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
			defer cancel()
		}
	}
}

// stopping reports whether the call's controller let go of it (shutting down, or the
// node's lease lost): the call then leaves its channels as they are, for the next
// controller to re-adopt.
func (c *call) stopping() bool { return c.ctrl.stopping() || c.node.fenced() }
