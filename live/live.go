// Package live connects to the store of live, rebuildable state — agent presence, waiting
// callers, line occupancy, pub/sub for live screens, locks and rate limits. In production
// that is Redis; the embedded default is an in-process Redis-compatible server
// (github.com/alicebob/miniredis) so that the same go-redis client code runs everywhere.
// Nothing durable may live here: the database is the truth.
package live

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Store is a connected client plus whatever must be stopped with it.
type Store struct {
	*redis.Client
	// Namespace prefixes every key, so that several cities (or parallel tests) can share
	// one Redis. Build keys with Key.
	Namespace string
	embedded  *miniredis.Miniredis
}

// Key joins parts under the store's namespace: Key("lock", "overdue") = "rexian:lock:overdue".
func (s *Store) Key(parts ...string) string {
	return s.Namespace + ":" + strings.Join(parts, ":")
}

// Embedded reports whether the store runs in this process.
func (s *Store) Embedded() bool { return s.embedded != nil }

// Open connects to the Redis at rawURL (redis://… or rediss://…), to the master a group of
// Redis Sentinels names (redis-sentinel://… or rediss-sentinel://…, see ParseSentinelURL),
// or, when rawURL is empty, starts the in-process server on a loopback port.
func Open(ctx context.Context, rawURL string, log *slog.Logger) (*Store, error) {
	s := &Store{Namespace: "rexian"}
	if rawURL == "" {
		m := miniredis.NewMiniRedis()
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("start embedded live store: %w", err)
		}
		s.embedded = m
		rawURL = "redis://" + m.Addr()
		if log != nil {
			log.Info("embedded live store started", "addr", m.Addr())
		}
	}
	var target string
	if IsSentinelURL(rawURL) {
		opts, err := ParseSentinelURL(rawURL)
		if err != nil {
			s.Close()
			return nil, err
		}
		setTimeouts(&opts.DialTimeout, &opts.ReadTimeout, &opts.WriteTimeout)
		s.Client = redis.NewFailoverClient(opts)
		target = "master " + opts.MasterName + " via sentinels " + strings.Join(opts.SentinelAddrs, ",")
	} else {
		opts, err := redis.ParseURL(rawURL)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("redis url: %w", err)
		}
		setTimeouts(&opts.DialTimeout, &opts.ReadTimeout, &opts.WriteTimeout)
		s.Client = redis.NewClient(opts)
		target = opts.Addr
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.Ping(pingCtx).Err(); err != nil {
		s.Close()
		return nil, fmt.Errorf("connect to redis %s: %w", target, err)
	}
	return s, nil
}

func setTimeouts(dial, read, write *time.Duration) {
	*dial = 3 * time.Second
	*read = 2 * time.Second
	*write = 2 * time.Second
}

// Close closes the client and stops the embedded server, if any.
func (s *Store) Close() error {
	var err error
	if s.Client != nil {
		err = s.Client.Close()
	}
	if s.embedded != nil {
		s.embedded.Close()
	}
	return err
}
