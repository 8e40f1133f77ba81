package dashboards

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/sms"
	"github.com/rexian/rexian/tickets"
)

// Texter queues an SMS; *sms.Service is the real one.
type Texter interface {
	Enqueue(ctx context.Context, m sms.NewMessage) (*sms.Message, bool, error)
}

var _ Texter = (*sms.Service)(nil)

// noticeBatch is how many cards one step of a notice pass reads.
const noticeBatch = 200

// cardNoticeKey is the outbox idempotency key of a card's notice: a pass that crashes
// between queueing the SMS and marking the card queues the same message again, which
// the outbox answers with the first one.
func cardNoticeKey(id uint64) string { return fmt.Sprintf("card:%d", id) }

// colorNames are the colours as the SMS says them.
var colorNames = map[Color]string{Yellow: "黄牌", Red: "红牌"}

// NotifyCards texts each department about the cards it got that it has not been told
// of, one SMS per card (template sms.TemplateCardNotice), and returns how many cards it
// notified. Revoked cards are not notified. A department without a mobile number gets
// no SMS: the card is marked so that it is not tried again, and still waits in the
// department's portal. Like IssueCards it is safe to run at any time and on several
// instances at once.
func (s *Service) NotifyCards(ctx context.Context) (int, error) {
	if s.opts.Texter == nil {
		return 0, errors.New("dashboards: notify cards: no SMS outbox configured")
	}
	var dir *directory
	notified := 0
	var after uint64
	for {
		var cs []Card
		err := s.db.WithContext(ctx).Where("id > ? AND notified_at IS NULL AND notice_skipped_at IS NULL AND revoked_at IS NULL", after).
			Order("id").Limit(noticeBatch).Find(&cs).Error
		if err != nil {
			return notified, fmt.Errorf("dashboards: find cards to notify: %w", err)
		}
		if len(cs) == 0 {
			return notified, nil
		}
		if dir == nil {
			if dir, err = s.directory(ctx); err != nil {
				return notified, err
			}
		}
		for i := range cs {
			ok, err := s.notifyCard(ctx, dir, &cs[i])
			if err != nil {
				return notified, err
			}
			if ok {
				notified++
			}
		}
		if len(cs) < noticeBatch {
			return notified, nil
		}
		after = cs[len(cs)-1].ID
	}
}

// notifyCard queues c's SMS and marks c notified, or marks it skipped when no SMS can
// be sent. It reports whether this call marked c notified.
func (s *Service) notifyCard(ctx context.Context, dir *directory, c *Card) (bool, error) {
	log := s.opts.Log.With("card", c.ID, "department_id", c.DepartmentID)
	d := dir.depts[c.DepartmentID]
	if d == nil {
		log.WarnContext(ctx, "card not notified: its department is not in the directory")
		return false, s.skipNotice(ctx, c.ID, "the department is not in the directory")
	}
	log = log.With("department", d.Code)
	to, err := sms.Recipient(d.Phone)
	if err != nil {
		log.WarnContext(ctx, "card not notified: the department has no mobile phone", "phone", d.Phone, "reason", err)
		return false, s.skipNotice(ctx, c.ID, "no mobile phone: "+err.Error())
	}
	number := ""
	if n := tickets.NormalizeNumber(c.TicketNumber); tickets.CheckNumber(n) {
		number = n
	}
	msg, _, err := s.opts.Texter.Enqueue(ctx, sms.NewMessage{
		Kind: sms.KindCardNotice, To: to, Template: sms.TemplateCardNotice,
		Variables:      map[string]string{"department": d.Name, "color": colorNames[c.Color], "reason": c.Reason, "number": number},
		IdempotencyKey: cardNoticeKey(c.ID), TicketNumber: number, CreatedBy: "system:dashboards",
	})
	if errors.Is(err, api.ErrInvalid) {
		// The outbox refuses this message for good (e.g. the edited template makes it too
		// long): trying again every pass would only repeat the error.
		log.ErrorContext(ctx, "card not notified: the outbox refused its SMS", "err", err)
		return false, s.skipNotice(ctx, c.ID, "the SMS was refused: "+err.Error())
	}
	if err != nil {
		return false, fmt.Errorf("dashboards: notify card %d: %w", c.ID, err)
	}
	res := s.db.WithContext(ctx).Model(&Card{}).Where("id = ? AND notified_at IS NULL", c.ID).
		Updates(map[string]any{"notified_at": s.now(), "notice_message_id": msg.ID})
	if res.Error != nil {
		return false, fmt.Errorf("dashboards: mark card %d notified: %w", c.ID, res.Error)
	}
	if res.RowsAffected > 0 {
		log.InfoContext(ctx, "card notified", "message", msg.ID)
	}
	return res.RowsAffected > 0, nil
}

// skipNotice marks card id as one that gets no SMS, saying why.
func (s *Service) skipNotice(ctx context.Context, id uint64, why string) error {
	if r := []rune(why); len(r) > 255 {
		why = string(r[:254]) + "…"
	}
	err := s.db.WithContext(ctx).Model(&Card{}).Where("id = ? AND notified_at IS NULL AND notice_skipped_at IS NULL", id).
		Updates(map[string]any{"notice_skipped_at": s.now(), "notice_skip": why}).Error
	if err != nil {
		return fmt.Errorf("dashboards: mark card %d not notified: %w", id, err)
	}
	return nil
}

// UnacknowledgedCards are the cards of p's own department that it has not signed for
// and that are not revoked, newest first: the portal's banner. Only department users
// have them.
func (s *Service) UnacknowledgedCards(ctx context.Context, p *auth.Principal) ([]CardView, error) {
	if p == nil {
		return nil, api.Errorf(api.ErrUnauthorized, "unauthorized", "log in first")
	}
	if p.Role != auth.RoleDepartment || p.DepartmentID == 0 {
		return nil, api.Errorf(api.ErrForbidden, "not_department", "only a department's users sign for its cards")
	}
	var cs []Card
	err := s.db.WithContext(ctx).Where("department_id = ? AND acknowledged_at IS NULL AND revoked_at IS NULL", p.DepartmentID).
		Order("issued_at DESC, id DESC").Find(&cs).Error
	if err != nil {
		return nil, fmt.Errorf("dashboards: unacknowledged cards of %d: %w", p.DepartmentID, err)
	}
	if len(cs) == 0 {
		return []CardView{}, nil
	}
	dir, err := s.directory(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]CardView, len(cs))
	for i := range cs {
		out[i] = s.cardView(dir, &cs[i])
	}
	return out, nil
}

// AcknowledgeCard records that p's department signed for card id (签收). Only users of
// the department the card was issued to may; signing again changes nothing and returns
// the card as first signed. A revoked card needs no signing.
func (s *Service) AcknowledgeCard(ctx context.Context, p *auth.Principal, id uint64) (*CardView, error) {
	if p == nil {
		return nil, api.Errorf(api.ErrUnauthorized, "unauthorized", "log in first")
	}
	if p.Role != auth.RoleDepartment || p.DepartmentID == 0 {
		return nil, api.Errorf(api.ErrForbidden, "not_department", "only the department a card was issued to signs for it")
	}
	dir, err := s.directory(ctx)
	if err != nil {
		return nil, err
	}
	own := dir.depts[p.DepartmentID]
	if own == nil {
		return nil, api.Errorf(api.ErrForbidden, "no_department", "your account is not bound to a department")
	}
	var c Card
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.First(&c, id).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return api.Errorf(api.ErrNotFound, "card_not_found", "no card %d for your department", id)
			}
			return fmt.Errorf("dashboards: load card %d: %w", id, err)
		}
		switch {
		case c.DepartmentID == own.ID:
		case dir.within(c.DepartmentID, own):
			// A sub-unit's card is on the department's board, but is the sub-unit's to sign.
			name := ""
			if x := dir.depts[c.DepartmentID]; x != nil {
				name = x.Name
			}
			return api.Errorf(api.ErrForbidden, "not_your_card", "card %d was issued to %s; only that department signs for it", id, name)
		default:
			return api.Errorf(api.ErrNotFound, "card_not_found", "no card %d for your department", id)
		}
		if c.RevokedAt != nil {
			return api.Errorf(api.ErrConflict, "card_revoked", "card %d was revoked; it needs no signing", id)
		}
		if c.AcknowledgedAt != nil {
			return nil // signed already: the first signature stands
		}
		now := s.now()
		res := tx.Model(&Card{}).Where("id = ? AND acknowledged_at IS NULL", id).
			Updates(map[string]any{"acknowledged_at": now, "acknowledged_by": p.Actor()})
		if res.Error != nil {
			return fmt.Errorf("dashboards: acknowledge card %d: %w", id, res.Error)
		}
		if res.RowsAffected == 0 { // signed at this moment by a colleague: theirs stands
			return tx.First(&c, id).Error
		}
		c.AcknowledgedAt, c.AcknowledgedBy = &now, p.Actor()
		s.opts.Log.InfoContext(ctx, "card acknowledged", "card", id, "department", own.Code, "by", p.Actor())
		return nil
	})
	if err != nil {
		return nil, err
	}
	v := s.cardView(dir, &c)
	return &v, nil
}
