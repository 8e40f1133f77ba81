package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics is the App's own registry, not the global one, so that two Apps in one test
// process do not collide and nothing registered by a library leaks in unasked.
type metrics struct {
	registry *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec

	workerRuns        *prometheus.CounterVec
	workerErrors      *prometheus.CounterVec
	workerLastSuccess *prometheus.GaugeVec
	workerDuration    *prometheus.HistogramVec
	workerInterval    *prometheus.GaugeVec
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rexian_http_requests_total",
			Help: "HTTP requests answered, by method, route template and status.",
		}, []string{"method", "route", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rexian_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by method, route template and status.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"method", "route", "status"}),
		workerRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rexian_worker_runs_total",
			Help: "Passes made by each background worker.",
		}, []string{"worker"}),
		workerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rexian_worker_errors_total",
			Help: "Passes of each background worker that failed.",
		}, []string{"worker"}),
		workerLastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rexian_worker_last_success_timestamp_seconds",
			Help: "Unix time of each background worker's last successful pass; alert when it falls behind.",
		}, []string{"worker"}),
		workerDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rexian_worker_run_duration_seconds",
			Help:    "Time taken by each pass of a background worker.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 8),
		}, []string{"worker"}),
		workerInterval: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rexian_worker_interval_seconds",
			Help: "Time between the passes of each periodic background worker; a worker whose last success is three intervals old is stuck.",
		}, []string{"worker"}),
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpRequests, m.httpDuration,
		m.workerRuns, m.workerErrors, m.workerLastSuccess, m.workerDuration, m.workerInterval,
	)
	return m
}

// serviceCollectors are the metrics of the instance itself: readiness (what /readyz
// answers), the database pool, the data disk, and the mailbox reader's last look.
func (a *App) serviceCollectors() ([]prometheus.Collector, error) {
	sqlDB, err := a.db.DB()
	if err != nil {
		return nil, fmt.Errorf("database pool: %w", err)
	}
	cs := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "rexian_ready",
			Help: "1 when the database and the live store answer (what /readyz says), else 0.",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if ready, _ := a.readiness(ctx); ready {
				return 1
			}
			return 0
		}),
		// go_sql_* with db_name="rexian": open, in use, idle, the pool's maximum, and the
		// waits for a free connection.
		collectors.NewDBStatsCollector(sqlDB, "rexian"),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "rexian_data_disk_free_bytes",
			Help: "Bytes free on the file system of the data folder (attachments, recordings, the SQLite file).",
		}, func() float64 {
			free, _, err := diskSpace(a.cfg.DataDir)
			if err != nil {
				return 0
			}
			return float64(free)
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "rexian_data_disk_size_bytes",
			Help: "Size of the file system of the data folder.",
		}, func() float64 {
			_, total, _ := diskSpace(a.cfg.DataDir)
			return float64(total)
		}),
	}
	if r := a.domains.mailbox.reader; r != nil {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "rexian_mailbox_last_poll_timestamp_seconds",
			Help: "Unix time the mailbox reader last looked through the whole inbox (0 before the first time).",
		}, func() float64 {
			if t := r.LastPoll(); !t.IsZero() {
				return float64(t.Unix())
			}
			return 0
		}), prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "rexian_mailbox_poll_interval_seconds",
			Help: "How often the mailbox reader looks at the inbox (mailbox.poll_interval).",
		}, func() float64 { return a.cfg.Mailbox.PollInterval.Seconds() }))
	}
	return cs, nil
}

// unmatchedRoute labels requests that matched no route, so that scanners probing random
// paths cannot blow up the number of series.
const unmatchedRoute = "unmatched"

var knownMethods = map[string]bool{
	"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "OPTIONS": true,
}

// middleware counts and times every request by its route template (/api/v1/tickets/:number),
// never the raw path, for the same reason.
func (m *metrics) middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = unmatchedRoute
		}
		method := c.Request.Method
		if !knownMethods[method] {
			method = "OTHER"
		}
		status := strconv.Itoa(c.Writer.Status())
		m.httpRequests.WithLabelValues(method, route, status).Inc()
		m.httpDuration.WithLabelValues(method, route, status).Observe(time.Since(start).Seconds())
	}
}
