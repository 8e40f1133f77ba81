package auth

import (
	"context"
	"strconv"
	"sync"
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

	mu    sync.Mutex
	local map[string]backoffRun
}

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
	if b.store == nil {
		return run
	}
	v, err := b.store.HMGet(ctx, b.key(subject), "n", "last").Result()
	if err != nil || len(v) != 2 {
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
	if b.store != nil {
		key := b.key(subject)
		pipe := b.store.TxPipeline()
		pipe.HIncrBy(ctx, key, "n", 1)
		pipe.HSet(ctx, key, "last", strconv.FormatInt(now.UnixNano(), 10))
		pipe.Expire(ctx, key, 2*b.cfg.Max+time.Minute)
		if _, err := pipe.Exec(ctx); err == nil || err == redis.Nil {
			return
		}
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
	if b.store != nil {
		_ = b.store.Del(ctx, b.key(subject)).Err()
	}
	b.mu.Lock()
	delete(b.local, subject)
	b.mu.Unlock()
}
