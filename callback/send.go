package callback

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/pii"
	"github.com/rexian/rexian/sms"
	"github.com/rexian/rexian/tickets"
)

const (
	sendBatch = 1000
	// resultRunes bounds the one-line result in the survey SMS, so that it stays within
	// two parts.
	resultRunes = 40
)

type dueSurvey struct {
	ID           uint64
	TicketNumber string
	Phone        string
	PhoneKind    string
	TicketStatus tickets.Status
	Answer       string
	Superseded   bool
}

// SendOnce sends the surveys that are due: an SMS to mobiles, a call (or the manual list,
// without telephony) for landlines. Outside the allowed hours it does nothing; what fell
// due meanwhile goes out as soon as they begin. It returns how many surveys it moved.
func (s *Service) SendOnce(ctx context.Context) (int, error) {
	total := 0
	for {
		now := s.now()
		if !s.pol.allowed(now) {
			return total, nil
		}
		var due []dueSurvey
		err := s.db.WithContext(ctx).Raw(`SELECT s.id, s.ticket_number, s.phone, s.phone_kind, t.status AS ticket_status, t.answer,
			EXISTS (SELECT 1 FROM callback_surveys n WHERE n.ticket_id = s.ticket_id AND n.completion_seq > s.completion_seq) AS superseded
			FROM callback_surveys s JOIN tickets t ON t.id = s.ticket_id
			WHERE s.status = ? AND s.due_at <= ? ORDER BY s.due_at, s.id LIMIT ?`, StatusPending, now, sendBatch).Scan(&due).Error
		if err != nil {
			return total, fmt.Errorf("callback: send: read due surveys: %w", err)
		}
		if len(due) == 0 {
			return total, nil
		}
		// Read with SQL of its own: the numbers are opened here.
		keys := pii.Keys(s.db)
		for i := range due {
			if due[i].Phone, err = keys.Open(due[i].Phone); err != nil {
				return total, fmt.Errorf("callback: send: survey %d: %w", due[i].ID, err)
			}
		}
		n, err := s.send(ctx, due, now)
		total += n
		if err != nil {
			return total, err
		}
		if len(due) < sendBatch {
			return total, nil
		}
	}
}

func (s *Service) send(ctx context.Context, due []dueSurvey, now time.Time) (int, error) {
	var skipped, calls, manual, queued, refused, invalid []uint64
	var texts []int
	for i, d := range due {
		switch {
		case d.TicketStatus != tickets.StatusCompleted || d.Superseded:
			skipped = append(skipped, d.ID)
		case d.PhoneKind == string(tickets.PhoneLandline) && s.opts.Dialer != nil:
			calls = append(calls, d.ID)
		case d.PhoneKind == string(tickets.PhoneLandline):
			manual = append(manual, d.ID)
		default:
			texts = append(texts, i)
		}
	}
	// Queue the SMS in one batch: a lookup of existing keys, of the suppression list,
	// and multi-row inserts, instead of several round trips per survey.
	type outcome struct {
		id  uint64
		st  sms.Status
		err error
	}
	outs := make([]outcome, len(texts))
	batch := make([]sms.NewMessage, len(texts))
	for j, i := range texts {
		batch[j] = surveyMessage(due[i])
	}
	results, berr := s.opts.Texter.EnqueueBatch(ctx, batch)
	for j, i := range texts {
		outs[j] = outcome{id: due[i].ID}
		switch {
		case berr != nil && (j >= len(results) || (results[j].Message == nil && results[j].Err == nil)):
			outs[j].err = berr
		case results[j].Err != nil:
			outs[j].err = results[j].Err
		default:
			outs[j].st = results[j].Message.Status
		}
	}
	var failed error
	for _, o := range outs {
		switch {
		case o.err == nil && o.st == sms.StatusSuppressed:
			refused = append(refused, o.id)
		case o.err == nil:
			queued = append(queued, o.id)
		case errors.Is(o.err, api.ErrInvalid):
			s.log.WarnContext(ctx, "callback survey SMS refused by the outbox; to the manual list", "survey", o.id, "err", o.err)
			invalid = append(invalid, o.id)
		default:
			// The outbox is unavailable: leave the survey pending for the next pass (its
			// idempotency key keeps a half-done enqueue from sending twice).
			failed = o.err
		}
	}
	db := s.db.WithContext(ctx)
	upd := func(ids []uint64, what string, set map[string]any) error {
		for len(ids) > 0 {
			n := min(len(ids), 500)
			set["updated_at"] = now
			if err := db.Model(&Survey{}).Where("id IN ? AND status = ?", ids[:n], StatusPending).Updates(set).Error; err != nil {
				return fmt.Errorf("callback: send: mark %s: %w", what, err)
			}
			ids = ids[n:]
		}
		return nil
	}
	steps := []struct {
		ids  []uint64
		what string
		set  map[string]any
	}{
		{skipped, "skipped", map[string]any{"status": StatusSkipped, "note": SkipReopened}},
		{calls, "calling", map[string]any{"status": StatusCalling, "due_at": now}},
		{manual, "manual", map[string]any{"status": StatusManual, "note": ReasonNoTelephony}},
		// Queued is not sent: the wait for an answer starts once the gateway has the SMS
		// (SMSSentOnce), and until then no call is made on its account.
		{queued, "queued", map[string]any{"status": StatusAwaitingSMS, "sms_queued_at": now, "due_at": now.Add(s.opts.SMSWait)}},
		{refused, "refused", map[string]any{"status": StatusDone, "result": ResultRefused, "channel": ChannelSMS,
			"answered_at": now, "answered_by": "system:sms", "remarks": "opted out of surveys (suppression list)"}},
		{invalid, "manual", map[string]any{"status": StatusManual, "note": ReasonInvalidNumber}},
	}
	moved := 0
	for _, st := range steps {
		if err := upd(st.ids, st.what, st.set); err != nil {
			return moved, err
		}
		moved += len(st.ids)
	}
	if failed != nil {
		return moved, fmt.Errorf("callback: send: queue survey SMS: %w", failed)
	}
	return moved, nil
}

// surveyMessage is the survey SMS: the ticket number, its result on one line and the
// question. The idempotency key makes a repeat after a crash return the first message.
func surveyMessage(d dueSurvey) sms.NewMessage {
	result := oneLine(d.Answer, resultRunes)
	text := fmt.Sprintf("您反映的问题（工单号%s）已办结", d.TicketNumber)
	if result != "" {
		text += "，办理结果：" + result
	}
	text += "。请对办理结果评价：回复1满意 2基本满意 3不满意。"
	return sms.NewMessage{Kind: sms.KindSurvey, To: d.Phone, Text: text, IdempotencyKey: surveyKey(d.ID),
		TicketNumber: d.TicketNumber, CreatedBy: "system:callback"}
}

func surveyKey(id uint64) string { return fmt.Sprintf("survey:%d", id) }

// oneLine is the first line of s, cut to n runes with "…".
func oneLine(s string, n int) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	s = strings.TrimRight(s, "。.；;，, ")
	if utf8.RuneCountInString(s) > n {
		s = string([]rune(s)[:n-1]) + "…"
	}
	return s
}

// surveySMS joins a survey to its SMS in the outbox (by the idempotency key it was queued
// with).
const surveySMS = `sms_messages m ON m.idempotency_key = 'survey:' || CAST(s.id AS VARCHAR(20))`

// SMSSentOnce starts the wait of the SMS surveys whose SMS the gateway has accepted since
// the last pass: sms_sent_at is the gateway's acceptance (the outbox's submitted_at), and
// the call comes SMSWait after it. A survey SMS the outbox suppressed (the citizen opted
// out meanwhile) settles its survey as refused. It returns how many surveys it moved.
func (s *Service) SMSSentOnce(ctx context.Context) (int, error) {
	now := s.now()
	var rows []struct {
		ID          uint64
		Status      sms.Status
		SubmittedAt *time.Time
	}
	err := s.db.WithContext(ctx).Raw(`SELECT s.id, m.status, m.submitted_at FROM callback_surveys s JOIN `+surveySMS+`
		WHERE s.status = ? AND s.sent_at IS NULL AND m.status IN ? ORDER BY s.id LIMIT 5000`,
		StatusAwaitingSMS, []sms.Status{sms.StatusSubmitted, sms.StatusDelivered, sms.StatusSuppressed}).Scan(&rows).Error
	if err != nil {
		return 0, fmt.Errorf("callback: read survey SMS accepted by the gateway: %w", err)
	}
	db := s.db.WithContext(ctx)
	moved := 0
	for _, r := range rows {
		set := map[string]any{"updated_at": now}
		if r.Status == sms.StatusSuppressed {
			set = map[string]any{"status": StatusDone, "result": ResultRefused, "channel": ChannelSMS, "answered_at": now,
				"answered_by": "system:sms", "remarks": "opted out of surveys (suppression list)", "updated_at": now}
		} else {
			sent := now
			if r.SubmittedAt != nil {
				sent = r.SubmittedAt.UTC()
			}
			set["sent_at"], set["due_at"] = sent, sent.Add(s.opts.SMSWait)
		}
		res := db.Model(&Survey{}).Where("id = ? AND status = ? AND sent_at IS NULL AND result = ?", r.ID, StatusAwaitingSMS, ResultNone).Updates(set)
		if res.Error != nil {
			return moved, fmt.Errorf("callback: survey %d: SMS accepted: %w", r.ID, res.Error)
		}
		moved += int(res.RowsAffected)
	}
	if moved > 0 {
		s.log.InfoContext(ctx, "callback survey SMS accepted by the gateway; waiting for answers", "surveys", moved)
	}
	return moved, nil
}

// AfterSMSOnce moves SMS surveys without an answer to a call: those whose wait since the
// gateway accepted the SMS is over, and at once those whose SMS could not be delivered
// (failed or expired in the outbox: the call's greeting does not mention an SMS). A survey
// whose SMS is still queued (the gateway is down) waits: it is not called on its account.
// Without telephony they go to the manual list.
func (s *Service) AfterSMSOnce(ctx context.Context) error {
	if _, err := s.SMSSentOnce(ctx); err != nil {
		return err
	}
	now := s.now()
	var ids []uint64
	err := s.db.WithContext(ctx).Raw(`SELECT s.id FROM callback_surveys s
		WHERE s.status = ? AND ((s.sent_at IS NOT NULL AND s.due_at <= ?) OR EXISTS (SELECT 1 FROM sms_messages m
			WHERE m.idempotency_key = 'survey:' || CAST(s.id AS VARCHAR(20)) AND m.status IN ?))
		ORDER BY s.id LIMIT 5000`, StatusAwaitingSMS, now, []sms.Status{sms.StatusFailed, sms.StatusExpired}).Scan(&ids).Error
	if err != nil {
		return fmt.Errorf("callback: read unanswered SMS surveys: %w", err)
	}
	if len(ids) == 0 {
		return nil
	}
	set := map[string]any{"status": StatusCalling, "due_at": now, "updated_at": now}
	if s.opts.Dialer == nil {
		set = map[string]any{"status": StatusManual, "note": ReasonNoTelephony, "updated_at": now}
	}
	for len(ids) > 0 {
		n := min(len(ids), 500)
		if err := s.db.WithContext(ctx).Model(&Survey{}).Where("id IN ? AND status = ?", ids[:n], StatusAwaitingSMS).
			Updates(set).Error; err != nil {
			return fmt.Errorf("callback: move unanswered SMS surveys: %w", err)
		}
		s.log.InfoContext(ctx, "callback SMS surveys unanswered; calling", "surveys", n, "to", set["status"])
		ids = ids[n:]
	}
	return nil
}
