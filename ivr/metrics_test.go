package ivr

import (
	"net/url"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/ivr/aritest"
)

// gauge reads one series of the controller's metrics, -1 when it is absent.
func gauge(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue series
				}
			}
			switch {
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

// TestMetricsShowTheLivePicture follows a caller who waits in the queue and hangs up: the
// node, the line, the queue and the ended call as Prometheus sees them.
func TestMetricsShowTheLivePicture(t *testing.T) {
	h := newHarness(t, withSettings(func(s *config.IVR) { s.Lines[0].Channels = 2 }))
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(h.ctrl.Collectors()...)
	u, _ := url.Parse(h.srv.URL())
	node := map[string]string{"node": u.Host}
	line := map[string]string{"line": h.opts.Settings.Lines[0].Number}
	queue := map[string]string{"queue": h.opts.Settings.Queues[0].Name}

	if v := gauge(t, reg, "rexian_ari_connected", node); v != 1 {
		t.Errorf("rexian_ari_connected = %v, want 1", v)
	}
	if v := gauge(t, reg, "rexian_ari_app_registered", map[string]string{"node": u.Host, "app": "hotline"}); v != 1 {
		t.Errorf("rexian_ari_app_registered = %v, want 1", v)
	}
	if c, b := gauge(t, reg, "rexian_ivr_line_channels", line), gauge(t, reg, "rexian_ivr_line_busy_channels", line); c != 2 || b != 0 {
		t.Errorf("line: %v channels, %v busy; want 2, 0", c, b)
	}
	if v := gauge(t, reg, "rexian_ivr_queue_waiting", queue); v != 0 {
		t.Errorf("rexian_ivr_queue_waiting = %v before any call, want 0", v)
	}

	// The one operator takes a first call; the second caller waits.
	h.login("wang", "PJSIP/8001", aritest.Phone{})
	caller, blocker := h.behindBusyOperator("13800000001")
	h.waitPlayed(caller, "queue-enter")
	h.eventually("the queue metric shows the caller", func() bool {
		return gauge(t, reg, "rexian_ivr_queue_waiting", queue) == 1
	})
	if v := gauge(t, reg, "rexian_ivr_line_busy_channels", line); v != 2 {
		t.Errorf("busy channels while the caller waits = %v, want 2 (every line busy)", v)
	}
	h.eventually("the oldest wait grows", func() bool {
		return gauge(t, reg, "rexian_ivr_queue_oldest_wait_seconds", queue) > 0
	})
	caller.Hangup()
	h.record(caller.ID())
	blocker.Hangup()
	h.idle()
	if v := testutil.ToFloat64(h.ctrl.counters.ended.WithLabelValues("inbound", string(OutcomeAbandonedQueue))); v != 1 {
		t.Errorf("calls abandoned in the queue = %v, want 1", v)
	}
	// The first caller talked to the operator, who answered at once.
	if a, in := testutil.ToFloat64(h.ctrl.counters.ended.WithLabelValues("inbound", string(OutcomeAnswered))),
		testutil.ToFloat64(h.ctrl.counters.inTarget.WithLabelValues("inbound")); a != 1 || in != 1 {
		t.Errorf("answered %v, in target %v; want 1, 1", a, in)
	}
	if w, b := gauge(t, reg, "rexian_ivr_queue_waiting", queue), gauge(t, reg, "rexian_ivr_line_busy_channels", line); w != 0 || b != 0 {
		t.Errorf("after the hang-up: %v waiting, %v busy; want 0, 0", w, b)
	}

	// Asterisk goes away: the node shows disconnected and its app unregistered.
	h.srv.Close()
	h.eventually("the node shows disconnected", func() bool {
		return gauge(t, reg, "rexian_ari_connected", node) == 0 &&
			gauge(t, reg, "rexian_ari_app_registered", map[string]string{"node": u.Host, "app": "hotline"}) == 0
	})
}
