package dashboards

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/sms"
	"github.com/rexian/rexian/tickets"
	"github.com/rexian/rexian/tickets/ticketstest"
)

// noticeEnv is the small city with the SMS outbox, and the dashboards texting through it.
type noticeEnv struct {
	*env
	outbox *sms.Service
}

func newNoticeEnv(t *testing.T) *noticeEnv {
	t.Helper()
	clk := ticketstest.NewClock(monday10)
	te := ticketstest.New(t, ticketstest.Options{Migrations: append(append(ivr.Migrations(), sms.Migrations()...), Migrations()...),
		Store: tickets.Options{Location: shanghai, Now: clk.Now}})
	outbox, err := sms.NewService(te.DB, nil, te.Store, sms.Options{Location: shanghai, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: te.Ctx, clk: clk, store: te.Store, Env: te}
	e.svc = NewService(te.DB, Options{Location: shanghai, Now: clk.Now, Tickets: te.Store, Texter: outbox})
	// HRSS has a duty mobile; HEAT only a landline; the districts nothing.
	for code, phone := range map[string]string{"HRSS": "13900001111", "HEAT": "0477-8381234"} {
		if err := te.DB.Model(&tickets.Department{}).Where("code = ?", code).Update("phone", phone).Error; err != nil {
			t.Fatal(err)
		}
	}
	return &noticeEnv{env: e, outbox: outbox}
}

// card issues a card to dept as the worker would; ticket may be "".
func (e *noticeEnv) card(dept string, color Color, rule Rule, ticket, reason string) uint64 {
	e.t.Helper()
	id, err := e.store.DepartmentByCode(e.ctx, dept)
	if err != nil {
		e.t.Fatal(err)
	}
	now := e.clk.Now().UTC()
	c := Card{DepartmentID: id, Color: color, Rule: rule, Cause: fmt.Sprintf("test:%s:%s:%s", dept, rule, reason),
		Month: "2026-11", TicketNumber: ticket, Reason: reason, CauseAt: now.Add(-time.Hour), IssuedAt: now}
	if err := e.DB.WithContext(e.ctx).Create(&c).Error; err != nil {
		e.t.Fatal(err)
	}
	return c.ID
}

func (e *noticeEnv) load(id uint64) Card {
	e.t.Helper()
	var c Card
	if err := e.DB.WithContext(e.ctx).First(&c, id).Error; err != nil {
		e.t.Fatal(err)
	}
	return c
}

// notices are the card SMS in the outbox by idempotency key.
func (e *noticeEnv) notices() map[string]sms.Message {
	e.t.Helper()
	var ms []sms.Message
	if err := e.DB.WithContext(e.ctx).Where("kind = ?", sms.KindCardNotice).Find(&ms).Error; err != nil {
		e.t.Fatal(err)
	}
	out := map[string]sms.Message{}
	for _, m := range ms {
		if _, dup := out[m.IdempotencyKey]; dup {
			e.t.Errorf("two messages with key %s", m.IdempotencyKey)
		}
		out[m.IdempotencyKey] = m
	}
	return out
}

func TestNotifyCards(t *testing.T) {
	e := newNoticeEnv(t)
	number := e.ticket("TS-WY", func(in *tickets.NewTicket) {
		in.Dispatch = &tickets.DispatchRequest{Departments: []string{"HRSS"}}
	})
	yellow := e.card("HRSS", Yellow, RuleOverdue, number, "工单 "+number+" 超期未办结")
	red := e.card("HRSS", Red, RuleYellows, "", "2026-11 累计黄牌 3 张")
	revoked := e.card("HRSS", Yellow, RuleOverdue, "", "工单 2611230001 超期未办结")
	landline := e.card("HEAT", Yellow, RuleOverdue, "", "工单 2611230002 超期未办结")
	nothing := e.card("DS", Red, RuleYellows, "", "2026-11 累计黄牌 3 张")
	crashed := e.card("HRSS", Yellow, RuleOverdue, "", "工单 2611230003 超期未办结")
	if _, err := e.svc.RevokeCard(e.ctx, supervisor, revoked, "错派导致超期"); err != nil {
		t.Fatal(err)
	}
	// A pass that queued crashed's SMS and stopped before marking the card.
	first, _, err := e.outbox.Enqueue(e.ctx, sms.NewMessage{Kind: sms.KindCardNotice, To: "13900001111", Template: sms.TemplateCardNotice,
		Variables:      map[string]string{"department": "市人力资源和社会保障局", "color": "黄牌", "reason": "工单 2611230003 超期未办结", "number": ""},
		IdempotencyKey: cardNoticeKey(crashed)})
	if err != nil {
		t.Fatal(err)
	}

	// Passes on several instances at once, then another: each card is texted once.
	var wg sync.WaitGroup
	counts := make([]int, 4)
	for i := range counts {
		wg.Go(func() {
			n, err := e.svc.NotifyCards(e.ctx)
			if err != nil {
				t.Error(err)
			}
			counts[i] = n
		})
	}
	wg.Wait()
	e.clk.Add(time.Hour)
	if n, err := e.svc.NotifyCards(e.ctx); err != nil || n != 0 {
		t.Errorf("a later pass notified %d cards (%v); want none", n, err)
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	if total != 3 {
		t.Errorf("the passes notified %d cards together; want 3 (HRSS's two new ones and the crashed one)", total)
	}

	sent := e.notices()
	if len(sent) != 3 {
		t.Errorf("%d card SMS queued; want 3: %v", len(sent), sent)
	}
	tests := []struct {
		name     string
		id       uint64
		text     string // the SMS; "" for none
		skipped  bool   // marked as never to be texted
		notified bool
	}{
		{"a yellow card names its ticket", yellow, "【12345市民热线】市人力资源和社会保障局：您单位被亮黄牌（工单 " + number + " 超期未办结），请登录工作台查看并签收。", false, true},
		{"a red card for a month's yellows", red, "【12345市民热线】市人力资源和社会保障局：您单位被亮红牌（2026-11 累计黄牌 3 张），请登录工作台查看并签收。", false, true},
		{"a card queued before a crash is sent once", crashed, first.Text, false, true},
		{"a revoked card is not texted", revoked, "", false, false},
		{"a department with only a landline", landline, "", true, false},
		{"a department without a phone", nothing, "", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.load(tt.id)
			m, ok := sent[cardNoticeKey(tt.id)]
			if tt.text == "" {
				if ok {
					t.Errorf("texted %q", m.Text)
				}
			} else {
				if !ok {
					t.Fatalf("no SMS")
				}
				if m.Text != tt.text || m.Recipient != "13900001111" {
					t.Errorf("SMS to %s: %q; want to 13900001111: %q", m.Recipient, m.Text, tt.text)
				}
				if c.NoticeMessageID == nil || *c.NoticeMessageID != m.ID {
					t.Errorf("the card names message %v; want %d", c.NoticeMessageID, m.ID)
				}
			}
			if (c.NotifiedAt != nil) != tt.notified {
				t.Errorf("notified at %v; want notified %v", c.NotifiedAt, tt.notified)
			}
			if (c.NoticeSkippedAt != nil) != tt.skipped || (c.NoticeSkip != "") != tt.skipped {
				t.Errorf("skipped at %v (%q); want skipped %v", c.NoticeSkippedAt, c.NoticeSkip, tt.skipped)
			}
			if tt.skipped && !c.NoticeSkippedAt.Equal(monday10) {
				t.Errorf("skipped at %v: the later pass tried again", c.NoticeSkippedAt)
			}
		})
	}
	if m := sent[cardNoticeKey(yellow)]; m.TicketNumber != number {
		t.Errorf("the yellow card's SMS is not filed under ticket %s: %q", number, m.TicketNumber)
	}

	// The supervisors' board says who was told and who could not be.
	b, err := e.svc.Board(e.ctx, supervisor, "2026-11")
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint64]string{}
	for _, d := range b.Departments {
		for _, c := range d.Cards {
			switch {
			case c.NotifiedAt != nil:
				got[c.ID] = "notified"
			case c.NoticeSkipped != "":
				got[c.ID] = "skipped"
			default:
				got[c.ID] = "pending"
			}
		}
	}
	want := map[uint64]string{yellow: "notified", red: "notified", crashed: "notified", landline: "skipped", nothing: "skipped"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("board notice states (-want +got):\n%s", diff)
	}
}

func TestNotifyCardsNeedsAnOutbox(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.NotifyCards(e.ctx); err == nil {
		t.Error("no outbox, no error")
	}
}

func TestAcknowledgeCard(t *testing.T) {
	e := newNoticeEnv(t)
	hrss := e.card("HRSS", Yellow, RuleOverdue, "", "工单 2611230001 超期未办结")
	zj := e.card("DS-ZJ", Yellow, RuleOverdue, "", "工单 2611230002 超期未办结")
	revoked := e.card("HRSS", Red, RuleYellows, "", "2026-11 累计黄牌 3 张")
	if _, err := e.svc.RevokeCard(e.ctx, supervisor, revoked, "错派导致超期"); err != nil {
		t.Fatal(err)
	}
	firstSigned := map[uint64]time.Time{}
	tests := []struct {
		name string
		who  *auth.Principal
		id   uint64
		err  error  // the kind of error; nil for success
		code string // its code
	}{
		{"its department signs", e.department("HRSS"), hrss, nil, ""},
		{"signing again is no change", e.department("HRSS"), hrss, nil, ""},
		{"another department does not find it", e.department("HEAT"), hrss, api.ErrNotFound, "card_not_found"},
		{"the parent of the sub-unit may not sign for it", e.department("DS"), zj, api.ErrForbidden, "not_your_card"},
		{"the sub-unit signs its own", e.department("DS-ZJ"), zj, nil, ""},
		{"a supervisor does not sign", supervisor, hrss, api.ErrForbidden, "not_department"},
		{"a revoked card needs no signing", e.department("HRSS"), revoked, api.ErrConflict, "card_revoked"},
		{"an unknown card", e.department("HRSS"), 999999, api.ErrNotFound, "card_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := e.svc.AcknowledgeCard(e.ctx, tt.who, tt.id)
			if tt.err != nil {
				var ae *api.Error
				if !errors.Is(err, tt.err) || !errors.As(err, &ae) || ae.Code != tt.code {
					t.Fatalf("err %v; want %v (%s)", err, tt.err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want, again := firstSigned[tt.id]
			if !again {
				want = e.clk.Now()
				firstSigned[tt.id] = want
			}
			if v.AcknowledgedAt == nil || !v.AcknowledgedAt.Equal(want) || v.AcknowledgedBy != tt.who.Actor() {
				t.Errorf("signed at %v by %q; want %v by %q", v.AcknowledgedAt, v.AcknowledgedBy, want, tt.who.Actor())
			}
			e.clk.Add(time.Minute) // a second signing must not move the time
		})
	}

	// The board shows the signing; the portal's banner no longer has the card.
	b, err := e.svc.Board(e.ctx, supervisor, "2026-11")
	if err != nil {
		t.Fatal(err)
	}
	signed := 0
	for _, d := range b.Departments {
		for _, c := range d.Cards {
			if c.AcknowledgedAt != nil {
				signed++
			}
		}
	}
	if signed != 2 {
		t.Errorf("the board shows %d signed cards; want 2", signed)
	}
	more := e.card("HRSS", Yellow, RuleOverdue, "", "工单 2611230009 超期未办结")
	left, err := e.svc.UnacknowledgedCards(e.ctx, e.department("HRSS"))
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0].ID != more {
		t.Errorf("HRSS still has %+v to sign; want card %d only", left, more)
	}
	if _, err := e.svc.UnacknowledgedCards(e.ctx, supervisor); !errors.Is(err, api.ErrForbidden) {
		t.Errorf("a supervisor's banner: %v", err)
	}
}
