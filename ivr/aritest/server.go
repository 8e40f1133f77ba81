package aritest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a Server. The zero value is usable.
type Options struct {
	// App is the Stasis application the dialplan sends calls to ("hotline").
	App string
	// User and Password are the ARI credentials ("hotline"/"hotline").
	User     string
	Password string

	// MediaDuration says how long a media item plays. nil: 20ms for sound:,
	// recording: and tone:, 5ms per character for digits:, number:,
	// characters: and date:, so that tests stay fast.
	MediaDuration func(uri string) time.Duration

	// MediaExists says whether a sound or tone exists. nil: every sound
	// exists except sound:does-not-exist and names starting with "no-such".
	// recording: media exists when the stored recording does.
	MediaExists func(uri string) bool

	// Second is how long one Asterisk second lasts: originate and dial
	// timeouts, maxDurationSeconds, maxSilenceSeconds and the length of
	// bridge recordings are measured in it. Zero means time.Second; tests
	// set it to a few milliseconds to run minutes of telephony at once.
	Second time.Duration

	// EntityID is the Asterisk id in /asterisk/info and every event
	// ("02:fc:00:00:00:01", as recorded).
	EntityID string

	// Log receives the emulator's own diagnostics; nil discards them.
	Log *slog.Logger

	// Addr is where to listen; empty picks a free port on 127.0.0.1 (rexian sim
	// --listen sets it so that a separately started rexian can be pointed at it).
	Addr string

	// NoRecordingFolder plays an Asterisk whose spool lacks its recording/
	// folder (a fresh install where no step created it): every channel record
	// answers 500 "Unrecognized recording error: No such file or directory",
	// every bridge record 500 "Internal Server Error", and nothing starts, as
	// the real Asterisk 22 does.
	// SetRecordingFolder changes it while the server runs.
	NoRecordingFolder bool
}

// Server is an in-process ARI server. All methods are safe for concurrent use.
type Server struct {
	opts     Options
	log      *slog.Logger
	started  time.Time
	ln       net.Listener
	http     *http.Server
	baseURL  string
	requests atomic.Int64

	// wg counts the emulator's goroutines (socket readers and writers,
	// running timer callbacks) so that Close can wait for all of them.
	wg sync.WaitGroup

	mu sync.Mutex
	st state
}

// state is everything guarded by Server.mu.
type state struct {
	closed    bool
	chanSeq   int64
	localSeq  int64
	channels  map[string]*channel
	bridges   map[string]*bridge
	playbacks map[string]*playback
	liveRecs  map[string]*recording
	stored    map[string]*storedRecording
	phones    map[string]Phone
	legs      map[string][]*Call // endpoint → originated legs, in order
	handles   map[string]*Call   // channel id → scripted handle, kept after destruction
	dialled   map[string]int
	app       appState
	sockets   map[*eventSocket]struct{}
	refuse    bool
	noRecDir  bool // the spool has no recording/ folder (Options.NoRecordingFolder)
	failNext  []failRule
	timers    map[*timer]struct{}
	changed   chan struct{}
	waiters   int // goroutines in waitFor; without them nobody needs changed
}

// ErrClosed is returned by script methods after Close.
var ErrClosed = errors.New("aritest: server closed")

// New starts a server on 127.0.0.1 with a free port.
func New(opts Options) (*Server, error) {
	if opts.App == "" {
		opts.App = "hotline"
	}
	if opts.User == "" {
		opts.User = "hotline"
	}
	if opts.Password == "" {
		opts.Password = "hotline"
	}
	if opts.Second <= 0 {
		opts.Second = time.Second
	}
	if opts.EntityID == "" {
		opts.EntityID = "02:fc:00:00:00:01"
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("aritest.New: listen: %w", err)
	}
	s := &Server{
		opts:    opts,
		log:     log,
		started: time.Now(),
		ln:      ln,
		baseURL: "http://" + ln.Addr().String(),
	}
	s.st = state{
		channels:  make(map[string]*channel),
		bridges:   make(map[string]*bridge),
		playbacks: make(map[string]*playback),
		liveRecs:  make(map[string]*recording),
		stored:    make(map[string]*storedRecording),
		phones:    make(map[string]Phone),
		legs:      make(map[string][]*Call),
		handles:   make(map[string]*Call),
		dialled:   make(map[string]int),
		sockets:   make(map[*eventSocket]struct{}),
		timers:    make(map[*timer]struct{}),
		changed:   make(chan struct{}),
		noRecDir:  opts.NoRecordingFolder,
	}
	s.http = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("aritest: serve", "err", err)
		}
	}()
	return s, nil
}

// URL is the ARI base URL, e.g. "http://127.0.0.1:PORT/ari".
func (s *Server) URL() string { return s.baseURL + "/ari" }

// WebsocketURL is the event socket URL, e.g. "ws://127.0.0.1:PORT/ari/events".
func (s *Server) WebsocketURL() string {
	return "ws" + strings.TrimPrefix(s.baseURL, "http") + "/ari/events"
}

// EntityID is the Asterisk id reported in /asterisk/info and events.
func (s *Server) EntityID() string { return s.opts.EntityID }

// Requests is the number of REST requests served so far.
func (s *Server) Requests() int { return int(s.requests.Load()) }

// Close stops the server, every socket and every timer, and waits for the
// emulator's goroutines to end.
func (s *Server) Close() {
	s.mu.Lock()
	if s.st.closed {
		s.mu.Unlock()
		return
	}
	s.st.closed = true
	for t := range s.st.timers {
		s.cancelTimer(t)
	}
	socks := make([]*eventSocket, 0, len(s.st.sockets))
	for sock := range s.st.sockets {
		socks = append(socks, sock)
	}
	s.notifyLocked()
	s.mu.Unlock()

	for _, sock := range socks {
		sock.shutdown()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.http.Shutdown(ctx); err != nil {
		_ = s.http.Close()
	}
	s.wg.Wait()
}

// notifyLocked wakes everyone waiting for a change (WaitPlayed,
// WaitOriginated...). Callers hold s.mu.
func (s *Server) notifyLocked() {
	if s.st.waiters == 0 {
		return
	}
	close(s.st.changed)
	s.st.changed = make(chan struct{})
}

// waitFor polls cond under the lock until it is true, ctx ends or the server
// closes. cond runs with s.mu held.
func (s *Server) waitFor(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		if cond() {
			s.mu.Unlock()
			return nil
		}
		if s.st.closed {
			s.mu.Unlock()
			return ErrClosed
		}
		ch := s.st.changed
		s.st.waiters++
		s.mu.Unlock()
		var err error
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-ch:
		}
		s.mu.Lock()
		s.st.waiters--
		s.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// second converts Asterisk seconds to emulated time.
func (s *Server) seconds(n float64) time.Duration {
	return time.Duration(n * float64(s.opts.Second))
}

// ---- timers ----

// timer is a cancellable callback run under s.mu. Pending timers are
// tracked so that Close and hang-ups leave nothing behind.
type timer struct {
	t  *time.Timer
	fn func()
}

// afterLocked schedules fn (run with s.mu held) after d. Callers hold s.mu.
func (s *Server) afterLocked(d time.Duration, fn func()) *timer {
	if s.st.closed {
		return nil
	}
	t := &timer{fn: fn}
	s.st.timers[t] = struct{}{}
	s.wg.Add(1)
	t.t = time.AfterFunc(d, func() {
		defer s.wg.Done()
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.st.timers[t]; !ok {
			return
		}
		delete(s.st.timers, t)
		if s.st.closed {
			return
		}
		t.fn()
	})
	return t
}

// cancelTimer stops t if it has not fired. Callers hold s.mu; nil is fine.
func (s *Server) cancelTimer(t *timer) {
	if t == nil {
		return
	}
	if _, ok := s.st.timers[t]; !ok {
		return
	}
	delete(s.st.timers, t)
	if t.t.Stop() {
		s.wg.Done()
	}
}

// ---- faults ----

type failRule struct {
	method, pattern string
	status          int
	body            string
}

// FailNext makes the next REST request matching method ("" or "*" for any)
// and pathPattern (path.Match syntax, with or without the "/ari" prefix,
// e.g. "/channels/*/answer") get status and body instead of its real answer.
// The request then has no effect.
func (s *Server) FailNext(method, pathPattern string, status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.failNext = append(s.st.failNext, failRule{method: method, pattern: pathPattern, status: status, body: body})
}

func (s *Server) takeFailure(method, p string) (failRule, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	short := strings.TrimPrefix(p, "/ari")
	for i, f := range s.st.failNext {
		if f.method != "" && f.method != "*" && !strings.EqualFold(f.method, method) {
			continue
		}
		ok1, _ := path.Match(f.pattern, p)
		ok2, _ := path.Match(f.pattern, short)
		if ok1 || ok2 {
			s.st.failNext = append(s.st.failNext[:i], s.st.failNext[i+1:]...)
			return f, true
		}
	}
	return failRule{}, false
}

// ---- HTTP ----

// reply is what a REST handler answers.
type reply struct {
	status      int
	body        any // obj, []obj, rawJSON; nil means no body
	raw         []byte
	contentType string
}

func ok(body any) reply           { return reply{status: 200, body: body} }
func noContent() reply            { return reply{status: 204} }
func fail(st int, m string) reply { return reply{status: st, body: message(m)} }

// request is a parsed REST request.
type request struct {
	method string
	segs   []string // path segments after /ari, unescaped one by one
	query  url.Values
	body   map[string]json.RawMessage
}

// param returns a parameter from the query string or the JSON body (the
// native client sends JSON bodies, curl users query strings; Asterisk takes
// both). A repeated query parameter keeps its last value, as Asterisk does.
func (r *request) param(name string) (string, bool) {
	if vs, ok := r.query[name]; ok && len(vs) > 0 {
		return vs[len(vs)-1], true
	}
	raw, ok := r.body[name]
	if !ok {
		return "", false
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", false
	}
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			if str, ok := e.(string); ok {
				parts = append(parts, str)
			}
		}
		return strings.Join(parts, ","), true
	case nil:
		return "", false
	}
	return string(raw), true
}

func (r *request) str(name string) string {
	v, _ := r.param(name)
	return v
}

func (r *request) num(name string, def int) int {
	v, ok := r.param(name)
	if !ok || v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return def
	}
	return int(f)
}

// variables returns the "variables" object of an originate body.
func (r *request) variables() map[string]string {
	raw, ok := r.body["variables"]
	if !ok {
		return nil
	}
	var wrapped struct {
		Variables map[string]string `json:"variables"`
	}
	if err := json.Unmarshal(raw, &wrapped); err == nil && wrapped.Variables != nil {
		return wrapped.Variables
	}
	var m map[string]string
	_ = json.Unmarshal(raw, &m)
	return m
}

func (s *Server) authorized(r *http.Request) bool {
	if key := r.URL.Query().Get("api_key"); key != "" {
		return key == s.opts.User+":"+s.opts.Password
	}
	h := r.Header.Get("Authorization")
	if !strings.HasPrefix(h, "Basic ") {
		return false
	}
	dec, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h, "Basic "))
	if err != nil {
		return false
	}
	return string(dec) == s.opts.User+":"+s.opts.Password
}

func writeReply(w http.ResponseWriter, rep reply) {
	switch {
	case rep.raw != nil:
		if rep.contentType != "" {
			w.Header().Set("Content-Type", rep.contentType)
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(rep.raw)))
		w.WriteHeader(rep.status)
		_, _ = w.Write(rep.raw)
	case rep.body == nil:
		w.WriteHeader(rep.status)
	default:
		b := encodeJSON(rep.body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(rep.status)
		_, _ = w.Write(b)
	}
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("aritest: handler panic", "method", r.Method, "path", r.URL.Path, "panic", v)
			writeReply(w, fail(500, "Internal Server Error"))
		}
	}()
	escaped := r.URL.EscapedPath()
	if escaped == "/ari/events" && r.Method == http.MethodGet {
		s.serveEvents(w, r)
		return
	}
	s.requests.Add(1)
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="Asterisk REST Interface"`)
		writeReply(w, fail(401, "Authentication required"))
		return
	}
	if f, hit := s.takeFailure(r.Method, escaped); hit {
		rep := reply{status: f.status}
		if f.body != "" {
			rep.raw = []byte(f.body)
			rep.contentType = "application/json"
		}
		writeReply(w, rep)
		return
	}
	if !strings.HasPrefix(escaped, "/ari/") {
		writeReply(w, fail(404, "Resource not found"))
		return
	}
	raw := strings.Split(strings.TrimPrefix(escaped, "/ari/"), "/")
	segs := make([]string, 0, len(raw))
	for _, seg := range raw {
		u, err := url.PathUnescape(seg)
		if err != nil {
			writeReply(w, fail(404, "Resource not found"))
			return
		}
		segs = append(segs, u)
	}
	req := &request{method: r.Method, segs: segs, query: r.URL.Query()}
	if r.Body != nil && r.ContentLength != 0 {
		data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err == nil && len(bytes.TrimSpace(data)) > 0 {
			var body map[string]json.RawMessage
			if err := json.Unmarshal(data, &body); err != nil {
				writeReply(w, fail(400, "Could not parse body"))
				return
			}
			req.body = body
		}
	}
	writeReply(w, s.route(req))
}

// route dispatches a REST request; unknown paths answer 404 "Resource not
// found" and known paths with another method 405, as Asterisk does.
func (s *Server) route(r *request) reply {
	seg := r.segs
	n := len(seg)
	at := func(i int) string {
		if i < n {
			return seg[i]
		}
		return ""
	}
	m := r.method
	switch at(0) {
	case "asterisk":
		switch {
		case n == 2 && at(1) == "info" && m == "GET":
			return s.asteriskInfo()
		case n == 2 && at(1) == "ping" && m == "GET":
			return ok(obj{{"ping", "pong"}, {"timestamp", ariTime(time.Now())}, {"asterisk_id", s.opts.EntityID}})
		}
	case "applications":
		switch {
		case n == 1 && m == "GET":
			return s.listApplications()
		case n == 2 && m == "GET":
			return s.getApplication(at(1))
		case n == 3 && at(2) == "subscription" && (m == "POST" || m == "DELETE"):
			return s.getApplication(at(1))
		}
	case "channels":
		return s.routeChannels(r, seg[1:])
	case "bridges":
		return s.routeBridges(r, seg[1:])
	case "playbacks":
		switch {
		case n == 2 && m == "GET":
			return s.getPlayback(at(1))
		case n == 2 && m == "DELETE":
			return s.stopPlayback(at(1))
		case n == 3 && at(2) == "control" && m == "POST":
			return s.controlPlayback(at(1), r.str("operation"))
		}
	case "recordings":
		return s.routeRecordings(r, seg[1:])
	case "sounds":
		switch {
		case n == 1 && m == "GET":
			return ok([]obj{soundJSON("hello-world"), soundJSON("beep")})
		case n == 2 && m == "GET":
			if s.soundExists(at(1)) {
				return ok(soundJSON(at(1)))
			}
			return fail(404, "Sound not found")
		}
	case "endpoints":
		if n == 1 && m == "GET" {
			return ok([]obj{})
		}
	case "deviceStates":
		if n == 1 && m == "GET" {
			return ok([]obj{})
		}
	}
	return fail(404, "Resource not found")
}

func soundJSON(id string) obj {
	return obj{{"id", id}, {"formats", []obj{
		{{"language", "en_US"}, {"format", "gsm"}},
		{{"language", "en_US"}, {"format", "slin"}},
		{{"language", "en"}, {"format", "gsm"}},
		{{"language", "en"}, {"format", "slin"}},
	}}}
}

func (s *Server) asteriskInfo() reply {
	started := ariTime(s.started)
	return ok(obj{
		{"build", obj{{"os", "Linux"}, {"kernel", "6.18.44"}, {"machine", "x86_64"}, {"options", "OPTIONAL_API"}, {"date", "2026-11-26 19:08:55 UTC"}, {"user", "root"}}},
		{"system", obj{{"version", "22.10.1"}, {"entity_id", s.opts.EntityID}}},
		{"config", obj{{"name", ""}, {"default_language", "en"}, {"setid", obj{{"user", ""}, {"group", ""}}}}},
		{"status", obj{{"startup_time", started}, {"last_reload_time", started}}},
	})
}
