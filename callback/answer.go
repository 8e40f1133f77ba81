package callback

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/phone"
	"github.com/rexian/rexian/pii"
	"github.com/rexian/rexian/sms"
	"github.com/rexian/rexian/tickets"
)

// MaxReasonRunes bounds a reason kept from an SMS or typed by an operator.
const MaxReasonRunes = 1000

// ParseAnswer reads a survey reply: 1, 2 or 3 (full-width too), or the words 满意,
// 基本满意 and 不满意, with surrounding spaces and punctuation ignored.
func ParseAnswer(text string) (Result, bool) {
	t := strings.Map(func(r rune) rune {
		if r >= '０' && r <= '９' { // full-width digits
			return r - '０' + '0'
		}
		if unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) {
			return -1
		}
		return r
	}, text)
	// The longer words first: 不满意 and 基本满意 both contain 满意.
	switch t {
	case "1", "满意", "非常满意":
		return ResultSatisfied, true
	case "2", "基本满意", "比较满意":
		return ResultFairlySatisfied, true
	case "3", "不满意", "很不满意", "非常不满意":
		return ResultDissatisfied, true
	}
	return ResultNone, false
}

// Answer takes an inbound SMS that may answer a survey (sms.SurveyAnswers). It returns
// handled false for a number without a survey to answer, or for a survey whose time is
// over, so that the outbox routes the message on (to a new ticket).
func (s *Service) Answer(ctx context.Context, from, text string, at time.Time) (bool, error) {
	n, err := phone.Parse(from)
	if err != nil {
		return false, nil
	}
	from = n.National
	if at.IsZero() {
		at = s.now()
	}
	at = at.UTC()
	// A survey whose SMS is queued but not yet known to be accepted still takes a reply:
	// the gateway may have sent it a moment before this pass learnt of it.
	var cands []Survey
	if err := s.db.WithContext(ctx).Where(pii.Is(s.db, "phone", "phone_idx", from)).Where("sent_at IS NOT NULL OR sms_queued_at IS NOT NULL").
		Order("id DESC").Limit(10).Find(&cands).Error; err != nil {
		return false, fmt.Errorf("callback: find surveys of %s: %w", phone.Mask(from), err)
	}
	res, recognised := ParseAnswer(text)
	// The citizen's newest open survey takes the reply; failing that, the newest answered
	// one still within its answer window (a changed mind, or the reason after a 3).
	var open, recent *Survey
	for i := range cands {
		c := &cands[i]
		switch {
		case c.Status != StatusDone && c.Status != StatusSkipped && at.Before(smsAt(c).Add(s.opts.ReplyExpiry)):
			if open == nil {
				open = c
			}
		case c.Status == StatusDone && c.AnsweredAt != nil && at.Before(c.AnsweredAt.Add(s.opts.AnswerWindow)):
			if recent == nil {
				recent = c
			}
		}
	}
	log := s.log.With("from", phone.Mask(from))
	switch {
	case recent != nil && recent.AwaitingReason && !recognised && (open == nil || smsAt(open).Before(smsAt(recent))):
		return true, s.keepReason(ctx, recent, text, at)
	case open != nil:
		if recognised {
			return true, s.answerBySMS(ctx, open, res, text, at)
		}
		return true, s.unrecognised(ctx, open, text, at)
	case recent != nil && recognised:
		return true, s.changeAnswer(ctx, recent, res, text, at)
	}
	if len(cands) == 0 {
		log.InfoContext(ctx, "callback: SMS from a number with no survey; routed on", "recognised", recognised)
	} else {
		log.InfoContext(ctx, "callback: SMS for a survey that is over; routed on", "survey", cands[0].ID,
			"status", cands[0].Status, "recognised", recognised)
	}
	return false, nil
}

// smsAt is when a survey's SMS went out: the gateway's acceptance, or the queueing while
// that is not known yet.
func smsAt(sv *Survey) time.Time {
	switch {
	case sv.SentAt != nil:
		return *sv.SentAt
	case sv.SMSQueuedAt != nil:
		return *sv.SMSQueuedAt
	}
	return sv.UpdatedAt
}

// record sets a survey's result if it has none yet. It reports whether this answer was
// the first: a second one (by SMS after a call, or the other way round) leaves the first
// standing. The first answer withdraws the survey SMS if it is still queued: a citizen
// who has answered must not be asked again.
func (s *Service) record(ctx context.Context, sv *Survey, res Result, ch Channel, set map[string]any, at time.Time) (bool, error) {
	all := map[string]any{"status": StatusDone, "result": res, "channel": ch, "answered_at": at, "updated_at": s.now(),
		"call_lease_until": nil}
	for k, v := range set {
		all[k] = v
	}
	r := s.db.WithContext(ctx).Model(&Survey{}).Where("id = ? AND result = ?", sv.ID, ResultNone).Updates(all)
	if r.Error != nil {
		return false, fmt.Errorf("callback: record survey %d: %w", sv.ID, r.Error)
	}
	if r.RowsAffected != 1 {
		return false, nil
	}
	if sv.PhoneKind != string(tickets.PhoneLandline) {
		// The answer stands whatever happens here; a failure only lets the SMS go out.
		ok, err := s.opts.Texter.Cancel(context.WithoutCancel(ctx), surveyKey(sv.ID), fmt.Sprintf("survey %d answered (%s) before it was sent", sv.ID, ch))
		switch {
		case err != nil:
			s.log.WarnContext(ctx, "callback: queued survey SMS not withdrawn", "survey", sv.ID, "err", err)
		case ok:
			s.log.InfoContext(ctx, "callback: survey answered before its SMS left; SMS withdrawn", "survey", sv.ID, "ticket", sv.TicketNumber, "channel", ch)
		}
	}
	return true, nil
}

func (s *Service) answerBySMS(ctx context.Context, sv *Survey, res Result, text string, at time.Time) error {
	set := map[string]any{"answered_by": "citizen:sms"}
	if res == ResultDissatisfied {
		set["awaiting_reason"] = true
	}
	first, err := s.record(ctx, sv, res, ChannelSMS, set, at)
	if err != nil {
		return err
	}
	if !first {
		var cur Survey
		_ = s.db.WithContext(ctx).First(&cur, sv.ID).Error
		s.log.InfoContext(ctx, "callback: second answer by SMS; the first stands", "survey", sv.ID, "ticket", sv.TicketNumber,
			"first", cur.Result, "first_channel", cur.Channel, "second", res)
		return nil
	}
	s.log.InfoContext(ctx, "callback: survey answered by SMS", "survey", sv.ID, "ticket", sv.TicketNumber, "result", res)
	if res == ResultDissatisfied {
		return s.reply(ctx, sv, "reason", "感谢您的评价。请直接回复您不满意的原因，我们将督促承办单位重新办理。")
	}
	return nil
}

// changeAnswer lets a citizen correct an SMS answer within the window; an answer given by
// call or to an operator stands.
func (s *Service) changeAnswer(ctx context.Context, sv *Survey, res Result, text string, at time.Time) error {
	if sv.Channel != ChannelSMS || sv.EscalatedAt != nil {
		s.log.InfoContext(ctx, "callback: a later SMS answer is only logged; the first stands", "survey", sv.ID,
			"ticket", sv.TicketNumber, "first", sv.Result, "first_channel", sv.Channel, "second", res, "escalated", sv.EscalatedAt != nil)
		return nil
	}
	if res == sv.Result {
		return nil
	}
	set := map[string]any{"result": res, "answered_at": at, "awaiting_reason": res == ResultDissatisfied, "updated_at": s.now()}
	r := s.db.WithContext(ctx).Model(&Survey{}).Where("id = ? AND channel = ? AND escalated_at IS NULL", sv.ID, ChannelSMS).Updates(set)
	if r.Error != nil {
		return fmt.Errorf("callback: change survey %d: %w", sv.ID, r.Error)
	}
	s.log.InfoContext(ctx, "callback: survey answer changed by SMS", "survey", sv.ID, "ticket", sv.TicketNumber, "from", sv.Result, "to", res)
	if res == ResultDissatisfied && r.RowsAffected == 1 {
		return s.reply(ctx, sv, "reason", "感谢您的评价。请直接回复您不满意的原因，我们将督促承办单位重新办理。")
	}
	return nil
}

// keepReason keeps free text after a 3 as the reason, and reopens the ticket now.
func (s *Service) keepReason(ctx context.Context, sv *Survey, text string, at time.Time) error {
	reason := clip(strings.TrimSpace(text), MaxReasonRunes)
	r := s.db.WithContext(ctx).Model(&Survey{}).Where("id = ? AND awaiting_reason = ?", sv.ID, true).
		Updates(map[string]any{"reason": reason, "awaiting_reason": false, "updated_at": s.now()})
	if r.Error != nil {
		return fmt.Errorf("callback: keep reason of survey %d: %w", sv.ID, r.Error)
	}
	s.log.InfoContext(ctx, "callback: reason for dissatisfaction received", "survey", sv.ID, "ticket", sv.TicketNumber)
	if _, err := s.escalate(ctx, sv.ID); err != nil {
		// The escalation pass retries it.
		s.log.WarnContext(ctx, "callback: reopening deferred", "survey", sv.ID, "err", err)
	}
	return nil
}

// unrecognised answers a reply the survey cannot read: once with a clarifying SMS, and the
// second time by putting the survey on the manual list.
func (s *Service) unrecognised(ctx context.Context, sv *Survey, text string, at time.Time) error {
	remark := clip(fmt.Sprintf("%s 短信：%s", at.In(s.opts.Location).Format("01-02 15:04"), strings.TrimSpace(text)), 300)
	if !sv.Clarified {
		r := s.db.WithContext(ctx).Model(&Survey{}).Where("id = ? AND clarified = ?", sv.ID, false).
			Updates(map[string]any{"clarified": true, "remarks": joinRemark(sv.Remarks, remark), "updated_at": s.now()})
		if r.Error != nil {
			return fmt.Errorf("callback: survey %d: %w", sv.ID, r.Error)
		}
		if r.RowsAffected == 1 {
			return s.reply(ctx, sv, "clarify", "抱歉，未能识别您的回复。请回复数字：1满意 2基本满意 3不满意。")
		}
	}
	err := s.db.WithContext(ctx).Model(&Survey{}).Where("id = ? AND result = ?", sv.ID, ResultNone).
		Updates(map[string]any{"status": StatusManual, "note": ReasonUnrecognised, "remarks": joinRemark(sv.Remarks, remark),
			"updated_at": s.now()}).Error
	if err != nil {
		return fmt.Errorf("callback: survey %d to the manual list: %w", sv.ID, err)
	}
	s.log.InfoContext(ctx, "callback: survey reply not understood twice; to the manual list", "survey", sv.ID, "ticket", sv.TicketNumber)
	return nil
}

// reply queues an automatic SMS to the citizen about their survey.
func (s *Service) reply(ctx context.Context, sv *Survey, what, text string) error {
	_, _, err := s.opts.Texter.Enqueue(ctx, sms.NewMessage{Kind: sms.KindReply, To: sv.Phone, Text: text,
		IdempotencyKey: fmt.Sprintf("survey-%s:%d", what, sv.ID), TicketNumber: sv.TicketNumber, CreatedBy: "system:callback"})
	if errors.Is(err, api.ErrInvalid) {
		s.log.WarnContext(ctx, "callback: survey reply SMS refused", "survey", sv.ID, "what", what, "err", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("callback: queue %s SMS for survey %d: %w", what, sv.ID, err)
	}
	return nil
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) > n {
		return string([]rune(s)[:n])
	}
	return s
}

func joinRemark(old, add string) string {
	if old == "" {
		return add
	}
	return clip(old+"\n"+add, 4000)
}
