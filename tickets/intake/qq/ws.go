package qq

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// hub holds the reverse WebSocket connections, by bot account, for API calls.
type hub struct {
	mu    sync.Mutex
	conns map[ID]*wsConn
	all   map[*wsConn]bool
}

func newHub() *hub { return &hub{conns: map[ID]*wsConn{}, all: map[*wsConn]bool{}} }

func (h *hub) get(self ID) *wsConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conns[self]
}

func (h *hub) add(c *wsConn, forAPI bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.all[c] = true
	if forAPI {
		h.conns[c.self] = c // the newest connection of a bot wins
	}
}

func (h *hub) remove(c *wsConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.all, c)
	if h.conns[c.self] == c {
		delete(h.conns, c.self)
	}
}

// closeAll ends every connection, at shutdown; the bots reconnect to another instance.
func (h *hub) closeAll() {
	h.mu.Lock()
	conns := make([]*wsConn, 0, len(h.all))
	for c := range h.all {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// wsConn is one reverse WebSocket from a OneBot implementation. gorilla allows one
// writer at a time, so writes take wmu; API answers are matched to calls by echo.
type wsConn struct {
	conn *websocket.Conn
	self ID
	log  *slog.Logger

	wmu     sync.Mutex
	pmu     sync.Mutex
	pending map[string]chan apiResponse
	seq     atomic.Uint64
	done    chan struct{}
	once    sync.Once
}

func newWSConn(conn *websocket.Conn, self ID, log *slog.Logger) *wsConn {
	return &wsConn{conn: conn, self: self, log: log, pending: map[string]chan apiResponse{}, done: make(chan struct{})}
}

func (c *wsConn) close() {
	c.once.Do(func() {
		close(c.done)
		c.wmu.Lock()
		_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "server stopping"), time.Now().Add(time.Second))
		c.wmu.Unlock()
		_ = c.conn.Close()
	})
}

// call sends an API request and waits for its answer.
func (c *wsConn) call(ctx context.Context, action string, params any) (apiResponse, error) {
	echo := "rexian-" + strconv.FormatUint(c.seq.Add(1), 10)
	ch := make(chan apiResponse, 1)
	c.pmu.Lock()
	c.pending[echo] = ch
	c.pmu.Unlock()
	defer func() {
		c.pmu.Lock()
		delete(c.pending, echo)
		c.pmu.Unlock()
	}()
	req := map[string]any{"action": action, "params": params, "echo": echo}
	c.wmu.Lock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	err := c.conn.WriteJSON(req)
	c.wmu.Unlock()
	if err != nil {
		return apiResponse{}, fmt.Errorf("onebot %s over websocket: %w", action, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	select {
	case r := <-ch:
		return r, nil
	case <-c.done:
		return apiResponse{}, fmt.Errorf("onebot %s: %w", action, errClosed)
	case <-ctx.Done():
		return apiResponse{}, fmt.Errorf("onebot %s: no answer: %w", action, ctx.Err())
	}
}

// answer hands an API answer to the call waiting for it; it reports whether one was.
func (c *wsConn) answer(r apiResponse) bool {
	var echo string
	if err := json.Unmarshal(r.Echo, &echo); err != nil {
		echo = string(r.Echo)
	}
	c.pmu.Lock()
	ch, ok := c.pending[echo]
	c.pmu.Unlock()
	if ok {
		ch <- r
	}
	return ok
}
