package sms

import (
	"testing"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/pii"
	"github.com/rexian/rexian/pii/piitest"
)

// With personal-data keys the outbox's recipients and the inbox's senders are sealed at
// rest, and every feature that looks a number up still works: the gateway gets the
// number, an opt-out suppresses what was queued for it, the lists filter by number, and
// rows from before the keys are sealed by Reseal.
func TestNumbersSealedAtRest(t *testing.T) {
	f := newFixture(t)
	// A message and an inbound message from before the keys.
	old := f.enqueue(t, NewMessage{Kind: KindSurvey, To: "13800138000", Text: "回复1满意 2基本满意 3不满意"})
	if err := f.svc.Receive(f.ctx, Inbound{From: "13900139000", To: "12345", Text: "查询", At: monday10}); err != nil {
		t.Fatal(err)
	}
	piitest.Install(t, f.db)

	waiting := f.enqueue(t, NewMessage{Kind: KindSurvey, To: "13800138000", Text: "回复1满意 2基本满意 3不满意"})
	receipt := f.enqueue(t, NewMessage{Kind: KindReceipt, To: "13800138000", Template: TemplateReceipt,
		Variables: map[string]string{"number": "2600000014", "title": ""}})
	if err := f.svc.Receive(f.ctx, Inbound{From: "13800138000", To: "12345", Text: "TD", At: monday10}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uint64{old.ID, waiting.ID} {
		if st := f.status(t, id); st != StatusSuppressed {
			t.Errorf("survey %d queued before the opt-out is %s; want suppressed", id, st)
		}
	}
	f.sendAll(t)
	sent := false
	for _, p := range f.gw.submitted() {
		if p.MessageID == receipt.ID {
			sent = true
			if p.To != "13800138000" {
				t.Errorf("the gateway was given %q for the receipt", p.To)
			}
		}
	}
	if !sent {
		t.Error("the receipt was not sent")
	}
	msgs, _, err := f.svc.Messages(f.ctx, MessageFilter{Recipient: "138 0013 8000"}, api.Page{Page: 1, PerPage: 50}, false)
	if err != nil || len(msgs) != 4 { // old, waiting, receipt and the opt-out confirmation
		t.Fatalf("messages to the number: %d, %v; want 4", len(msgs), err)
	}
	for _, m := range msgs {
		if m.To != "13800138000" {
			t.Errorf("message %d listed to %q", m.ID, m.To)
		}
	}
	in, _, err := f.svc.InboundMessages(f.ctx, InboundFilter{From: "13800138000"}, api.Page{Page: 1, PerPage: 50}, false)
	if err != nil || len(in) != 1 || in[0].From != "13800138000" {
		t.Fatalf("inbound from the number: %+v, %v", in, err)
	}

	for _, tb := range PersonalData() {
		if rep, err := pii.Reseal(f.ctx, f.db, tb, 2); err != nil || rep.Resealed == 0 {
			t.Fatalf("reseal %s: %+v, %v; want the rows from before the keys", tb.Name, rep, err)
		}
		if rep, err := pii.Reseal(f.ctx, f.db, tb, 2); err != nil || rep.Resealed != 0 {
			t.Fatalf("second reseal %s: %+v, %v; want nothing left", tb.Name, rep, err)
		}
	}
	piitest.WantSealed(t, "sms_messages.recipient", piitest.Stored(t, f.db, "sms_messages", "recipient", "id"), "13800138000")
	piitest.WantSealed(t, "sms_inbound.from", piitest.Stored(t, f.db, "sms_inbound", "from", "id"), "139")
	if in, _, err := f.svc.InboundMessages(f.ctx, InboundFilter{From: "13900139000"}, api.Page{Page: 1, PerPage: 50}, false); err != nil || len(in) != 1 {
		t.Errorf("inbound from the number sealed by reseal: %d, %v", len(in), err)
	}
}
