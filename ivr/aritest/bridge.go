package aritest

import (
	"strings"
	"time"
)

// bridge is a Stasis bridge. Fields are guarded by Server.mu.
type bridge struct {
	id, name  string
	btype     string
	created   time.Time
	tech      string
	members   []*channel
	moh       bool
	mohClass  string
	player    player
	recorder  recorder
	destroyed bool
}

func (b *bridge) json() obj {
	ids := make([]string, len(b.members))
	for i, c := range b.members {
		ids[i] = c.id
	}
	return obj{
		{"id", b.id},
		{"technology", b.tech},
		{"bridge_type", b.btype},
		{"bridge_class", "stasis"},
		{"creator", "Stasis"},
		{"name", b.name},
		{"channels", ids},
		{"creationtime", ariTime(b.created)},
		{"video_mode", "talker"},
	}
}

// bridgeChangedLocked recomputes the bridging technology after a change of
// participants. Asterisk switches a mixing bridge from simple_bridge to
// softmix once it has two participants besides itself (announcer and
// recorder channels count) and back below that; events carry the value
// from before the change that caused them, which is what the recording
// shows.
func (s *Server) bridgeChangedLocked(b *bridge) {
	if b.btype == "holding" {
		b.tech = "holding_bridge"
		return
	}
	n := len(b.members)
	if b.moh {
		n++
	}
	if b.recorder.cur != nil {
		n++
	}
	if n >= 2 {
		b.tech = "softmix"
	} else {
		b.tech = "simple_bridge"
	}
	s.notifyLocked()
}

func bridgeType(v string) (string, bool) {
	if v == "" {
		return "mixing", true
	}
	t := "mixing"
	for _, part := range strings.Split(v, ",") {
		switch part {
		case "mixing", "dtmf_events", "proxy_media", "video_sfu", "video_single":
		case "holding":
			t = "holding"
		default:
			return "", false
		}
	}
	return t, true
}

func (s *Server) routeBridges(r *request, seg []string) reply {
	m := r.method
	switch len(seg) {
	case 0:
		switch m {
		case "GET":
			return s.listBridges()
		case "POST":
			return s.createBridge(r, "")
		}
		return fail(405, "Invalid method")
	case 1:
		switch m {
		case "GET":
			return s.withBridge(seg[0], func(b *bridge) reply { return ok(b.json()) })
		case "POST":
			return s.createBridge(r, seg[0])
		case "DELETE":
			return s.withBridge(seg[0], func(b *bridge) reply {
				s.destroyBridgeLocked(b)
				return noContent()
			})
		}
		return fail(405, "Invalid method")
	case 2, 3:
		id, op := seg[0], seg[1]
		if len(seg) == 3 && op != "play" {
			break
		}
		switch {
		case op == "addChannel" && m == "POST":
			return s.addChannels(r, id)
		case op == "removeChannel" && m == "POST":
			return s.removeChannel(r, id)
		case op == "moh" && (m == "POST" || m == "DELETE"):
			return s.withBridge(id, func(b *bridge) reply {
				b.moh = m == "POST"
				if b.moh {
					b.mohClass = r.str("mohClass")
				}
				s.bridgeChangedLocked(b)
				return noContent()
			})
		case op == "play" && m == "POST":
			pbID := ""
			if len(seg) == 3 {
				pbID = seg[2]
			}
			return s.withBridge(id, func(b *bridge) reply {
				rep, _ := s.newPlaybackLocked(r, &b.player, "bridge:"+b.id, pbID, "en")
				return rep
			})
		case op == "record" && m == "POST":
			return s.withBridge(id, func(b *bridge) reply {
				return s.newRecordingLocked(r, &b.recorder, "bridge:"+b.id)
			})
		}
	}
	return fail(404, "Resource not found")
}

func (s *Server) withBridge(id string, fn func(*bridge) reply) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.st.bridges[id]
	if b == nil {
		return fail(404, "Bridge not found")
	}
	return fn(b)
}

func (s *Server) listBridges() reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := make([]obj, 0, len(s.st.bridges))
	for _, b := range s.sortedBridgesLocked() {
		list = append(list, b.json())
	}
	return ok(list)
}

func (s *Server) createBridge(r *request, pathID string) reply {
	btype, valid := bridgeType(r.str("type"))
	if !valid {
		return fail(500, "Unable to create bridge. Possible duplicate bridge id '(null)'")
	}
	id := pathID
	if id == "" {
		id = r.str("bridgeId")
	}
	if id == "" {
		id = newUUID()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.st.bridges[id]; b != nil {
		return ok(b.json())
	}
	b := &bridge{id: id, name: r.str("name"), btype: btype, created: time.Now()}
	b.player.br = b
	b.recorder.br = b
	s.bridgeChangedLocked(b)
	s.st.bridges[id] = b
	// BridgeCreated reaches subscribeAll sockets only.
	s.emitLocked(obj{{"type", "BridgeCreated"}, {"timestamp", s.now()}, {"bridge", b.json()}}, false)
	return ok(b.json())
}

func (s *Server) addChannels(r *request, id string) reply {
	list := r.str("channel")
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.st.bridges[id]
	if b == nil {
		return fail(404, "Bridge not found")
	}
	if list == "" {
		return fail(400, "Missing parameter channel")
	}
	var chans []*channel
	for _, cid := range strings.Split(list, ",") {
		c := s.st.channels[cid]
		if c == nil {
			return fail(400, "Channel not found")
		}
		if !c.inStasis {
			return fail(422, "Channel not in Stasis application")
		}
		chans = append(chans, c)
	}
	for _, c := range chans {
		if c.bridge == b {
			continue
		}
		if c.bridge != nil {
			s.removeFromBridgeLocked(c.bridge, c)
		}
		b.members = append(b.members, c)
		c.bridge = b
		s.emitLocked(obj{{"type", "ChannelEnteredBridge"}, {"timestamp", s.now()}, {"bridge", b.json()}, {"channel", c.json()}}, c.watched, c)
		s.bridgeChangedLocked(b)
	}
	return noContent()
}

func (s *Server) removeChannel(r *request, id string) reply {
	cid := r.str("channel")
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.st.bridges[id]
	if b == nil {
		return fail(404, "Bridge not found")
	}
	if cid == "" {
		return fail(400, "Missing parameter channel")
	}
	for _, one := range strings.Split(cid, ",") {
		c := s.st.channels[one]
		if c == nil {
			return fail(400, "Channel not found")
		}
		if c.bridge != b {
			return fail(422, "Channel not in this bridge")
		}
	}
	for _, one := range strings.Split(cid, ",") {
		s.removeFromBridgeLocked(b, s.st.channels[one])
	}
	return noContent()
}

// removeFromBridgeLocked takes c out of b and sends ChannelLeftBridge.
func (s *Server) removeFromBridgeLocked(b *bridge, c *channel) {
	for i, m := range b.members {
		if m == c {
			b.members = append(b.members[:i:i], b.members[i+1:]...)
			break
		}
	}
	c.bridge = nil
	s.emitLocked(obj{{"type", "ChannelLeftBridge"}, {"timestamp", s.now()}, {"bridge", b.json()}, {"channel", c.json()}}, c.watched, c)
	s.bridgeChangedLocked(b)
}

// destroyBridgeLocked is DELETE /bridges/{id}: music and recorder go first,
// then the channels leave (they stay in Stasis), then the recording ends
// and BridgeDestroyed is sent.
func (s *Server) destroyBridgeLocked(b *bridge) {
	b.moh = false
	s.stopPlayerLocked(&b.player, "done")
	rec := b.recorder.cur
	queued := b.recorder.queue
	b.recorder.cur, b.recorder.queue = nil, nil
	s.bridgeChangedLocked(b)
	for len(b.members) > 0 {
		s.removeFromBridgeLocked(b, b.members[0])
	}
	for _, q := range queued {
		if s.st.liveRecs[q.name] == q {
			delete(s.st.liveRecs, q.name)
		}
	}
	if rec != nil {
		b.recorder.cur = rec
		s.finishRecordingLocked(rec, true, false)
	}
	b.destroyed = true
	delete(s.st.bridges, b.id)
	s.bridgeChangedLocked(b)
	s.emitLocked(obj{{"type", "BridgeDestroyed"}, {"timestamp", s.now()}, {"bridge", b.json()}}, true)
}

func (s *Server) sortedBridgesLocked() []*bridge {
	list := make([]*bridge, 0, len(s.st.bridges))
	for _, b := range s.st.bridges {
		list = append(list, b)
	}
	for i := 1; i < len(list); i++ {
		for j := i; j > 0 && list[j].created.Before(list[j-1].created); j-- {
			list[j], list[j-1] = list[j-1], list[j]
		}
	}
	return list
}
