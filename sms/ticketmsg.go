package sms

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/phone"
	"github.com/rexian/rexian/tickets"
)

// Ticket messages are derived from the tickets' timeline, the durable record of what
// happened: a registration gives a mobile citizen the receipt, a completion (approve or a
// direct answer) the result. Each message has a key made from the ticket and the event
// ("receipt:<number>", "result:<number>:<seq>"), so deriving it twice enqueues it once.
//
// A cursor remembers the last event read. Ids are handed out before their transactions
// commit, so a later-committing event can have a lower id than one already read: the
// cursor therefore never passes an event younger than its lag, and the young ones are
// read again on each pass (their keys make that harmless).

const ticketCursor = "ticket_events"

// ticketEvents is the outbox's cursor; the first pass looks back only an hour, so that
// turning the outbox on does not send receipts for every ticket ever registered.
var ticketEvents = tickets.EventCursor{Table: "sms_cursors", Name: ticketCursor, Lookback: time.Hour, Lag: 30 * time.Second}

type ticketEvent struct {
	ID       uint64
	TicketID uint64
	Seq      int
	Action   tickets.Action
	ToStatus tickets.Status
	At       time.Time
}

// TicketMessagesOnce derives the messages of the events since the cursor. It returns how
// many events it read.
func (s *Service) TicketMessagesOnce(ctx context.Context) (int, error) {
	now := s.clock()
	cur, err := ticketEvents.Load(ctx, s.db, now)
	if err != nil {
		return 0, fmt.Errorf("sms: ticket messages: %w", err)
	}
	total := 0
	for {
		var evs []ticketEvent
		err := s.db.WithContext(ctx).Model(&tickets.Event{}).Select("id, ticket_id, seq, action, to_status, at").
			Where("id > ? AND action IN ?", cur, []tickets.Action{tickets.ActRegister, tickets.ActApprove, tickets.ActAnswer}).
			Order("id").Limit(500).Scan(&evs).Error
		if err != nil {
			return total, fmt.Errorf("sms: ticket messages: read events: %w", err)
		}
		if len(evs) == 0 {
			return total, nil
		}
		total += len(evs)
		if err := s.deriveTicketMessages(ctx, evs); err != nil {
			return total, err
		}
		next, err := ticketEvents.Advance(ctx, s.db, cur, now, len(evs), func(i int) (uint64, time.Time) { return evs[i].ID, evs[i].At })
		if err != nil {
			return total, fmt.Errorf("sms: ticket messages: %w", err)
		}
		if len(evs) < 500 || next == cur {
			return total, nil
		}
		cur = next
	}
}

func (s *Service) deriveTicketMessages(ctx context.Context, evs []ticketEvent) error {
	ids := make([]uint64, 0, len(evs))
	for _, e := range evs {
		ids = append(ids, e.TicketID)
	}
	var ts []tickets.Ticket
	if err := s.db.WithContext(ctx).Select("id, number, citizen_phone, phone_kind, anonymous, wants_reply, title, answer").
		Where("id IN ?", ids).Find(&ts).Error; err != nil {
		return fmt.Errorf("sms: ticket messages: read tickets: %w", err)
	}
	byID := make(map[uint64]*tickets.Ticket, len(ts))
	for i := range ts {
		byID[ts[i].ID] = &ts[i]
	}
	for _, e := range evs {
		t := byID[e.TicketID]
		if t == nil || t.CitizenPhone == "" || t.PhoneKind != tickets.PhoneMobile || t.Anonymous || !t.WantsReply {
			continue
		}
		var m NewMessage
		switch {
		case e.Action == tickets.ActRegister:
			m = NewMessage{Kind: KindReceipt, Template: TemplateReceipt, IdempotencyKey: "receipt:" + t.Number,
				Variables: map[string]string{"number": t.Number, "title": t.Title}}
		case e.ToStatus == tickets.StatusCompleted:
			m = NewMessage{Kind: KindResult, Template: TemplateResult, IdempotencyKey: fmt.Sprintf("result:%s:%d", t.Number, e.Seq),
				Variables: map[string]string{"number": t.Number, "title": t.Title, "answer": t.Answer}}
		default:
			continue
		}
		m.To, m.TicketNumber, m.CreatedBy = t.CitizenPhone, t.Number, "system:tickets"
		if err := s.fit(ctx, &m, "answer"); err != nil && !errors.Is(err, api.ErrInvalid) {
			return err
		}
		_, _, err := s.Enqueue(ctx, m)
		if errors.Is(err, api.ErrInvalid) {
			// Nothing to retry: the message can never be sent (a bad number, a template
			// an administrator broke). Say so and go on.
			s.log.WarnContext(ctx, "sms ticket message not sent", "ticket", t.Number, "event", e.Seq, "kind", m.Kind,
				"to", phone.Mask(t.CitizenPhone), "err", err)
			continue
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// fit shortens the variable key (a long answer) until the rendered message is within the
// part limit, ending it with "…".
func (s *Service) fit(ctx context.Context, m *NewMessage, key string) error {
	v, ok := m.Variables[key]
	if !ok {
		return nil
	}
	for range 40 {
		text, err := s.compose(ctx, *m)
		if err != nil {
			return err
		}
		if _, parts := Split(text); len(parts) <= s.opts.MaxParts || v == "" {
			return nil
		}
		r := []rune(v)
		cut := max(1, len(r)/10)
		if utf8.RuneCountInString(v) <= cut {
			v = ""
		} else {
			v = string(r[:len(r)-cut-1]) + "…"
		}
		m.Variables[key] = v
	}
	return nil
}

// RunTicketMessages derives ticket messages every interval until ctx ends.
func (s *Service) RunTicketMessages(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.TicketMessagesOnce(ctx); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "sms ticket messages failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
