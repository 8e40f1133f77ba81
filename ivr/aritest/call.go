package aritest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/CyCoreSystems/ari/v5"
)

// ErrNoApp is returned by Dial when no event socket is registered for the
// application: Asterisk's Stasis() fails at once (STASISSTATUS=FAILED) and
// the controller never sees the call.
var ErrNoApp = errors.New("aritest: Stasis application not registered")

// Caller describes a citizen's incoming call.
type Caller struct {
	// Number and Name are the caller id the dialplan sets.
	Number string
	Name   string
	// Dialled is the hotline number dialled; it becomes the dialplan
	// extension and, by default, the single Stasis argument.
	Dialled string
	// Args are the Stasis arguments; nil means []string{Dialled}.
	Args []string
}

// Call is a scripted channel: an incoming call's Stasis leg (Dial) or a leg
// the controller originated (WaitOriginated). Methods are safe for
// concurrent use.
type Call struct {
	s         *Server
	ch        *channel
	done      chan struct{}
	events    []Event
	played    []string
	handedOut bool
}

func (s *Server) newCallLocked(c *channel) *Call {
	call := &Call{s: s, ch: c, done: make(chan struct{})}
	c.call = call
	s.st.handles[c.id] = call
	return call
}

// Dial places an incoming call: a Local pair whose ;2 leg runs the dialplan
// (Set CALLERID, Stasis) and enters Stasis(App, args...) in state Ring.
func (s *Server) Dial(ctx context.Context, caller Caller) (*Call, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("aritest.Dial %s: %w", caller.Number, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.closed {
		return nil, ErrClosed
	}
	if s.st.app.sock == nil {
		s.log.Warn("aritest: Stasis app doesn't exist", "app", s.opts.App, "caller", caller.Number)
		return nil, fmt.Errorf("aritest.Dial %s: %w", caller.Number, ErrNoApp)
	}
	_, call := s.incomingLocked(caller, "", "")
	return call, nil
}

// hotlineContext is the dialplan context incoming calls run in.
const hotlineContext = "hotline-in"

// incomingLocked runs an incoming call through the hotline dialplan: a
// Local pair whose ;2 leg sets the caller id and enters Stasis. It returns
// the ;1 leg and the handle of the ;2 leg. When no socket is registered,
// Stasis() fails and the dialplan hangs up (call is nil).
func (s *Server) incomingLocked(caller Caller, id1, id2 string) (*channel, *Call) {
	exten := caller.Dialled
	if exten == "" {
		exten = "s"
	}
	args := caller.Args
	if args == nil {
		args = []string{}
		if caller.Dialled != "" {
			args = []string{caller.Dialled}
		}
	}
	suffix := s.nextLocalSuffixLocked()
	base := "Local/" + exten + "@" + hotlineContext + "-" + suffix
	c1 := s.newChannelLocked(id1, base+";1", "Down")
	c2 := s.newChannelLocked(id2, base+";2", "Ring")
	c1.peer, c2.peer = c2, c1
	c2.fromDialplan = true
	c1.dialplan = dialplanLoc{context: hotlineContext, exten: exten, priority: 1}
	c2.dialplan = dialplanLoc{context: hotlineContext, exten: exten, priority: 1}

	// What subscribeAll sockets see before StasisStart.
	s.chanEvent("ChannelCreated", c1)
	s.chanEvent("ChannelCreated", c2)
	c1.dialplan.appName, c1.dialplan.appData = "AppDial2", "(Outgoing Line)"
	s.dialplanEvent(c1, "AppDial2", "(Outgoing Line)")
	s.dialEvent(c1, "", exten+"@"+hotlineContext)
	prio := 1
	if caller.Number != "" {
		set := "CALLERID(num)=" + caller.Number
		c2.dialplan = dialplanLoc{context: hotlineContext, exten: exten, priority: prio, appName: "Set", appData: set}
		s.dialplanEvent(c2, "Set", set)
		c2.caller.number = caller.Number
		s.callerIDEvent(c2)
		prio++
	}
	if caller.Name != "" {
		set := "CALLERID(name)=" + caller.Name
		c2.dialplan = dialplanLoc{context: hotlineContext, exten: exten, priority: prio, appName: "Set", appData: set}
		s.dialplanEvent(c2, "Set", set)
		c2.caller.name = caller.Name
		s.callerIDEvent(c2)
		prio++
	}
	appData := s.opts.App
	if len(args) > 0 {
		appData += "," + strings.Join(args, ",")
	}
	c2.dialplan = dialplanLoc{context: hotlineContext, exten: exten, priority: prio, appName: "Stasis", appData: appData}
	s.dialplanEvent(c2, "Stasis", appData)
	if s.st.app.sock == nil {
		// STASISSTATUS=FAILED; the dialplan goes on to Hangup().
		s.hangupRequest(c2, 16, false)
		s.destroyLocked(c2, 16)
		s.destroyLocked(c1, 16)
		return c1, nil
	}
	s.varset(c2, "STASISSTATUS", "")
	c2.inStasis = true
	c2.watched = true
	call := s.newCallLocked(c2)
	s.chanEvent("StasisStart", c2, kv{"args", args})
	return c1, call
}

// Call returns the scripted handle of a channel: an incoming call's Stasis
// leg or a leg the controller originated (nil, false for other channels,
// such as the ;1 half of an incoming call, destroyed channels and unknown
// ids). A handle obtained earlier stays valid after its channel is gone.
func (s *Server) Call(channelID string) (*Call, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	call, ok := s.st.handles[channelID]
	return call, ok
}

// ID is the channel id.
func (c *Call) ID() string { return c.ch.id }

// Name is the channel name.
func (c *Call) Name() string { return c.ch.name }

// Press sends one ChannelDtmfReceived per digit, in order, now. DTMF does
// not stop playbacks; it ends a recording whose terminateOn matches.
func (c *Call) Press(digits string) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range digits {
		if c.ch.destroyed {
			return
		}
		digit := string(d)
		s.chanEvent("ChannelDtmfReceived", c.ch, kv{"digit", digit}, kv{"duration_ms", 100})
		s.dtmfEndsRecordingLocked(c.ch, digit)
	}
}

// Hangup: the far end (the caller, the operator's phone) hangs up, cause 16.
// A phone that still rings declines the call (busy).
func (c *Call) Hangup() { c.HangupCause(16) }

// HangupCause hangs up from the far end with the given cause.
func (c *Call) HangupCause(cause int) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.farHangupLocked(c.ch, cause)
}

// Answer makes a ringing originated leg answer now, whatever its Phone
// script says. It does nothing on other channels.
func (c *Call) Answer() {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.ch.dial != nil && !c.ch.destroyed {
		s.cancelTimer(c.ch.dial.answer)
		s.dialAnsweredLocked(c.ch)
	}
}

// Speak: the caller talks for d (Asterisk time). A recording of this
// channel that is running gets d of audio; it also resets maxSilenceSeconds.
func (c *Call) Speak(d time.Duration) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.speakLocked(c.ch, d)
}

// State is the channel state (Down, Ring, Ringing, Up, Busy), "" once the
// channel is destroyed.
func (c *Call) State() string {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.ch.destroyed {
		return ""
	}
	return c.ch.state
}

// InStasis reports whether the channel is in the Stasis application.
func (c *Call) InStasis() bool {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.ch.inStasis
}

// Context is the dialplan context the channel is in: the hotline's while in
// Stasis, the one a POST .../continue sent it to afterwards.
func (c *Call) Context() string {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.ch.dialplan.context
}

// Done is closed when the channel is destroyed, whichever side hung up.
func (c *Call) Done() <-chan struct{} { return c.done }

// Cause is the hang-up cause once Done is closed (16 normal clearing,
// 17 busy, 19 no answer, 34 congestion, 0 unknown).
func (c *Call) Cause() int {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.ch.cause
}

// Played lists the media URIs that started playing on this channel (and on
// a bridge it was in), in order; each item of a comma list counts.
func (c *Call) Played() []string {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return append([]string(nil), c.played...)
}

// Heard is the DTMF the controller sent to this channel (POST .../dtmf).
func (c *Call) Heard() string {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return strings.Join(c.ch.heard, "")
}

// WaitPlayed waits until a media URI matching match (nil: any) has
// started playing on the channel, including ones that started before the
// call, and returns it. Each call starts looking from the first item.
func (c *Call) WaitPlayed(ctx context.Context, match func(uri string) bool) (string, error) {
	var found string
	err := c.s.waitFor(ctx, func() bool {
		for _, uri := range c.played {
			if match == nil || match(uri) {
				found = uri
				return true
			}
		}
		return false
	})
	if err != nil {
		return "", fmt.Errorf("aritest: wait for a playback on %s: %w", c.ch.id, err)
	}
	return found, nil
}

// WaitState waits until the channel is in state ("" waits for its end).
func (c *Call) WaitState(ctx context.Context, state string) error {
	err := c.s.waitFor(ctx, func() bool {
		if c.ch.destroyed {
			return state == ""
		}
		return c.ch.state == state
	})
	if err != nil {
		return fmt.Errorf("aritest: wait for %s to be %q: %w", c.ch.id, state, err)
	}
	return nil
}

// WaitRecording waits until a recording of this channel runs and returns
// its name.
func (c *Call) WaitRecording(ctx context.Context) (string, error) {
	var name string
	err := c.s.waitFor(ctx, func() bool {
		if rec := c.ch.recorder.cur; rec != nil && rec.state == "recording" {
			name = rec.name
			return true
		}
		return false
	})
	if err != nil {
		return "", fmt.Errorf("aritest: wait for a recording on %s: %w", c.ch.id, err)
	}
	return name, nil
}

// BridgeID is the bridge the channel is in, "" if none.
func (c *Call) BridgeID() string {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.ch.bridge == nil {
		return ""
	}
	return c.ch.bridge.id
}

// MOH reports whether the channel hears music on hold, its own or its
// bridge's.
func (c *Call) MOH() bool {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.ch.moh || c.ch.bridge != nil && c.ch.bridge.moh
}

// Ringing reports whether the controller is playing ringback to the
// channel (POST .../ring).
func (c *Call) Ringing() bool {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.ch.ringing
}

// Variable is a channel variable's value ("" if unset).
func (c *Call) Variable(name string) string {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.ch.vars[name]
}

// Events lists what the application was sent about this channel, in order.
func (c *Call) Events() []Event {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return append([]Event(nil), c.events...)
}

// EventTypes is Events reduced to the event types.
func (c *Call) EventTypes() []string {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	types := make([]string, len(c.events))
	for i, e := range c.events {
		types[i] = e.Type
	}
	return types
}

// Channels returns every channel, as GET /channels would.
func (s *Server) Channels() []ari.ChannelData {
	s.mu.Lock()
	chans := s.sortedChannelsLocked()
	bodies := make([][]byte, len(chans))
	for i, c := range chans {
		bodies[i] = encodeJSON(c.json())
	}
	s.mu.Unlock()
	out := make([]ari.ChannelData, 0, len(bodies))
	for _, b := range bodies {
		var d ari.ChannelData
		if err := json.Unmarshal(b, &d); err == nil {
			out = append(out, d)
		}
	}
	return out
}

// Bridges returns every bridge, as GET /bridges would.
func (s *Server) Bridges() []ari.BridgeData {
	s.mu.Lock()
	brs := s.sortedBridgesLocked()
	bodies := make([][]byte, len(brs))
	for i, b := range brs {
		bodies[i] = encodeJSON(b.json())
	}
	s.mu.Unlock()
	out := make([]ari.BridgeData, 0, len(bodies))
	for _, b := range bodies {
		var d ari.BridgeData
		if err := json.Unmarshal(b, &d); err == nil {
			out = append(out, d)
		}
	}
	return out
}
