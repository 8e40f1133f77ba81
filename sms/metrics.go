package sms

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"
)

// Collector reports the outbox to Prometheus: messages by status and kind, and the age of
// the oldest due message (a sender that has stopped shows as a growing age).
type Collector struct {
	db     *gorm.DB
	now    func() time.Time
	byKind *prometheus.Desc
	oldest *prometheus.Desc
}

// NewCollector returns a collector that counts at scrape time.
func NewCollector(db *gorm.DB) *Collector {
	return &Collector{
		db:     db,
		now:    time.Now,
		byKind: prometheus.NewDesc("rexian_sms_messages", "SMS outbox messages by status and kind.", []string{"status", "kind"}, nil),
		oldest: prometheus.NewDesc("rexian_sms_oldest_due_seconds", "How long the oldest due queued message has waited.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) { ch <- c.byKind; ch <- c.oldest }

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var rows []struct {
		Status Status
		Kind   Kind
		N      int64
	}
	if err := c.db.WithContext(ctx).Model(&Message{}).Select("status, kind, count(*) AS n").Group("status, kind").Scan(&rows).Error; err != nil {
		ch <- prometheus.NewInvalidMetric(c.byKind, err)
		return
	}
	counts := map[[2]string]int64{}
	for _, r := range rows {
		counts[[2]string{string(r.Status), string(r.Kind)}] = r.N
	}
	for _, st := range Statuses {
		for _, k := range Kinds {
			ch <- prometheus.MustNewConstMetric(c.byKind, prometheus.GaugeValue, float64(counts[[2]string{string(st), string(k)}]), string(st), string(k))
		}
	}
	now := c.now().UTC()
	var oldest []time.Time
	if err := c.db.WithContext(ctx).Model(&Message{}).Where("status = ? AND next_attempt_at <= ?", StatusQueued, now).
		Order("next_attempt_at").Limit(1).Pluck("next_attempt_at", &oldest).Error; err == nil {
		age := 0.0
		if len(oldest) == 1 {
			age = now.Sub(oldest[0]).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age)
	}
}

// Submission results, the label of rexian_sms_submissions_total.
const (
	submitAccepted = "accepted" // the gateway took the part
	submitRejected = "rejected" // refused for good (bad number, credentials)
	submitUnknown  = "unknown"  // timed out: whether it took the part is unknown
	submitError    = "error"    // could not be reached or failed: retried later
)

func newSubmissionCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rexian_sms_submissions_total",
		Help: "Parts handed to the SMS gateway, by result: accepted, rejected, unknown (timed out) or error (gateway unreachable or failing).",
	}, []string{"result"})
}

// countSubmission records the gateway's answer to one part.
func (s *Service) countSubmission(err error) {
	result := submitError
	switch {
	case err == nil:
		result = submitAccepted
	case errors.Is(err, ErrRejected):
		result = submitRejected
	case ambiguous(err):
		result = submitUnknown
	}
	s.submissions.WithLabelValues(result).Inc()
}

// Collectors are the outbox's Prometheus metrics: the counts at scrape time and the
// gateway's answers since start.
func (s *Service) Collectors() []prometheus.Collector {
	return []prometheus.Collector{NewCollector(s.db), s.submissions}
}
