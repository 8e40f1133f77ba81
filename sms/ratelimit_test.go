package sms

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/rexian/rexian/live"
	"github.com/rexian/rexian/live/livetest"
)

// takeAll takes n tokens in steps of 10 through each limiter at once and says how long it
// took.
func takeAll(t *testing.T, ls []*rateLimiter, n int) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n / len(ls) / 10 {
				if err := l.Wait(ctx, "fake", 10); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

func TestRateLimitShared(t *testing.T) {
	tests := []struct {
		name string
		open func(t *testing.T) *live.Store
	}{
		{"redis", func(t *testing.T) *live.Store { return livetest.Open(t) }},
		{"embedded", func(t *testing.T) *live.Store {
			s, err := live.Open(context.Background(), "", nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ls := tt.open(t)
			// Two instances at 400 parts/s together: 1200 parts take about 2 s (the
			// first 400 are the burst).
			a := newRateLimiter(ls, 400, slog.New(slog.DiscardHandler))
			b := newRateLimiter(ls, 400, slog.New(slog.DiscardHandler))
			took := takeAll(t, []*rateLimiter{a, b}, 1200)
			if took < 1800*time.Millisecond || took > 4*time.Second {
				t.Fatalf("1200 parts at 400/s shared by two instances took %s; want about 2s", took)
			}
		})
	}
	t.Run("local fallback", func(t *testing.T) {
		l := newRateLimiter(nil, 400, slog.New(slog.DiscardHandler))
		took := takeAll(t, []*rateLimiter{l}, 800)
		if took < 900*time.Millisecond || took > 3*time.Second {
			t.Fatalf("800 parts at 400/s took %s; want about 1s", took)
		}
	})
}
