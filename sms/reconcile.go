package sms

import (
	"context"
	"fmt"
	"time"
)

// ReconcileOnce settles what a crash or an unanswered gateway call left behind, and
// expires what waited too long. It is safe on every instance at once: each change is one
// guarded UPDATE.
//
//   - A submitting message whose lease has run out and whose parts have all been accepted
//     or reported takes the status its parts say.
//   - One with parts still pending waits for ReconcileGrace after the lease: a delivery
//     report for a part proves the gateway had it. Then the pending parts are queued again.
//   - A queued message past its expiry is expired.
//   - An inbound message stored but not routed (a crash in between) is routed again.
func (s *Service) ReconcileOnce(ctx context.Context) error {
	now := s.clock()
	res := s.db.WithContext(ctx).Exec(`UPDATE sms_messages SET status = ?, finished_at = ?, updated_at = ?,
error = CASE WHEN error = '' THEN ? ELSE error END
WHERE status = ? AND expires_at <= ?`, StatusExpired, now, now, "not sent before its expiry", StatusQueued, now)
	if res.Error != nil {
		return fmt.Errorf("sms: expire: %w", res.Error)
	}
	if res.RowsAffected > 0 {
		s.log.WarnContext(ctx, "sms messages expired unsent", "count", res.RowsAffected)
	}

	type stale struct {
		ID         uint64
		Kind       Kind
		LeaseOwner string
		LeaseUntil time.Time
		ExpiresAt  time.Time
	}
	var rows []stale
	if err := s.db.WithContext(ctx).Raw(`SELECT id, kind, lease_owner, lease_until, expires_at FROM sms_messages
WHERE status = ? AND lease_until <= ? ORDER BY lease_until LIMIT 1000`, StatusSubmitting, now).Scan(&rows).Error; err != nil {
		return fmt.Errorf("sms: reconcile: find stale leases: %w", err)
	}
	for _, r := range rows {
		if err := s.reconcileMessage(ctx, r.ID, r.Kind, r.LeaseOwner, r.LeaseUntil, r.ExpiresAt, now); err != nil {
			return err
		}
	}
	return s.rerouteInbound(ctx, now)
}

func (s *Service) reconcileMessage(ctx context.Context, id uint64, kind Kind, owner string, leaseUntil, expiresAt, now time.Time) error {
	var states []PartStatus
	if err := s.db.WithContext(ctx).Model(&MessagePart{}).Where("message_id = ?", id).Pluck("status", &states).Error; err != nil {
		return fmt.Errorf("sms: reconcile message %d: %w", id, err)
	}
	pending, failed, delivered := 0, 0, 0
	for _, st := range states {
		switch st {
		case PartPending:
			pending++
		case PartFailed:
			failed++
		case PartDelivered:
			delivered++
		}
	}
	guard := "id = ? AND status = ? AND lease_owner = ?"
	var err error
	switch {
	case failed > 0:
		err = s.db.WithContext(ctx).Exec(`UPDATE sms_messages SET status = ?, finished_at = ?, lease_owner = '', lease_until = NULL,
error = ?, updated_at = ? WHERE `+guard, StatusFailed, now, "a part was not delivered", now, id, StatusSubmitting, owner).Error
	case pending == 0 && delivered == len(states):
		err = s.db.WithContext(ctx).Exec(`UPDATE sms_messages SET status = ?, finished_at = ?, submitted_at = COALESCE(submitted_at, ?),
lease_owner = '', lease_until = NULL, updated_at = ? WHERE `+guard, StatusDelivered, now, now, now, id, StatusSubmitting, owner).Error
	case pending == 0:
		err = s.db.WithContext(ctx).Exec(`UPDATE sms_messages SET status = ?, submitted_at = COALESCE(submitted_at, ?),
lease_owner = '', lease_until = NULL, updated_at = ? WHERE `+guard, StatusSubmitted, now, now, id, StatusSubmitting, owner).Error
		s.log.InfoContext(ctx, "sms reconcile: interrupted submission proven sent by reports", "message", id)
	case now.Before(leaseUntil.Add(s.opts.ReconcileGrace)):
		return nil // still waiting for a report that proves the parts went out
	case !now.Before(expiresAt):
		err = s.db.WithContext(ctx).Exec(`UPDATE sms_messages SET status = ?, finished_at = ?, lease_owner = '', lease_until = NULL,
error = ?, updated_at = ? WHERE `+guard, StatusExpired, now, "expired after an interrupted submission", now, id, StatusSubmitting, owner).Error
	default:
		err = s.db.WithContext(ctx).Exec(`UPDATE sms_messages SET status = ?, next_attempt_at = ?, lease_owner = '', lease_until = NULL,
error = ?, updated_at = ? WHERE `+guard, StatusQueued, s.due(kind, now), "requeued: the submission was interrupted and no report proved it sent",
			now, id, StatusSubmitting, owner).Error
		s.log.WarnContext(ctx, "sms reconcile: requeued an interrupted submission", "message", id, "pending_parts", pending, "lease_owner", owner)
	}
	if err != nil {
		return fmt.Errorf("sms: reconcile message %d: %w", id, err)
	}
	return nil
}

// RunReconciler reconciles every interval until ctx ends.
func (s *Service) RunReconciler(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := s.ReconcileOnce(ctx); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "sms reconcile failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
