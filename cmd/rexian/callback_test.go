package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rexian/rexian/config"
)

// TestCallbackThroughKannel runs the surveys as `serve` does with the real Kannel and its
// fake SMS centre: a completed ticket's survey SMS reaches the SMS centre, the citizen's
// "1" makes the survey satisfied and the rate moves; another citizen's "3" and then a
// reason reopen that ticket with the reason in its timeline.
func TestCallbackThroughKannel(t *testing.T) {
	t.Parallel()
	p := startKannelPlatform(t, []string{"operator", "supervisor"}, []string{
		"REXIAN_CALLBACK_DELAY=0s",
		"REXIAN_CALLBACK_INTERVAL=100ms",
	}, func(cfg *config.Config) {
		// Any hour: the test must not depend on when it runs.
		cfg.Callback.Hours, cfg.SMS.QuietHours = "", ""
	})
	k := p.kannel
	call := func(who, method, path, body string) map[string]any {
		t.Helper()
		return p.call(t, who, method, path, body)
	}
	complete := func(phone string) string {
		t.Helper()
		v := call("operator", "POST", "/tickets", `{"citizen":{"name":"张女士","phone":"`+phone+`"},"content":"社保卡丢了怎么补办","category":"ZX-SHBX","answer":"携带身份证到社保大厅补办，当场制卡。"}`)
		return v["number"].(string)
	}
	survey := func(number string) map[string]any {
		t.Helper()
		items, _ := call("operator", "GET", "/callback/surveys?ticket="+number, "")["surveys"].([]any)
		if len(items) != 1 {
			return map[string]any{}
		}
		sv, _ := items[0].(map[string]any)
		return sv
	}
	// delivered waits for the survey SMS of a ticket to come back delivered from Kannel.
	delivered := func(number string) {
		t.Helper()
		eventually(t, "the survey SMS of "+number+" is delivered through Kannel", func() bool {
			items, _ := call("operator", "GET", "/sms/messages?kind=survey&ticket="+number, "")["messages"].([]any)
			if len(items) != 1 {
				return false
			}
			m, _ := items[0].(map[string]any)
			return m["status"] == "delivered"
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	first := complete("13912345678")
	delivered(first)
	msgs, err := k.WaitReceived(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range msgs {
		found = found || (m.To == "13912345678" && strings.Contains(m.Text, first))
	}
	if !found {
		t.Fatalf("the SMS centre got no message with %s for 13912345678: %+v", first, msgs)
	}
	if err := k.Inject(ctx, "13912345678", "12345", "1", false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the survey is satisfied", func() bool {
		sv := survey(first)
		return sv["result"] == "satisfied" && sv["channel"] == "sms"
	})
	rate := func() any {
		st := call("supervisor", "GET", "/callback/stats?group=channel&from=2000-01-01", "")
		tot, _ := st["total"].(map[string]any)
		return tot["satisfaction_rate"]
	}
	if got := rate(); got != 1.0 {
		t.Fatalf("satisfaction rate %v after one satisfied answer, want 1", got)
	}

	second := complete("13912345679")
	delivered(second)
	if err := k.Inject(ctx, "13912345679", "12345", "3", false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the reason is asked for", func() bool {
		items, _ := call("operator", "GET", "/sms/messages?kind=reply&ticket="+second, "")["messages"].([]any)
		return len(items) == 1
	})
	if err := k.Inject(ctx, "13912345679", "12345", "窗口说要等一个月才能拿到卡", true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the ticket is reopened with the reason", func() bool {
		tk := call("supervisor", "GET", "/tickets/"+second, "")
		b, _ := json.Marshal(tk["timeline"])
		return tk["status"] == "registered" && strings.Contains(string(b), "窗口说要等一个月才能拿到卡")
	})
	// The survey records the reopen just after the ticket's own write commits.
	var sv map[string]any
	eventually(t, "the survey records the reopen", func() bool {
		sv = survey(second)
		return sv["reopened_at"] != nil
	})
	if sv["result"] != "dissatisfied" || sv["reason"] != "窗口说要等一个月才能拿到卡" {
		t.Fatalf("survey %v", sv)
	}
	if got := rate(); got != 0.5 {
		t.Fatalf("satisfaction rate %v after a satisfied and a dissatisfied answer, want 0.5", got)
	}
}
