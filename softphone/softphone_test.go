package softphone_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rexian/rexian/ivr/asterisktest"
	"github.com/rexian/rexian/live"
	"github.com/rexian/rexian/softphone"
)

// TestIssueAndRevokeOnAsterisk runs the real Asterisk with deploy/asterisk: a session's
// browser phone is created over ARI (the memory wizard of sorcery.conf), asking again
// gives the same credentials, an Asterisk that lost it gets it back, and once the
// session is over the sweep deletes it and tells who held it.
func TestIssueAndRevokeOnAsterisk(t *testing.T) {
	ast := asterisktest.Start(t, asterisktest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store, err := live.Open(ctx, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var mu sync.Mutex
	alive := map[string]bool{"sess-a": true}
	var revoked []string
	iss, err := softphone.New(softphone.Options{
		Nodes: []string{ast.ARIURL()}, User: ast.ARIUser(), Password: ast.ARIPassword(),
		WS: "ws://127.0.0.1:8088/ws", Live: store,
		Alive: func(_ context.Context, id string) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			return alive[id], nil
		},
		Revoked: func(_ context.Context, user, phone string) { revoked = append(revoked, user+" "+phone) },
	})
	if err != nil {
		t.Fatal(err)
	}
	cr, err := iss.Issue(ctx, "sess-a", "wangli", "王丽")
	if err != nil {
		t.Fatal(err)
	}
	ep := softphone.EndpointFor("sess-a")
	if cr.Endpoint != ep || cr.Phone != "PJSIP/"+ep || cr.URI != "sip:"+ep+"@127.0.0.1" || len(cr.Password) < 24 {
		t.Fatalf("credentials %+v", cr)
	}
	show := func() string {
		out, _ := ast.CLI(ctx, "pjsip show endpoint "+ep)
		return out
	}
	if out := show(); !strings.Contains(out, "webrtc") || !strings.Contains(out, "media_encryption") || !strings.Contains(out, ": dtls") {
		t.Fatalf("Asterisk's endpoint %s is not a WebRTC one:\n%s", ep, out)
	}
	again, err := iss.Issue(ctx, "sess-a", "wangli", "王丽")
	if err != nil || again != cr {
		t.Fatalf("issued again: %+v, %v; want %+v", again, err, cr)
	}
	// An Asterisk restart loses what is in memory; issuing puts it back.
	for _, typ := range []string{"endpoint", "aor", "auth"} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, ast.ARIURL()+"/ari/asterisk/config/dynamic/res_pjsip/"+typ+"/"+ep, nil)
		req.SetBasicAuth(ast.ARIUser(), ast.ARIPassword())
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusNoContent {
			t.Fatalf("DELETE %s: %v %v", typ, resp, err)
		}
		resp.Body.Close()
	}
	if out := show(); !strings.Contains(out, "Unable to find") {
		t.Fatalf("endpoint still there after DELETE:\n%s", out)
	}
	if _, err := iss.Issue(ctx, "sess-a", "wangli", "王丽"); err != nil || strings.Contains(show(), "Unable to find") {
		t.Fatalf("issue after loss: %v\n%s", err, show())
	}
	if n, err := iss.Sweep(ctx); n != 0 || err != nil {
		t.Fatalf("sweep of a live session: %d, %v", n, err)
	}
	mu.Lock()
	alive["sess-a"] = false
	mu.Unlock()
	if n, err := iss.Sweep(ctx); n != 1 || err != nil {
		t.Fatalf("sweep of an ended session: %d, %v", n, err)
	}
	if out := show(); !strings.Contains(out, "Unable to find") {
		t.Errorf("endpoint %s still in Asterisk after the session ended:\n%s", ep, out)
	}
	if len(revoked) != 1 || revoked[0] != "wangli PJSIP/"+ep {
		t.Errorf("revoked %q", revoked)
	}
	if err := iss.Revoke(ctx, "sess-a"); err != nil {
		t.Errorf("revoking twice: %v", err)
	}
	if errs := ast.Errors(); len(errs) > 0 {
		t.Errorf("Asterisk logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

func TestNewRefusesABadURL(t *testing.T) {
	store := &live.Store{}
	_, err := softphone.New(softphone.Options{Nodes: []string{"http://x"}, WS: "http://pbx/ws", Live: store,
		Alive: func(context.Context, string) (bool, error) { return true, nil }})
	if err == nil {
		t.Fatal("an http:// WebSocket URL was accepted")
	}
}
