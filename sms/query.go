package sms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/phone"
	"github.com/rexian/rexian/pii"
)

// MessageView is a message as the API shows it.
type MessageView struct {
	ID             uint64            `json:"id"`
	Kind           Kind              `json:"kind"`
	To             string            `json:"to"`
	Text           string            `json:"text"`
	Template       string            `json:"template,omitempty"`
	Variables      map[string]string `json:"variables,omitempty"`
	IdempotencyKey string            `json:"idempotency_key"`
	Status         Status            `json:"status"`
	Coding         Coding            `json:"coding"`
	PartCount      int               `json:"part_count"`
	Attempts       int               `json:"attempts"`
	NextAttemptAt  time.Time         `json:"next_attempt_at"`
	ExpiresAt      time.Time         `json:"expires_at"`
	TicketNumber   string            `json:"ticket_number,omitempty"`
	NoticeID       *uint64           `json:"notice_id,omitempty"`
	Error          string            `json:"error,omitempty"`
	CreatedBy      string            `json:"created_by"`
	CreatedAt      time.Time         `json:"created_at"`
	SubmittedAt    *time.Time        `json:"submitted_at,omitempty"`
	FinishedAt     *time.Time        `json:"finished_at,omitempty"`
	Parts          []PartView        `json:"parts,omitempty"`
}

// PartView is one part's delivery state.
type PartView struct {
	Seq         int        `json:"seq"`
	Text        string     `json:"text"`
	Status      PartStatus `json:"status"`
	GatewayID   string     `json:"gateway_id,omitempty"`
	Detail      string     `json:"detail,omitempty"`
	SubmittedAt *time.Time `json:"submitted_at,omitempty"`
	ReportedAt  *time.Time `json:"reported_at,omitempty"`
}

func (s *Service) in(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	x := t.In(s.loc)
	return &x
}

func (s *Service) view(m *Message, mask bool) MessageView {
	v := MessageView{ID: m.ID, Kind: m.Kind, To: m.Recipient, Text: m.Text, Template: m.Template, IdempotencyKey: m.IdempotencyKey,
		Status: m.Status, Coding: m.Coding, PartCount: m.PartCount, Attempts: m.Attempts, NextAttemptAt: m.NextAttemptAt.In(s.loc),
		ExpiresAt: m.ExpiresAt.In(s.loc), TicketNumber: m.TicketNumber, NoticeID: m.NoticeID, Error: m.Error, CreatedBy: m.CreatedBy,
		CreatedAt: m.CreatedAt.In(s.loc), SubmittedAt: s.in(m.SubmittedAt), FinishedAt: s.in(m.FinishedAt)}
	if m.Variables != "" {
		_ = json.Unmarshal([]byte(m.Variables), &v.Variables)
	}
	if mask {
		v.To = phone.Mask(v.To)
	}
	return v
}

// Message returns one message with its parts.
func (s *Service) Message(ctx context.Context, id uint64, mask bool) (MessageView, error) {
	var m Message
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&m).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return MessageView{}, api.Errorf(api.ErrNotFound, "message_not_found", "no message %d", id)
		}
		return MessageView{}, fmt.Errorf("sms: message %d: %w", id, err)
	}
	var parts []MessagePart
	if err := s.db.WithContext(ctx).Where("message_id = ?", id).Order("seq").Find(&parts).Error; err != nil {
		return MessageView{}, fmt.Errorf("sms: parts of message %d: %w", id, err)
	}
	v := s.view(&m, mask)
	for _, p := range parts {
		v.Parts = append(v.Parts, PartView{Seq: p.Seq, Text: p.Text, Status: p.Status, GatewayID: p.GatewayID, Detail: p.Detail,
			SubmittedAt: s.in(p.SubmittedAt), ReportedAt: s.in(p.ReportedAt)})
	}
	return v, nil
}

// MessageFilter selects messages; empty fields do not filter.
type MessageFilter struct {
	Status    Status
	Kind      Kind
	Recipient string
	Ticket    string
}

// Messages returns one page of messages, newest first, and whether more follow.
func (s *Service) Messages(ctx context.Context, f MessageFilter, page api.Page, mask bool) ([]MessageView, bool, error) {
	q := s.db.WithContext(ctx).Model(&Message{})
	if f.Status != "" {
		if !f.Status.Valid() {
			return nil, false, api.Errorf(api.ErrInvalid, "unknown_status", "unknown status %q; one of %v", f.Status, Statuses)
		}
		q = q.Where("status = ?", f.Status)
	}
	if f.Kind != "" {
		if !f.Kind.Valid() {
			return nil, false, api.Errorf(api.ErrInvalid, "unknown_kind", "unknown kind %q; one of %v", f.Kind, Kinds)
		}
		q = q.Where("kind = ?", f.Kind)
	}
	if f.Recipient != "" {
		n, err := phone.Parse(f.Recipient)
		if err != nil {
			return nil, false, api.Errorf(api.ErrInvalid, "invalid_phone", "recipient %q is not a phone number: %v", f.Recipient, err)
		}
		q = q.Where(pii.Is(s.db, "recipient", "recipient_idx", n.National))
	}
	if f.Ticket != "" {
		q = q.Where("ticket_number = ?", strings.TrimSpace(f.Ticket))
	}
	var rows []Message
	if err := q.Order("id DESC").Offset(page.Offset()).Limit(page.PerPage + 1).Find(&rows).Error; err != nil {
		return nil, false, fmt.Errorf("sms: list messages: %w", err)
	}
	more := len(rows) > page.PerPage
	if more {
		rows = rows[:page.PerPage]
	}
	out := make([]MessageView, len(rows))
	for i := range rows {
		out[i] = s.view(&rows[i], mask)
	}
	return out, more, nil
}

// Suppressed reports whether number opted out.
func (s *Service) Suppressed(ctx context.Context, number string) (bool, error) {
	var n int64
	if err := s.db.WithContext(ctx).Model(&Suppression{}).Where(pii.Is(s.db, "phone", "phone_idx", number)).Count(&n).Error; err != nil {
		return false, fmt.Errorf("sms: suppression of %s: %w", phone.Mask(number), err)
	}
	return n > 0, nil
}

// SuppressionView is an entry of the suppression list.
type SuppressionView struct {
	Phone     string    `json:"phone"`
	Reason    string    `json:"reason"`
	Note      string    `json:"note,omitempty"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// Suppressions returns one page of the suppression list, newest first.
func (s *Service) Suppressions(ctx context.Context, page api.Page) ([]SuppressionView, bool, error) {
	var rows []Suppression
	if err := s.db.WithContext(ctx).Order("created_at DESC, id DESC").Offset(page.Offset()).Limit(page.PerPage + 1).Find(&rows).Error; err != nil {
		return nil, false, fmt.Errorf("sms: list suppressions: %w", err)
	}
	more := len(rows) > page.PerPage
	if more {
		rows = rows[:page.PerPage]
	}
	out := make([]SuppressionView, len(rows))
	for i, r := range rows {
		out[i] = SuppressionView{Phone: r.Phone, Reason: r.Reason, Note: r.Note, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.In(s.loc)}
	}
	return out, more, nil
}

// Suppress puts a mobile number on the suppression list by hand.
func (s *Service) Suppress(ctx context.Context, actor, raw, note string) (SuppressionView, error) {
	number, err := Recipient(raw)
	if err != nil {
		return SuppressionView{}, err
	}
	row, err := s.addSuppression(ctx, Suppression{Phone: number, Reason: "manual", Note: truncate(strings.TrimSpace(note), 255), CreatedBy: actor, CreatedAt: s.clock()})
	if err != nil {
		return SuppressionView{}, err
	}
	if err := s.suppressQueued(ctx, number); err != nil {
		return SuppressionView{}, err
	}
	return SuppressionView{Phone: row.Phone, Reason: row.Reason, Note: row.Note, CreatedBy: row.CreatedBy, CreatedAt: row.CreatedAt.In(s.loc)}, nil
}

// addSuppression puts row's number on the suppression list unless it is there already,
// and returns the number's entry. The number is sealed, so no unique key can keep it
// once: the number's lock does.
func (s *Service) addSuppression(ctx context.Context, row Suppression) (Suppression, error) {
	unlock, err := s.lockPhone(ctx, row.Phone)
	if err != nil {
		return Suppression{}, err
	}
	defer unlock()
	var have []Suppression
	if err := s.db.WithContext(ctx).Where(pii.Is(s.db, "phone", "phone_idx", row.Phone)).Order("id").Limit(1).Find(&have).Error; err != nil {
		return Suppression{}, fmt.Errorf("sms: suppress %s: %w", phone.Mask(row.Phone), err)
	}
	if len(have) > 0 {
		return have[0], nil
	}
	if err := s.db.WithContext(ctx).Create(&row).Error; err != nil {
		return Suppression{}, fmt.Errorf("sms: suppress %s: %w", phone.Mask(row.Phone), err)
	}
	return row, nil
}

// Unsuppress takes a number off the suppression list (the citizen asked to receive
// surveys again).
func (s *Service) Unsuppress(ctx context.Context, raw string) error {
	n, err := phone.Parse(raw)
	if err != nil {
		return api.Errorf(api.ErrInvalid, "invalid_phone", "%q is not a phone number: %v", raw, err)
	}
	res := s.db.WithContext(ctx).Where(pii.Is(s.db, "phone", "phone_idx", n.National)).Delete(&Suppression{})
	if res.Error != nil {
		return fmt.Errorf("sms: unsuppress %s: %w", phone.Mask(n.National), res.Error)
	}
	if res.RowsAffected == 0 {
		return api.Errorf(api.ErrNotFound, "not_suppressed", "%s is not on the suppression list", n.National)
	}
	return nil
}

// InboundView is an inbound message as the API shows it.
type InboundView struct {
	ID           uint64    `json:"id"`
	From         string    `json:"from"`
	To           string    `json:"to,omitempty"`
	Text         string    `json:"text"`
	ReceivedAt   time.Time `json:"received_at"`
	Route        Route     `json:"route"`
	RouteError   string    `json:"route_error,omitempty"`
	TicketNumber string    `json:"ticket_number,omitempty"`
	ReplyID      *uint64   `json:"reply_id,omitempty"`
}

// InboundFilter selects inbound messages.
type InboundFilter struct {
	From   string
	Route  Route
	Ticket string
}

// InboundMessages returns one page of inbound messages, newest first.
func (s *Service) InboundMessages(ctx context.Context, f InboundFilter, page api.Page, mask bool) ([]InboundView, bool, error) {
	q := s.db.WithContext(ctx).Model(&InboundMessage{})
	if f.From != "" {
		from := f.From
		if n, err := phone.Parse(from); err == nil {
			from = n.National
		}
		q = q.Where(pii.Is(s.db, "from", "from_idx", from))
	}
	if f.Route != "" {
		q = q.Where("route = ?", f.Route)
	}
	if f.Ticket != "" {
		q = q.Where("ticket_number = ?", f.Ticket)
	}
	var rows []InboundMessage
	if err := q.Order("id DESC").Offset(page.Offset()).Limit(page.PerPage + 1).Find(&rows).Error; err != nil {
		return nil, false, fmt.Errorf("sms: list inbound: %w", err)
	}
	more := len(rows) > page.PerPage
	if more {
		rows = rows[:page.PerPage]
	}
	out := make([]InboundView, len(rows))
	for i, r := range rows {
		out[i] = InboundView{ID: r.ID, From: r.From, To: r.To, Text: r.Text, ReceivedAt: r.ReceivedAt.In(s.loc), Route: r.Route,
			RouteError: r.RouteError, TicketNumber: r.TicketNumber, ReplyID: r.ReplyID}
		if mask {
			out[i].From = phone.Mask(r.From)
		}
	}
	return out, more, nil
}
