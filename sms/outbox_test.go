package sms

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rexian/rexian/api"
)

func TestEnqueueBadInput(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		m    NewMessage
		kind error
		code string
	}{
		{"invalid number", NewMessage{To: "1380013800", Text: "hi"}, api.ErrInvalid, "invalid_phone"},
		{"letters", NewMessage{To: "call me", Text: "hi"}, api.ErrInvalid, "invalid_phone"},
		{"empty recipient", NewMessage{To: " ", Text: "hi"}, api.ErrInvalid, "empty_recipient"},
		{"landline", NewMessage{To: "0477-8581234", Text: "hi"}, api.ErrInvalid, "landline"},
		{"short number", NewMessage{To: "12345", Text: "hi"}, api.ErrInvalid, "not_mobile"},
		{"empty text", NewMessage{To: "13800138000", Text: "  \n "}, api.ErrInvalid, "empty_text"},
		{"over the part limit", NewMessage{To: "13800138000", Text: strings.Repeat("长", 5*67)}, api.ErrInvalid, "too_long"},
		{"unknown template", NewMessage{To: "13800138000", Template: "nope"}, api.ErrInvalid, "unknown_template"},
		{"template of another kind", NewMessage{Kind: KindFreeText, To: "13800138000", Template: TemplateReceipt,
			Variables: map[string]string{"number": "1", "title": "x"}}, api.ErrInvalid, "template_kind"},
		{"missing variable", NewMessage{Kind: KindReceipt, To: "13800138000", Template: TemplateReceipt}, api.ErrInvalid, "missing_variable"},
		{"text and template", NewMessage{Kind: KindReceipt, To: "13800138000", Text: "x", Template: TemplateReceipt}, api.ErrInvalid, "text_and_template"},
		{"unknown kind", NewMessage{Kind: "spam", To: "13800138000", Text: "x"}, api.ErrInvalid, "unknown_kind"},
		{"bad ticket number", NewMessage{To: "13800138000", Text: "x", TicketNumber: "2600000015"}, api.ErrInvalid, "invalid_ticket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.m.Kind == "" {
				tt.m.Kind = KindFreeText
			}
			_, _, err := f.svc.Enqueue(f.ctx, tt.m)
			wantCode(t, err, tt.kind, tt.code)
		})
	}
	var n int64
	f.db.Model(&Message{}).Count(&n)
	if n != 0 {
		t.Errorf("%d messages stored from bad input", n)
	}
}

func TestEnqueueSplitsAndSigns(t *testing.T) {
	f := newFixture(t)
	text := strings.Repeat("您好，", 30) // 90 characters + signature: 2 parts
	m := f.enqueue(t, NewMessage{To: "+86 138-0013-8000", Text: text})
	got, parts := f.load(t, m.ID)
	if got.Recipient != "13800138000" || !strings.HasPrefix(got.Text, "【12345市民热线】") || got.Coding != CodingUCS2 {
		t.Fatalf("stored %+v", got)
	}
	if got.PartCount != 2 || len(parts) != 2 || parts[0].Text+parts[1].Text != got.Text {
		t.Fatalf("parts %d/%d do not make up the text", got.PartCount, len(parts))
	}
	if got.Status != StatusQueued || !got.NextAttemptAt.Equal(monday10) || !got.ExpiresAt.Equal(monday10.Add(24*time.Hour)) {
		t.Fatalf("status %s due %s expires %s", got.Status, got.NextAttemptAt, got.ExpiresAt)
	}
	// The part limit counts the signature too: 5 parts of 67 is the most.
	_, _, err := f.svc.Enqueue(f.ctx, NewMessage{Kind: KindFreeText, To: "13800138000", Text: strings.Repeat("长", 5*67-10)})
	wantCode(t, err, api.ErrInvalid, "too_long")
	f.enqueue(t, NewMessage{To: "13800138000", Text: strings.Repeat("长", 5*67-10-1)})
}

func TestIdempotencyKey(t *testing.T) {
	f := newFixture(t)
	first := f.enqueue(t, NewMessage{To: "13800138000", Text: "第一条", IdempotencyKey: "k1"})
	again, created, err := f.svc.Enqueue(f.ctx, NewMessage{Kind: KindFreeText, To: "13900139000", Text: "第二条", IdempotencyKey: "k1"})
	if err != nil || created || again.ID != first.ID || again.Text != first.Text {
		t.Fatalf("second enqueue = %+v, created %v, %v; want the first message", again, created, err)
	}
	// Without a key, every enqueue is a new message.
	a := f.enqueue(t, NewMessage{To: "13800138000", Text: "x"})
	b := f.enqueue(t, NewMessage{To: "13800138000", Text: "x"})
	if a.ID == b.ID {
		t.Fatal("two messages without a key were merged")
	}
}

func TestQuietHours(t *testing.T) {
	day := func(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, shanghai) }
	tests := []struct {
		name string
		now  time.Time
		kind Kind
		want time.Time
	}{
		{"survey in the evening waits for the morning", day(23, 21, 30), KindSurvey, day(24, 8, 0)},
		{"survey at 21:00 sharp waits", day(23, 21, 0), KindSurvey, day(24, 8, 0)},
		{"survey after midnight waits", day(24, 2, 15), KindSurvey, day(24, 8, 0)},
		{"survey at 07:59 waits a minute", day(24, 7, 59), KindSurvey, day(24, 8, 0)},
		{"survey at 08:00 goes", day(24, 8, 0), KindSurvey, day(24, 8, 0)},
		{"survey at 20:59 goes", day(23, 20, 59), KindSurvey, day(23, 20, 59)},
		{"free text waits", day(23, 23, 0), KindFreeText, day(24, 8, 0)},
		{"receipt at night goes", day(23, 23, 0), KindReceipt, day(23, 23, 0)},
		{"application notice at night goes", day(23, 23, 0), KindApplicationNotice, day(23, 23, 0)},
	}
	f := newFixture(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.clock.Set(tt.now)
			m := NewMessage{Kind: tt.kind, To: "13800138000", Text: "测试"}
			if tt.kind == KindReceipt {
				m = NewMessage{Kind: tt.kind, To: "13800138000", Template: TemplateReceipt, Variables: map[string]string{"number": "2600000014", "title": ""}}
			}
			m.IdempotencyKey = "quiet-" + string(rune('a'+i))
			msg := f.enqueue(t, m)
			if !msg.NextAttemptAt.Equal(tt.want) {
				t.Fatalf("due %s; want %s", msg.NextAttemptAt.In(shanghai), tt.want)
			}
			if !msg.ExpiresAt.Equal(tt.want.Add(24 * time.Hour)) {
				t.Fatalf("expires %s; want a day after it is due", msg.ExpiresAt.In(shanghai))
			}
		})
	}

	t.Run("configurable", func(t *testing.T) {
		g := newFixture(t, func(o *Options) {
			o.QuietStart, o.QuietEnd, o.QuietKinds = 22*60, 7*60+30, []Kind{KindApplicationNotice}
		})
		g.clock.Set(day(23, 22, 10))
		msg, _, err := g.svc.CreateNotice(g.ctx, "integrator:wsbs", sampleNotice("Q1"), false)
		if err != nil {
			t.Fatal(err)
		}
		if !msg.Message.NextAttemptAt.Equal(day(24, 7, 30)) {
			t.Fatalf("notice due %s; want 07:30", msg.Message.NextAttemptAt)
		}
		s := g.enqueue(t, NewMessage{Kind: KindSurvey, To: "13800138000", Text: "回复1满意"})
		if !s.NextAttemptAt.Equal(day(23, 22, 10)) {
			t.Fatalf("survey due %s; this configuration lets surveys go", s.NextAttemptAt)
		}
	})
}

func TestTemplates(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		in   TemplateInput
		code string
	}{
		{"unknown variable", TemplateInput{Name: TemplateReceipt, Body: "工单{number}，{nmuber}"}, "unknown_variable"},
		{"variable of another kind", TemplateInput{Name: TemplateSurvey, Body: "{number}：{answer}"}, "unknown_variable"},
		{"unbalanced brace", TemplateInput{Name: TemplateReceipt, Body: "工单{number"}, "unbalanced_braces"},
		{"bad variable name", TemplateInput{Name: TemplateReceipt, Body: "工单{工单号}"}, "invalid_variable"},
		{"empty body", TemplateInput{Name: TemplateReceipt, Body: " "}, "empty_text"},
		{"built-in kind is fixed", TemplateInput{Name: TemplateReceipt, Kind: KindSurvey, Body: "x"}, "template_kind"},
		{"bad name", TemplateInput{Name: "停水", Kind: KindFreeText, Body: "x"}, "invalid_template_name"},
		{"unknown kind", TemplateInput{Name: "water", Kind: "spam", Body: "x"}, "unknown_kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.SaveTemplate(f.ctx, "admin:root", tt.in)
			wantCode(t, err, api.ErrInvalid, tt.code)
		})
	}

	t.Run("edit and use", func(t *testing.T) {
		v, err := f.svc.SaveTemplate(f.ctx, "admin:root", TemplateInput{Name: TemplateReceipt, Body: "已受理，工单号{number}。"})
		if err != nil || !v.Edited || !v.Builtin {
			t.Fatalf("save = %+v, %v", v, err)
		}
		m := f.enqueue(t, NewMessage{Kind: KindReceipt, To: "13800138000", Template: TemplateReceipt,
			Variables: map[string]string{"number": "2600000014"}})
		if m.Text != "【12345市民热线】已受理，工单号2600000014。" {
			t.Fatalf("text %q", m.Text)
		}
		if err := f.svc.DeleteTemplate(f.ctx, TemplateReceipt); err != nil {
			t.Fatal(err)
		}
		back, _ := f.svc.Template(f.ctx, TemplateReceipt)
		if back.Edited || !strings.Contains(back.Body, "查询{number}") {
			t.Fatalf("after reset: %+v", back)
		}
	})

	t.Run("added free-text template", func(t *testing.T) {
		_, err := f.svc.SaveTemplate(f.ctx, "admin:root", TemplateInput{Name: "water_cut", Kind: KindFreeText,
			Body: "{place}将于{date}{time}停水，请提前储水。"})
		if err != nil {
			t.Fatal(err)
		}
		m := f.enqueue(t, NewMessage{Kind: KindFreeText, To: "13800138000", Template: "water_cut",
			Variables: map[string]string{"place": "新华街", "date": "12月1日", "time": "9时"}})
		if !strings.HasSuffix(m.Text, "新华街将于12月1日9时停水，请提前储水。") {
			t.Fatalf("text %q", m.Text)
		}
	})

	t.Run("every default template is valid for its kind", func(t *testing.T) {
		for _, b := range builtinTemplates {
			if err := checkTemplate(b.Kind, b.Body); err != nil {
				t.Errorf("%s: %v", b.Name, err)
			}
		}
	})
}

func TestSuppression(t *testing.T) {
	f := newFixture(t)
	waiting := f.enqueue(t, NewMessage{Kind: KindSurvey, To: "13800138000", Text: "回复1满意 2基本满意 3不满意"})
	if err := f.svc.Receive(f.ctx, Inbound{From: "13800138000", To: "12345", Text: "ＴＤ", At: monday10}); err != nil {
		t.Fatal(err)
	}
	if st := f.status(t, waiting.ID); st != StatusSuppressed {
		t.Fatalf("a survey queued before the opt-out is %s", st)
	}
	survey := f.enqueue(t, NewMessage{Kind: KindSurvey, To: "13800138000", Text: "回复1满意 2基本满意 3不满意"})
	free := f.enqueue(t, NewMessage{Kind: KindFreeText, To: "13800138000", Text: "通知"})
	receipt := f.enqueue(t, NewMessage{Kind: KindReceipt, To: "13800138000", Template: TemplateReceipt,
		Variables: map[string]string{"number": "2600000014", "title": ""}})
	other := f.enqueue(t, NewMessage{Kind: KindSurvey, To: "13900139000", Text: "回复1满意"})
	for _, c := range []struct {
		m    *Message
		want Status
	}{{survey, StatusSuppressed}, {free, StatusSuppressed}, {receipt, StatusQueued}, {other, StatusQueued}} {
		if c.m.Status != c.want {
			t.Errorf("%s to %s: %s; want %s", c.m.Kind, c.m.Recipient, c.m.Status, c.want)
		}
	}
	// The opt-out confirmation itself is a reply and goes out.
	var replies []Message
	f.db.Where("kind = ? AND recipient = ?", KindReply, "13800138000").Find(&replies)
	if len(replies) != 1 || replies[0].Status != StatusQueued || !strings.Contains(replies[0].Text, "退订成功") {
		t.Fatalf("confirmation %+v", replies)
	}
	f.sendAll(t)
	for _, p := range f.gw.submitted() {
		if p.MessageID == survey.ID || p.MessageID == free.ID {
			t.Fatalf("suppressed message %d was sent", p.MessageID)
		}
	}
	// Managing the list.
	if _, err := f.svc.Suppress(f.ctx, "supervisor:li", "0477-8581234", ""); err == nil {
		t.Fatal("a landline was put on the list")
	}
	if err := f.svc.Unsuppress(f.ctx, "138 0013 8000"); err != nil {
		t.Fatal(err)
	}
	if m := f.enqueue(t, NewMessage{Kind: KindSurvey, To: "13800138000", Text: "回复1满意"}); m.Status != StatusQueued {
		t.Fatalf("after removal: %s", m.Status)
	}
	wantCode(t, f.svc.Unsuppress(f.ctx, "13800138000"), api.ErrNotFound, "not_suppressed")
}

func TestOptOutKeywords(t *testing.T) {
	tests := []struct {
		text string
		want bool
	}{
		{"退订", true}, {" 退 订 ", true}, {"退订。", true}, {"TD", true}, {"td", true}, {"tD", true}, {"T", true},
		{"t", true}, {"T D", true}, {"ＴＤ", true}, {"ｔｄ", true}, {"Ｔ", true}, {"\u3000td\u3000", true}, {"TD!", true},
		{"TDD", false}, {"退订吧", false}, {"停止", false}, {"", false}, {"1", false}, {"test", false}, {"请退订我的号码", false},
	}
	for _, tt := range tests {
		if got := IsOptOut(tt.text); got != tt.want {
			t.Errorf("IsOptOut(%q) = %v; want %v", tt.text, got, tt.want)
		}
	}
}

func TestEnqueueBatch(t *testing.T) {
	f := newFixture(t)
	if _, err := f.svc.Suppress(f.ctx, "supervisor:li", "13900000003", ""); err != nil {
		t.Fatal(err)
	}
	first, _, err := f.svc.Enqueue(f.ctx, NewMessage{Kind: KindSurvey, To: "13900000001", Text: "已有", IdempotencyKey: "survey:1"})
	if err != nil {
		t.Fatal(err)
	}
	batch := []NewMessage{
		{Kind: KindSurvey, To: "13900000001", Text: "重复", IdempotencyKey: "survey:1"},               // exists already
		{Kind: KindSurvey, To: "13900000002", Text: "请评价", IdempotencyKey: "survey:2"},              // new
		{Kind: KindSurvey, To: "0477-8581234", Text: "请评价", IdempotencyKey: "survey:landline"},      // refused
		{Kind: KindSurvey, To: "13900000003", Text: "请评价", IdempotencyKey: "survey:3"},              // opted out
		{Kind: KindSurvey, To: "13900000002", Text: "again", IdempotencyKey: "survey:2"},            // twice in one batch
		{Kind: KindSurvey, To: "13900000004", Text: strings.Repeat("长", 70*5), IdempotencyKey: "x"}, // too long
		{Kind: KindReceipt, To: "13900000003", Text: "受理回执", IdempotencyKey: "receipt:3"},           // not suppressible
	}
	got, err := f.svc.EnqueueBatch(f.ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	check := func(i int, created bool, status Status) {
		t.Helper()
		r := got[i]
		if r.Err != nil || r.Message == nil || r.Created != created || r.Message.Status != status || r.Message.ID == 0 {
			t.Errorf("result %d: %+v (message %+v), want created=%v status %s", i, r, r.Message, created, status)
		}
	}
	check(0, false, StatusQueued)
	if got[0].Message.ID != first.ID {
		t.Errorf("an existing key gave message %d, want the first one %d", got[0].Message.ID, first.ID)
	}
	check(1, true, StatusQueued)
	wantCode(t, got[2].Err, api.ErrInvalid, "landline")
	check(3, true, StatusSuppressed)
	if got[4].Message == nil || got[4].Message.ID != got[1].Message.ID || got[4].Created {
		t.Errorf("a key twice in one batch: %+v, want the first one's message", got[4])
	}
	wantCode(t, got[5].Err, api.ErrInvalid, "too_long")
	check(6, true, StatusQueued)
	var msgs, parts int64
	f.db.Model(&Message{}).Count(&msgs)
	f.db.Model(&MessagePart{}).Count(&parts)
	if msgs != 4 || parts != 4 {
		t.Errorf("%d messages and %d parts stored, want 4 and 4", msgs, parts)
	}
	// The same batch again creates nothing.
	again, err := f.svc.EnqueueBatch(f.ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range again {
		if r.Created {
			t.Errorf("second batch created message %d", i)
		}
	}
	f.db.Model(&Message{}).Count(&msgs)
	if msgs != 4 {
		t.Errorf("%d messages after the same batch twice, want 4", msgs)
	}
}

func BenchmarkEnqueueBatch(b *testing.B) {
	f := newFixture(b)
	const n = 10000
	ms := make([]NewMessage, n)
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		for i := range ms {
			ms[i] = NewMessage{Kind: KindSurvey, To: "139" + strings.Repeat("0", 4) + strconv.Itoa(1000+i%9000), Text: "您反映的问题已办结，请回复1满意 2基本满意 3不满意。",
				IdempotencyKey: "bench:" + strconv.Itoa(it) + ":" + strconv.Itoa(i)}
		}
		start := time.Now()
		if _, err := f.svc.EnqueueBatch(f.ctx, ms); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "msgs/s")
	}
}
