package aritest

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

type party struct{ name, number string }

type dialplanLoc struct {
	context, exten   string
	priority         int
	appName, appData string
}

// channel is one Asterisk channel. Every field is guarded by Server.mu.
type channel struct {
	seq       int64
	id, name  string
	state     string
	caller    party
	connected party
	dialplan  dialplanLoc
	created   time.Time
	createdAt string // created in Asterisk's format
	language  string
	vars      map[string]string

	// peer is the other half of a Local pair (;1 ↔ ;2), nil otherwise.
	peer *channel
	// fromDialplan marks the ;2 leg of an incoming call that entered
	// Stasis from the dialplan: without subscribeAll the application stops
	// hearing about it at StasisEnd.
	fromDialplan bool
	// originated marks channels created by POST /channels or
	// /channels/create: the application keeps getting their events up to
	// ChannelDestroyed.
	originated bool
	inStasis   bool
	// watched says whether a socket without subscribeAll gets this
	// channel's events.
	watched bool

	bridge   *bridge
	player   player
	recorder recorder
	moh      bool
	silence  bool
	ringing  bool
	progress bool // Dial PROGRESS sent for early media

	dial *dialing // an originate or /dial still ringing
	// endpoint and dialstring of a /channels/create leg, for /dial.
	endpoint, dialstring string
	dialled              bool
	dialplanAppData      string // app_data once an originated leg enters Stasis
	call                 *Call
	destroyed            bool
	cause                int
	heard                []string // DTMF the controller sent towards this channel's far end
	// snoopOf is the channel a snoop channel spies on, with its directions.
	snoopOf      *channel
	spy, whisper string
}

// json renders the channel in Asterisk's key order. It is built directly
// as bytes because every event carries a channel.
func (c *channel) json() rawJSON {
	b := make([]byte, 0, 384)
	b = append(b, `{"id":`...)
	b = appendString(b, c.id)
	b = append(b, `,"name":`...)
	b = appendString(b, c.name)
	b = append(b, `,"state":`...)
	b = appendString(b, c.state)
	b = append(b, `,"protocol_id":"","caller":{"name":`...)
	b = appendString(b, c.caller.name)
	b = append(b, `,"number":`...)
	b = appendString(b, c.caller.number)
	b = append(b, `},"connected":{"name":`...)
	b = appendString(b, c.connected.name)
	b = append(b, `,"number":`...)
	b = appendString(b, c.connected.number)
	b = append(b, `},"accountcode":"","dialplan":{"context":`...)
	b = appendString(b, c.dialplan.context)
	b = append(b, `,"exten":`...)
	b = appendString(b, c.dialplan.exten)
	b = append(b, `,"priority":`...)
	b = strconv.AppendInt(b, int64(c.dialplan.priority), 10)
	b = append(b, `,"app_name":`...)
	b = appendString(b, c.dialplan.appName)
	b = append(b, `,"app_data":`...)
	b = appendString(b, c.dialplan.appData)
	b = append(b, `},"creationtime":"`...)
	b = append(b, c.createdAt...)
	b = append(b, `","language":`...)
	b = appendString(b, c.language)
	return append(b, '}')
}

// newChannelLocked allocates a channel with Asterisk's id form
// "<unix seconds>.<counter>" unless id is given.
func (s *Server) newChannelLocked(id, name, state string) *channel {
	s.st.chanSeq++
	now := time.Now()
	if id == "" {
		id = strconv.FormatInt(now.Unix(), 10) + "." + strconv.FormatInt(s.st.chanSeq, 10)
	}
	c := &channel{
		seq:       s.st.chanSeq,
		id:        id,
		name:      name,
		state:     state,
		created:   now,
		createdAt: ariTime(now),
		language:  "en",
	}
	c.player.ch = c
	c.recorder.ch = c
	s.st.channels[id] = c
	return c
}

// nextLocalSuffix is the 8-hex-digit counter in channel names
// ("Local/s@sim-agent-00000035;1").
func (s *Server) nextLocalSuffixLocked() string {
	s.st.localSeq++
	return fmt.Sprintf("%08x", s.st.localSeq)
}

func (s *Server) sortedChannelsLocked() []*channel {
	list := make([]*channel, 0, len(s.st.channels))
	for _, c := range s.st.channels {
		list = append(list, c)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].seq < list[j].seq })
	return list
}

// ---- hang-up ----

// leaveStasisLocked ends everything a channel does in Stasis: its playback
// fails, its recording ends (file kept), it leaves its bridge, and
// StasisEnd is sent, in the order Asterisk sends them.
func (s *Server) leaveStasisLocked(c *channel) {
	s.stopPlayerLocked(&c.player, "failed")
	s.stopRecorderLocked(&c.recorder)
	if c.bridge != nil {
		s.removeFromBridgeLocked(c.bridge, c)
	}
	c.moh, c.silence, c.ringing = false, false, false
	if !c.inStasis {
		return
	}
	c.inStasis = false
	s.chanEvent("StasisEnd", c)
	if !c.originated {
		c.watched = false
	}
	s.varset(c, "STASISSTATUS", "SUCCESS")
}

// destroyLocked removes a channel and sends ChannelDestroyed.
func (s *Server) destroyLocked(c *channel, cause int) {
	if c == nil || c.destroyed {
		return
	}
	if c.dial != nil {
		s.cancelTimer(c.dial.answer)
		s.cancelTimer(c.dial.timeout)
		c.dial = nil
	}
	s.stopPlayerLocked(&c.player, "failed")
	s.stopRecorderLocked(&c.recorder)
	if c.bridge != nil {
		s.removeFromBridgeLocked(c.bridge, c)
	}
	c.destroyed = true
	c.cause = cause
	delete(s.st.channels, c.id)
	s.chanEvent("ChannelDestroyed", c, kv{"cause", cause}, kv{"cause_txt", causeText(cause)})
	s.hangUpSnoopsLocked(c)
	c.watched = false
	if c.call != nil {
		close(c.call.done)
		delete(s.st.handles, c.id)
		if c.call.handedOut {
			s.pruneLegLocked(c.call)
		}
	}
}

// pruneLegLocked forgets an originated leg that the test already has and
// that has ended, so that long simulations do not grow without bound.
func (s *Server) pruneLegLocked(call *Call) {
	for ep, legs := range s.st.legs {
		for i, l := range legs {
			if l == call {
				s.st.legs[ep] = append(legs[:i:i], legs[i+1:]...)
				return
			}
		}
	}
}

// appHangupLocked is DELETE /channels/{id}: a soft hang-up request with
// cause 32, then the channel's teardown with the requested cause.
func (s *Server) appHangupLocked(c *channel, cause int) {
	s.hangupRequest(c, 32, true)
	if d := c.dial; d != nil && c.state != "Up" {
		// Still ringing: the dial is abandoned.
		s.cancelTimer(d.answer)
		s.cancelTimer(d.timeout)
		c.dial = nil
		s.dialEvent(c, "NOANSWER", d.dialstring)
		if p := c.peer; p != nil && !p.destroyed {
			s.hangupRequest(p, 16, false)
			s.hangupRequest(p, 16, true)
		}
		s.leaveStasisLocked(c)
		s.destroyLocked(c, 16)
		s.destroyLocked(c.peer, 16)
		return
	}
	s.leaveStasisLocked(c)
	p := c.peer
	switch {
	case p == nil || p.destroyed:
		s.destroyLocked(c, cause)
	case c.fromDialplan:
		s.hangupRequest(c, 16, true)
		s.hangupRequest(p, cause, false)
		if cause != 16 && p.state != "Up" {
			status := "NOANSWER"
			if cause == 17 {
				status = "BUSY"
			}
			s.dialEvent(p, status, localDialstring(p))
		}
		if cause == 16 {
			s.hangupRequest(p, 16, true)
		}
		s.destroyLocked(c, cause)
		s.destroyLocked(p, cause)
	default:
		s.hangupRequest(p, cause, false)
		s.destroyLocked(c, cause)
		s.hangupRequest(p, 16, true)
		s.destroyLocked(p, cause)
	}
}

// farHangupLocked is the far end hanging up (the caller, the operator's
// phone): a hard hang-up request with cause, then the teardown.
func (s *Server) farHangupLocked(c *channel, cause int) {
	if c.destroyed {
		return
	}
	if d := c.dial; d != nil && c.state != "Up" {
		// A phone that hangs up while it rings declines the call.
		s.dialFailedLocked(c, "BUSY", 17)
		return
	}
	p := c.peer
	if p != nil && !p.destroyed {
		s.hangupRequest(p, 16, true)
	}
	s.hangupRequest(c, cause, false)
	if p != nil {
		s.destroyLocked(p, cause)
	}
	wasInStasis := c.inStasis
	s.leaveStasisLocked(c)
	if c.fromDialplan && wasInStasis {
		s.hangupRequest(c, 16, true)
	}
	s.destroyLocked(c, cause)
}

func localDialstring(c *channel) string {
	name := strings.TrimPrefix(c.name, "Local/")
	if i := strings.LastIndex(name, "-"); i >= 0 {
		name = name[:i]
	}
	return name
}

// ---- REST: /channels ----

func (s *Server) routeChannels(r *request, seg []string) reply {
	m := r.method
	switch len(seg) {
	case 0:
		switch m {
		case "GET":
			return s.listChannels()
		case "POST":
			return s.originate(r, "")
		}
		return fail(405, "Invalid method")
	case 1:
		if seg[0] == "create" && m == "POST" {
			return s.createChannel(r)
		}
		if seg[0] == "externalMedia" {
			return fail(501, "Not implemented")
		}
		switch m {
		case "GET":
			return s.getChannel(seg[0])
		case "DELETE":
			return s.deleteChannel(r, seg[0])
		case "POST":
			return s.originate(r, seg[0])
		}
		return fail(405, "Invalid method")
	case 2, 3:
		id, op := seg[0], seg[1]
		if len(seg) == 3 && op != "play" {
			break
		}
		switch {
		case op == "answer" && m == "POST":
			return s.answer(id)
		case op == "ring" && (m == "POST" || m == "DELETE"):
			return s.ring(id, m == "POST")
		case op == "moh" && (m == "POST" || m == "DELETE"):
			return s.channelFlag(id, func(c *channel) { c.moh = m == "POST" })
		case op == "snoop" && m == "POST":
			return s.snoop(r, id)
		case op == "silence" && (m == "POST" || m == "DELETE"):
			return s.channelFlag(id, func(c *channel) { c.silence = m == "POST" })
		case (op == "hold" || op == "mute") && (m == "POST" || m == "DELETE"):
			return s.channelFlag(id, func(*channel) {})
		case op == "play" && m == "POST":
			pbID := ""
			if len(seg) == 3 {
				pbID = seg[2]
			}
			return s.playOnChannel(r, id, pbID)
		case op == "record" && m == "POST":
			return s.recordChannel(r, id)
		case op == "variable" && m == "GET":
			return s.getVariable(r, id)
		case op == "variable" && m == "POST":
			return s.setVariable(r, id)
		case op == "dtmf" && m == "POST":
			return s.sendDTMF(r, id)
		case op == "continue" && m == "POST":
			return s.continueDialplan(r, id)
		case op == "dial" && m == "POST":
			return s.dialCreated(r, id)
		}
	}
	return fail(404, "Resource not found")
}

func (s *Server) listChannels() reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := make([]rawJSON, 0, len(s.st.channels))
	for _, c := range s.sortedChannelsLocked() {
		list = append(list, c.json())
	}
	return ok(list)
}

func (s *Server) getChannel(id string) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.st.channels[id]
	if c == nil {
		return fail(404, "Channel not found")
	}
	return ok(c.json())
}

// stasisChannelLocked finds a channel the application controls.
func (s *Server) stasisChannelLocked(id string) (*channel, *reply) {
	c := s.st.channels[id]
	if c == nil {
		r := fail(404, "Channel not found")
		return nil, &r
	}
	if !c.inStasis {
		r := fail(409, "Channel not in Stasis application")
		return nil, &r
	}
	return c, nil
}

func (s *Server) deleteChannel(r *request, id string) reply {
	cause := 16
	if rc, ok := r.param("reason_code"); ok && rc != "" {
		n, err := strconv.Atoi(rc)
		if err != nil {
			return fail(400, "Invalid reason_code")
		}
		cause = n
	} else if reason, ok := r.param("reason"); ok && reason != "" {
		n, known := hangupReasons[reason]
		if !known {
			return fail(400, "Invalid reason for hangup provided")
		}
		cause = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.st.channels[id]
	if c == nil {
		return fail(404, "Channel not found")
	}
	s.appHangupLocked(c, cause)
	return noContent()
}

func (s *Server) answer(id string) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, errRep := s.stasisChannelLocked(id)
	if errRep != nil {
		return *errRep
	}
	if c.state != "Up" {
		s.stateChange(c, "Up")
		if p := c.peer; p != nil && c.fromDialplan && !p.destroyed && p.state != "Up" {
			s.stateChange(p, "Up")
			s.dialEvent(p, "ANSWER", localDialstring(p))
		}
	}
	return noContent()
}

func (s *Server) ring(id string, on bool) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, errRep := s.stasisChannelLocked(id)
	if errRep != nil {
		return *errRep
	}
	c.ringing = on
	if on && c.state != "Up" {
		// Ringing is signalled to the caller's side: only the ;1 leg of
		// a Local pair changes state.
		if p := c.peer; p != nil && c.fromDialplan && !p.destroyed && p.state != "Ringing" && p.state != "Up" {
			s.stateChange(p, "Ringing")
			s.dialEvent(p, "RINGING", localDialstring(p))
		}
	}
	return noContent()
}

func (s *Server) channelFlag(id string, set func(*channel)) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, errRep := s.stasisChannelLocked(id)
	if errRep != nil {
		return *errRep
	}
	set(c)
	s.notifyLocked()
	return noContent()
}

func (s *Server) getVariable(r *request, id string) reply {
	name := r.str("variable")
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.st.channels[id]
	if c == nil {
		return fail(404, "Provided channel was not found")
	}
	if name == "" {
		return fail(400, "Variable name is required")
	}
	switch name {
	case "CALLERID(num)":
		return ok(obj{{"value", c.caller.number}})
	case "CALLERID(name)":
		return ok(obj{{"value", c.caller.name}})
	case "CHANNEL(name)":
		return ok(obj{{"value", c.name}})
	}
	v, found := c.vars[name]
	if !found || v == "" {
		return fail(404, "Provided variable was not found")
	}
	return ok(obj{{"value", v}})
}

func (s *Server) setVariable(r *request, id string) reply {
	name := r.str("variable")
	value := r.str("value")
	s.mu.Lock()
	defer s.mu.Unlock()
	c, errRep := s.stasisChannelLocked(id)
	if errRep != nil {
		return *errRep
	}
	if name == "" {
		return fail(400, "Variable name is required")
	}
	switch name {
	case "CALLERID(num)":
		c.caller.number = value
		s.callerIDEvent(c)
		return noContent()
	case "CALLERID(name)":
		c.caller.name = value
		s.callerIDEvent(c)
		return noContent()
	}
	if c.vars == nil {
		c.vars = make(map[string]string)
	}
	c.vars[name] = value
	s.varset(c, name, value)
	return noContent()
}

func (s *Server) sendDTMF(r *request, id string) reply {
	digits := r.str("dtmf")
	s.mu.Lock()
	defer s.mu.Unlock()
	c, errRep := s.stasisChannelLocked(id)
	if errRep != nil {
		return *errRep
	}
	if digits == "" {
		return fail(400, "DTMF is required")
	}
	// The digits go out to the channel's far end: the ;1 leg of a Local
	// pair hears them; a phone simply receives them (see Call.Heard).
	for _, d := range digits {
		if d == ',' || d == ' ' {
			continue
		}
		c.heard = append(c.heard, string(d))
		if p := c.peer; p != nil && !p.destroyed {
			s.chanEvent("ChannelDtmfReceived", p, kv{"digit", string(d)}, kv{"duration_ms", 100})
		}
	}
	return noContent()
}

func (s *Server) continueDialplan(r *request, id string) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, errRep := s.stasisChannelLocked(id)
	if errRep != nil {
		return *errRep
	}
	if ctx := r.str("context"); ctx != "" {
		c.dialplan.context = ctx
	}
	if ext := r.str("extension"); ext != "" {
		c.dialplan.exten = ext
	}
	c.dialplan.priority = r.num("priority", c.dialplan.priority+1)
	c.dialplan.appName, c.dialplan.appData = "", ""
	// The channel goes back to the dialplan: the emulator keeps it alive,
	// out of Stasis, until the far end hangs up.
	s.leaveStasisLocked(c)
	return noContent()
}
