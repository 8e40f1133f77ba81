package ivr

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rexian/rexian/live"
)

// Hot standby: several instances point at the same Asterisk, one controls it. Control of
// a node is a lease in the live store: a key holding the holder's token, with an expiry
// the holder pushes forward every third of its life. The others try to take it twice per
// life; a holder that dies (kill -9) stops renewing and another takes the node within one
// life. A holder that cannot renew (Redis unreachable, a partition) gives the node up
// before its lease can have expired in Redis, so two controllers never drive one node.
//
// Redis rather than a PostgreSQL advisory lock: the expiry is what bounds the take-over
// after a kill -9 and what tells a partitioned holder, by its own clock, that it must let
// go; an advisory lock lives as long as the server keeps the dead session (TCP keepalive,
// minutes), the holder learns of its loss only when it next asks, and the embedded SQLite
// has none.

// Role is what an instance is for one node.
type Role string

const (
	// RoleActive: this instance holds the node's lease and controls its calls.
	RoleActive Role = "active"
	// RoleStandby: another instance controls the node; this one waits to take over.
	RoleStandby Role = "standby"
)

// lease is one node's control lease in the live store.
type lease struct {
	store *live.Store
	key   string
	token string
	ttl   time.Duration
}

func newLease(store *live.Store, app, node string, ttl time.Duration) *lease {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &lease{store: store, key: store.Key("ivr", "lease", app, node), token: hex.EncodeToString(b[:]), ttl: ttl}
}

// Renewing compares the token first, so that a holder whose lease expired and was taken
// cannot push the new holder's expiry (nor delete its key on release).
var (
	renewScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0`)
	releaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0`)
)

// acquire takes the lease if nobody holds it. valid is when it ends by this instance's
// clock: the expiry counted from before the request was sent, so never later than
// Redis's own.
func (l *lease) acquire(ctx context.Context) (ok bool, valid time.Time, err error) {
	sent := time.Now()
	ok, err = l.store.SetNX(ctx, l.key, l.token, l.ttl).Result()
	if err != nil {
		return false, time.Time{}, fmt.Errorf("take lease %s: %w", l.key, err)
	}
	return ok, sent.Add(l.ttl), nil
}

// errLeaseLost: the key holds another token, or none: another instance may control the
// node.
var errLeaseLost = errors.New("lease lost")

// renew pushes the expiry forward while this instance holds the lease.
func (l *lease) renew(ctx context.Context) (valid time.Time, err error) {
	sent := time.Now()
	n, err := renewScript.Run(ctx, l.store, []string{l.key}, l.token, l.ttl.Milliseconds()).Int()
	if err != nil {
		return time.Time{}, fmt.Errorf("renew lease %s: %w", l.key, err)
	}
	if n != 1 {
		return time.Time{}, fmt.Errorf("renew lease %s: %w", l.key, errLeaseLost)
	}
	return sent.Add(l.ttl), nil
}

// release gives the lease up at once (a clean shutdown), so a standby need not wait for
// it to expire.
func (l *lease) release(ctx context.Context) error {
	if err := releaseScript.Run(ctx, l.store, []string{l.key}, l.token).Err(); err != nil {
		return fmt.Errorf("release lease %s: %w", l.key, err)
	}
	return nil
}

// hold waits for the lease, then holds it: control runs with a context that ends when
// the lease is lost (or ctx ends), and hold waits for control to return before trying
// again. Losing means failing to renew before the lease's own end, with a margin of a
// sixth of its life for the calls to wind down and for clocks that drift.
func (l *lease) hold(ctx context.Context, onWait func(err error), control func(ctx context.Context)) {
	retry := l.ttl / 6
	margin := l.ttl / 6
	for ctx.Err() == nil {
		ok, valid, err := l.acquire(ctx)
		if !ok {
			onWait(err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(retry):
			}
			continue
		}
		held, lose := context.WithCancelCause(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			control(held)
		}()
		cause := l.keep(held, valid, margin)
		lose(cause)
		<-done
		if ctx.Err() != nil {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			_ = l.release(rctx)
			cancel()
			return
		}
		onWait(cause)
	}
}

// keep renews the lease until it is lost or ctx ends, and returns why it stopped. The
// lease's end by this instance's clock is the authority: a renewal still on its way then
// (Redis slow or out of reach, which the client may take seconds to notice) is too late.
func (l *lease) keep(ctx context.Context, valid time.Time, margin time.Duration) error {
	every := l.ttl / 3
	type result struct {
		valid time.Time
		err   error
	}
	var last error
	for {
		end := time.NewTimer(time.Until(valid.Add(-margin)))
		wait := time.NewTimer(every)
		if last != nil && !errors.Is(last, errLeaseLost) {
			wait.Reset(every / 4) // the last renewal failed: try again sooner
		}
		got := make(chan result, 1)
		select {
		case <-ctx.Done():
			end.Stop()
			wait.Stop()
			return ctx.Err()
		case <-end.C:
			wait.Stop()
			if last == nil {
				last = errors.New("no renewal in time")
			}
			return fmt.Errorf("%w: %w", errLeaseLost, last)
		case <-wait.C:
		}
		rctx, cancel := context.WithDeadline(ctx, valid.Add(-margin))
		go func() {
			v, err := l.renew(rctx)
			got <- result{v, err}
		}()
		select {
		case <-ctx.Done():
			cancel()
			end.Stop()
			return ctx.Err()
		case <-end.C:
			cancel()
			return fmt.Errorf("%w: renewal too slow: %w", errLeaseLost, rctx.Err())
		case r := <-got:
			cancel()
			end.Stop()
			if errors.Is(r.err, errLeaseLost) {
				return r.err
			}
			if r.err != nil {
				last = r.err
				continue
			}
			valid, last = r.valid, nil
		}
	}
}
