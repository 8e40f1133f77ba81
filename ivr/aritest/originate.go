package aritest

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Phone scripts how a dialled endpoint behaves. The zero value answers at
// once.
type Phone struct {
	// AnswerAfter is how long the phone rings before it answers.
	AnswerAfter time.Duration
	// Never: the phone rings until the originate timeout or a DELETE.
	Never bool
	// Busy: the phone is busy (Dial BUSY, cause 17).
	Busy bool
	// Congested: the network is congested (Dial CONGESTION, cause 34).
	Congested bool
	// Unreachable: the call cannot be placed at all; the new channels are
	// destroyed at once with cause 0, without a Dial or StasisStart (as a
	// Local channel to a missing dialplan context is).
	Unreachable bool
}

// knownTechnologies are the channel drivers the emulated Asterisk has
// loaded; any other technology fails with 500 Allocation failed.
var knownTechnologies = []string{"PJSIP", "SIP", "IAX2", "DAHDI", "Local"}

func knownTechnology(tech string) (string, bool) {
	for _, t := range knownTechnologies {
		if strings.EqualFold(t, tech) {
			return t, true
		}
	}
	return "", false
}

// dialing is an outgoing leg that rings.
type dialing struct {
	endpoint   string
	dialstring string
	phone      Phone
	started    bool // Dial "" sent
	stasisArgs []string
	toStasis   bool // originate with app: StasisStart when answered
	created    bool // /channels/create + /dial: the leg is already in Stasis
	answer     *timer
	answerAt   time.Time
	timeout    *timer
}

// SetPhone scripts the endpoint (a dial string such as "PJSIP/8001" or
// "Local/8001@operators"). An endpoint of a known technology without a
// script rings until its originate timeout, like Phone{Never: true}.
func (s *Server) SetPhone(endpoint string, p Phone) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.phones[endpoint] = p
}

// Originated is how many times the controller dialled endpoint.
func (s *Server) Originated(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.dialled[endpoint]
}

// WaitOriginated waits for the controller to originate to endpoint and
// returns that leg (ringing, answered or already failed: see Call.Done and
// Call.Cause). Each originated leg is returned once, oldest first, so a
// test that expects two attempts calls it twice.
func (s *Server) WaitOriginated(ctx context.Context, endpoint string) (*Call, error) {
	var leg *Call
	err := s.waitFor(ctx, func() bool {
		for _, c := range s.st.legs[endpoint] {
			if !c.handedOut {
				c.handedOut = true
				leg = c
				if c.ch.destroyed {
					s.pruneLegLocked(c)
				}
				return true
			}
		}
		return false
	})
	if err != nil {
		return nil, fmt.Errorf("aritest: wait for a call to %s: %w", endpoint, err)
	}
	return leg, nil
}

// maxLegs bounds the originated legs kept per endpoint for WaitOriginated:
// a long simulation that never asks for them must not grow without end.
const maxLegs = 1024

func (s *Server) addLegLocked(endpoint string, call *Call) {
	legs := append(s.st.legs[endpoint], call)
	if len(legs) > maxLegs {
		kept := legs[:0]
		for i, l := range legs {
			if i < len(legs)-maxLegs/2 && l.ch.destroyed {
				continue // an old leg that has ended
			}
			kept = append(kept, l)
		}
		legs = kept
	}
	s.st.legs[endpoint] = legs
}

// parseCallerID reads `"Name" <number>`, `<number>` or `number`.
func parseCallerID(v string) party {
	v = strings.TrimSpace(v)
	if v == "" {
		return party{}
	}
	if i := strings.Index(v, "<"); i >= 0 {
		j := strings.Index(v[i:], ">")
		if j < 0 {
			j = len(v) - i
		}
		name := strings.TrimSpace(v[:i])
		name = strings.Trim(name, `"`)
		return party{name: name, number: strings.TrimSpace(v[i+1 : i+j])}
	}
	return party{number: v}
}

// outgoingLegLocked creates the channel(s) for endpoint: a Local pair or a
// single channel of another technology. It returns the leg the application
// controls (the ;1 of a pair) and its far half (nil for other technologies).
func (s *Server) outgoingLegLocked(tech, resource, id, otherID string, caller party) (*channel, *channel) {
	suffix := s.nextLocalSuffixLocked()
	if tech == "Local" {
		exten, ctx := resource, "default"
		if i := strings.LastIndex(resource, "@"); i >= 0 {
			exten, ctx = resource[:i], resource[i+1:]
		}
		if j := strings.Index(ctx, "/"); j >= 0 { // Local/x@ctx/n options
			ctx = ctx[:j]
		}
		c1 := s.newChannelLocked(id, "Local/"+resource+"-"+suffix+";1", "Down")
		c2 := s.newChannelLocked(otherID, "Local/"+resource+"-"+suffix+";2", "Ring")
		c1.peer, c2.peer = c2, c1
		c1.dialplan = dialplanLoc{context: ctx, exten: exten, priority: 1, appName: "AppDial2", appData: "(Outgoing Line)"}
		c2.dialplan = dialplanLoc{context: ctx, exten: exten, priority: 1}
		c1.caller, c1.connected = caller, caller
		c2.caller, c2.connected = caller, caller
		return c1, c2
	}
	c1 := s.newChannelLocked(id, tech+"/"+resource+"-"+suffix, "Down")
	c1.dialplan = dialplanLoc{context: "default", exten: "s", priority: 1, appName: "AppDial2", appData: "(Outgoing Line)"}
	c1.caller, c1.connected = caller, caller
	return c1, nil
}

// validateEndpoint applies Asterisk's checks and answers as it does.
func validateEndpoint(endpoint string) (tech, resource string, rep *reply) {
	if endpoint == "" {
		r := fail(400, "Endpoint must be specified")
		return "", "", &r
	}
	i := strings.Index(endpoint, "/")
	if i <= 0 || i == len(endpoint)-1 {
		r := fail(400, "Invalid endpoint specified")
		return "", "", &r
	}
	tech, known := knownTechnology(endpoint[:i])
	if !known {
		r := reply{status: 500, body: obj{{"error", "Allocation failed"}}}
		return "", "", &r
	}
	return tech, endpoint[i+1:], nil
}

func splitArgs(v string) []string {
	if v == "" {
		return []string{}
	}
	return strings.Split(v, ",")
}

// originate is POST /channels (and /channels/{channelId}).
func (s *Server) originate(r *request, pathID string) reply {
	endpoint := r.str("endpoint")
	if endpoint == "" {
		return fail(400, "Endpoint must be specified")
	}
	app := r.str("app")
	if app == "" && r.str("extension") == "" {
		return fail(400, "Application or extension must be specified")
	}
	tech, resource, errRep := validateEndpoint(endpoint)
	if errRep != nil {
		return *errRep
	}
	id := pathID
	if id == "" {
		id = r.str("channelId")
	}
	otherID := r.str("otherChannelId")
	timeout := r.num("timeout", 30)
	caller := parseCallerID(r.str("callerId"))
	args := splitArgs(r.str("appArgs"))
	vars := r.variables()

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.closed {
		return fail(503, "Service Unavailable")
	}
	if id != "" && s.st.channels[id] != nil || otherID != "" && s.st.channels[otherID] != nil {
		return fail(409, "Channel with given unique ID already exists")
	}
	if exten, ctx, _ := strings.Cut(resource, "@"); tech == "Local" && app == "" && ctx == hotlineContext {
		// A simulated citizen (as `rexian sim` does against Asterisk):
		// the ;2 leg runs the hotline dialplan, which sets the caller id
		// from the extension and enters Stasis; the answer is the ;1 leg.
		c1, _ := s.incomingLocked(Caller{Number: exten, Name: "Citizen " + exten, Dialled: exten, Args: []string{}}, id, otherID)
		s.st.dialled[endpoint]++
		return ok(c1.json())
	}
	c1, c2 := s.outgoingLegLocked(tech, resource, id, otherID, caller)
	c1.originated = true
	if c2 != nil {
		c2.originated = true
	}
	for k, v := range vars {
		if c1.vars == nil {
			c1.vars = make(map[string]string)
		}
		c1.vars[k] = v
	}
	// ChannelCreated goes to subscribeAll sockets only; from then on the
	// application is subscribed to both halves of what it originated.
	s.chanEvent("ChannelCreated", c1)
	if c2 != nil {
		s.chanEvent("ChannelCreated", c2)
	}
	if app != "" {
		c1.watched = true
		if c2 != nil {
			c2.watched = true
		}
	}
	resp := c1.json()
	call := s.newCallLocked(c1)
	s.addLegLocked(endpoint, call)
	s.st.dialled[endpoint]++
	appData := app
	if len(args) > 0 {
		appData += "," + strings.Join(args, ",")
	}
	d := &dialing{
		endpoint:   endpoint,
		dialstring: resource,
		stasisArgs: args,
		toStasis:   app != "",
	}
	c1.dialplanAppData = appData
	s.startDialLocked(c1, d, timeout)
	return ok(resp)
}

// createChannel is POST /channels/create: the leg enters Stasis at once,
// in state Down, and rings only on /dial.
func (s *Server) createChannel(r *request) reply {
	endpoint := r.str("endpoint")
	app := r.str("app")
	if app == "" {
		return fail(400, "Missing parameter app")
	}
	tech, resource, errRep := validateEndpoint(endpoint)
	if errRep != nil {
		return *errRep
	}
	id := r.str("channelId")
	otherID := r.str("otherChannelId")
	args := splitArgs(r.str("appArgs"))

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.closed {
		return fail(503, "Service Unavailable")
	}
	if id != "" && s.st.channels[id] != nil || otherID != "" && s.st.channels[otherID] != nil {
		return fail(409, "Channel with given unique ID already exists")
	}
	c1, c2 := s.outgoingLegLocked(tech, resource, id, otherID, party{})
	c1.originated = true
	c1.endpoint = endpoint
	c1.dialstring = resource
	s.chanEvent("ChannelCreated", c1)
	if c2 != nil {
		c2.originated = true
		s.chanEvent("ChannelCreated", c2)
	}
	c1.watched = true
	call := s.newCallLocked(c1)
	s.addLegLocked(endpoint, call)
	s.varset(c1, "STASISSTATUS", "")
	c1.inStasis = true
	s.chanEvent("StasisStart", c1, kv{"args", args})
	return ok(c1.json())
}

// dialCreated is POST /channels/{id}/dial for a channel made by
// /channels/create.
func (s *Server) dialCreated(r *request, id string) reply {
	timeout := r.num("timeout", 0)
	s.mu.Lock()
	defer s.mu.Unlock()
	c, errRep := s.stasisChannelLocked(id)
	if errRep != nil {
		return *errRep
	}
	if c.endpoint == "" || c.dial != nil || c.state == "Up" || c.dialled {
		return fail(409, "Channel is not in a state to be dialed")
	}
	c.dialled = true
	s.st.dialled[c.endpoint]++
	if p := c.peer; p != nil && !p.destroyed {
		// The far half runs the dialplan that Stasis was reached from.
		s.varset(p, "STASISSTATUS", "")
	}
	d := &dialing{endpoint: c.endpoint, dialstring: c.dialstring, created: true}
	if timeout <= 0 {
		timeout = -1
	}
	s.startDialLocked(c, d, timeout)
	return noContent()
}

// startDialLocked makes leg ring according to its phone script.
func (s *Server) startDialLocked(c *channel, d *dialing, timeoutSeconds int) {
	phone, scripted := s.st.phones[d.endpoint]
	if !scripted {
		phone = Phone{Never: true}
	}
	d.phone = phone
	c.dial = d
	switch {
	case phone.Unreachable:
		c.dial = nil
		if p := c.peer; p != nil {
			s.destroyLocked(p, 0)
		}
		s.destroyLocked(c, 0)
		return
	case phone.Busy:
		s.dialFailedLocked(c, "BUSY", 17)
		return
	case phone.Congested:
		s.dialFailedLocked(c, "CONGESTION", 34)
		return
	}
	d.started = true
	s.dialEvent(c, "", d.dialstring)
	s.stateChange(c, "Ringing")
	s.dialEvent(c, "RINGING", d.dialstring)
	if timeoutSeconds > 0 {
		d.timeout = s.afterLocked(s.seconds(float64(timeoutSeconds)), func() { s.dialTimedOutLocked(c) })
	}
	if !phone.Never {
		d.answerAt = time.Now().Add(phone.AnswerAfter)
		d.answer = s.afterLocked(phone.AnswerAfter, func() { s.dialAnsweredLocked(c) })
	}
}

// dialFailedLocked ends a dial with BUSY or CONGESTION.
func (s *Server) dialFailedLocked(c *channel, status string, cause int) {
	d := c.dial
	if d == nil {
		return
	}
	s.cancelTimer(d.answer)
	s.cancelTimer(d.timeout)
	c.dial = nil
	p := c.peer
	if p != nil && !p.destroyed {
		s.stateChange(p, "Busy")
	}
	if !d.started {
		s.dialEvent(c, "", d.dialstring)
	}
	s.dialEvent(c, status, d.dialstring)
	if d.created {
		// /channels/create legs stay in Stasis until the application
		// hangs them up.
		return
	}
	if p == nil {
		s.hangupRequest(c, cause, false)
		s.destroyLocked(c, cause)
		return
	}
	s.hangupRequest(p, 0, false)
	s.destroyLocked(c, 0)
	s.hangupRequest(p, 16, true)
	s.destroyLocked(p, cause)
}

// dialTimedOutLocked ends a dial nobody answered: cause 19.
func (s *Server) dialTimedOutLocked(c *channel) {
	d := c.dial
	if d == nil {
		return
	}
	d.timeout = nil
	if d.answer != nil && !d.answerAt.After(time.Now()) {
		// The phone was due to answer first; a busy scheduler ran the
		// timers out of order.
		s.cancelTimer(d.answer)
		s.dialAnsweredLocked(c)
		return
	}
	s.cancelTimer(d.answer)
	c.dial = nil
	p := c.peer
	if d.created {
		s.dialEvent(c, "NOANSWER", d.dialstring)
		if p != nil && !p.destroyed {
			s.hangupRequest(p, 19, false)
			s.destroyLocked(p, 19)
		}
		return
	}
	if p == nil {
		s.destroyLocked(c, 19)
		return
	}
	s.hangupRequest(p, 19, false)
	s.hangupRequest(p, 16, true)
	s.destroyLocked(c, 19)
	s.destroyLocked(p, 19)
}

// dialAnsweredLocked: the phone answers; an originated leg enters Stasis.
func (s *Server) dialAnsweredLocked(c *channel) {
	d := c.dial
	if d == nil {
		return
	}
	d.answer = nil
	s.cancelTimer(d.timeout)
	c.dial = nil
	if p := c.peer; p != nil && !p.destroyed {
		s.stateChange(p, "Up")
	}
	s.stateChange(c, "Up")
	s.dialEvent(c, "ANSWER", d.dialstring)
	if !d.toStasis {
		return
	}
	if s.st.app.sock == nil {
		// Stasis() fails without a connected application; the leg hangs up.
		s.farHangupLocked(c, 16)
		return
	}
	c.dialplan.appName = "Stasis"
	c.dialplan.appData = c.dialplanAppData
	s.varset(c, "STASISSTATUS", "")
	c.inStasis = true
	s.chanEvent("StasisStart", c, kv{"args", d.stasisArgs})
}
