// Package livetest gives tests a live store: the real Redis at REXIAN_TEST_REDIS_URL
// (default redis://127.0.0.1:6379/0) with keys under a per-test prefix, or — when
// REXIAN_TEST_REDIS=embedded — the in-process server.
package livetest

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rexian/rexian/database/dbtest"
	"github.com/rexian/rexian/live"
)

// DefaultURL is where tests look for Redis unless told otherwise.
const DefaultURL = "redis://127.0.0.1:6379/0"

// URL returns the Redis URL for tests ("" means embedded).
func URL() string {
	if os.Getenv("REXIAN_TEST_REDIS") == "embedded" {
		return ""
	}
	if u := os.Getenv("REXIAN_TEST_REDIS_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// Open returns a connected store for t, closed when t ends.
func Open(t testing.TB) *live.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := live.Open(ctx, URL(), nil)
	if err != nil {
		dbtest.Unavailable(t, "Redis", `redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no (or scripts/test, which starts one)`, err)
	}
	s.Namespace = "test:" + strings.ReplaceAll(t.Name(), "/", "_") + ":" + strconv.FormatInt(time.Now().UnixNano(), 36)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// Remove what the test left so a shared Redis does not fill up.
		iter := s.Scan(ctx, 0, s.Namespace+":*", 500).Iterator()
		for iter.Next(ctx) {
			s.Del(ctx, iter.Val())
		}
		s.Close()
	})
	return s
}
