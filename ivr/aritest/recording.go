package aritest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// recorder is the recording queue of a channel or a bridge: a second
// recording waits until the first ends, as in Asterisk.
type recorder struct {
	ch    *channel
	br    *bridge
	cur   *recording
	queue []*recording
}

type recording struct {
	name, format string
	target       string
	state        string
	owner        *recorder
	ifExists     string
	terminateOn  string
	maxDuration  int
	maxSilence   int

	// audio is how much sound the recording holds, in Asterisk time. A
	// channel recording gets what the caller says (Call.Speak); a bridge
	// recording gets the time it runs, as a mixing bridge produces audio
	// all the time.
	audio       time.Duration
	started     time.Time
	paused      bool
	pausedAt    time.Time
	pausedTotal time.Duration
	maxTimer    *timer
	silence     *timer
}

// storedRecording is a file under the recording spool; the emulator keeps
// only its length and renders silence on download.
type storedRecording struct {
	format string
	audio  time.Duration
}

var recordingFormats = map[string]bool{
	"wav": true, "WAV": true, "wav16": true, "gsm": true, "ulaw": true, "alaw": true,
	"sln": true, "slin": true, "g722": true, "g729": true, "g726": true, "ilbc": true,
}

func (rec *recording) json(final bool) obj {
	o := obj{{"name", rec.name}, {"format", rec.format}, {"state", rec.state}, {"target_uri", rec.target}}
	if final {
		o = append(o, kv{"duration", int(rec.audio / time.Second)})
	}
	return o
}

// emitRecording sends a recording event. Bridge recording events reach a
// subscribeAll socket twice (once per subscribed topic), as recorded.
func (s *Server) emitRecording(typ string, rec *recording, final bool) {
	rc := rec.owner
	ev := obj{{"type", typ}, {"timestamp", s.now()}, {"recording", rec.json(final)}}
	if rc.ch != nil {
		s.emitLocked(ev, rc.ch.watched, rc.ch)
		return
	}
	s.emitLocked(ev, true, rc.br.members...)
	s.emitLocked(obj{{"type", typ}, {"timestamp", s.now()}, {"recording", rec.json(final)}}, false, rc.br.members...)
}

// newRecordingLocked validates a record request the way Asterisk does and
// queues the recording.
func (s *Server) newRecordingLocked(r *request, rc *recorder, target string) reply {
	name := r.str("name")
	if name == "" {
		return fail(500, "Error parsing request")
	}
	format := r.str("format")
	if !recordingFormats[format] {
		return fail(422, "specified format is unknown on this system")
	}
	ifExists := r.str("ifExists")
	if ifExists == "" {
		ifExists = "fail"
	}
	if ifExists != "fail" && ifExists != "overwrite" && ifExists != "append" {
		return fail(400, "ifExists invalid")
	}
	terminateOn := r.str("terminateOn")
	if terminateOn == "" {
		terminateOn = "none"
	}
	if terminateOn != "none" && terminateOn != "any" && strings.Trim(terminateOn, "0123456789*#") != "" {
		return fail(400, "terminateOn invalid")
	}
	maxDuration := r.num("maxDurationSeconds", 0)
	maxSilence := r.num("maxSilenceSeconds", 0)
	if maxDuration < 0 {
		return fail(400, "maxDurationSeconds cannot be negative")
	}
	if maxSilence < 0 {
		return fail(400, "maxSilenceSeconds cannot be negative")
	}
	if s.st.noRecDir {
		// Asterisk cannot create the file (nor a sub-folder of a name with
		// '/'). A channel record reports strerror(errno) as it is; a bridge
		// record (through its Recorder channel) only a generic 500.
		if rc.br != nil {
			return fail(500, "Internal Server Error")
		}
		return fail(500, "Unrecognized recording error: No such file or directory")
	}
	if _, live := s.st.liveRecs[name]; live {
		return fail(409, "A recording with the same name is currently in progress")
	}
	if _, exists := s.st.stored[name]; exists && ifExists == "fail" {
		return fail(409, fmt.Sprintf("Recording '%s' already exists and can not be overwritten", name))
	}
	rec := &recording{
		name:        name,
		format:      format,
		target:      target,
		state:       "queued",
		owner:       rc,
		ifExists:    ifExists,
		terminateOn: terminateOn,
		maxDuration: maxDuration,
		maxSilence:  maxSilence,
	}
	resp := rec.json(false)
	s.st.liveRecs[name] = rec
	rc.queue = append(rc.queue, rec)
	if rc.cur == nil {
		s.startNextRecordingLocked(rc)
	}
	return reply{status: 201, body: resp}
}

func (s *Server) recordChannel(r *request, id string) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, errRep := s.stasisChannelLocked(id)
	if errRep != nil {
		return *errRep
	}
	return s.newRecordingLocked(r, &c.recorder, "channel:"+c.id)
}

func (s *Server) startNextRecordingLocked(rc *recorder) {
	if rc.cur != nil || len(rc.queue) == 0 {
		return
	}
	rec := rc.queue[0]
	rc.queue = rc.queue[1:]
	rc.cur = rec
	rec.state = "recording"
	rec.started = time.Now()
	s.emitRecording("RecordingStarted", rec, false)
	if rec.maxDuration > 0 {
		rec.maxTimer = s.afterLocked(s.seconds(float64(rec.maxDuration)), func() {
			rec.maxTimer = nil
			s.finishRecordingLocked(rec, true, true)
		})
	}
	s.armSilenceLocked(rec)
	if rc.br != nil {
		s.bridgeChangedLocked(rc.br)
	}
}

// armSilenceLocked (re)starts the maxSilenceSeconds timer: without speech
// for that long the recording ends.
func (s *Server) armSilenceLocked(rec *recording) {
	if rec.maxSilence <= 0 {
		return
	}
	s.cancelTimer(rec.silence)
	rec.silence = s.afterLocked(s.seconds(float64(rec.maxSilence)), func() {
		rec.silence = nil
		s.finishRecordingLocked(rec, true, true)
	})
}

// finishRecordingLocked ends rec with state "done". keep stores the file
// (stop, terminateOn, limits, hang-up); a cancel removes it. next starts
// the recording queued behind it.
func (s *Server) finishRecordingLocked(rec *recording, keep, next bool) {
	rc := rec.owner
	if rc.cur != rec {
		return
	}
	s.cancelTimer(rec.maxTimer)
	s.cancelTimer(rec.silence)
	rec.maxTimer, rec.silence = nil, nil
	if rc.br != nil {
		rec.audio = s.bridgeAudio(rec)
	}
	if rec.maxDuration > 0 && rec.audio > time.Duration(rec.maxDuration)*time.Second {
		rec.audio = time.Duration(rec.maxDuration) * time.Second
	}
	if !keep {
		rec.audio = 0
	}
	rec.state = "done"
	s.emitRecording("RecordingFinished", rec, true)
	if s.st.liveRecs[rec.name] == rec {
		delete(s.st.liveRecs, rec.name)
	}
	if keep {
		audio := rec.audio
		if old, exists := s.st.stored[rec.name]; exists && rec.ifExists == "append" {
			audio += old.audio
		}
		s.st.stored[rec.name] = &storedRecording{format: rec.format, audio: audio}
	} else {
		delete(s.st.stored, rec.name)
	}
	rc.cur = nil
	if rc.br != nil {
		s.bridgeChangedLocked(rc.br)
	}
	if next {
		s.startNextRecordingLocked(rc)
	}
}

// bridgeAudio is the length of a bridge recording: the emulated time it ran.
func (s *Server) bridgeAudio(rec *recording) time.Duration {
	elapsed := time.Since(rec.started) - rec.pausedTotal
	if rec.paused {
		elapsed -= time.Since(rec.pausedAt)
	}
	if elapsed < 0 {
		elapsed = 0
	}
	return time.Duration(float64(elapsed) * float64(time.Second) / float64(s.opts.Second))
}

// stopRecorderLocked ends a recorder's work at a hang-up: the current
// recording finishes "done" and keeps its file; queued ones never start.
func (s *Server) stopRecorderLocked(rc *recorder) {
	for _, rec := range rc.queue {
		if s.st.liveRecs[rec.name] == rec {
			delete(s.st.liveRecs, rec.name)
		}
	}
	rc.queue = nil
	if rec := rc.cur; rec != nil {
		s.finishRecordingLocked(rec, true, false)
	}
}

// speakLocked adds what the caller says to the channel's recording.
func (s *Server) speakLocked(c *channel, d time.Duration) {
	rec := c.recorder.cur
	if rec == nil || rec.state != "recording" {
		return
	}
	rec.audio += d
	s.armSilenceLocked(rec)
	if rec.maxDuration > 0 && rec.audio >= time.Duration(rec.maxDuration)*time.Second {
		s.finishRecordingLocked(rec, true, true)
	}
}

// dtmfEndsRecordingLocked applies terminateOn to a received digit.
func (s *Server) dtmfEndsRecordingLocked(c *channel, digit string) {
	rec := c.recorder.cur
	if rec == nil || rec.state == "queued" {
		return
	}
	if rec.terminateOn == "any" || rec.terminateOn != "none" && strings.Contains(rec.terminateOn, digit) {
		s.finishRecordingLocked(rec, true, true)
	}
}

// ---- REST: /recordings ----

func (s *Server) routeRecordings(r *request, seg []string) reply {
	m := r.method
	if len(seg) == 0 {
		return fail(404, "Resource not found")
	}
	switch seg[0] {
	case "live":
		switch {
		case len(seg) == 2 && m == "GET":
			return s.liveRecording(seg[1], func(rec *recording) reply { return ok(rec.json(false)) })
		case len(seg) == 2 && m == "DELETE":
			return s.liveRecording(seg[1], func(rec *recording) reply {
				s.finishRecordingLocked(rec, false, true)
				return noContent()
			})
		case len(seg) == 3 && seg[2] == "stop" && m == "POST":
			return s.liveRecording(seg[1], func(rec *recording) reply {
				s.finishRecordingLocked(rec, true, true)
				return noContent()
			})
		case len(seg) == 3 && seg[2] == "pause" && (m == "POST" || m == "DELETE"):
			return s.liveRecording(seg[1], func(rec *recording) reply {
				pause := m == "POST"
				if pause && !rec.paused {
					rec.paused, rec.pausedAt, rec.state = true, time.Now(), "paused"
				} else if !pause && rec.paused {
					rec.paused, rec.state = false, "recording"
					rec.pausedTotal += time.Since(rec.pausedAt)
				}
				return noContent()
			})
		case len(seg) == 3 && seg[2] == "mute" && (m == "POST" || m == "DELETE"):
			return s.liveRecording(seg[1], func(*recording) reply { return noContent() })
		}
	case "stored":
		switch {
		case len(seg) == 1 && m == "GET":
			return s.listStored()
		case len(seg) == 2 && m == "GET":
			return s.storedRecording(seg[1], func(st *storedRecording) reply {
				return ok(obj{{"name", seg[1]}, {"format", st.format}})
			})
		case len(seg) == 2 && m == "DELETE":
			return s.storedRecording(seg[1], func(*storedRecording) reply {
				delete(s.st.stored, seg[1])
				return noContent()
			})
		case len(seg) == 3 && seg[2] == "file" && m == "GET":
			return s.storedRecording(seg[1], func(st *storedRecording) reply {
				ct := "application/octet-stream"
				if strings.EqualFold(st.format, "wav") {
					ct = "audio/wav"
				}
				return reply{status: 200, raw: renderAudio(st), contentType: ct}
			})
		case len(seg) == 3 && seg[2] == "copy" && m == "POST":
			dest := r.str("destinationRecordingName")
			return s.storedRecording(seg[1], func(st *storedRecording) reply {
				if dest == "" {
					return fail(400, "Missing parameter destinationRecordingName")
				}
				if _, exists := s.st.stored[dest]; exists {
					return fail(409, "A recording with the same name already exists on the system")
				}
				cp := *st
				s.st.stored[dest] = &cp
				return ok(obj{{"name", dest}, {"format", st.format}})
			})
		}
	}
	return fail(404, "Resource not found")
}

func (s *Server) liveRecording(name string, fn func(*recording) reply) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.st.liveRecs[name]
	if rec == nil {
		return fail(404, "Recording not found")
	}
	rep := fn(rec)
	s.notifyLocked()
	return rep
}

func (s *Server) storedRecording(name string, fn func(*storedRecording) reply) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st.stored[name]
	if st == nil {
		return fail(404, "Recording not found")
	}
	return fn(st)
}

func (s *Server) listStored() reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.st.stored))
	for n := range s.st.stored {
		names = append(names, n)
	}
	sort.Strings(names)
	list := make([]obj, 0, len(names))
	for _, n := range names {
		list = append(list, obj{{"name", n}, {"format", s.st.stored[n].format}})
	}
	return ok(list)
}

// SetRecordingFolder says whether the spool has its recording/ folder (see
// Options.NoRecordingFolder); recordings already running go on.
func (s *Server) SetRecordingFolder(present bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.noRecDir = !present
}

// StoredRecordings lists the stored recordings' names, sorted.
func (s *Server) StoredRecordings() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.st.stored))
	for n := range s.st.stored {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ErrNoRecording is returned for a stored recording that does not exist.
var ErrNoRecording = errors.New("aritest: recording not found")

// RecordingFile returns a stored recording's file: for wav, an 8 kHz 16-bit
// mono WAV of silence as long as the recording (a 44-byte header for 0 s).
func (s *Server) RecordingFile(name string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st.stored[name]
	if st == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoRecording, name)
	}
	return renderAudio(st), nil
}

// renderAudio renders silence: 8000 samples of 16 bits per second.
func renderAudio(st *storedRecording) []byte {
	samples := int(st.audio * 8000 / time.Second)
	data := samples * 2
	if !strings.EqualFold(st.format, "wav") {
		return make([]byte, data)
	}
	b := make([]byte, 44+data)
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+data))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)    // fmt chunk size
	binary.LittleEndian.PutUint16(b[20:], 1)     // PCM
	binary.LittleEndian.PutUint16(b[22:], 1)     // mono
	binary.LittleEndian.PutUint32(b[24:], 8000)  // sample rate
	binary.LittleEndian.PutUint32(b[28:], 16000) // byte rate
	binary.LittleEndian.PutUint16(b[32:], 2)     // block align
	binary.LittleEndian.PutUint16(b[34:], 16)    // bits per sample
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(data))
	return b
}
