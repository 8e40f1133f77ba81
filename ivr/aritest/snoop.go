package aritest

import (
	"slices"
	"strings"
)

// Snoop channels, as Asterisk 22 makes them for POST /channels/{id}/snoop: a channel
// named Snoop/<id>-<counter>, Up at once and in the application with StasisStart (its
// appArgs as args), that hangs up when the channel it spies on goes. spy and whisper
// must be none, in, out or both, not both none; app is required.

var snoopDirections = []string{"none", "in", "out", "both"}

// Snoop is a snoop channel as a test inspects it.
type Snoop struct {
	ID, Of, Spy, Whisper string
	// Bridge is the bridge the snoop channel is in, "" if none.
	Bridge string
}

func (s *Server) snoop(r *request, id string) reply {
	spy, whisper := r.str("spy"), r.str("whisper")
	if spy == "" {
		spy = "none"
	}
	if whisper == "" {
		whisper = "none"
	}
	if !slices.Contains(snoopDirections, spy) || !slices.Contains(snoopDirections, whisper) {
		return fail(400, "Invalid direction specified")
	}
	if spy == "none" && whisper == "none" {
		return fail(400, "Sound direction for spy or whisper must be specified")
	}
	app := r.str("app")
	if app == "" {
		return fail(400, "Application name is required")
	}
	args := splitArgs(r.str("appArgs"))
	snoopID := r.str("snoopId")
	s.mu.Lock()
	defer s.mu.Unlock()
	target := s.st.channels[id]
	if target == nil || target.destroyed {
		return fail(404, "Channel not found")
	}
	if snoopID != "" && s.st.channels[snoopID] != nil {
		return fail(409, "Channel with given unique ID already exists")
	}
	c := s.newChannelLocked(snoopID, "Snoop/"+target.id+"-"+s.nextLocalSuffixLocked(), "Up")
	c.originated, c.watched = true, true
	c.snoopOf, c.spy, c.whisper = target, spy, whisper
	c.dialplan.appName = "Stasis"
	c.dialplan.appData = strings.Join(append([]string{app}, args...), ",")
	s.chanEvent("ChannelCreated", c)
	// Asterisk answers once the snoop channel exists; the channel enters the app on its
	// own thread a moment later, and a bridge refuses it until then (422).
	s.afterLocked(s.seconds(0.05), func() {
		if c.destroyed {
			return
		}
		c.inStasis = true
		s.chanEvent("StasisStart", c, kv{"args", args})
	})
	return ok(c.json())
}

// hangUpSnoopsLocked ends the snoop channels on c, which is going.
func (s *Server) hangUpSnoopsLocked(c *channel) {
	for _, sn := range s.sortedChannelsLocked() {
		if sn.snoopOf == c && !sn.destroyed {
			s.farHangupLocked(sn, 16)
		}
	}
}

// Snoops lists the snoop channels now up.
func (s *Server) Snoops() []Snoop {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Snoop
	for _, c := range s.sortedChannelsLocked() {
		if c.snoopOf == nil || c.destroyed {
			continue
		}
		sn := Snoop{ID: c.id, Of: c.snoopOf.id, Spy: c.spy, Whisper: c.whisper}
		if c.bridge != nil {
			sn.Bridge = c.bridge.id
		}
		out = append(out, sn)
	}
	return out
}
