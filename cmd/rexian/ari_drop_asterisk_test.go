package main

import (
	"context"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/ivr/asterisktest"
)

// cutProxy forwards TCP connections to target. cut closes every connection open at that
// moment and refuses new ones for a pause, as a network blip between rexian and Asterisk
// would, while Asterisk itself keeps running.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  map[net.Conn]bool
	refuse time.Time
	cuts   int // connections closed by cut
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.cut(0)
	})
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refused := time.Now().Before(p.refuse)
		p.mu.Unlock()
		if refused {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			dst.Close()
			src.Close()
			p.mu.Lock()
			delete(p.conns, dst)
			delete(p.conns, src)
			p.mu.Unlock()
		}
		go pipe(up, c)
		go pipe(c, up)
	}
}

// cut closes every open connection and refuses new ones for pause.
func (p *cutProxy) cut(pause time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = time.Now().Add(pause)
	for c := range p.conns {
		c.Close()
		p.cuts++
	}
}

// queueCallers returns call, which places a citizen's call from caller who presses 1 for
// an operator and talks for speak, and result, which waits for that call's end.
func (tel *telephony) queueCallers(ctx context.Context) (call func(caller string, speak time.Duration), result func(caller string) asterisktest.Result) {
	results := map[string]chan asterisktest.Result{}
	call = func(caller string, speak time.Duration) {
		done := make(chan asterisktest.Result, 1)
		results[caller] = done
		go func() {
			done <- tel.ast.Carrier(ctx, asterisktest.Citizen{Steps: []asterisktest.Step{asterisktest.Press("1"), asterisktest.Speak(speak)}}, caller)
		}()
	}
	return call, func(caller string) asterisktest.Result { return <-results[caller] }
}

// TestAsteriskARIConnectionDrop: the connection between rexian and Asterisk (the ARI
// WebSocket and every REST connection) drops for two seconds while Asterisk and rexian
// both keep running, with one citizen talking to phone 8001 and another waiting in the
// queue. rexian connects again on its own; the conversation goes on, the waiting caller
// keeps their record and place and reaches the operator, a new call after the drop is
// answered, and every call has one record, answered.
func TestAsteriskARIConnectionDrop(t *testing.T) {
	t.Parallel()
	tel := startAsterisk(t, asterisktest.Options{})
	u, err := url.Parse(tel.ast.ARIURL())
	if err != nil {
		t.Fatal(err)
	}
	px := newCutProxy(t, u.Host)
	for i, kv := range tel.env {
		if strings.HasPrefix(kv, "REXIAN_ARI_URL=") {
			tel.env[i] = "REXIAN_ARI_URL=http://" + px.addr()
		}
	}
	tel.start(t, fastQueues)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	answered := answering(ctx, tel.operatorPhone(t, ctx, "8001"), 3, 0)
	const talking, waiting, later = "13900139031", "13900139032", "13900139033"
	call, result := tel.queueCallers(ctx)
	call(talking, 10*time.Second)
	pollRecord(t, ctx, tel, talking, "talks", func(r ivr.Record) bool { return r.ConnectedAt != nil })
	call(waiting, 25*time.Second)
	before := pollRecord(t, ctx, tel, waiting, "waits", func(r ivr.Record) bool { return r.QueuedAt != nil })

	px.cut(2 * time.Second)
	if px.cuts == 0 {
		t.Fatal("the proxy had no connection to cut: rexian does not reach Asterisk through it")
	}
	if err := tel.ast.WaitApp(ctx, testConfig(t, tel.env).ARI.App); err != nil {
		t.Fatalf("rexian's application never came back to Asterisk: %v", err)
	}
	if r := result(talking); r.Err != nil {
		t.Errorf("the conversation across the drop: %v\n%s", r.Err, r.Output)
	}
	if r := result(waiting); r.Err != nil {
		t.Errorf("the waiting caller: %v\n%s", r.Err, r.Output)
	}
	call(later, 3*time.Second)
	if r := result(later); r.Err != nil {
		t.Errorf("a call after the drop: %v\n%s", r.Err, r.Output)
	}
	if r := answered(); r.Err != nil {
		t.Errorf("phone 8001: %v\n%s", r.Err, r.Output)
	}
	for _, caller := range []string{talking, waiting, later} {
		tel.ended(t, caller, nil)
		if recs := tel.calls(t, caller); len(recs) != 1 || recs[0].Outcome != ivr.OutcomeAnswered {
			t.Errorf("records of %s: %+v; want one, answered", caller, recs)
		}
	}
	after := tel.calls(t, waiting)[0]
	if after.ID != before.ID || after.Queue != before.Queue || after.QueuedAt == nil || !after.QueuedAt.Equal(*before.QueuedAt) {
		t.Errorf("the waiting caller's record went from %+v to %+v; want the same record, queue and arrival", before, after)
	}
}
