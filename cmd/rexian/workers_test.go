package main

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rexian/rexian/live/livetest"
)

// TestExclusiveWorkerRunsOnOneInstance: two instances sharing one Redis make a pass of an
// exclusive worker at the same moment; only one runs it, the other counts it as done (its
// last-success time moves, so the stale-worker alert stays quiet), and once the pass is
// over the lock is free for the next.
func TestExclusiveWorkerRunsOnOneInstance(t *testing.T) {
	store := livetest.Open(t)
	newApp := func() *App { return &App{log: slog.New(slog.DiscardHandler), live: store, metrics: newMetrics()} }
	a, b := newApp(), newApp()
	var runs atomic.Int32
	inPass := make(chan struct{})
	finish := make(chan struct{})
	w := worker{name: "rollups_test", interval: time.Minute, exclusive: true, pass: func(ctx context.Context) error {
		runs.Add(1)
		close(inPass)
		<-finish
		return nil
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		a.workerPass(ctx, a.log, w)
		close(done)
	}()
	select {
	case <-inPass:
	case <-ctx.Done():
		t.Fatal("the first instance's pass did not start")
	}
	b.workerPass(ctx, b.log, w) // returns at once: a holds the lock
	if n := runs.Load(); n != 1 {
		t.Fatalf("%d passes ran at once; want 1", n)
	}
	if v := testutil.ToFloat64(b.metrics.workerLastSuccess.WithLabelValues(w.name)); v == 0 {
		t.Error("the instance that skipped did not count its pass as done")
	}
	if v := testutil.ToFloat64(b.metrics.workerRuns.WithLabelValues(w.name)); v != 0 {
		t.Errorf("the skipped pass counted %v runs; want 0", v)
	}
	close(finish)
	<-done

	// The lock is released: the other instance's next pass runs.
	w.pass = func(context.Context) error { runs.Add(1); return nil }
	b.workerPass(ctx, b.log, w)
	if n := runs.Load(); n != 2 {
		t.Errorf("after the first pass ended, %d passes ran; want 2 (the lock was not released)", n)
	}
}
