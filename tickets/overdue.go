package tickets

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/live"
)

// MarkOverdue records every open ticket that has passed its sign-for or handling deadline
// as overdue, with a timeline event, and returns how many it marked.
//
// Several instances may run it at once: on PostgreSQL each batch locks its rows with SKIP
// LOCKED, so instances share the work; everywhere, the version check on each ticket makes
// a second marking of the same ticket impossible, and a crash mid-way leaves the rest for
// the next run.
func (s *Store) MarkOverdue(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := s.markOverdueBatch(ctx, 200)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}

func (s *Store) markOverdueBatch(ctx context.Context, limit int) (int, error) {
	now := s.now()
	marked := 0
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		q := tx.Where("open = ? AND overdue = ? AND (due_at < ? OR (status = ? AND sign_due_at < ?))",
			true, false, now, StatusDispatched, now).Order("id").Limit(limit)
		if database.DialectOf(tx) == database.Postgres {
			q = q.Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"})
		}
		var ts []Ticket
		if err := q.Find(&ts).Error; err != nil {
			return fmt.Errorf("find overdue tickets: %w", err)
		}
		for i := range ts {
			t := &ts[i]
			old := t.Version
			what := "handling"
			if t.DueAt == nil || !now.After(*t.DueAt) {
				what = "sign_for"
			}
			t.Overdue = true
			if t.OverdueAt == nil {
				t.OverdueAt = &now
			}
			t.Version++
			ev := s.newEvent(t, now, "system", ActOverdue, t.Status, "", map[string]any{"deadline": what, "lead": t.LeadDepartmentID})
			ev.DepartmentID = t.LeadDepartmentID
			s.link(t.Number, ev)
			t.EventHash = ev.Hash
			res := tx.Model(&Ticket{}).Where("id = ? AND version = ?", t.ID, old).Updates(map[string]any{
				"overdue": true, "overdue_at": t.OverdueAt, "version": t.Version,
				"event_seq": t.EventSeq, "event_hash": t.EventHash, "updated_at": now})
			if res.Error != nil {
				return fmt.Errorf("mark %s overdue: %w", t.Number, res.Error)
			}
			if res.RowsAffected == 0 {
				continue // changed under us; the next run looks again
			}
			if err := tx.Create(ev).Error; err != nil {
				return fmt.Errorf("overdue event of %s: %w", t.Number, err)
			}
			s.opts.Log.InfoContext(ctx, "ticket overdue", "ticket", t.Number, "deadline", what)
			marked++
		}
		return nil
	})
	return marked, err
}

// OverdueWorker runs MarkOverdue every interval. A Redis lock keeps instances from
// scanning at the same moment; it is an economy, not what makes marking safe.
type OverdueWorker struct {
	store    *Store
	live     *live.Store
	log      *slog.Logger
	Interval time.Duration
	// OnRun, when set, is told the outcome of every run (for metrics).
	OnRun func(marked int, err error)
}

// NewOverdueWorker returns a worker that runs every minute.
func NewOverdueWorker(store *Store, ls *live.Store, log *slog.Logger) *OverdueWorker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &OverdueWorker{store: store, live: ls, log: log.With("worker", "overdue"), Interval: time.Minute}
}

// Run works until ctx ends.
func (w *OverdueWorker) Run(ctx context.Context) error {
	t := time.NewTicker(w.Interval)
	defer t.Stop()
	for {
		w.RunOnce(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// RunOnce marks what is overdue now, unless another instance holds the lock.
func (w *OverdueWorker) RunOnce(ctx context.Context) {
	if w.live != nil {
		key := w.live.Key("lock", "tickets-overdue")
		ok, err := w.live.SetNX(ctx, key, "1", w.Interval).Result()
		switch {
		case err != nil:
			w.log.WarnContext(ctx, "live store unreachable; marking without the lock", "err", err)
		case !ok:
			return
		default:
			defer w.live.Del(context.WithoutCancel(ctx), key)
		}
	}
	n, err := w.store.MarkOverdue(ctx)
	if err != nil && ctx.Err() == nil {
		w.log.ErrorContext(ctx, "marking overdue tickets failed", "err", err, "marked", n)
	}
	if w.OnRun != nil {
		w.OnRun(n, err)
	}
}

// Collector reports tickets by status (and open overdue tickets) to Prometheus.
type Collector struct {
	db      *gorm.DB
	byState *prometheus.Desc
	overdue *prometheus.Desc
}

// NewCollector returns a collector that counts tickets at scrape time.
func NewCollector(db *gorm.DB) *Collector {
	return &Collector{
		db:      db,
		byState: prometheus.NewDesc("rexian_tickets", "Tickets by workflow status.", []string{"status"}, nil),
		overdue: prometheus.NewDesc("rexian_tickets_overdue", "Open tickets past a deadline.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) { ch <- c.byState; ch <- c.overdue }

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var rows []struct {
		Status Status
		N      int64
	}
	if err := c.db.WithContext(ctx).Model(&Ticket{}).Select("status, count(*) AS n").Group("status").Scan(&rows).Error; err != nil {
		ch <- prometheus.NewInvalidMetric(c.byState, err)
		return
	}
	counts := map[Status]int64{}
	for _, r := range rows {
		counts[r.Status] = r.N
	}
	for _, st := range Statuses {
		ch <- prometheus.MustNewConstMetric(c.byState, prometheus.GaugeValue, float64(counts[st]), string(st))
	}
	var overdue int64
	if err := c.db.WithContext(ctx).Model(&Ticket{}).Where("open = ? AND overdue = ?", true, true).Count(&overdue).Error; err == nil {
		ch <- prometheus.MustNewConstMetric(c.overdue, prometheus.GaugeValue, float64(overdue))
	}
}
