package sms

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rexian/rexian/tickets"
)

// lastInbound returns the newest inbound message.
func (f *fixture) lastInbound(t testing.TB) InboundMessage {
	t.Helper()
	var m InboundMessage
	if err := f.db.Order("id DESC").Take(&m).Error; err != nil {
		t.Fatal(err)
	}
	return m
}

func (f *fixture) receive(t testing.TB, from, text string) InboundMessage {
	t.Helper()
	if err := f.svc.Receive(f.ctx, Inbound{From: from, To: "12345", Text: text, At: f.clock.Now()}); err != nil {
		t.Fatalf("Receive(%q, %q): %v", from, text, err)
	}
	return f.lastInbound(t)
}

func (f *fixture) replyText(t testing.TB, in InboundMessage) string {
	t.Helper()
	if in.ReplyID == nil {
		t.Fatalf("inbound %d (%s) has no reply", in.ID, in.Route)
	}
	m, _ := f.load(t, *in.ReplyID)
	return m.Text
}

func TestStatusQuery(t *testing.T) {
	f := newFixture(t)
	v, err := f.tickets.Create(f.ctx, operator, tickets.NewTicket{Citizen: tickets.NewCitizen{Phone: "13800138000"},
		Content: "小区路灯不亮", Category: "TS-GN", Dispatch: &tickets.DispatchRequest{}})
	if err != nil {
		t.Fatal(err)
	}
	number := v.Number
	fullWidth := strings.Map(func(r rune) rune { return r - '0' + '０' }, number)
	typo := number[:len(number)-1] + string('0'+(number[len(number)-1]-'0'+1)%10)
	tests := []struct {
		name, from, text string
		want             []string
	}{
		{"own ticket", "13800138000", "查询 " + number, []string{"工单" + number, "已派单", "承办单位：", "办理期限：2026年"}},
		{"no space, full width digits", "+8613800138000", "查询" + fullWidth, []string{"工单" + number, "已派单"}},
		{"someone else's ticket", "13900139000", "查询" + number, []string{"未查到", number}},
		{"a typo caught by the check digit", "13800138000", "查询 " + typo, []string{"有误", typo}},
		{"unknown number", "13800138000", "查询 2600999990", []string{"有误"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := f.receive(t, tt.from, tt.text)
			if in.Route != RouteQuery {
				t.Fatalf("route %s (%s)", in.Route, in.RouteError)
			}
			text := f.replyText(t, in)
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("reply %q lacks %q", text, w)
				}
			}
		})
	}
	// "查询" followed by words is a question, not a status query.
	if in := f.receive(t, "13700137000", "查询社保怎么办理"); in.Route != RouteTicket {
		t.Fatalf("route %s", in.Route)
	}
}

func TestConversationWindow(t *testing.T) {
	f := newFixture(t)
	first := f.receive(t, "13800138000", "我家楼下的垃圾三天没人清运了")
	if first.Route != RouteTicket || first.TicketNumber == "" {
		t.Fatalf("first message: %+v", first)
	}
	v, err := f.tickets.Find(f.ctx, operator, first.TicketNumber)
	if err != nil {
		t.Fatal(err)
	}
	if v.Channel != tickets.ChannelSMS || v.Citizen.Phone != "13800138000" || v.Content != "我家楼下的垃圾三天没人清运了" {
		t.Fatalf("ticket %+v", v)
	}
	receipt := f.replyText(t, first)
	if !strings.Contains(receipt, first.TicketNumber) || !strings.Contains(receipt, "查询") {
		t.Fatalf("receipt %q", receipt)
	}

	f.clock.Add(90 * time.Minute)
	second := f.receive(t, "13800138000", "地址是新华街8号")
	if second.Route != RouteTicketAppend || second.TicketNumber != first.TicketNumber {
		t.Fatalf("second message: %+v", second)
	}
	v, _ = f.tickets.Find(f.ctx, operator, first.TicketNumber)
	if len(v.Attachments) != 1 || !strings.HasSuffix(v.Attachments[0].FileName, ".txt") {
		t.Fatalf("the follow-up is not on the ticket: %+v", v.Attachments)
	}
	// The window slides with each message; another number has its own.
	other := f.receive(t, "13900139000", "噪音扰民")
	if other.Route != RouteTicket || other.TicketNumber == first.TicketNumber {
		t.Fatalf("another number joined the conversation: %+v", other)
	}
	f.clock.Add(2*time.Hour + time.Minute)
	third := f.receive(t, "13800138000", "垃圾又堆起来了")
	if third.Route != RouteTicket || third.TicketNumber == first.TicketNumber {
		t.Fatalf("after the window: %+v", third)
	}
	var receipts int64
	f.db.Model(&Message{}).Where("kind = ? AND recipient = ?", KindReceipt, "13800138000").Count(&receipts)
	if receipts != 2 {
		t.Fatalf("%d receipts; want one per ticket", receipts)
	}

	t.Run("a closed ticket starts a new one", func(t *testing.T) {
		in := f.receive(t, "13600136000", "请问公积金怎么提取")
		if _, err := f.tickets.Act(f.ctx, operator, in.TicketNumber, tickets.ActAnswer, tickets.ActionRequest{Answer: "携带身份证到公积金中心办理"}); err != nil {
			t.Fatal(err)
		}
		next := f.receive(t, "13600136000", "谢谢，还有一个问题")
		if next.Route != RouteTicket || next.TicketNumber == in.TicketNumber {
			t.Fatalf("next: %+v", next)
		}
	})
}

type fakeSurveys struct{ answers []string }

func (s *fakeSurveys) Answer(_ context.Context, from, text string, _ time.Time) (bool, error) {
	if strings.TrimSpace(text) == "boom" {
		return false, errors.New("survey store down")
	}
	if t := strings.TrimSpace(text); t == "1" || t == "2" || t == "3" {
		s.answers = append(s.answers, from+":"+t)
		return true, nil
	}
	return false, nil
}

func TestInboundRouting(t *testing.T) {
	f := newFixture(t)
	surveys := &fakeSurveys{}
	f.svc.SetSurveyAnswers(surveys)
	tests := []struct {
		name, from, text string
		route            Route
	}{
		{"survey answer", "13800138000", " 1 ", RouteSurvey},
		{"not an answer goes on to a ticket", "13800138001", "4", RouteTicket},
		{"opt-out before survey", "13800138002", "t d", RouteOptOut},
		{"not a phone number", "abc", "你好", RouteIgnored},
		{"a landline cannot send SMS", "04778581234", "你好", RouteIgnored},
		{"empty text", "13800138003", "  ", RouteIgnored},
		{"bytes that are not UTF-8", "13800138004", "\xff\xfe坏", RouteTicket},
		{"control characters", "13800138005", "路灯\x00坏了\x07", RouteTicket},
		{"hook error leaves it pending for reconcile", "13800138006", "boom", RoutePending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := f.receive(t, tt.from, tt.text)
			if in.Route != tt.route {
				t.Fatalf("route %s (%s); want %s", in.Route, in.RouteError, tt.route)
			}
			if !strings.Contains(in.Text, "坏") && strings.ContainsAny(in.Text, "\x00\x07") {
				t.Fatalf("stored text %q", in.Text)
			}
		})
	}
	if len(surveys.answers) != 1 || surveys.answers[0] != "13800138000:1" {
		t.Fatalf("survey hook got %v", surveys.answers)
	}

	t.Run("a repeated callback is stored once", func(t *testing.T) {
		for range 2 {
			if err := f.svc.Receive(f.ctx, Inbound{From: "13800138009", Text: "重复", GatewayID: "mo-1"}); err != nil {
				t.Fatal(err)
			}
		}
		var n int64
		f.db.Model(&InboundMessage{}).Where(`"from" = ?`, "13800138009").Count(&n)
		if n != 1 {
			t.Fatalf("%d rows", n)
		}
	})

	t.Run("reconcile routes what was left pending", func(t *testing.T) {
		f.svc.SetSurveyAnswers(nil)
		f.clock.Add(2 * time.Minute)
		if err := f.svc.ReconcileOnce(f.ctx); err != nil {
			t.Fatal(err)
		}
		var in InboundMessage
		f.db.Where(`"from" = ?`, "13800138006").Take(&in)
		if in.Route != RouteTicket {
			t.Fatalf("route %s", in.Route)
		}
	})
}

func TestTicketMessages(t *testing.T) {
	f := newFixture(t)
	no := false
	create := func(phone string, anonymous bool, wants *bool, answer string) string {
		t.Helper()
		in := tickets.NewTicket{Citizen: tickets.NewCitizen{Phone: phone, Anonymous: anonymous, WantsReply: wants},
			Content: "反映情况", Category: "TS-GN"}
		if answer != "" {
			in.Category, in.Answer = "ZX-SHBX", answer
		}
		v, err := f.tickets.Create(f.ctx, operator, in)
		if err != nil {
			t.Fatal(err)
		}
		return v.Number
	}
	mobile := create("13800138000", false, nil, "")
	create("0477-8581234", false, nil, "") // landline: no SMS
	create("13900139000", true, nil, "")   // anonymous
	create("13700137000", false, &no, "")  // asked for no reply
	create("", false, nil, "")             // no number
	answered := create("13600136000", false, nil, strings.Repeat("请携带身份证到社保中心办理。", 40))

	run := func(svc *Service) {
		t.Helper()
		if _, err := svc.TicketMessagesOnce(f.ctx); err != nil {
			t.Fatal(err)
		}
	}
	run(f.svc)
	run(f.svc)
	// A restart: a new service over the same database.
	restarted := fixtureOn(t, f.db, func(o *Options) { o.Now = f.clock.Now })
	run(restarted.svc)
	f.clock.Add(time.Hour) // the cursor passes the events once they are old enough
	run(restarted.svc)
	run(f.svc)

	var msgs []Message
	f.db.Order("id").Find(&msgs)
	got := map[string]int{}
	for _, m := range msgs {
		got[m.IdempotencyKey]++
	}
	want := map[string]int{"receipt:" + mobile: 1, "receipt:" + answered: 1, "result:" + answered + ":2": 1}
	if len(got) != len(want) {
		t.Fatalf("messages %v; want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d messages; want %d", k, got[k], n)
		}
	}
	for _, m := range msgs {
		if m.IdempotencyKey == "result:"+answered+":2" && (m.PartCount > 5 || !strings.Contains(m.Text, "…")) {
			t.Errorf("a long answer is not shortened to the part limit: %d parts", m.PartCount)
		}
	}
	var cur Cursor
	f.db.Where("name = ?", ticketCursor).Take(&cur)
	if cur.Value == 0 {
		t.Fatal("the cursor did not advance")
	}

	t.Run("completion after verification", func(t *testing.T) {
		// Dispatch, sign, reply and approve: the result goes out once.
		v, err := f.tickets.Create(f.ctx, operator, tickets.NewTicket{Citizen: tickets.NewCitizen{Phone: "13500135000"},
			Content: "噪音", Category: "TS-GN", Dispatch: &tickets.DispatchRequest{}})
		if err != nil {
			t.Fatal(err)
		}
		f.db.Model(&tickets.Ticket{}).Where("number = ?", v.Number).Updates(map[string]any{"status": tickets.StatusReplied, "answer": "已协调处理"})
		if _, err := f.tickets.Act(f.ctx, operator, v.Number, tickets.ActApprove, tickets.ActionRequest{Answer: "已协调处理"}); err != nil {
			t.Fatal(err)
		}
		run(f.svc)
		run(f.svc)
		var results []Message
		f.db.Where("kind = ? AND ticket_number = ?", KindResult, v.Number).Find(&results)
		if len(results) != 1 || !strings.Contains(results[0].Text, "已协调处理") {
			t.Fatalf("results %+v", results)
		}
	})
}

// An SMS is kept whatever it holds: NUL (which PostgreSQL cannot store), other control
// characters and direction overrides are taken out, and the message is stored and routed.
func TestInboundWithControlCharactersIsCleanedAndKept(t *testing.T) {
	f := newFixture(t)
	in := f.receive(t, "13800138031", "路灯\x00不亮\u202E了\x1b，\r\n请处理")
	if in.Text != "路灯不亮了，\n请处理" {
		t.Errorf("stored text %q; want it cleaned", in.Text)
	}
}
