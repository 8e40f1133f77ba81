package callback

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/phone"
)

// callLease holds a survey while one instance calls; a crash mid-call frees it after this.
const callLease = 15 * time.Minute

// keyResults are the survey keys of the IVR question.
var keyResults = map[string]Result{"1": ResultSatisfied, "2": ResultFairlySatisfied, "3": ResultDissatisfied}

// CallOnce places the survey calls that are due, a few at once, and waits for them. It
// returns how many calls it tried. Outside the allowed hours it does nothing.
func (s *Service) CallOnce(ctx context.Context) (int, error) {
	if s.opts.Dialer == nil {
		return 0, nil
	}
	now := s.now()
	if !s.pol.allowed(now) {
		return 0, nil
	}
	var due []Survey
	err := s.db.WithContext(ctx).Where("status = ? AND due_at <= ? AND (call_lease_until IS NULL OR call_lease_until < ?)",
		StatusCalling, now, now).Order("due_at, id").Limit(s.opts.CallConcurrency * 4).Find(&due).Error
	if err != nil {
		return 0, fmt.Errorf("callback: read due calls: %w", err)
	}
	var (
		wg    sync.WaitGroup
		sem   = make(chan struct{}, s.opts.CallConcurrency)
		mu    sync.Mutex
		tried int
		errs  []error
	)
	for i := range due {
		sv := &due[i]
		until := now.Add(callLease)
		r := s.db.WithContext(ctx).Model(&Survey{}).
			Where("id = ? AND status = ? AND (call_lease_until IS NULL OR call_lease_until < ?)", sv.ID, StatusCalling, now).
			Updates(map[string]any{"call_lease_until": until, "updated_at": now})
		if r.Error != nil {
			return tried, fmt.Errorf("callback: claim survey %d: %w", sv.ID, r.Error)
		}
		if r.RowsAffected == 0 {
			continue // another instance took it
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			err := s.call(ctx, sv)
			mu.Lock()
			tried++
			if err != nil {
				errs = append(errs, err)
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return tried, errors.Join(errs...)
}

// call makes one attempt and records what came of it.
func (s *Service) call(ctx context.Context, sv *Survey) error {
	log := s.log.With("survey", sv.ID, "ticket", sv.TicketNumber, "to", phone.Mask(sv.Phone))
	// A call that outlives any survey's length lost its telephony on the way (Asterisk's
	// connection dropped mid-call): give up on it, and do not count it as an attempt.
	cctx, cancel := context.WithTimeout(ctx, s.opts.CallTimeout)
	res, err := s.opts.Dialer.Survey(cctx, ivr.SurveyRequest{Number: sv.Phone, TicketNumber: sv.TicketNumber,
		Ring: s.opts.Ring, KeyWait: s.opts.KeyWait, MaxReason: s.opts.MaxReason})
	lost := cctx.Err() != nil && ctx.Err() == nil && res.Key == ""
	cancel()
	now := s.now()
	// What came of a call is written even when shutdown cut the call short.
	wctx := context.WithoutCancel(ctx)
	db := s.db.WithContext(wctx)
	if err != nil && res.Outcome == "" || errors.Is(err, ivr.ErrNoTelephony) || lost {
		// Not an attempt: telephony is down or refused the request. Try again later.
		log.WarnContext(ctx, "callback: survey call could not be placed or was cut off; will retry", "outcome", res.Outcome,
			"timed_out", lost, "err", err)
		return s.update(db, sv.ID, map[string]any{"call_lease_until": nil, "due_at": s.pol.next(now.Add(s.opts.OutageRetry)), "updated_at": now})
	}
	if err != nil {
		log.WarnContext(ctx, "callback: survey call ended with an error", "outcome", res.Outcome, "err", err)
	}
	attempts := sv.Attempts + 1
	base := map[string]any{"attempts": attempts, "last_outcome": string(res.Outcome), "updated_at": now}
	if res.CallID != 0 {
		base["last_call_id"] = res.CallID
	}
	if r, ok := keyResults[res.Key]; ok && res.Outcome == ivr.SurveyAnswered {
		set := map[string]any{"answered_by": "citizen:ivr", "recording": res.Reason}
		for k, v := range base {
			set[k] = v
		}
		first, err := s.record(wctx, sv, r, ChannelIVR, set, now)
		if err != nil {
			return err
		}
		if !first {
			var cur Survey
			_ = db.First(&cur, sv.ID).Error
			log.InfoContext(ctx, "callback: answered by call after another answer; the first stands", "first", cur.Result,
				"first_channel", cur.Channel, "second", r)
			return s.update(db, sv.ID, map[string]any{"call_lease_until": nil, "attempts": attempts, "last_outcome": string(res.Outcome)})
		}
		log.InfoContext(ctx, "callback: survey answered by call", "result", r, "reason_recording", res.Reason)
		if r == ResultDissatisfied {
			if _, err := s.escalate(wctx, sv.ID); err != nil {
				log.WarnContext(ctx, "callback: reopening deferred", "err", err)
			}
		}
		return nil
	}
	// Not reached (no answer, busy, hung up before a key, a fax or answering machine).
	base["call_lease_until"] = nil
	if attempts >= s.opts.MaxCallAttempts {
		base["status"], base["note"] = StatusManual, ReasonCallsExhausted
		log.InfoContext(ctx, "callback: survey calls exhausted; to the manual list", "outcome", res.Outcome, "attempts", attempts)
	} else {
		base["due_at"] = s.pol.next(now.Add(s.opts.CallRetry))
		log.InfoContext(ctx, "callback: survey call not answered; will retry", "outcome", res.Outcome, "attempts", attempts,
			"next", base["due_at"])
	}
	return s.update(db, sv.ID, base, StatusCalling)
}

// update sets fields of a survey, if it is (still) in one of the given statuses.
func (s *Service) update(db *gorm.DB, id uint64, set map[string]any, in ...Status) error {
	q := db.Model(&Survey{}).Where("id = ?", id)
	if len(in) > 0 {
		q = q.Where("status IN ?", in)
	}
	if err := q.Updates(set).Error; err != nil {
		return fmt.Errorf("callback: update survey %d: %w", id, err)
	}
	return nil
}
