package aritest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"github.com/CyCoreSystems/ari/v5/client/native"
	"golang.org/x/net/websocket"

	"github.com/rexian/rexian/ivr/aritest"
)

// The tests talk to the emulator the way the controller does: REST through
// the ari/v5 native client, events through golang.org/x/net/websocket with
// the native client's handshake (Origin http://localhost/, basic auth,
// app and subscribeAll in the query) decoded by ari.DecodeEvent. They do
// not use native.Connect's own reader: its Close races with its reconnect
// loop under the race detector (see TestNativeConnect).

const testTimeout = 60 * time.Second

// fast makes media and Asterisk seconds short so scenarios run quickly.
func fastOptions() aritest.Options {
	return aritest.Options{Second: 10 * time.Millisecond}
}

type harness struct {
	t   *testing.T
	srv *aritest.Server
	cl  *native.Client
	ctx context.Context
}

func newHarness(t *testing.T, opts aritest.Options) *harness {
	t.Helper()
	srv, err := aritest.New(opts)
	if err != nil {
		t.Fatalf("aritest.New: %v", err)
	}
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return &harness{t: t, srv: srv, cl: nativeREST(srv), ctx: ctx}
}

// nativeREST is a native client used for REST only (see above).
func nativeREST(srv *aritest.Server) *native.Client {
	return native.New(&native.Options{
		Application:  "hotline",
		URL:          srv.URL(),
		WebsocketURL: srv.WebsocketURL(),
		Username:     "hotline",
		Password:     "hotline",
	})
}

// key is a handle key the way the native client stamps them.
func key(kind, id string) *ari.Key { return ari.NewKey(kind, id) }

// do sends a raw REST request (for what the native client cannot express)
// and returns the status and body.
func (h *harness) do(method, path, body string) (int, string) {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(h.ctx, method, strings.TrimSuffix(h.srv.URL(), "/ari")+path, rd)
	if err != nil {
		h.t.Fatalf("request %s %s: %v", method, path, err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.SetBasicAuth("hotline", "hotline")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// stream is one event socket.
type stream struct {
	t    *testing.T
	ws   *websocket.Conn
	mu   sync.Mutex
	raw  [][]byte
	next int
	wake chan struct{}
	done chan struct{}
}

func (h *harness) connect(subscribeAll bool) *stream {
	h.t.Helper()
	u := h.srv.WebsocketURL() + "?app=hotline"
	if subscribeAll {
		u += "&subscribeAll=true"
	}
	cfg, err := websocket.NewConfig(u, "http://localhost/")
	if err != nil {
		h.t.Fatal(err)
	}
	cfg.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("hotline:hotline")))
	ws, err := websocket.DialConfig(cfg)
	if err != nil {
		h.t.Fatalf("websocket: %v", err)
	}
	st := &stream{t: h.t, ws: ws, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(st.done)
		for {
			var data []byte
			if err := websocket.Message.Receive(ws, &data); err != nil {
				return
			}
			st.mu.Lock()
			st.raw = append(st.raw, data)
			st.mu.Unlock()
			select {
			case st.wake <- struct{}{}:
			default:
			}
		}
	}()
	h.t.Cleanup(st.close)
	if err := h.srv.WaitConnected(h.ctx); err != nil {
		h.t.Fatal(err)
	}
	return st
}

func (st *stream) close() {
	_ = st.ws.Close()
	<-st.done
}

// frames returns every frame received so far.
func (st *stream) frames() [][]byte {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([][]byte(nil), st.raw...)
}

// await returns the next event (after the previous await) of one of the
// types, skipping others.
func (st *stream) await(ctx context.Context, types ...string) (ari.Event, []byte) {
	st.t.Helper()
	for {
		st.mu.Lock()
		for st.next < len(st.raw) {
			data := st.raw[st.next]
			st.next++
			ev, err := ari.DecodeEvent(data)
			if err != nil {
				st.mu.Unlock()
				st.t.Fatalf("decode %s: %v", data, err)
			}
			for _, typ := range types {
				if ev.GetType() == typ {
					st.mu.Unlock()
					return ev, data
				}
			}
		}
		st.mu.Unlock()
		select {
		case <-ctx.Done():
			st.t.Fatalf("waiting for %v: %v", types, ctx.Err())
		case <-st.done:
			st.t.Fatalf("waiting for %v: socket closed", types)
		case <-st.wake:
		}
	}
}

// waitCount waits until at least n frames of type typ arrived.
func (st *stream) waitCount(ctx context.Context, typ string, n int) {
	st.t.Helper()
	for {
		count := 0
		for _, f := range st.frames() {
			if eventTypeOf(f) == typ {
				count++
			}
		}
		if count >= n {
			return
		}
		select {
		case <-ctx.Done():
			st.t.Fatalf("waiting for %d %s: got %d", n, typ, count)
		case <-st.done:
			st.t.Fatalf("waiting for %d %s: socket closed", n, typ)
		case <-st.wake:
		}
	}
}

func eventTypeOf(frame []byte) string {
	var m struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(frame, &m)
	return m.Type
}

// stasisStart waits for the next StasisStart.
func (st *stream) stasisStart(ctx context.Context) *ari.StasisStart {
	st.t.Helper()
	ev, _ := st.await(ctx, ari.Events.StasisStart)
	ss, ok := ev.(*ari.StasisStart)
	if !ok {
		st.t.Fatalf("not a StasisStart: %T", ev)
	}
	return ss
}

// codeOf extracts the HTTP status from a native client error.
func codeOf(err error) int {
	var re native.RequestError
	if errors.As(err, &re) {
		return re.Code()
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if c, ok := e.(interface{ Code() int }); ok {
			return c.Code()
		}
		if c, ok := e.(interface{ Cause() error }); ok {
			if cc := codeOf(c.Cause()); cc != 0 {
				return cc
			}
		}
	}
	return native.CodeFromError(err)
}

func must(t *testing.T, err error, what string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(what, args...), err)
	}
}

// pollUntil checks cond every millisecond until it holds, ctx ends or
// limit passes. It is for conditions no event announces.
func pollUntil(ctx context.Context, limit time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// closeIdle drops the test client's idle keep-alive connections.
func closeIdle() {
	http.DefaultClient.CloseIdleConnections()
	if tr, ok := http.DefaultTransport.(*http.Transport); ok {
		tr.CloseIdleConnections()
	}
}
