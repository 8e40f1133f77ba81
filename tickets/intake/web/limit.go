package web

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

// Limit is how many events one subject may cause per window.
type Limit struct {
	N      int
	Window time.Duration
}

// windowLimiter counts events per subject in fixed windows, the way auth's login limiter
// does: the window number is part of the Redis key, so a window starts fresh whatever
// Redis's clock says and tests move the injected clock instead of sleeping. When Redis
// cannot be reached the counts are kept in this process: a weaker limit, but an outage
// must neither lock citizens out nor lift the limit.
type windowLimiter struct {
	store *live.Store
	name  string
	limit Limit
	log   *slog.Logger

	mu       sync.Mutex
	local    map[string]localCount
	degraded bool
}

type localCount struct {
	window int64
	n      int
}

// maxLocalSubjects bounds the fallback's memory when many addresses post during an outage.
const maxLocalSubjects = 100_000

func newWindowLimiter(store *live.Store, name string, limit Limit, log *slog.Logger) *windowLimiter {
	return &windowLimiter{store: store, name: name, limit: limit, log: log, local: map[string]localCount{}}
}

func (l *windowLimiter) window(now time.Time) (int64, time.Time) {
	w := int64(l.limit.Window / time.Second)
	if w < 1 {
		w = 1
	}
	n := now.Unix() / w
	return n, time.Unix((n+1)*w, 0)
}

func (l *windowLimiter) key(n int64, subject string) string {
	return l.store.Key("web", l.name, strconv.FormatInt(n, 10), subject)
}

// blocked reports whether subject has used up its allowance, and for how long.
func (l *windowLimiter) blocked(ctx context.Context, subject string, now time.Time) (time.Duration, bool) {
	if l.limit.N <= 0 {
		return 0, false
	}
	n, end := l.window(now)
	count := l.localCount(n, subject)
	if l.store != nil {
		c, err := l.store.Get(ctx, l.key(n, subject)).Int()
		if err == nil || errors.Is(err, redis.Nil) {
			l.redisOK(ctx)
			count = max(count, c)
		} else {
			l.redisFailed(ctx, err)
		}
	}
	if count < l.limit.N {
		return 0, false
	}
	return end.Sub(now), true
}

// add counts one event for subject.
func (l *windowLimiter) add(ctx context.Context, subject string, now time.Time) {
	if l.limit.N <= 0 {
		return
	}
	n, end := l.window(now)
	if l.store != nil {
		key := l.key(n, subject)
		pipe := l.store.TxPipeline()
		pipe.Incr(ctx, key)
		// The expiry only frees memory; correctness comes from the window in the key.
		pipe.Expire(ctx, key, end.Sub(now)+time.Minute)
		_, err := pipe.Exec(ctx)
		if err == nil {
			l.redisOK(ctx)
			return
		}
		l.redisFailed(ctx, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.local[subject]
	if c.window != n {
		c = localCount{window: n}
	}
	c.n++
	if len(l.local) >= maxLocalSubjects {
		for k, x := range l.local {
			if x.window != n {
				delete(l.local, k)
			}
		}
	}
	if len(l.local) < maxLocalSubjects {
		l.local[subject] = c
	}
}

func (l *windowLimiter) localCount(n int64, subject string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c := l.local[subject]; c.window == n {
		return c.n
	}
	return 0
}

func (l *windowLimiter) redisOK(ctx context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.degraded {
		l.degraded = false
		l.log.InfoContext(ctx, "web form limit back on the live store", "limit", l.name)
	}
}

func (l *windowLimiter) redisFailed(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return // the request went away; that says nothing about Redis
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.degraded {
		l.degraded = true
		l.log.WarnContext(ctx, "web form limit falls back to this process: live store unreachable", "limit", l.name, "err", err)
	}
}
