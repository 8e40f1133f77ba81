package aritest

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/gorilla/websocket"
)

// appState is the registration of the Stasis application.
//
// As recorded: the socket that connected last receives the events (an older
// one gets ApplicationReplaced and then nothing); when that socket closes the
// application is unregistered at once with subscribeAll, or once its last
// Stasis channel is gone without it. Stasis() on an application without a
// socket fails, so a call arriving then never reaches the controller.
type appState struct {
	sock         *eventSocket
	subscribeAll bool // of the current socket, or of the last one
}

// Event is one event the application was sent: its type and the exact JSON.
type Event struct {
	Type string
	JSON []byte
}

// Decode parses the event as the ari/v5 client would.
func (e Event) Decode() (ari.Event, error) { return ari.DecodeEvent(e.JSON) }

// eventSocket is one websocket connection on /ari/events.
type eventSocket struct {
	conn         *websocket.Conn
	subscribeAll bool

	mu     sync.Mutex
	queue  [][]byte
	signal chan struct{}
	done   chan struct{}
	once   sync.Once
}

func (sock *eventSocket) push(frame []byte) {
	sock.mu.Lock()
	sock.queue = append(sock.queue, frame)
	sock.mu.Unlock()
	select {
	case sock.signal <- struct{}{}:
	default:
	}
}

// shutdown closes the connection from the server side, as a network loss.
func (sock *eventSocket) shutdown() {
	sock.once.Do(func() {
		close(sock.done)
		_ = sock.conn.Close()
	})
}

var upgrader = websocket.Upgrader{
	// The native client sends Origin http://localhost/, which is not the
	// listening host; Asterisk does not check it either.
	CheckOrigin:     func(*http.Request) bool { return true },
	ReadBufferSize:  1024,
	WriteBufferSize: 16 * 1024,
}

func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="Asterisk REST Interface"`)
		writeReply(w, fail(401, "Authentication required"))
		return
	}
	q := r.URL.Query()
	apps := q.Get("app")
	if apps == "" {
		writeReply(w, fail(400, "Missing parameter app"))
		return
	}
	known := false
	for _, a := range strings.Split(apps, ",") {
		if a == s.opts.App {
			known = true
		}
	}
	if !known {
		// The emulator routes calls to one application only.
		writeReply(w, fail(400, "Invalid application provided in param [app]."))
		return
	}
	s.mu.Lock()
	refused := s.st.refuse || s.st.closed
	s.mu.Unlock()
	if refused {
		writeReply(w, fail(503, "Service Unavailable"))
		return
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.log.Debug("aritest: websocket upgrade", "err", err)
		return
	}
	sock := &eventSocket{
		conn:         conn,
		subscribeAll: q.Get("subscribeAll") == "true",
		signal:       make(chan struct{}, 1),
		done:         make(chan struct{}),
	}
	s.mu.Lock()
	if s.st.closed {
		s.mu.Unlock()
		_ = conn.Close()
		return
	}
	s.st.sockets[sock] = struct{}{}
	if old := s.st.app.sock; old != nil {
		old.push(encodeJSON(obj{{"type", "ApplicationReplaced"}, {"timestamp", ariTime(time.Now())}, {"application", s.opts.App}, {"asterisk_id", s.opts.EntityID}}))
	}
	s.st.app = appState{sock: sock, subscribeAll: sock.subscribeAll}
	s.notifyLocked()
	s.wg.Add(2)
	s.mu.Unlock()

	go s.writeEvents(sock)
	go s.readEvents(sock)
}

// writeEvents sends queued frames in order until the socket ends.
func (s *Server) writeEvents(sock *eventSocket) {
	defer s.wg.Done()
	for {
		select {
		case <-sock.done:
			return
		case <-sock.signal:
		}
		sock.mu.Lock()
		frames := sock.queue
		sock.queue = nil
		sock.mu.Unlock()
		for _, f := range frames {
			_ = sock.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if err := sock.conn.WriteMessage(websocket.TextMessage, f); err != nil {
				sock.shutdown()
				return
			}
		}
	}
}

// readEvents waits for the client to close (Asterisk ignores what clients
// send) and then unregisters the socket.
func (s *Server) readEvents(sock *eventSocket) {
	defer s.wg.Done()
	for {
		if _, _, err := sock.conn.ReadMessage(); err != nil {
			break
		}
	}
	sock.shutdown()
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.st.sockets, sock)
	if s.st.app.sock == sock {
		s.st.app.sock = nil
	}
	s.notifyLocked()
}

// DropWebsockets closes every event socket from the server side, as a
// network loss would.
func (s *Server) DropWebsockets() {
	s.mu.Lock()
	socks := make([]*eventSocket, 0, len(s.st.sockets))
	for sock := range s.st.sockets {
		socks = append(socks, sock)
	}
	for _, sock := range socks {
		delete(s.st.sockets, sock)
		if s.st.app.sock == sock {
			s.st.app.sock = nil
		}
	}
	s.notifyLocked()
	s.mu.Unlock()
	for _, sock := range socks {
		sock.shutdown()
	}
}

// RefuseWebsockets makes new event sockets fail with 503 while refuse is
// true, as if Asterisk were down.
func (s *Server) RefuseWebsockets(refuse bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.refuse = refuse
}

// Sockets is the number of event sockets open (a replaced one included).
func (s *Server) Sockets() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.st.sockets)
}

// Connected reports whether an event socket is registered for the app.
func (s *Server) Connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.app.sock != nil
}

// WaitConnected waits until an event socket is registered for the app.
func (s *Server) WaitConnected(ctx context.Context) error {
	return s.waitFor(ctx, func() bool { return s.st.app.sock != nil })
}

// appRegistered reports whether /applications lists the app.
func (s *Server) appRegisteredLocked() bool {
	if s.st.app.sock != nil {
		return true
	}
	if s.st.app.subscribeAll {
		return false
	}
	for _, c := range s.st.channels {
		if c.inStasis {
			return true
		}
	}
	return false
}

func (s *Server) applicationJSONLocked() obj {
	if s.st.app.subscribeAll {
		return obj{
			{"name", s.opts.App},
			{"channel_ids", []string{"__AST_CHANNEL_ALL_TOPIC"}},
			{"bridge_ids", []string{"__AST_BRIDGE_ALL_TOPIC"}},
			{"endpoint_ids", []string{"__AST_ENDPOINT_ALL_TOPIC"}},
			{"device_names", []string{"__AST_DEVICE_STATE_ALL_TOPIC"}},
			{"events_allowed", []string{}},
			{"events_disallowed", []string{}},
		}
	}
	ids := []string{}
	for _, c := range s.sortedChannelsLocked() {
		if c.inStasis {
			ids = append(ids, c.id)
		}
	}
	return obj{
		{"name", s.opts.App},
		{"channel_ids", ids},
		{"bridge_ids", []string{}},
		{"endpoint_ids", []string{}},
		{"device_names", []string{}},
		{"events_allowed", []string{}},
		{"events_disallowed", []string{}},
	}
}

func (s *Server) listApplications() reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.appRegisteredLocked() {
		return ok([]obj{})
	}
	return ok([]obj{s.applicationJSONLocked()})
}

func (s *Server) getApplication(name string) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	if name != s.opts.App || !s.appRegisteredLocked() {
		return fail(404, "Application not found")
	}
	return ok(s.applicationJSONLocked())
}

// emitLocked sends an event to the application. visible says whether a
// socket without subscribeAll is subscribed to it; with subscribeAll every
// event goes out. rel are the channels the event is about, whose event logs
// (Call.Events) record it when it is sent. Callers hold s.mu.
func (s *Server) emitLocked(ev obj, visible bool, rel ...*channel) {
	s.notifyLocked()
	sock := s.st.app.sock
	if sock == nil || !(visible || sock.subscribeAll) {
		return
	}
	ev = append(ev, kv{"asterisk_id", s.opts.EntityID}, kv{"application", s.opts.App})
	frame := encodeJSON(ev)
	sock.push(frame)
	typ, _ := ev[0].v.(string)
	if ev[0].k != "type" {
		typ = eventType(ev)
	}
	for _, c := range rel {
		if c != nil && c.call != nil {
			c.call.events = append(c.call.events, Event{Type: typ, JSON: frame})
		}
	}
}

func eventType(ev obj) string {
	for _, f := range ev {
		if f.k == "type" {
			t, _ := f.v.(string)
			return t
		}
	}
	return ""
}

// ---- event builders ----

func (s *Server) now() string { return ariTime(time.Now()) }

// chanEvent emits {type, timestamp, extra..., channel} about c.
func (s *Server) chanEvent(typ string, c *channel, extra ...kv) {
	ev := make(obj, 0, 6+len(extra))
	ev = append(ev, kv{"type", typ}, kv{"timestamp", s.now()})
	ev = append(ev, extra...)
	ev = append(ev, kv{"channel", c.json()})
	s.emitLocked(ev, c.watched, c)
}

func (s *Server) stateChange(c *channel, state string) {
	if c.state == state {
		return
	}
	c.state = state
	s.chanEvent("ChannelStateChange", c)
}

func (s *Server) varset(c *channel, name, value string) {
	s.emitLocked(obj{{"variable", name}, {"value", value}, {"type", "ChannelVarset"}, {"timestamp", s.now()}, {"channel", c.json()}}, c.watched, c)
}

func (s *Server) hangupRequest(c *channel, cause int, soft bool) {
	ev := obj{{"cause", cause}}
	if soft {
		ev = append(ev, kv{"soft", true})
	}
	ev = append(ev, kv{"type", "ChannelHangupRequest"}, kv{"timestamp", s.now()}, kv{"channel", c.json()})
	s.emitLocked(ev, c.watched, c)
}

// dialEvent emits Dial with peer p (the dialled channel).
func (s *Server) dialEvent(p *channel, status, dialstring string) {
	s.emitLocked(obj{{"type", "Dial"}, {"timestamp", s.now()}, {"dialstatus", status}, {"forward", ""}, {"dialstring", dialstring}, {"peer", p.json()}}, p.watched, p)
}

func (s *Server) dialplanEvent(c *channel, app, data string) {
	s.chanEvent("ChannelDialplan", c, kv{"dialplan_app", app}, kv{"dialplan_app_data", data})
}

func (s *Server) callerIDEvent(c *channel) {
	s.chanEvent("ChannelCallerId", c, kv{"caller_presentation", 0}, kv{"caller_presentation_txt", "Presentation Allowed, Not Screened"})
}
