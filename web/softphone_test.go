package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/live"
	"github.com/rexian/rexian/softphone"
)

// TestBrowserPhoneOff: without ari.softphone_ws the desk offers no browser phone, and
// asking for one anyway gets a clear answer.
func TestBrowserPhoneOff(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	csrf := c.login("op")
	_, desk := c.do("GET", "/console/desk", nil)
	if strings.Contains(desk, `id="device-browser"`) {
		t.Error("the desk offers the browser phone without ari.softphone_ws")
	}
	resp, body := c.do("POST", "/console/softphone/credentials", url.Values{"csrf_token": {csrf}})
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "未启用浏览器电话") {
		t.Errorf("credentials without a browser phone: %d %s", resp.StatusCode, body)
	}
	_, page := c.do("POST", "/console/queue/join", url.Values{"csrf_token": {csrf}, "device": {"browser"}})
	if !strings.Contains(page, "未启用浏览器电话") {
		t.Errorf("joining with the browser phone when there is none does not say so:\n%s", page)
	}
}

// TestBrowserPhoneCSP: with the browser phone the pages may connect to its WebSocket
// origin and nowhere else; the desk offers the choice.
func TestBrowserPhoneCSP(t *testing.T) {
	f := newFixture(t)
	store := openLive(t)
	iss, err := softphone.New(softphone.Options{Nodes: []string{"http://127.0.0.1:1"}, WS: "wss://pbx.example:8089/ws", Live: store,
		Alive: func(context.Context, string) (bool, error) { return true, nil }})
	if err != nil {
		t.Fatal(err)
	}
	f.h.opts.Softphone = iss
	c := f.client()
	c.login("op")
	resp, desk := c.do("GET", "/console/desk", nil)
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "connect-src 'self' wss://pbx.example:8089;") {
		t.Errorf("Content-Security-Policy %q; want connect-src 'self' wss://pbx.example:8089", csp)
	}
	if !strings.Contains(desk, `id="device-browser"`) {
		t.Error("the desk does not offer the browser phone")
	}
}

// TestDeskNamesTheBrowserPhone: an operator on the browser phone reads 浏览器电话 on the
// desk, in their own line and in the live panel, not the endpoint's name; a desk phone
// keeps its dial string.
func TestDeskNamesTheBrowserPhone(t *testing.T) {
	f := newFixture(t)
	store := openLive(t)
	now := f.clock.Now()
	picture, err := json.Marshal(ivr.Snapshot{At: now, Agents: []ivr.Agent{
		{User: "op", Name: "op", Phone: "PJSIP/webrtc-0123456789abcdef", State: ivr.AgentReady, Since: now},
		{User: "sup", Name: "sup", Phone: "PJSIP/8003", State: ivr.AgentReady, Since: now},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Set(f.env.Ctx, store.Key("ivr:snapshot"), picture, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	opts := f.h.opts.IVR
	opts.Live = ivr.NewLive(store, opts.Log)
	f.h.phone = newTelephone(opts)

	c := f.client()
	c.login("op")
	_, desk := c.do("GET", "/console/desk", nil)
	if !strings.Contains(desk, `接听方式 <strong id="my-phone">浏览器电话</strong>`) {
		t.Errorf("the operator's own line does not say 浏览器电话:\n%s", desk)
	}
	if !strings.Contains(desk, `<td>op</td><td>浏览器电话</td>`) {
		t.Errorf("the live panel does not say 浏览器电话 for op")
	}
	if !strings.Contains(desk, `<td>sup</td><td>PJSIP/8003</td>`) {
		t.Errorf("the live panel does not show sup's desk phone")
	}
	if strings.Contains(desk, "webrtc-") {
		t.Errorf("the desk shows the browser phone's endpoint name")
	}
}

// openLive is an in-process live store for one test.
func openLive(t *testing.T) *live.Store {
	t.Helper()
	store, err := live.Open(context.Background(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}
