package callback

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/tickets"
)

// EscalateOnce reopens the tickets of dissatisfied results not yet escalated: those whose
// reason is in, or whose reason SMS went unanswered for the answer window. It returns
// how many it escalated.
func (s *Service) EscalateOnce(ctx context.Context) (int, error) {
	now := s.now()
	var ids []uint64
	err := s.db.WithContext(ctx).Model(&Survey{}).Where("result = ? AND escalated_at IS NULL AND (awaiting_reason = ? OR answered_at <= ?)",
		ResultDissatisfied, false, now.Add(-s.opts.AnswerWindow)).Order("id").Limit(200).Pluck("id", &ids).Error
	if err != nil {
		return 0, fmt.Errorf("callback: read dissatisfied results: %w", err)
	}
	n := 0
	var errs []error
	for _, id := range ids {
		ok, err := s.escalate(ctx, id)
		if err != nil {
			errs = append(errs, err)
		}
		if ok {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// escalate reopens a dissatisfied survey's ticket for supervision (督办) with the reason
// as the timeline note, and marks the survey escalated. A ticket that cannot be reopened
// (someone reopened it already) is recorded as such: there is nothing to retry.
func (s *Service) escalate(ctx context.Context, id uint64) (bool, error) {
	var sv Survey
	if err := s.db.WithContext(ctx).First(&sv, id).Error; err != nil {
		return false, fmt.Errorf("callback: escalate survey %d: %w", id, err)
	}
	if sv.Result != ResultDissatisfied || sv.EscalatedAt != nil {
		return false, nil
	}
	if s.opts.Tickets == nil {
		return false, errors.New("callback: escalate: no ticket store")
	}
	note := reopenNote(&sv, s)
	_, err := s.opts.Tickets.Act(ctx, reopener(&sv), sv.TicketNumber, tickets.ActReopen, tickets.ActionRequest{Reason: note})
	now := s.now()
	set := map[string]any{"escalated_at": now, "awaiting_reason": false, "updated_at": now}
	switch {
	case err == nil:
		s.log.InfoContext(ctx, "callback: dissatisfied; ticket reopened for supervision", "survey", sv.ID, "ticket", sv.TicketNumber)
	case errors.Is(err, api.ErrConflict) || errors.Is(err, api.ErrNotFound) || errors.Is(err, api.ErrInvalid) || errors.Is(err, api.ErrForbidden):
		s.log.WarnContext(ctx, "callback: dissatisfied, but the ticket could not be reopened", "survey", sv.ID, "ticket", sv.TicketNumber, "err", err)
		set["escalation_error"] = clip(err.Error(), 255)
	default:
		return false, fmt.Errorf("callback: reopen ticket %s for survey %d: %w", sv.TicketNumber, sv.ID, err)
	}
	r := s.db.WithContext(ctx).Model(&Survey{}).Where("id = ? AND escalated_at IS NULL", sv.ID).Updates(set)
	if r.Error != nil {
		return false, fmt.Errorf("callback: mark survey %d escalated: %w", sv.ID, r.Error)
	}
	return err == nil, nil
}

// reopener is who reopens the ticket on its timeline: the operator or supervisor who
// recorded a manual result, else the surveys themselves (an SMS or call answer).
func reopener(sv *Survey) *auth.Principal {
	if role, name, ok := strings.Cut(sv.AnsweredBy, ":"); ok && sv.Channel == ChannelManual && name != "" {
		if p := (&auth.Principal{Name: name, Role: auth.Role(role)}); p.Is(auth.RoleOperator, auth.RoleSupervisor) {
			return p
		}
	}
	return system
}

// reopenNote is the timeline note: how the citizen answered and why.
func reopenNote(sv *Survey, s *Service) string {
	how := map[Channel]string{ChannelSMS: "短信", ChannelIVR: "电话", ChannelManual: "人工"}[sv.Channel]
	var b strings.Builder
	fmt.Fprintf(&b, "回访不满意（%s回访", how)
	if sv.AnsweredAt != nil {
		b.WriteString("，" + sv.AnsweredAt.In(s.opts.Location).Format("2006-01-02 15:04"))
	}
	b.WriteString("）")
	switch {
	case strings.TrimSpace(sv.Reason) != "":
		b.WriteString("：" + strings.TrimSpace(sv.Reason))
	case sv.Recording != "":
		b.WriteString("：原因见录音 " + sv.Recording)
	default:
		b.WriteString("：市民未说明原因")
	}
	return clip(b.String(), tickets.MaxNoteRunes)
}
