package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestSMSThroughKannel runs the platform as `serve` does with the real Kannel and its fake
// SMS centre: a ticket registered for a mobile citizen sends the receipt, the delivery
// report comes back, and an inbound 退订 puts the number on the suppression list.
func TestSMSThroughKannel(t *testing.T) {
	t.Parallel()
	p := startKannelPlatform(t, []string{"operator", "supervisor"}, nil, nil)
	r, k := p.r, p.kannel
	as := func(role, method, path, body string) map[string]any {
		t.Helper()
		return p.call(t, role, method, path, body)
	}
	api := func(method, path, body string) map[string]any {
		t.Helper()
		return as("operator", method, path, body)
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
		list := as("supervisor", "GET", "/sms/suppressions", "")
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
