package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
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
