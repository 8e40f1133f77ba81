package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// worker is a background job that runs in passes: one at start, then one every interval.
// Each pass derives its work from rows in the database and is idempotent, so a pass cut
// short by shutdown or a crash is simply done again by the next one (on any instance).
type worker struct {
	name     string
	interval time.Duration
	pass     func(ctx context.Context) error
	logsOwn  bool // the pass logs its own failures; do not log them twice
	// long marks a pass that lasts until shutdown (the SMS sender, the mailbox reader):
	// its success is not a sign of life, so it reports no interval to alert on.
	long bool
	// exclusive passes run on one instance at a time: a pass takes a lock in the live
	// store for at most its interval (an instance killed mid-pass holds it no longer),
	// and an instance that finds it taken skips its pass — another is doing the work —
	// and counts it as done. For passes that are safe but costly to run twice at once.
	exclusive bool
	// service, when set, is a long-running task (the telephone controller, a pub/sub
	// relay) run once until ctx ends instead of passes.
	service func(ctx context.Context) error
}

// runWorker makes passes of w until ctx ends.
func (a *App) runWorker(ctx context.Context, w worker) {
	log := a.log.With("worker", w.name)
	if w.service != nil {
		log.Debug("service started")
		if err := w.service(ctx); err != nil && ctx.Err() == nil {
			log.Error("service stopped", "err", err)
		}
		return
	}
	log.Debug("worker started", "interval", w.interval)
	if !w.long {
		a.metrics.workerInterval.WithLabelValues(w.name).Set(w.interval.Seconds())
	}
	ticker := time.NewTicker(w.interval)
	defer ticker.Stop()
	for {
		a.workerPass(ctx, log, w)
		select {
		case <-ctx.Done():
			log.Debug("worker stopped")
			return
		case <-ticker.C:
		}
	}
}

// workerPass runs one pass and records it in the metrics. A panic fails the pass, not the
// process: the next pass retries.
func (a *App) workerPass(ctx context.Context, log *slog.Logger, w worker) {
	if w.exclusive {
		release, held := a.workerLock(ctx, log, w)
		if held {
			a.metrics.workerLastSuccess.WithLabelValues(w.name).SetToCurrentTime()
			return
		}
		defer release()
	}
	start := time.Now()
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return w.pass(ctx)
	}()
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return // cut short by shutdown: neither a run nor a failure
	}
	a.metrics.workerRuns.WithLabelValues(w.name).Inc()
	a.metrics.workerDuration.WithLabelValues(w.name).Observe(time.Since(start).Seconds())
	if err != nil {
		a.metrics.workerErrors.WithLabelValues(w.name).Inc()
		if !w.logsOwn {
			log.ErrorContext(ctx, "worker pass failed", "err", err)
		}
		return
	}
	a.metrics.workerLastSuccess.WithLabelValues(w.name).SetToCurrentTime()
}

// releaseLock deletes a worker's lock only while it is still this instance's: after it
// ran out, another instance may hold it.
var releaseLock = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// workerLock takes w's lock for one pass. held reports that another instance has it.
// When the live store cannot be asked the pass runs anyway: exclusive passes are safe to
// run twice, only wasteful.
func (a *App) workerLock(ctx context.Context, log *slog.Logger, w worker) (release func(), held bool) {
	key := a.live.Key("lock", "worker", w.name)
	token := rand.Text()
	ok, err := a.live.SetNX(ctx, key, token, w.interval).Result()
	switch {
	case err != nil:
		log.WarnContext(ctx, "live store unreachable; running the pass without its lock", "err", err)
		return func() {}, false
	case !ok:
		log.DebugContext(ctx, "pass skipped: another instance holds its lock")
		return nil, true
	}
	return func() {
		if err := releaseLock.Run(context.WithoutCancel(ctx), a.live, []string{key}, token).Err(); err != nil {
			log.WarnContext(ctx, "release the pass's lock", "err", err)
		}
	}, false
}
