package ivr

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// collector reports the controller's live picture at scrape time: each node's event
// socket and Stasis app, each line's channels in use, each queue's waiting callers and
// the longest wait. Counting at scrape time from the controller's own state keeps the
// figures exactly what the wallboard shows.
type collector struct {
	c          *Controller
	connected  *prometheus.Desc
	registered *prometheus.Desc
	active     *prometheus.Desc
	channels   *prometheus.Desc
	busy       *prometheus.Desc
	waiting    *prometheus.Desc
	oldest     *prometheus.Desc
}

func newCollector(c *Controller) *collector {
	return &collector{
		c: c,
		connected: prometheus.NewDesc("rexian_ari_connected",
			"1 while this controller's ARI event socket to the Asterisk node is open.", []string{"node"}, nil),
		registered: prometheus.NewDesc("rexian_ari_app_registered",
			"1 while the node delivers the Stasis app's calls to this controller (0 when disconnected or taken over by another).", []string{"node", "app"}, nil),
		active: prometheus.NewDesc("rexian_ivr_node_active",
			"1 while this instance controls the Asterisk node's calls (holds its lease with ari.standby), 0 while it stands by.", []string{"node"}, nil),
		channels: prometheus.NewDesc("rexian_ivr_line_channels",
			"Channels (simultaneous calls) a hotline line has.", []string{"line", "hotline"}, nil),
		busy: prometheus.NewDesc("rexian_ivr_line_busy_channels",
			"Channels of a hotline line in use now.", []string{"line", "hotline"}, nil),
		waiting: prometheus.NewDesc("rexian_ivr_queue_waiting",
			"Callers waiting in a queue now (call-back requests included).", []string{"queue"}, nil),
		oldest: prometheus.NewDesc("rexian_ivr_queue_oldest_wait_seconds",
			"How long the longest-waiting caller of a queue has waited (0 when none waits).", []string{"queue"}, nil),
	}
}

func (m *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.connected, m.registered, m.active, m.channels, m.busy, m.waiting, m.oldest} {
		ch <- d
	}
}

func (m *collector) Collect(ch chan<- prometheus.Metric) {
	for _, n := range m.c.nodes {
		ch <- prometheus.MustNewConstMetric(m.connected, prometheus.GaugeValue, boolValue(n.connected.Load()), n.name)
		ch <- prometheus.MustNewConstMetric(m.registered, prometheus.GaugeValue, boolValue(n.connected.Load() && !n.replaced.Load()), n.name, n.app)
		ch <- prometheus.MustNewConstMetric(m.active, prometheus.GaugeValue, boolValue(n.active.Load()), n.name)
	}
	s := m.c.snapshot()
	for _, l := range s.Lines {
		ch <- prometheus.MustNewConstMetric(m.channels, prometheus.GaugeValue, float64(l.Channels), l.Number, l.Hotline)
		ch <- prometheus.MustNewConstMetric(m.busy, prometheus.GaugeValue, float64(l.Busy), l.Number, l.Hotline)
	}
	count := map[string]int{}
	oldest := map[string]time.Time{}
	for name := range m.c.queues {
		count[name] = 0
	}
	for _, w := range s.Waiting {
		count[w.Queue]++
		if o, ok := oldest[w.Queue]; !ok || w.Since.Before(o) {
			oldest[w.Queue] = w.Since
		}
	}
	for q, n := range count {
		ch <- prometheus.MustNewConstMetric(m.waiting, prometheus.GaugeValue, float64(n), q)
		age := 0.0
		if o, ok := oldest[q]; ok {
			age = max(0, s.At.Sub(o).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(m.oldest, prometheus.GaugeValue, age, q)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// callCounters count ended calls, so that Prometheus can compute the hotline's service
// rates (GB/T 33358) over any window; the call records remain the figures of record.
type callCounters struct {
	ended    *prometheus.CounterVec
	inTarget *prometheus.CounterVec
}

func newCallCounters() callCounters {
	return callCounters{
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rexian_ivr_calls_total",
			Help: "Calls ended, by direction (inbound, callback) and outcome (answered, abandoned_queue, busy, voicemail, …).",
		}, []string{"direction", "outcome"}),
		inTarget: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rexian_ivr_calls_answered_in_target_total",
			Help: "Calls a person answered within the service-level target (ivr.answer_target, 15 s), by direction.",
		}, []string{"direction"}),
	}
}

// count records one ended call.
func (cc callCounters) count(rec *Record) {
	cc.ended.WithLabelValues(rec.Direction, string(rec.Outcome)).Inc()
	if rec.InTarget {
		cc.inTarget.WithLabelValues(rec.Direction).Inc()
	}
}
