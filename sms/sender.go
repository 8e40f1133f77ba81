package sms

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/phone"
	"github.com/rexian/rexian/pii"
)

// How a message goes out, and why nothing is lost or sent twice:
//
//  1. claim: one UPDATE moves due messages from queued to submitting with a lease (a
//     per-claim owner and an expiry). On PostgreSQL the rows are picked with FOR UPDATE
//     SKIP LOCKED, so instances claim different messages; SQLite has one writer, so the
//     UPDATE is atomic by itself.
//  2. submit: each pending part goes to the gateway, never after the lease has run out
//     (the gateway call's deadline is the lease's end).
//  3. record: one transaction per batch marks the accepted parts and messages submitted,
//     refused ones failed, and puts temporarily failed ones back in the queue with backoff.
//     Every update names the claim's owner, so a sender that lost its lease changes nothing.
//
// A crash (or SIGKILL) between 2 and 3 leaves a message submitting with parts the gateway
// may or may not have. The part's delivery-report URL carries the outbox ids, so a report
// for such a part moves it out of pending: that proves it was sent. Reconcile, after the
// lease and a grace period for those reports, resends only the parts still pending. The
// same applies to a gateway call that timed out: whether it was accepted is unknown, so it
// is left to reconcile rather than retried at once.
//
// The remaining window: a part the gateway accepted just before the crash whose report
// (even the SMS centre's "accepted") does not reach rexian within lease + grace is sent a
// second time. With a gateway that sends no reports, every crash in that window repeats
// the parts in flight (at most concurrency of them per instance).

// claimed is a message a sender holds under its lease, with the parts still to submit.
type claimed struct {
	id         uint64
	kind       Kind
	to         string
	coding     Coding
	count      int
	attempts   int
	expiresAt  time.Time
	owner      string
	leaseUntil time.Time
	parts      []MessagePart
}

// outcome is what submitting one claimed message came to.
type outcome struct {
	c         *claimed
	submitted []submittedPart
	rejected  *MessagePart // the part the gateway refused
	err       error        // the refusal, or the temporary error
	// ambiguous: the gateway call ended without an answer; reconcile decides.
	ambiguous bool
	// released: stopped before trying (shutdown or lease running out).
	released bool
}

type submittedPart struct {
	id        uint64
	gatewayID string
	at        time.Time
}

// leaseMargin is how long before the lease ends a sender stops starting gateway calls.
const leaseMargin = 2 * time.Second

// maxSubmitTime bounds one gateway call.
const maxSubmitTime = 30 * time.Second

// claimSeq makes each claim's owner unique, so an old claim's late writes cannot touch a
// newer claim of the same message by the same instance.
var claimSeq atomic.Uint64

// claim leases up to n due messages and loads their pending parts.
func (s *Service) claim(ctx context.Context, n int) ([]*claimed, error) {
	if n <= 0 {
		return nil, nil
	}
	now := s.clock()
	owner := s.opts.Owner + ":" + strconv.FormatUint(claimSeq.Add(1), 36)
	lease := now.Add(s.opts.Lease)
	lock := ""
	if database.DialectOf(s.db) == database.Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	type row struct {
		ID        uint64
		Kind      Kind
		Recipient string
		Coding    Coding
		PartCount int
		Attempts  int
		ExpiresAt time.Time
	}
	var rows []row
	err := s.db.WithContext(ctx).Raw(`UPDATE sms_messages
SET status = ?, lease_owner = ?, lease_until = ?, attempts = attempts + 1, updated_at = ?
WHERE id IN (SELECT id FROM sms_messages WHERE status = ? AND next_attempt_at <= ? AND expires_at > ?
             ORDER BY next_attempt_at LIMIT ?`+lock+`)
RETURNING id, kind, recipient, coding, part_count, attempts, expires_at`,
		StatusSubmitting, owner, lease, now, StatusQueued, now, now, n).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("sms: claim: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	ids := make([]uint64, len(rows))
	byID := make(map[uint64]*claimed, len(rows))
	out := make([]*claimed, len(rows))
	keys := pii.Keys(s.db)
	for i, r := range rows {
		ids[i] = r.ID
		// The claim reads the row with SQL of its own: the number is opened here.
		to, err := keys.Open(r.Recipient)
		if err != nil {
			// The claim stands; the lease runs out and reconcile puts the message back.
			return nil, fmt.Errorf("sms: claim: message %d: %w", r.ID, err)
		}
		out[i] = &claimed{id: r.ID, kind: r.Kind, to: to, coding: r.Coding, count: r.PartCount,
			attempts: r.Attempts, expiresAt: r.ExpiresAt, owner: owner, leaseUntil: lease}
		byID[r.ID] = out[i]
	}
	var parts []MessagePart
	if err := s.db.WithContext(ctx).Where("message_id IN ? AND status = ?", ids, PartPending).
		Order("message_id, seq").Find(&parts).Error; err != nil {
		// The claim stands; the lease runs out and reconcile puts the messages back.
		return nil, fmt.Errorf("sms: claim: load parts: %w", err)
	}
	for _, p := range parts {
		c := byID[p.MessageID]
		c.parts = append(c.parts, p)
	}
	return out, nil
}

// submit sends a claimed message's pending parts in order.
func (s *Service) submit(ctx context.Context, gw Gateway, c *claimed) outcome {
	o := outcome{c: c}
	if len(c.parts) == 0 {
		return o
	}
	if err := s.limiter.Wait(ctx, gw.Name(), len(c.parts)); err != nil {
		o.released = true
		return o
	}
	for i := range c.parts {
		p := &c.parts[i]
		left := c.leaseUntil.Sub(s.clock()) // on the service's clock, which tests move
		if ctx.Err() != nil || left < leaseMargin {
			o.released = true
			return o
		}
		// The call outlives a shutdown request (its answer must be recorded) but never
		// the lease: after that, reconcile owns the message.
		callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(left, maxSubmitTime))
		res, err := gw.Submit(callCtx, Part{
			MessageID: c.id, PartID: p.ID, To: c.to, Coding: c.coding, Text: p.Text,
			Ref: uint8(c.id % 256), Seq: p.Seq, Count: c.count,
		})
		cancel()
		s.countSubmission(err)
		switch {
		case err == nil:
			o.submitted = append(o.submitted, submittedPart{id: p.ID, gatewayID: res.GatewayID, at: s.clock()})
		case errors.Is(err, ErrRejected):
			o.rejected, o.err = p, err
			return o
		case ambiguous(err):
			o.ambiguous, o.err = true, err
			return o
		default:
			o.err = err
			return o
		}
	}
	return o
}

// ambiguous reports an error after which the gateway may or may not have the part.
func ambiguous(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// backoff is the wait before attempt n+1: exponential from 10 s to 15 min, with half of
// it random so that a gateway coming back is not hit by every message at once.
func backoff(attempts int) time.Duration {
	d := 10 * time.Second
	for i := 1; i < attempts && d < 15*time.Minute; i++ {
		d *= 2
	}
	d = min(d, 15*time.Minute)
	return (d/2 + rand.N(d/2+1)).Truncate(time.Millisecond)
}

// record writes a batch of outcomes in one transaction.
func (s *Service) record(ctx context.Context, outs []outcome) error {
	if len(outs) == 0 {
		return nil
	}
	now := s.clock()
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var plainParts []uint64
		done := map[string][]uint64{} // owner → fully submitted message ids
		for _, o := range outs {
			for _, p := range o.submitted {
				if p.gatewayID == "" {
					plainParts = append(plainParts, p.id)
					continue
				}
				if err := tx.Exec(`UPDATE sms_parts SET gateway_id = ?, submitted_at = ?,
status = CASE WHEN status = ? THEN ? ELSE status END WHERE id = ?`,
					p.gatewayID, p.at, PartPending, PartSubmitted, p.id).Error; err != nil {
					return fmt.Errorf("sms: record part %d: %w", p.id, err)
				}
			}
			c := o.c
			switch {
			case o.rejected != nil:
				detail := truncate(o.err.Error(), 255)
				if err := tx.Exec(`UPDATE sms_parts SET status = ?, detail = ? WHERE id = ? AND status = ?`,
					PartFailed, detail, o.rejected.ID, PartPending).Error; err != nil {
					return fmt.Errorf("sms: record refused part %d: %w", o.rejected.ID, err)
				}
				if err := s.finish(tx, c, StatusFailed, "refused by the gateway: "+o.err.Error(), now); err != nil {
					return err
				}
				s.log.WarnContext(ctx, "sms refused by the gateway", "message", c.id, "part", o.rejected.ID, "to", phone.Mask(c.to), "err", o.err)
			case o.ambiguous:
				// Whether the gateway has the part is unknown: end the lease now and let
				// reconcile wait for a report before sending again.
				if err := tx.Exec(`UPDATE sms_messages SET lease_until = ?, error = ?, updated_at = ?
WHERE id = ? AND status = ? AND lease_owner = ?`, now, truncate("no answer from the gateway: "+o.err.Error(), 1000), now,
					c.id, StatusSubmitting, c.owner).Error; err != nil {
					return fmt.Errorf("sms: record unanswered message %d: %w", c.id, err)
				}
				s.log.WarnContext(ctx, "sms gateway gave no answer; reconcile decides", "message", c.id, "to", phone.Mask(c.to), "err", o.err)
			case o.err != nil:
				next := s.due(c.kind, now.Add(backoff(c.attempts)))
				if !next.Before(c.expiresAt) {
					if err := s.finish(tx, c, StatusExpired, "gateway unavailable until expiry: "+o.err.Error(), now); err != nil {
						return err
					}
					continue
				}
				if err := tx.Exec(`UPDATE sms_messages SET status = ?, next_attempt_at = ?, lease_owner = '', lease_until = NULL,
error = ?, updated_at = ? WHERE id = ? AND status = ? AND lease_owner = ?`,
					StatusQueued, next, truncate(o.err.Error(), 1000), now, c.id, StatusSubmitting, c.owner).Error; err != nil {
					return fmt.Errorf("sms: requeue message %d: %w", c.id, err)
				}
				s.log.InfoContext(ctx, "sms gateway error; will retry", "message", c.id, "attempt", c.attempts, "next", next, "err", o.err)
			case o.released:
				if err := tx.Exec(`UPDATE sms_messages SET status = ?, lease_owner = '', lease_until = NULL, updated_at = ?
WHERE id = ? AND status = ? AND lease_owner = ?`, StatusQueued, now, c.id, StatusSubmitting, c.owner).Error; err != nil {
					return fmt.Errorf("sms: release message %d: %w", c.id, err)
				}
			default:
				done[c.owner] = append(done[c.owner], c.id)
			}
		}
		for chunk := range chunks(plainParts, 500) {
			if err := tx.Exec(`UPDATE sms_parts SET status = ?, submitted_at = ? WHERE id IN ? AND status = ?`,
				PartSubmitted, now, chunk, PartPending).Error; err != nil {
				return fmt.Errorf("sms: record parts: %w", err)
			}
		}
		for owner, ids := range done {
			for chunk := range chunks(ids, 500) {
				if err := tx.Exec(`UPDATE sms_messages SET status = ?, submitted_at = ?, lease_owner = '', lease_until = NULL,
error = '', updated_at = ? WHERE id IN ? AND status = ? AND lease_owner = ?`,
					StatusSubmitted, now, now, chunk, StatusSubmitting, owner).Error; err != nil {
					return fmt.Errorf("sms: record submitted: %w", err)
				}
			}
		}
		return nil
	})
}

// finish moves a claimed message to a final status.
func (s *Service) finish(tx *gorm.DB, c *claimed, st Status, why string, now time.Time) error {
	err := tx.Exec(`UPDATE sms_messages SET status = ?, error = ?, finished_at = ?, lease_owner = '', lease_until = NULL, updated_at = ?
WHERE id = ? AND status = ? AND lease_owner = ?`, st, truncate(why, 1000), now, now, c.id, StatusSubmitting, c.owner).Error
	if err != nil {
		return fmt.Errorf("sms: mark message %d %s: %w", c.id, st, err)
	}
	return nil
}

func chunks[T any](xs []T, n int) func(func([]T) bool) {
	return func(yield func([]T) bool) {
		for len(xs) > 0 {
			k := min(n, len(xs))
			if !yield(xs[:k]) {
				return
			}
			xs = xs[k:]
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s[:n])
	return string(r[:len(r)-1]) + "…"
}

// SendOnce claims one batch of due messages, submits them and records the outcome. It
// returns how many messages it claimed. Without a gateway it does nothing.
func (s *Service) SendOnce(ctx context.Context) (int, error) {
	gw := s.opts.Gateway
	if gw == nil {
		return 0, nil
	}
	cs, err := s.claim(ctx, s.opts.BatchSize)
	if err != nil || len(cs) == 0 {
		return 0, err
	}
	outs := make([]outcome, len(cs))
	sem := make(chan struct{}, s.opts.Concurrency)
	var wg sync.WaitGroup
	for i, c := range cs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			outs[i] = s.submitSafely(ctx, gw, c)
		}()
	}
	wg.Wait()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return len(cs), s.record(rctx, outs)
}

// submitSafely turns a panicking gateway into an unanswered call, so that one bad driver
// call neither kills the process nor loses the message.
func (s *Service) submitSafely(ctx context.Context, gw Gateway, c *claimed) (o outcome) {
	defer func() {
		if r := recover(); r != nil {
			s.log.ErrorContext(ctx, "sms gateway panicked", "message", c.id, "panic", r)
			o = outcome{c: c, ambiguous: true, err: fmt.Errorf("gateway panicked: %v", r)}
		}
	}()
	return s.submit(ctx, gw, c)
}

// RunSender sends from the outbox until ctx ends: it claims while there is room, submits
// with the configured concurrency and records outcomes in batches. On shutdown, claimed
// messages not yet tried go back to the queue and the calls in flight are recorded.
func (s *Service) RunSender(ctx context.Context) error {
	gw := s.opts.Gateway
	if gw == nil {
		s.noGateway.Do(func() {
			s.log.WarnContext(ctx, "sms: no gateway configured; messages stay queued until one is")
		})
		<-ctx.Done()
		return nil
	}
	// Claim no more than can be submitted well within the lease at the configured rate.
	maxInFlight := min(2*s.opts.BatchSize, max(1, int(s.opts.RatePerSecond*s.opts.Lease.Seconds()/4)))
	jobs := make(chan *claimed, maxInFlight)
	results := make(chan outcome, maxInFlight)
	var inFlight atomic.Int64
	room := make(chan struct{}, 1)

	var submitters sync.WaitGroup
	for range s.opts.Concurrency {
		submitters.Add(1)
		go func() {
			defer submitters.Done()
			for c := range jobs {
				results <- s.submitSafely(ctx, gw, c)
			}
		}()
	}
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		s.flushLoop(ctx, results, func(n int) {
			inFlight.Add(int64(-n))
			select {
			case room <- struct{}{}:
			default:
			}
		})
	}()

	poll := time.NewTimer(0)
	defer poll.Stop()
	for ctx.Err() == nil {
		free := maxInFlight - int(inFlight.Load())
		if free < max(1, min(s.opts.BatchSize, maxInFlight)/2) {
			select {
			case <-ctx.Done():
			case <-room:
			case <-time.After(s.opts.PollInterval):
			}
			continue
		}
		cs, err := s.claim(ctx, min(free, s.opts.BatchSize))
		if err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "sms sender: claim failed", "err", err)
		}
		if len(cs) == 0 {
			poll.Reset(s.opts.PollInterval)
			select {
			case <-ctx.Done():
			case <-poll.C:
			case <-s.wakeC():
			}
			continue
		}
		inFlight.Add(int64(len(cs)))
		for _, c := range cs {
			jobs <- c // never blocks: jobs holds maxInFlight
		}
	}
	close(jobs)
	submitters.Wait()
	close(results)
	<-flushed
	return nil
}

// flushLoop records outcomes in batches: when 200 have gathered or 20 ms after the first.
func (s *Service) flushLoop(ctx context.Context, results <-chan outcome, recorded func(int)) {
	var batch []outcome
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	flush := func() {
		if len(batch) == 0 {
			return
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err := s.record(rctx, batch)
		cancel()
		if err != nil {
			// The leases run out and reconcile settles these messages from the reports.
			s.log.ErrorContext(ctx, "sms sender: record failed", "messages", len(batch), "err", err)
		}
		recorded(len(batch))
		batch = batch[:0]
	}
	for {
		select {
		case o, ok := <-results:
			if !ok {
				flush()
				return
			}
			if len(batch) == 0 {
				timer.Reset(20 * time.Millisecond)
			}
			batch = append(batch, o)
			if len(batch) >= 200 {
				timer.Stop()
				flush()
			}
		case <-timer.C:
			flush()
		}
	}
}
