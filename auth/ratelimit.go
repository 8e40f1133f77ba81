package auth

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rexian/rexian/live"
)

// loginLimiter counts failed logins per username and address in fixed windows. The
// window number is part of the key, so a new window starts with a fresh count whatever
// Redis's own clock says, and tests move the injected clock instead of sleeping.
//
// Redis holds the counts so that every replica sees the same ones. When Redis cannot be
// reached the counts are kept in this process instead: a weaker limit, but a Redis outage
// must neither lock everybody out nor open the door to unlimited guessing.
type loginLimiter struct {
	store *live.Store
	limit LoginLimit
	log   *slog.Logger
	// sliding counts the previous window too, weighted by how much of it still lies
	// within one window of now, so that failures just before a window's end still count
	// just after it (the local fallback keeps fixed windows).
	sliding bool

	mu       sync.Mutex
	local    map[string]localCount
	degraded bool      // the last Redis call failed; logged once per outage
	retryAt  time.Time // during an outage, Redis is tried again only from then on
}

type localCount struct {
	window int64
	n      int
}

// redisRetry is how long an outage skips Redis: a dial to a dead server can take a
// good part of a second, which every login would otherwise pay.
const redisRetry = 30 * time.Second

// maxLocalKeys bounds the fallback's memory when someone sprays usernames from many
// addresses during an outage.
const maxLocalKeys = 100_000

func newLoginLimiter(store *live.Store, limit LoginLimit, log *slog.Logger) *loginLimiter {
	return &loginLimiter{store: store, limit: limit, log: log, local: map[string]localCount{}}
}

// window returns the number of the window now falls in and when it ends.
func (l *loginLimiter) window(now time.Time) (int64, time.Time) {
	w := int64(l.limit.Window / time.Second)
	if w < 1 {
		w = 1
	}
	n := now.Unix() / w
	return n, time.Unix((n+1)*w, 0)
}

func (l *loginLimiter) key(window int64, subject string) string {
	return l.store.Key("auth", "login_failures", strconv.FormatInt(window, 10), subject)
}

// blocked reports whether subject has used up its failures, and how long until it may try
// again.
func (l *loginLimiter) blocked(ctx context.Context, subject string, now time.Time) (time.Duration, bool) {
	n, end := l.window(now)
	// Failures counted here during a Redis outage still count once Redis is back.
	count, _ := l.redisCount(ctx, now, n, subject)
	count = max(count, l.localCount(n, subject))
	if !l.sliding {
		if count < l.limit.Failures {
			return 0, false
		}
		return end.Sub(now), true
	}
	if count >= l.limit.Failures {
		return end.Sub(now), true
	}
	prev, _ := l.redisCount(ctx, now, n-1, subject)
	if prev == 0 {
		return 0, false
	}
	// The previous window's weight falls from 1 to 0 across this one.
	weight := float64(end.Sub(now)) / float64(l.limit.Window)
	room := float64(l.limit.Failures - count) // > 0 here
	if float64(prev)*weight < room {
		return 0, false
	}
	// Blocked until prev × weight drops below room.
	wait := time.Duration((weight - room/float64(prev)) * float64(l.limit.Window))
	return max(wait, time.Second), true
}

// fail records one failed login for subject.
func (l *loginLimiter) fail(ctx context.Context, subject string, now time.Time) {
	n, end := l.window(now)
	if l.useRedis(now) {
		key := l.key(n, subject)
		pipe := l.store.TxPipeline()
		pipe.Incr(ctx, key)
		// The expiry only frees memory; correctness comes from the window in the key.
		pipe.Expire(ctx, key, end.Sub(now)+l.limit.Window+time.Minute)
		_, err := pipe.Exec(ctx)
		if l.redisResult(ctx, now, err) == nil {
			return
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.local[subject]
	if c.window != n {
		c = localCount{window: n}
	}
	c.n++
	if len(l.local) >= maxLocalKeys {
		l.pruneLocked(n)
	}
	if len(l.local) < maxLocalKeys {
		l.local[subject] = c
	}
}

// reset forgets subject's failures after a successful login.
func (l *loginLimiter) reset(ctx context.Context, subject string, now time.Time) {
	n, _ := l.window(now)
	if l.useRedis(now) {
		_ = l.redisResult(ctx, now, l.store.Del(ctx, l.key(n, subject), l.key(n-1, subject)).Err())
	}
	l.mu.Lock()
	delete(l.local, subject)
	l.mu.Unlock()
}

func (l *loginLimiter) redisCount(ctx context.Context, now time.Time, n int64, subject string) (int, error) {
	if !l.useRedis(now) {
		return 0, errNoRedis
	}
	count, err := l.store.Get(ctx, l.key(n, subject)).Int()
	if errors.Is(err, redis.Nil) {
		return 0, l.redisResult(ctx, now, nil)
	}
	if err := l.redisResult(ctx, now, err); err != nil {
		return 0, err
	}
	return count, nil
}

var errNoRedis = errors.New("live store not in use")

// useRedis reports whether to ask Redis: there is one, and no recent outage.
func (l *loginLimiter) useRedis(now time.Time) bool {
	if l.store == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.degraded || !now.Before(l.retryAt)
}

// redisResult notes the outcome of a Redis call and logs the start and the end of an
// outage, once each.
func (l *loginLimiter) redisResult(ctx context.Context, now time.Time, err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err != nil && ctx.Err() != nil:
		// The request went away; that says nothing about Redis.
	case err != nil:
		l.retryAt = now.Add(redisRetry)
		if !l.degraded {
			l.degraded = true
			l.log.WarnContext(ctx, "login rate limit falls back to this process: live store unreachable", "err", err)
		}
	case err == nil && l.degraded:
		l.degraded = false
		l.log.InfoContext(ctx, "login rate limit back on the live store")
	}
	return err
}

func (l *loginLimiter) localCount(n int64, subject string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.local[subject]
	if c.window != n {
		return 0
	}
	return c.n
}

func (l *loginLimiter) pruneLocked(current int64) {
	for k, c := range l.local {
		if c.window != current {
			delete(l.local, k)
		}
	}
}
