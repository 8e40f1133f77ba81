package sms

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rexian/rexian/live"
)

// tokenBucket takes tokens from a bucket shared by every instance. The bucket holds up to
// one second of tokens; the script answers how many milliseconds the caller must wait
// before the tokens it asked for are its own (0: at once). Taking them on credit keeps
// the order fair and needs one round trip per request. Time comes from the caller, so the
// script runs on miniredis too (no TIME, no replicate_commands).
var tokenBucket = redis.NewScript(`
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local v = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(v[1])
local ts = tonumber(v[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
  ts = now
end
tokens = tokens - want
local wait = 0
if tokens < 0 then
  wait = math.ceil(-tokens * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + wait + 1000)
return wait
`)

// rateLimiter paces submissions to the gateway in parts per second over all instances.
// When Redis cannot be reached it falls back to a bucket in this process, so that a Redis
// outage slows nothing down by more than the local rate allows.
type rateLimiter struct {
	live  *live.Store
	rate  float64
	burst float64
	log   *slog.Logger

	mu     sync.Mutex
	tokens float64
	last   time.Time
	warned time.Time
}

func newRateLimiter(ls *live.Store, rate float64, log *slog.Logger) *rateLimiter {
	burst := math.Max(1, rate)
	return &rateLimiter{live: ls, rate: rate, burst: burst, log: log, tokens: burst}
}

// Wait blocks until n tokens are granted or ctx ends.
func (l *rateLimiter) Wait(ctx context.Context, gateway string, n int) error {
	for n > 0 {
		take := math.Min(float64(n), l.burst)
		wait, err := l.reserve(ctx, gateway, take)
		if err != nil {
			return err
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		n -= int(take)
	}
	return nil
}

func (l *rateLimiter) reserve(ctx context.Context, gateway string, n float64) (time.Duration, error) {
	if l.live != nil {
		key := l.live.Key("sms", "rate", gateway)
		ms, err := tokenBucket.Run(ctx, l.live, []string{key}, l.rate, l.burst, time.Now().UnixMilli(), n).Int64()
		if err == nil {
			return time.Duration(ms) * time.Millisecond, nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		l.mu.Lock()
		if time.Since(l.warned) > time.Minute {
			l.warned = time.Now()
			l.log.Warn("sms rate limit: shared bucket unavailable, pacing this instance alone", "gateway", gateway, "err", err)
		}
		l.mu.Unlock()
	}
	return l.local(n), nil
}

func (l *rateLimiter) local(n float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if !l.last.IsZero() {
		l.tokens = math.Min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	l.tokens -= n
	if l.tokens >= 0 {
		return 0
	}
	return time.Duration(math.Ceil(-l.tokens/l.rate*1000)) * time.Millisecond
}

func (l *rateLimiter) String() string { return fmt.Sprintf("%g parts/s", l.rate) }
