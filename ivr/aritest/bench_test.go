package aritest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v5"
	"golang.org/x/net/websocket"

	"github.com/rexian/rexian/ivr/aritest"
)

// BenchmarkConcurrentCalls runs b.N scripted calls, 1,000 at a time,
// through the native client: the citizen dials in, a small controller
// answers, plays a prompt, originates to an operator, bridges both and
// hangs up. ns/op and allocs/op are per call (emulator and client
// together); event-reply-p50/p99-ms is the time from an event reaching the
// controller's socket to the reply to its REST request, the figure the
// controller's own benchmark must keep under 20 ms.
//
// The native client sends REST requests through http.DefaultTransport,
// which keeps only 2 idle connections per host: with 1,000 calls in flight
// that opens and closes a connection per request and soon runs out of
// local ports, so the benchmark (and the controller) raise
// MaxIdleConnsPerHost and MaxIdleConns.
func BenchmarkConcurrentCalls(b *testing.B) {
	concurrency := benchConcurrency()
	tr := http.DefaultTransport.(*http.Transport)
	oldPerHost, oldTotal := tr.MaxIdleConnsPerHost, tr.MaxIdleConns
	tr.MaxIdleConnsPerHost, tr.MaxIdleConns = concurrency, 2*concurrency
	defer func() { tr.MaxIdleConnsPerHost, tr.MaxIdleConns = oldPerHost, oldTotal }()

	h := newBenchHarness(b)
	ctl := newMiniController(b, h)
	h.srv.SetPhone("PJSIP/operator", aritest.Phone{})

	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	var failures atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	// With calls held, arrivals are spread evenly (hold/concurrency apart)
	// so that about `concurrency` calls are up at once in a steady state,
	// instead of waves that start and end together.
	var gap time.Duration
	if hold := benchHold(); hold > 0 {
		gap = hold / time.Duration(concurrency)
	}
	next := time.Now()
	for i := range b.N {
		if gap > 0 {
			next = next.Add(gap)
			if d := time.Until(next); d > 0 {
				time.Sleep(d) // pacing arrivals, not waiting for an event
			}
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := ctl.call(h.ctx, i); err != nil {
				if failures.Add(1) == 1 {
					b.Errorf("call %d: %v", i, err)
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	lat := ctl.latencies()
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2])/1e6, "event-reply-p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100])/1e6, "event-reply-p99-ms")
	}
	if d := ctl.deliveries(); len(d) > 0 {
		b.ReportMetric(float64(d[len(d)*99/100])/1e6, "event-delivery-p99-ms")
	}
	b.ReportMetric(float64(h.srv.Requests())/float64(b.N), "requests/call")
	if n := failures.Load(); n > 0 {
		b.Fatalf("%d of %d calls failed", n, b.N)
	}
	if left := len(h.srv.Channels()); left != 0 {
		b.Fatalf("%d channels left", left)
	}
}

type benchHarness struct {
	*harness
	st *stream
}

func newBenchHarness(b *testing.B) *benchHarness {
	opts := aritest.Options{
		MediaDuration: func(string) time.Duration { return time.Millisecond },
		Second:        time.Second,
	}
	srv, err := aritest.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	b.Cleanup(cancel)
	h := &harness{srv: srv, ctx: ctx}
	h.cl = nativeREST(srv)
	return &benchHarness{harness: h}
}

// miniController is the smallest controller that does what the hotline
// does per call; one socket, events routed by channel or playback id.
type miniController struct {
	h      *benchHarness
	ws     *benchSocket
	mu     sync.Mutex
	routes map[string]chan routed
	stash  map[string][]routed
	lat    []time.Duration
	// delivery is how long events took from the emulator's timestamp
	// to the controller's socket reader.
	delivery []time.Duration
}

type routed struct {
	typ string
	at  time.Time
}

func newMiniController(b *testing.B, h *benchHarness) *miniController {
	c := &miniController{h: h, routes: map[string]chan routed{}, stash: map[string][]routed{}}
	ws, err := dialBenchSocket(h.srv, c.dispatch)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(ws.close)
	c.ws = ws
	if err := h.srv.WaitConnected(h.ctx); err != nil {
		b.Fatal(err)
	}
	return c
}

func (c *miniController) dispatch(frame []byte) {
	at := time.Now()
	var ev struct {
		Type      string `json:"type"`
		Timestamp string `json:"timestamp"`
		Channel   *struct {
			ID string `json:"id"`
		} `json:"channel"`
		Playback *struct {
			ID string `json:"id"`
		} `json:"playback"`
	}
	if json.Unmarshal(frame, &ev) != nil {
		return
	}
	if ts, err := time.Parse(ari.DateFormat, ev.Timestamp); err == nil {
		// Millisecond timestamps: the delay is known to a millisecond.
		c.mu.Lock()
		c.delivery = append(c.delivery, at.Sub(ts))
		c.mu.Unlock()
	}
	id := ""
	switch {
	case ev.Playback != nil:
		id = ev.Playback.ID
	case ev.Channel != nil:
		id = ev.Channel.ID
	default:
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.routes[id]; ok {
		select {
		case ch <- routed{ev.Type, at}:
		default:
		}
		return
	}
	c.stash[id] = append(c.stash[id], routed{ev.Type, at})
}

func (c *miniController) route(id string) chan routed {
	ch := make(chan routed, 64)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.routes[id] = ch
	for _, r := range c.stash[id] {
		ch <- r
	}
	delete(c.stash, id)
	return ch
}

func (c *miniController) unroute(ids ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		delete(c.routes, id)
		delete(c.stash, id)
	}
}

func (c *miniController) record(since time.Time) {
	d := time.Since(since)
	c.mu.Lock()
	c.lat = append(c.lat, d)
	c.mu.Unlock()
}

func (c *miniController) latencies() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Clone(c.lat)
	slices.Sort(out)
	return out
}

func (c *miniController) deliveries() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Clone(c.delivery)
	slices.Sort(out)
	return out
}

func await(ctx context.Context, ch chan routed, typ string) (routed, error) {
	for {
		select {
		case r := <-ch:
			if r.typ == typ {
				return r, nil
			}
		case <-ctx.Done():
			return routed{}, fmt.Errorf("waiting for %s: %w", typ, ctx.Err())
		}
	}
}

// call is one citizen's call, end to end.
func (c *miniController) call(ctx context.Context, i int) error {
	srv, cl := c.h.srv, c.h.cl
	call, err := srv.Dial(ctx, aritest.Caller{Number: "1390000" + strconv.Itoa(1000+i%9000), Dialled: "12345"})
	if err != nil {
		return err
	}
	events := c.route(call.ID())
	defer c.unroute(call.ID())
	ss, err := await(ctx, events, "StasisStart")
	if err != nil {
		return err
	}
	ch := cl.Channel().Get(key(ari.ChannelKey, call.ID()))
	if err := ch.Answer(); err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	c.record(ss.at)

	pbID := "pb-" + call.ID()
	played := c.route(pbID)
	defer c.unroute(pbID)
	if _, err := ch.Play(pbID, "sound:welcome"); err != nil {
		return fmt.Errorf("play: %w", err)
	}
	fin, err := await(ctx, played, "PlaybackFinished")
	if err != nil {
		return err
	}
	br, err := cl.Bridge().Create(key(ari.BridgeKey, ""), "mixing", "queue-"+call.ID())
	if err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	c.record(fin.at)
	if err := br.AddChannel(call.ID()); err != nil {
		return fmt.Errorf("add caller: %w", err)
	}
	opID := "op-" + call.ID()
	opEvents := c.route(opID)
	defer c.unroute(opID)
	if _, err := cl.Channel().Originate(nil, ari.OriginateRequest{Endpoint: "PJSIP/operator", App: "hotline", AppArgs: "agent", ChannelID: opID, Timeout: 30}); err != nil {
		return fmt.Errorf("originate: %w", err)
	}
	opStart, err := await(ctx, opEvents, "StasisStart")
	if err != nil {
		return err
	}
	if err := br.AddChannel(opID); err != nil {
		return fmt.Errorf("add operator: %w", err)
	}
	c.record(opStart.at)
	if hold := benchHold(); hold > 0 {
		// The conversation: both parties idle in the bridge.
		t := time.NewTimer(hold)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	if err := ch.Hangup(); err != nil {
		return fmt.Errorf("hangup caller: %w", err)
	}
	end, err := await(ctx, events, "StasisEnd")
	if err != nil {
		return err
	}
	if err := cl.Channel().Get(key(ari.ChannelKey, opID)).Hangup(); err != nil {
		return fmt.Errorf("hangup operator: %w", err)
	}
	c.record(end.at)
	if err := br.Delete(); err != nil {
		return fmt.Errorf("delete bridge: %w", err)
	}
	select {
	case <-call.Done():
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// benchSocket is an event socket whose frames go to a callback.
type benchSocket struct {
	ws   *websocket.Conn
	done chan struct{}
}

func dialBenchSocket(srv *aritest.Server, fn func([]byte)) (*benchSocket, error) {
	cfg, err := websocket.NewConfig(srv.WebsocketURL()+"?app=hotline", "http://localhost/")
	if err != nil {
		return nil, err
	}
	cfg.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("hotline:hotline")))
	ws, err := websocket.DialConfig(cfg)
	if err != nil {
		return nil, err
	}
	s := &benchSocket{ws: ws, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			var data []byte
			if err := websocket.Message.Receive(ws, &data); err != nil {
				return
			}
			fn(data)
		}
	}()
	return s, nil
}

func (s *benchSocket) close() {
	_ = s.ws.Close()
	<-s.done
}

// benchHold is how long each call stays bridged (ARITEST_BENCH_HOLD, a
// Go duration; default 0: hang up at once, which saturates the machine).
func benchHold() time.Duration {
	d, _ := time.ParseDuration(os.Getenv("ARITEST_BENCH_HOLD"))
	return d
}

// benchConcurrency is 1,000 unless ARITEST_BENCH_CONCURRENCY says otherwise.
func benchConcurrency() int {
	if n, err := strconv.Atoi(os.Getenv("ARITEST_BENCH_CONCURRENCY")); err == nil && n > 0 {
		return n
	}
	return 1000
}
