package sms

import (
	"context"
	"sync"
	"time"
)

// Group commit for delivery reports. Every report must be durable before Kannel hears
// "200" (otherwise it would not retry), and a commit per report is what limited the
// outbox: two reports per message, each its own write, on a database that commits one
// writer at a time. Reports that arrive while a batch is being written wait and go
// together in the next one. There is no background goroutine: the first caller to find
// nobody writing becomes the writer until the queue is empty.

// pendingReport is a report waiting to be written.
type pendingReport struct {
	r      Report
	st     PartStatus
	at     time.Time
	detail string
	gwID   string
	err    error
	done   chan struct{}
}

// maxReportBatch bounds one transaction, so that a flood of reports cannot make one
// commit (and every caller waiting on it) arbitrarily long.
const maxReportBatch = 500

type reportQueue struct {
	mu      sync.Mutex
	queue   []*pendingReport
	writing bool
}

// submit queues p and returns once it is written (or failed).
func (q *reportQueue) submit(ctx context.Context, s *Service, p pendingReport) error {
	p.done = make(chan struct{})
	q.mu.Lock()
	q.queue = append(q.queue, &p)
	if q.writing {
		q.mu.Unlock()
		select {
		case <-p.done:
			return p.err
		case <-ctx.Done():
			// The batch it is in goes on; the caller (Kannel) will retry, and a second
			// write of the same report changes nothing.
			return ctx.Err()
		}
	}
	q.writing = true
	for {
		batch := q.queue
		if len(batch) > maxReportBatch {
			batch = batch[:maxReportBatch]
		}
		q.queue = q.queue[len(batch):]
		q.mu.Unlock()
		// The batch is written for every caller in it, not just this one: it must not
		// be cut short by this caller's context.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err := s.applyReports(wctx, batch)
		cancel()
		for _, b := range batch {
			b.err = err
			close(b.done)
		}
		q.mu.Lock()
		if len(q.queue) == 0 {
			q.writing = false
			q.mu.Unlock()
			break
		}
	}
	return p.err
}
