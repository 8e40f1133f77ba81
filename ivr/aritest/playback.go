package aritest

import (
	"strings"
	"time"
)

// player is the playback queue of a channel or a bridge: media plays one
// playback after the other, as Asterisk queues them.
type player struct {
	ch    *channel // owner, or
	br    *bridge  // owner
	cur   *playback
	queue []*playback
}

type playback struct {
	id        string
	media     []string
	idx       int
	target    string
	lang      string
	state     string
	owner     *player
	timer     *timer
	remaining time.Duration
	started   time.Time
}

func (pb *playback) json() obj {
	o := make(obj, 0, 6)
	o = append(o, kv{"id", pb.id}, kv{"media_uri", pb.media[pb.idx]})
	if pb.idx+1 < len(pb.media) {
		o = append(o, kv{"next_media_uri", pb.media[pb.idx+1]})
	}
	return append(o, kv{"target_uri", pb.target}, kv{"language", pb.lang}, kv{"state", pb.state})
}

// mediaKind classifies a media URI.
type mediaKind int

const (
	mediaPlays   mediaKind = iota
	mediaMissing           // PlaybackStarted then PlaybackFinished "failed" at once
	mediaUnknown           // unknown scheme: PlaybackStarted, then the playback vanishes
)

func (s *Server) classifyMediaLocked(uri string) mediaKind {
	scheme, value, found := strings.Cut(uri, ":")
	if !found {
		return mediaUnknown
	}
	switch scheme {
	case "sound":
		if !s.soundExists(value) {
			return mediaMissing
		}
	case "recording":
		if _, ok := s.st.stored[value]; !ok {
			return mediaMissing
		}
	case "tone", "digits", "number", "characters", "date":
	default:
		return mediaUnknown
	}
	if s.opts.MediaExists != nil && scheme != "recording" && !s.opts.MediaExists(uri) {
		return mediaMissing
	}
	return mediaPlays
}

// soundExists is the default sound catalogue: everything except the names
// tests use for missing sounds.
func (s *Server) soundExists(name string) bool {
	if s.opts.MediaExists != nil {
		return s.opts.MediaExists("sound:" + name)
	}
	return name != "does-not-exist" && !strings.HasPrefix(name, "no-such")
}

func (s *Server) mediaDuration(uri string) time.Duration {
	if s.opts.MediaDuration != nil {
		return s.opts.MediaDuration(uri)
	}
	scheme, value, _ := strings.Cut(uri, ":")
	switch scheme {
	case "digits", "number", "characters", "date":
		return time.Duration(len(value)) * 5 * time.Millisecond
	}
	return 20 * time.Millisecond
}

func (pl *player) visible() bool {
	if pl.ch != nil {
		return pl.ch.watched
	}
	return true
}

// emitPlayback sends a playback event about pb.
func (s *Server) emitPlayback(typ string, pb *playback) {
	pl := pb.owner
	ev := obj{{"type", typ}, {"timestamp", s.now()}, {"playback", pb.json()}}
	if pl.ch != nil {
		s.emitLocked(ev, pl.visible(), pl.ch)
		return
	}
	s.emitLocked(ev, true, pl.br.members...)
}

func (s *Server) enqueueLocked(pl *player, pb *playback) {
	pl.queue = append(pl.queue, pb)
	if pl.cur == nil {
		s.startNextLocked(pl)
	}
}

func (s *Server) startNextLocked(pl *player) {
	if pl.cur != nil || len(pl.queue) == 0 {
		return
	}
	pb := pl.queue[0]
	pl.queue = pl.queue[1:]
	pl.cur = pb
	s.startItemLocked(pb)
}

func (s *Server) startItemLocked(pb *playback) {
	pl := pb.owner
	uri := pb.media[pb.idx]
	pb.state = "playing"
	s.emitPlayback("PlaybackStarted", pb)
	s.recordPlayedLocked(pl, uri)
	switch s.classifyMediaLocked(uri) {
	case mediaUnknown:
		// Asterisk logs an error and never finishes such a playback; it
		// is gone from /playbacks and the queue moves on.
		if s.st.playbacks[pb.id] == pb {
			delete(s.st.playbacks, pb.id)
		}
		pl.cur = nil
		s.startNextLocked(pl)
		return
	case mediaMissing:
		s.finishPlaybackLocked(pb, "failed")
		return
	}
	pb.remaining = s.mediaDuration(uri)
	pb.started = time.Now()
	pb.timer = s.afterLocked(pb.remaining, func() { s.itemDoneLocked(pb) })
}

func (s *Server) recordPlayedLocked(pl *player, uri string) {
	if pl.ch != nil {
		if pl.ch.call != nil {
			pl.ch.call.played = append(pl.ch.call.played, uri)
		}
		return
	}
	for _, m := range pl.br.members {
		if m.call != nil {
			m.call.played = append(m.call.played, uri)
		}
	}
}

func (s *Server) itemDoneLocked(pb *playback) {
	pb.timer = nil
	if pb.idx+1 < len(pb.media) {
		pb.state = "continuing"
		s.emitPlayback("PlaybackContinuing", pb)
		pb.idx++
		s.startItemLocked(pb)
		return
	}
	s.finishPlaybackLocked(pb, "done")
}

// finishPlaybackLocked ends the current playback and starts the next one.
func (s *Server) finishPlaybackLocked(pb *playback, state string) {
	s.cancelTimer(pb.timer)
	pb.timer = nil
	pb.state = state
	s.emitPlayback("PlaybackFinished", pb)
	if s.st.playbacks[pb.id] == pb {
		delete(s.st.playbacks, pb.id)
	}
	pl := pb.owner
	if pl.cur == pb {
		pl.cur = nil
		s.startNextLocked(pl)
	}
}

// stopPlayerLocked ends everything a player has: the current playback
// finishes with state (a hang-up makes it "failed"), queued ones vanish.
func (s *Server) stopPlayerLocked(pl *player, state string) {
	for _, pb := range pl.queue {
		if s.st.playbacks[pb.id] == pb {
			delete(s.st.playbacks, pb.id)
		}
	}
	pl.queue = nil
	if pb := pl.cur; pb != nil {
		pl.cur = nil
		s.cancelTimer(pb.timer)
		pb.timer = nil
		pb.state = state
		s.emitPlayback("PlaybackFinished", pb)
		if s.st.playbacks[pb.id] == pb {
			delete(s.st.playbacks, pb.id)
		}
	}
}

func (s *Server) newPlaybackLocked(r *request, pl *player, target, pbID, lang string) (reply, bool) {
	media := r.str("media")
	if media == "" {
		return fail(500, "Failed to queue media for playback"), false
	}
	if pbID == "" {
		pbID = r.str("playbackId")
	}
	if pbID == "" {
		pbID = newUUID()
	}
	if l := r.str("lang"); l != "" {
		lang = l
	}
	pb := &playback{
		id:     pbID,
		media:  strings.Split(media, ","),
		target: target,
		lang:   lang,
		state:  "queued",
		owner:  pl,
	}
	resp := pb.json()
	s.st.playbacks[pbID] = pb
	s.enqueueLocked(pl, pb)
	return reply{status: 201, body: resp}, true
}

// playOnChannel is POST /channels/{id}/play[/{playbackId}].
func (s *Server) playOnChannel(r *request, id, pbID string) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, errRep := s.stasisChannelLocked(id)
	if errRep != nil {
		return *errRep
	}
	rep, queued := s.newPlaybackLocked(r, &c.player, "channel:"+c.id, pbID, c.language)
	if queued && c.state == "Ring" && c.fromDialplan && !c.progress {
		// Early media: the calling side sees progress.
		c.progress = true
		if p := c.peer; p != nil && !p.destroyed {
			s.dialEvent(p, "PROGRESS", localDialstring(p))
		}
	}
	return rep
}

func (s *Server) getPlayback(id string) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	pb := s.st.playbacks[id]
	if pb == nil {
		return fail(404, "Playback not found")
	}
	return ok(pb.json())
}

// stopPlayback is DELETE /playbacks/{id}: the playback finishes "done".
func (s *Server) stopPlayback(id string) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	pb := s.st.playbacks[id]
	if pb == nil {
		return fail(404, "Playback not found")
	}
	pl := pb.owner
	if cur := pl.cur; cur != nil && cur.id == id {
		// A reused id addresses the playback that is playing.
		s.finishPlaybackLocked(cur, "done")
		return noContent()
	}
	for i, q := range pl.queue {
		if q == pb {
			pl.queue = append(pl.queue[:i], pl.queue[i+1:]...)
			break
		}
	}
	delete(s.st.playbacks, id)
	s.notifyLocked()
	return noContent()
}

func (s *Server) controlPlayback(id, op string) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	pb := s.st.playbacks[id]
	if pb == nil {
		return fail(404, "Playback not found")
	}
	switch op {
	case "pause":
		if pb.state == "playing" {
			s.cancelTimer(pb.timer)
			pb.timer = nil
			pb.remaining -= time.Since(pb.started)
			if pb.remaining < 0 {
				pb.remaining = 0
			}
			pb.state = "paused"
		}
	case "unpause":
		if pb.state == "paused" {
			pb.state = "playing"
			s.emitPlayback("PlaybackStarted", pb)
			pb.started = time.Now()
			pb.timer = s.afterLocked(pb.remaining, func() { s.itemDoneLocked(pb) })
		}
	case "restart":
		pb.remaining = s.mediaDuration(pb.media[pb.idx])
		if pb.state == "playing" {
			s.cancelTimer(pb.timer)
			pb.started = time.Now()
			pb.timer = s.afterLocked(pb.remaining, func() { s.itemDoneLocked(pb) })
		}
	case "reverse", "forward":
		// Skipping within the media changes nothing an application sees.
	default:
		return fail(400, "Invalid operation "+op)
	}
	if pb.state == "queued" {
		return fail(409, "Playback not in a valid state")
	}
	s.notifyLocked()
	return noContent()
}
