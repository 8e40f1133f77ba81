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
	// sliding counts the previous window too, weighted by how much of it still lies
	// within one window of now: events just before a window's end still count just after
	// it, and a block lifts gradually instead of all at once on the hour (the local
	// fallback keeps fixed windows).
	sliding bool

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

func newSlidingLimiter(store *live.Store, name string, limit Limit, log *slog.Logger) *windowLimiter {
	l := newWindowLimiter(store, name, limit, log)
	l.sliding = true
	return l
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
	count := max(l.localCount(n, subject), l.redisCount(ctx, n, subject))
	if count >= l.limit.N {
		if !l.sliding {
			return end.Sub(now), true
		}
		// Until this window's end, and then until the weighted remainder falls below N.
		return end.Sub(now) + l.slidingWait(count), true
	}
	if !l.sliding {
		return 0, false
	}
	prev := l.redisCount(ctx, n-1, subject)
	if prev == 0 {
		return 0, false
	}
	// The previous window's weight falls from 1 to 0 across this one.
	weight := float64(end.Sub(now)) / float64(l.limit.Window)
	room := float64(l.limit.N - count) // > 0 here
	if float64(prev)*weight < room {
		return 0, false
	}
	// Blocked until prev × weight drops below room.
	wait := time.Duration((weight - room/float64(prev)) * float64(l.limit.Window))
	return max(wait, time.Second), true
}

// slidingWait is how long into the next window a count of n in the current one keeps the
// subject blocked: n weighs 1 at the next window's start and falls to 0 at its end, so the
// block lasts until n × weight < N.
func (l *windowLimiter) slidingWait(n int) time.Duration {
	w := 1 - float64(l.limit.N)/float64(n)
	if w <= 0 {
		return 0
	}
	return max(time.Duration(w*float64(l.limit.Window)), time.Second)
}

// redisCount is subject's count in window n on the live store, 0 without one or when it
// cannot be reached.
func (l *windowLimiter) redisCount(ctx context.Context, n int64, subject string) int {
	if l.store == nil {
		return 0
	}
	c, err := l.store.Get(ctx, l.key(n, subject)).Int()
	if err == nil || errors.Is(err, redis.Nil) {
		l.redisOK(ctx)
		return c
	}
	l.redisFailed(ctx, err)
	return 0
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
		// The expiry only frees memory; correctness comes from the window in the key. A
		// sliding limit reads the previous window too, so its keys live one window longer.
		pipe.Expire(ctx, key, end.Sub(now)+l.limit.Window+time.Minute)
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
