package sms

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/pii"
	"github.com/rexian/rexian/pii/piitest"
	"github.com/rexian/rexian/tickets"
	"github.com/rexian/rexian/tickets/ticketstest"
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
	// An opt-out, a conversation and a notice from before the keys.
	if _, err := f.svc.Suppress(f.ctx, "admin", "13700137000", "电话里要求"); err != nil {
		t.Fatal(err)
	}
	talk := f.receive(t, "13600136000", "路灯不亮")
	applied := sampleNotice("WS2026-0100")
	applied.Mobile = "13500135000"
	if _, _, err := f.svc.CreateNotice(f.ctx, "integrator:wsbs", applied, false); err != nil {
		t.Fatal(err)
	}
	piitest.Install(t, f.db)
	// Rows from before the keys are still found by their plain number.
	if off, err := f.svc.Suppressed(f.ctx, "13700137000"); err != nil || !off {
		t.Errorf("the opt-out from before the keys: suppressed %v, %v", off, err)
	}
	if again := f.receive(t, "13600136000", "在新华街口"); again.Route != RouteTicketAppend || again.TicketNumber != talk.TicketNumber {
		t.Errorf("a message in the conversation from before the keys: %s to %s; want it added to %s", again.Route, again.TicketNumber, talk.TicketNumber)
	}

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
			if p.To != "13800138000" || !strings.Contains(p.Text, "2600000014") {
				t.Errorf("the gateway was given %q, %q for the receipt", p.To, p.Text)
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
		if _, sealed := pii.IsSealed(m.Text); m.To != "13800138000" || sealed || m.Text == "" {
			t.Errorf("message %d listed to %q: %q", m.ID, m.To, m.Text)
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
	piitest.WantSealed(t, "sms_messages.text", piitest.Stored(t, f.db, "sms_messages", "text", "id"), "满意")
	piitest.WantSealed(t, "sms_messages.variables", piitest.Stored(t, f.db, "sms_messages", "variables", "id"), "王芳")
	piitest.WantSealed(t, "sms_parts.text", piitest.Stored(t, f.db, "sms_parts", "text", "id"), "满意")
	piitest.WantSealed(t, "sms_suppressions.phone", piitest.Stored(t, f.db, "sms_suppressions", "phone", "id"), "137")
	piitest.WantSealed(t, "sms_conversations.phone", piitest.Stored(t, f.db, "sms_conversations", "phone", "id"), "136")
	piitest.WantSealed(t, "sms_notices.mobile", piitest.Stored(t, f.db, "sms_notices", "mobile", "id"), "135")
	piitest.WantSealed(t, "sms_notices.applicant_name", piitest.Stored(t, f.db, "sms_notices", "applicant_name", "id"), "王芳")
	// Everything is found again once sealed.
	for _, num := range []string{"13700137000", "13800138000"} {
		if off, err := f.svc.Suppressed(f.ctx, num); err != nil || !off {
			t.Errorf("opt-out of %s after the reseal: suppressed %v, %v", num, off, err)
		}
	}
	list, _, err := f.svc.Suppressions(f.ctx, api.Page{Page: 1, PerPage: 50})
	if err != nil || len(list) != 2 || list[0].Phone != "13800138000" || list[1].Phone != "13700137000" {
		t.Errorf("suppression list %+v, %v; want 13800138000 (newest) and 13700137000", list, err)
	}
	if err := f.svc.Unsuppress(f.ctx, "13700137000"); err != nil {
		t.Errorf("unsuppress a sealed opt-out: %v", err)
	}
	if off, _ := f.svc.Suppressed(f.ctx, "13700137000"); off {
		t.Error("13700137000 is still suppressed after Unsuppress")
	}
	if again := f.receive(t, "13600136000", "还是不亮"); again.Route != RouteTicketAppend || again.TicketNumber != talk.TicketNumber {
		t.Errorf("a message in the sealed conversation: %s to %s; want it added to %s", again.Route, again.TicketNumber, talk.TicketNumber)
	}
	if n, err := f.svc.Notice(f.ctx, "WS2026-0100", false); err != nil || n.Mobile != "13500135000" || n.ApplicantName != "王芳" {
		t.Errorf("the sealed notice reads %+v, %v", n, err)
	}
	piitest.WantSealed(t, "sms_inbound.from", piitest.Stored(t, f.db, "sms_inbound", "from", "id"), "139")
	if in, _, err := f.svc.InboundMessages(f.ctx, InboundFilter{From: "13900139000"}, api.Page{Page: 1, PerPage: 50}, false); err != nil || len(in) != 1 {
		t.Errorf("inbound from the number sealed by reseal: %d, %v", len(in), err)
	}
}

// With keys, a number is on the suppression list once however often and however at once
// it opts out; a survey queued to it afterwards is suppressed at once; and a deletion
// request empties the number's notices, its messages' texts and its conversation window,
// keeping the opt-out the citizen asked for.
func TestSealedOptOutOnceAndErased(t *testing.T) {
	f := newFixture(t)
	piitest.Install(t, f.db)
	const num = "13800138000"
	if _, _, err := f.svc.CreateNotice(f.ctx, "integrator:wsbs", sampleNotice("WS2026-0200"), false); err != nil {
		t.Fatal(err)
	}
	f.sendAll(t)
	talk := f.receive(t, num, "小区门口积水")

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				_, err := f.svc.Suppress(f.ctx, "admin", num, "")
				errs <- err
				return
			}
			errs <- f.svc.Receive(f.ctx, Inbound{From: num, To: "12345", Text: "TD", At: f.clock.Now()})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var rows int64
	f.db.Model(&Suppression{}).Count(&rows)
	if rows != 1 {
		t.Fatalf("%d suppression rows after 8 opt-outs of one number at once; want 1", rows)
	}
	survey := f.enqueue(t, NewMessage{Kind: KindSurvey, To: num, Text: "回复1满意 2基本满意 3不满意"})
	if survey.Status != StatusSuppressed {
		t.Errorf("a survey queued after the opt-out is %s; want suppressed", survey.Status)
	}

	f.sendAll(t)
	changed, err := EraseNumber(f.ctx, f.db, num)
	if err != nil || changed == 0 {
		t.Fatalf("erase: %d rows, %v", changed, err)
	}
	n, err := f.svc.Notice(f.ctx, "WS2026-0200", false)
	if err != nil || n.Mobile != "" || n.ApplicantName != "" {
		t.Errorf("the notice after erasure: %+v, %v; want no name or number", n, err)
	}
	if n.Message == nil || n.Message.Text != "" || len(n.Message.Parts) == 0 {
		t.Fatalf("the notice's message after erasure: %+v; want its parts kept, without text", n.Message)
	}
	for _, p := range n.Message.Parts {
		if p.Text != "" {
			t.Errorf("part %d still reads %q", p.Seq, p.Text)
		}
	}
	var texts []string
	f.db.Model(&Message{}).Where("text LIKE ? OR variables LIKE ?", "%王芳%", "%王芳%").Pluck("text", &texts)
	f.db.Model(&MessagePart{}).Where("text LIKE ?", "%王芳%").Pluck("text", &texts)
	if len(texts) > 0 {
		t.Errorf("the applicant's name is still stored: %q", texts)
	}
	var convs int64
	f.db.Model(&Conversation{}).Count(&convs)
	if convs != 0 {
		t.Errorf("%d conversation rows after erasure; want the window closed", convs)
	}
	if off, err := f.svc.Suppressed(f.ctx, num); err != nil || !off {
		t.Errorf("the opt-out after erasure: suppressed %v, %v; want it kept", off, err)
	}
	if next := f.receive(t, num, "积水又来了"); next.Route != RouteTicket || next.TicketNumber == talk.TicketNumber {
		t.Errorf("after erasure a message went to %s %s; want a new ticket", next.Route, next.TicketNumber)
	}
}

// The step that keys opt-outs and conversations by a row id keeps every row, and the
// numbers are found as before.
func TestMigrationKeepsOptOutsAndConversations(t *testing.T) {
	all := append(auth.Migrations(), Migrations()...)
	var before []*database.Migration
	for _, m := range all {
		if m.ID < "20261207_46" {
			before = append(before, m)
		}
	}
	env := ticketstest.New(t, ticketstest.Options{City: tickets.DemoCity(), Migrations: before,
		Store: tickets.Options{Location: shanghai}})
	at := monday10.Add(-time.Hour)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"INSERT INTO sms_suppressions (phone, reason, note, created_by, created_at) VALUES (?, 'opt_out', 'TD', 'citizen', ?), (?, 'manual', '', 'admin', ?)",
			[]any{"13800138000", at, "13900139000", at.Add(time.Minute)}},
		{"INSERT INTO sms_conversations (phone, ticket_number, opened_at, last_at) VALUES (?, ?, ?, ?)",
			[]any{"13700137000", "2611230001", at, monday10.Add(-time.Minute)}},
	} {
		if err := env.DB.Exec(q.sql, q.args...).Error; err != nil {
			t.Fatal(err)
		}
	}
	steps := append(tickets.Migrations(), all...)
	slices.SortStableFunc(steps, func(a, b *database.Migration) int { return cmp.Compare(a.ID, b.ID) })
	if err := database.Migrate(env.Ctx, env.DB, steps); err != nil {
		t.Fatal(err)
	}
	f := serviceFixture(t, env.Ctx, env.DB, env.Store, ticketstest.NewClock(monday10))
	list, _, err := f.svc.Suppressions(f.ctx, api.Page{Page: 1, PerPage: 50})
	if err != nil || len(list) != 2 || list[0].Phone != "13900139000" || list[0].Reason != "manual" ||
		list[1].Phone != "13800138000" || list[1].Note != "TD" || !list[1].CreatedAt.Equal(at) {
		t.Fatalf("suppression list after the migration: %+v, %v", list, err)
	}
	var conv Conversation
	if err := f.db.Where(pii.Is(f.db, "phone", "phone_idx", "13700137000")).Take(&conv).Error; err != nil ||
		conv.TicketNumber != "2611230001" || !conv.LastAt.Equal(monday10.Add(-time.Minute)) {
		t.Fatalf("conversation after the migration: %+v, %v", conv, err)
	}
	// Numbers can opt out again and start conversations with the new keys of the rows.
	if _, err := f.svc.Suppress(f.ctx, "admin", "13600136000", ""); err != nil {
		t.Fatal(err)
	}
	if list, _, _ := f.svc.Suppressions(f.ctx, api.Page{Page: 1, PerPage: 50}); len(list) != 3 {
		t.Fatalf("%d opt-outs after one more; want 3", len(list))
	}
}
