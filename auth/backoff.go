package auth

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rexian/rexian/live"
)

// Backoff makes each failed login past the first few wait longer before the next try:
// after After failures in a row, Base, then twice that after each further failure, up
// to Max. It applies per address (across usernames) and per username (across
// addresses), on top of the fixed limits, so that guessing slows down at once instead of
// running at full speed until a limit is hit. A successful login clears the account's
// run; the address's run only ends once it has failed no more for Max.
type Backoff struct {
	After int
	Base  time.Duration
	Max   time.Duration
	// Off switches the delays off (the fixed limits stay).
	Off bool
}

// Defaults of Backoff.
const (
	DefaultBackoffAfter = 3
	DefaultBackoffBase  = time.Second
	DefaultBackoffMax   = 5 * time.Minute
)

// backoff keeps, per subject, the run of failures and when the last one was, in the
// live store (the process when it cannot be reached, like loginLimiter).
type backoff struct {
	store *live.Store
	cfg   Backoff
	// downUntil (unix nanoseconds) is when the live store is tried again after it
	// failed: until then the process keeps the runs, so that a login never waits on a
	// Redis that is down.
	downUntil atomic.Int64

	mu    sync.Mutex
	local map[string]backoffRun
}

// Bounds on the live store for the delays: each call gives up after liveTimeout, and
// after a failure the store is left alone for liveRetry. A login checks two delays and
// may record two failures; a Redis that does not answer costs it at most one timeout.
const (
	liveTimeout = 200 * time.Millisecond
	liveRetry   = 5 * time.Second
)

// live runs f against the live store within liveTimeout, and reports whether it ran: not
// when there is no store or it failed a moment ago. The client does not give up on a
// server that holds the connection without answering before its own read timeout
// (seconds), so f runs aside and is left to finish alone when the time is up.
func (b *backoff) live(ctx context.Context, f func(ctx context.Context) error) (ran bool, err error) {
	if b.store == nil || time.Now().UnixNano() < b.downUntil.Load() {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), liveTimeout)
	done := make(chan error, 1)
	go func() {
		defer cancel()
		done <- f(ctx)
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil && err != redis.Nil {
		b.down()
	}
	return true, err
}

// down notes that the live store failed: the process keeps the runs for liveRetry.
func (b *backoff) down() { b.downUntil.Store(time.Now().Add(liveRetry).UnixNano()) }

type backoffRun struct {
	n    int
	last time.Time
}

func newBackoff(store *live.Store, cfg Backoff) *backoff {
	return &backoff{store: store, cfg: cfg, local: map[string]backoffRun{}}
}

func (b *backoff) key(subject string) string { return b.store.Key("auth", "login_backoff", subject) }

// delay is the wait after a run of n failures.
func (b *backoff) delay(n int) time.Duration {
	if n < b.cfg.After {
		return 0
	}
	d := b.cfg.Base
	for i := b.cfg.After; i < n && d < b.cfg.Max; i++ {
		d *= 2
	}
	return min(d, b.cfg.Max)
}

// wait reports how long subject must still wait before its next try, and its run.
func (b *backoff) wait(ctx context.Context, subject string, now time.Time) (time.Duration, int) {
	if b.cfg.Off {
		return 0, 0
	}
	run := b.run(ctx, subject)
	d := b.delay(run.n)
	if d == 0 {
		return 0, run.n
	}
	return max(run.last.Add(d).Sub(now), 0), run.n
}

func (b *backoff) run(ctx context.Context, subject string) backoffRun {
	b.mu.Lock()
	run := b.local[subject]
	b.mu.Unlock()
	var v []any
	ran, err := b.live(ctx, func(ctx context.Context) (err error) {
		v, err = b.store.HMGet(ctx, b.key(subject), "n", "last").Result()
		return err
	})
	if !ran || err != nil || len(v) != 2 {
		return run
	}
	n, _ := strconv.Atoi(str(v[0]))
	last, _ := strconv.ParseInt(str(v[1]), 10, 64)
	if n > run.n {
		run = backoffRun{n: n, last: time.Unix(0, last)}
	}
	return run
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// fail extends subject's run. A run forgets itself once it has been quiet for Max past
// its delay.
func (b *backoff) fail(ctx context.Context, subject string, now time.Time) {
	if b.cfg.Off {
		return
	}
	ran, err := b.live(ctx, func(ctx context.Context) error {
		key := b.key(subject)
		pipe := b.store.TxPipeline()
		pipe.HIncrBy(ctx, key, "n", 1)
		pipe.HSet(ctx, key, "last", strconv.FormatInt(now.UnixNano(), 10))
		pipe.Expire(ctx, key, 2*b.cfg.Max+time.Minute)
		_, err := pipe.Exec(ctx)
		return err
	})
	if ran && (err == nil || err == redis.Nil) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	run := b.local[subject]
	if !run.last.IsZero() && now.Sub(run.last) > 2*b.cfg.Max {
		run = backoffRun{}
	}
	run.n++
	run.last = now
	if len(b.local) >= maxLocalKeys {
		for k, r := range b.local {
			if now.Sub(r.last) > 2*b.cfg.Max {
				delete(b.local, k)
			}
		}
	}
	if len(b.local) < maxLocalKeys {
		b.local[subject] = run
	}
}

// reset ends subject's run.
func (b *backoff) reset(ctx context.Context, subject string) {
	_, _ = b.live(ctx, func(ctx context.Context) error { return b.store.Del(ctx, b.key(subject)).Err() })
	b.mu.Lock()
	delete(b.local, subject)
	b.mu.Unlock()
}
