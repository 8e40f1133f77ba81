package ivr

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rexian/rexian/live"
)

// Live state: the controller's picture (lines, operators, waiting callers) is copied to
// Redis so that every rexian instance and every screen sees the same, and changes are
// published for live screens. Redis is a copy, never the authority: when it is down the
// controller goes on answering calls, and the copy is rewritten when it returns.

// Message is what live screens receive (server-sent events): a screen-pop for an
// operator, a call's progress, or the live snapshot.
type Message struct {
	Type   string    `json:"type"` // screen_pop, call, snapshot
	At     time.Time `json:"at"`
	Origin string    `json:"origin"`
	// For is the operator a screen-pop is meant for ("" = everyone allowed to watch).
	For      string     `json:"for,omitempty"`
	Pop      *ScreenPop `json:"screen_pop,omitempty"`
	Call     *CallEvent `json:"call,omitempty"`
	Snapshot *Snapshot  `json:"snapshot,omitempty"`
}

// command is an operator action taken on another instance, applied by the controller.
type command struct {
	Op     string   `json:"op"` // login, logout, ready, pause, transfer
	User   string   `json:"user"`
	Name   string   `json:"name,omitempty"`
	Phone  string   `json:"phone,omitempty"`
	Skills []string `json:"skills,omitempty"`
	Reason string   `json:"reason,omitempty"`
	CallID uint64   `json:"call_id,omitempty"`
	Target string   `json:"target,omitempty"`
	Origin string   `json:"origin"`
}

const (
	keySnapshot = "ivr:snapshot"
	// keyAgents holds the operators logged in, without expiry: the snapshot expires
	// (a picture nobody refreshes is stale), but who is logged in must outlive a
	// controller that died, for the one that takes over (restoreAgents).
	keyAgents    = "ivr:agents"
	chanEvents   = "ivr:events"
	chanCommands = "ivr:commands"
)

// Hub fans messages out to the subscribers on this instance (SSE connections).
type Hub struct {
	mu   sync.Mutex
	subs map[chan Message]struct{}
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{subs: map[chan Message]struct{}{}} }

// Subscribe returns a channel of messages and its cancel function. A subscriber that
// does not keep up loses messages rather than slowing the controller down.
func (h *Hub) Subscribe() (<-chan Message, func()) {
	ch := make(chan Message, 64)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		if _, ok := h.subs[ch]; ok {
			delete(h.subs, ch)
			close(ch)
		}
		h.mu.Unlock()
	}
}

// Subscribers is how many streams are listening on this instance.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

func (h *Hub) publish(m Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- m:
		default:
		}
	}
}

// Live connects an instance to the shared live state: any instance can read the picture,
// subscribe to messages and send operator commands; the instance running the controller
// also writes the picture and applies commands.
type Live struct {
	store  *live.Store
	hub    *Hub
	origin string
	log    *slog.Logger
}

// NewLive builds the live-state access of one instance. store may be nil.
func NewLive(store *live.Store, log *slog.Logger) *Live {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &Live{store: store, hub: NewHub(), origin: hex.EncodeToString(b[:]), log: log}
}

// Hub is this instance's fan-out of live messages.
func (l *Live) Hub() *Hub { return l.hub }

// Snapshot reads the shared picture (nil when nothing is there or Redis is down).
func (l *Live) Snapshot(ctx context.Context) (*Snapshot, error) {
	if l.store == nil {
		return nil, nil
	}
	data, err := l.store.Get(ctx, l.store.Key(keySnapshot)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s Snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Agents reads the operators the controller last wrote as logged in (nil when none is
// known or Redis is down).
func (l *Live) Agents(ctx context.Context) ([]Agent, error) {
	if l.store == nil {
		return nil, nil
	}
	data, err := l.store.Get(ctx, l.store.Key(keyAgents)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var agents []Agent
	if err := json.Unmarshal(data, &agents); err != nil {
		return nil, err
	}
	return agents, nil
}

// send publishes an operator command for the controller instance.
func (l *Live) send(ctx context.Context, cmd command) error {
	if l.store == nil {
		return errors.New("no live store")
	}
	cmd.Origin = l.origin
	data, _ := json.Marshal(cmd)
	n, err := l.store.Publish(ctx, l.store.Key(chanCommands), data).Result()
	if err != nil {
		return err
	}
	if n == 0 {
		return errNoReceiver
	}
	return nil
}

// errNoReceiver: no instance controls the calls at this moment to take a command (only
// the active one listens): a take-over is under way, or none runs.
var errNoReceiver = errors.New("no controller listens")

// Relay copies messages published by other instances' controllers into this instance's
// hub until ctx ends. go-redis re-subscribes by itself after Redis comes back.
func (l *Live) Relay(ctx context.Context) {
	if l.store == nil {
		return
	}
	ps := l.store.Subscribe(ctx, l.store.Key(chanEvents))
	defer ps.Close()
	ch := ps.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			var msg Message
			if json.Unmarshal([]byte(m.Payload), &msg) != nil || msg.Origin == l.origin {
				continue // ours: already delivered locally
			}
			l.hub.publish(msg)
		}
	}
}

// liveState is the controller's side: it mirrors the snapshot and publishes messages.
type liveState struct {
	*Live
	dirty    chan struct{}
	snapshot func() Snapshot
	apply    func(command)
	// active reports whether this instance controls calls: a standby neither writes the
	// picture (it would overwrite the active one's) nor applies operators' commands.
	active  func() bool
	downLog atomic.Int64 // unix nanoseconds of the last "Redis down" warning
}

func newLiveState(store *live.Store, log *slog.Logger) *liveState {
	return &liveState{Live: NewLive(store, log), dirty: make(chan struct{}, 1)}
}

// touch marks the picture changed; the mirror goroutine coalesces bursts of changes.
func (s *liveState) touch() {
	select {
	case s.dirty <- struct{}{}:
	default:
	}
}

// emit sends a message to this instance's screens and, through Redis, to the others'.
func (s *liveState) emit(ctx context.Context, m Message) {
	m.Origin = s.origin
	s.hub.publish(m)
	if s.store == nil {
		return
	}
	data, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	if err := s.store.Publish(ctx, s.store.Key(chanEvents), data).Err(); err != nil {
		s.redisDown(err)
	}
}

func (s *liveState) redisDown(err error) {
	last := s.downLog.Load()
	if now := time.Now().UnixNano(); now-last > int64(time.Minute) && s.downLog.CompareAndSwap(last, now) {
		s.log.Warn("ivr: live store unreachable; calls go on, screens on other instances are stale until it returns", "err", err)
	}
}

// run mirrors the picture (on change, at most 10 times a second, and every 10 s so that
// a Redis that restarted empty is refilled) and applies commands from other instances.
func (s *liveState) run(ctx context.Context) {
	if s.store != nil {
		go s.commands(ctx)
	}
	refresh := time.NewTicker(10 * time.Second)
	defer refresh.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.dirty:
		case <-refresh.C:
		}
		if s.snapshot == nil || (s.active != nil && !s.active()) {
			continue
		}
		snap := s.snapshot()
		s.hub.publish(Message{Type: "snapshot", At: snap.At, Origin: s.origin, Snapshot: &snap})
		if s.store != nil {
			data, _ := json.Marshal(snap)
			wctx, cancel := context.WithTimeout(ctx, time.Second)
			err := s.store.Set(wctx, s.store.Key(keySnapshot), data, time.Minute).Err()
			if err == nil {
				agents, _ := json.Marshal(snap.Agents)
				err = s.store.Set(wctx, s.store.Key(keyAgents), agents, 0).Err()
			}
			if err == nil {
				msg, _ := json.Marshal(Message{Type: "snapshot", At: snap.At, Origin: s.origin, Snapshot: &snap})
				err = s.store.Publish(wctx, s.store.Key(chanEvents), msg).Err()
			}
			cancel()
			if err != nil {
				s.redisDown(err)
			}
		}
		select { // coalesce: at most ten pictures a second
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *liveState) commands(ctx context.Context) {
	// Only an instance that controls the calls listens, so that a command published
	// while none does (the take-over after a kill) reaches nobody and its sender says so
	// (errNoReceiver) instead of its being dropped by a standby.
	key := s.store.Key(chanCommands)
	ps := s.store.Subscribe(ctx)
	defer ps.Close()
	ch := ps.Channel()
	listening := false
	check := time.NewTicker(100 * time.Millisecond)
	defer check.Stop()
	for {
		if want := s.active == nil || s.active(); want != listening {
			var err error
			if want {
				err = ps.Subscribe(ctx, key)
			} else {
				err = ps.Unsubscribe(ctx, key)
			}
			if err == nil {
				listening = want
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-check.C:
		case m, ok := <-ch:
			if !ok {
				return
			}
			var cmd command
			if err := json.Unmarshal([]byte(m.Payload), &cmd); err != nil || cmd.Origin == s.origin {
				continue
			}
			if s.apply != nil && (s.active == nil || s.active()) {
				s.apply(cmd)
			}
		}
	}
}
