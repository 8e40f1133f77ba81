package auth

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rexian/rexian/live"
)

// A Redis that accepts connections and never answers (a hung server, a dropped network)
// must not hold a login: the delays fall back to the process at once, after one short
// timeout, and keep counting there.
func TestBackoffDoesNotWaitOnAHungRedis(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() }) // held open, never answered
		}
	}()
	client := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second})
	t.Cleanup(func() { client.Close() })
	b := newBackoff(&live.Store{Client: client, Namespace: "test"}, Backoff{After: 1, Base: time.Second, Max: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := time.Now()
	began := time.Now()
	for range 3 {
		b.fail(ctx, "addr:10.0.0.1", now)
	}
	d, n := b.wait(ctx, "addr:10.0.0.1", now)
	b.reset(ctx, "user:li")
	took := time.Since(began)
	if n != 3 || d <= 0 {
		t.Errorf("after 3 failures with Redis hung: run %d, wait %s; want the process to count them", n, d)
	}
	// One timeout (200 ms), then the process alone; a wide margin for a busy machine,
	// far below what the client's own 10 s read timeout would take.
	if took > 3*time.Second {
		t.Errorf("5 calls with Redis hung took %s; want them not to wait on it", took)
	}
}
