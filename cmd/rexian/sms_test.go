package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rexian/rexian/sms/kannel/kanneltest"
)

// TestSMSThroughKannel runs the platform as `serve` does with the real Kannel and its fake
// SMS centre: a ticket registered for a mobile citizen sends the receipt, the delivery
// report comes back, and an inbound 退订 puts the number on the suppression list.
func TestSMSThroughKannel(t *testing.T) {
	// rexian's address must be known before Kannel starts (Kannel posts inbound
	// messages to it) and Kannel's before rexian starts: take a free port first.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	const secret = "kannel-callback-secret-0123"
	k := kanneltest.Start(t, kanneltest.Options{
		MOURL: "http://" + addr + "/sms/kannel/mo?secret=" + secret, MORecode: true, LogLevel: 3,
	})
	env := testEnv(t, "")
	if code, _, stderr := runCLI(t, env, "", "seed", "--demo"); code != exitOK {
		t.Fatalf("seed --demo: exit %d: %s", code, stderr)
	}
	code, tok, stderr := runCLI(t, env, "", "tokens", "create", "--name", "desk", "--role", "operator")
	if code != exitOK {
		t.Fatalf("tokens create: %s", stderr)
	}
	bearer := "Bearer " + strings.TrimSpace(tok)
	code, tok, stderr = runCLI(t, env, "", "tokens", "create", "--name", "boss", "--role", "supervisor")
	if code != exitOK {
		t.Fatalf("tokens create: %s", stderr)
	}
	supervisor := "Bearer " + strings.TrimSpace(tok)
	cfg := testConfig(t, append(env,
		"REXIAN_ADDR="+addr,
		"REXIAN_PUBLIC_URL=http://"+addr,
		"REXIAN_SMS_KANNEL_URL="+k.URL(),
		"REXIAN_SMS_KANNEL_USER="+k.User(),
		"REXIAN_SMS_KANNEL_PASSWORD="+k.Password(),
		"REXIAN_SMS_CALLBACK_SECRET="+secret,
		"REXIAN_SMS_POLL_INTERVAL=50ms",
	))
	r := startApp(t, cfg)

	as := func(who, method, path, body string) map[string]any {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, method, r.base+"/api/v1"+path, bytes.NewReader([]byte(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", who)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s = %d %s", method, path, resp.StatusCode, out)
		}
		var m map[string]any
		_ = json.Unmarshal(out, &m)
		return m
	}
	api := func(method, path, body string) map[string]any {
		t.Helper()
		return as(bearer, method, path, body)
	}
	ticket := api("POST", "/tickets", `{"citizen":{"name":"张女士","phone":"13912345678"},"content":"小区暖气不热","category":"TS-GN"}`)
	number := ticket["number"].(string)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	msgs, err := k.WaitReceived(ctx, 1)
	if err != nil {
		t.Fatalf("no receipt reached the SMS centre: %v", err)
	}
	if m := msgs[0]; m.To != "13912345678" || !strings.Contains(m.Text, number) {
		t.Fatalf("the SMS centre got %+v; want the receipt with %s for 13912345678", m, number)
	}
	eventually(t, "the receipt is delivered (the report came back through Kannel)", func() bool {
		list := api("GET", "/sms/messages?ticket="+number, "")
		items, _ := list["messages"].([]any)
		if len(items) != 1 {
			return false
		}
		m, _ := items[0].(map[string]any)
		return m["status"] == "delivered"
	})

	// The citizen opts out by SMS; the number lands on the suppression list.
	if err := k.Inject(ctx, "13912345678", "12345", "退订", true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the opt-out reaches the suppression list", func() bool {
		list := as(supervisor, "GET", "/sms/suppressions", "")
		b, _ := json.Marshal(list)
		return strings.Contains(string(b), "13912345678")
	})

	// Kannel's callbacks refuse anyone without the secret.
	resp, err := http.Get(fmt.Sprintf("%s/sms/kannel/mo?secret=wrong&from=13900000000&to=12345&text=%s", r.base, url.QueryEscape("你好")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("inbound callback with a wrong secret = %d, want 403", resp.StatusCode)
	}
}
