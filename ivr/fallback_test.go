package ivr

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rexian/rexian/ivr/aritest"
)

// logBuffer collects a controller's log as JSON lines, for tests that count what was said.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// errors returns the error-level lines about a channel.
func (b *logBuffer) errors(channel string) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(b.buf.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if m["level"] == "ERROR" && m["channel"] == channel {
			out = append(out, m)
		}
	}
	return out
}

func withLog(b *logBuffer) harnessOption {
	return func(o *Options, _ *aritest.Options) {
		o.Log = slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}

// TestFailuresSendTheCallerToTheFallback: whatever Asterisk refuses in a call's flow, the
// caller is not hung up on: they go on to the dialplan's [rexian-fallback], which takes
// their message, and the cause is logged once with the channel.
func TestFailuresSendTheCallerToTheFallback(t *testing.T) {
	tests := []struct {
		name string
		// fail arms the failure; drive takes the caller to it.
		fail  func(srv *aritest.Server)
		drive func(h *harness, c *aritest.Call)
		cause string
	}{{
		// As the real Asterisk does: a spool without recording/ answers 500.
		name:  "record",
		fail:  func(srv *aritest.Server) { srv.SetRecordingFolder(false) },
		drive: func(h *harness, c *aritest.Call) { c.Press("0") }, // nobody logged in: voice message
		cause: "No such file or directory",
	}, {
		name: "play",
		fail: func(srv *aritest.Server) {
			srv.FailNext("POST", "/channels/*/play/*", 500, `{"message":"Failed to queue media for playback"}`)
		},
		drive: func(h *harness, c *aritest.Call) {},
		cause: "Failed to queue media",
	}, {
		name: "bridge",
		fail: func(srv *aritest.Server) {
			srv.FailNext("POST", "/bridges", 500, `{"message":"Unable to create bridge. Possible duplicate bridge id '(null)'"}`)
		},
		drive: func(h *harness, c *aritest.Call) {
			h.login("wang", "PJSIP/8001", aritest.Phone{})
			c.Press("0")
			h.originated("PJSIP/8001")
		},
		cause: "Unable to create bridge",
	}, {
		name: "add to bridge",
		fail: func(srv *aritest.Server) {
			srv.FailNext("POST", "/bridges/*/addChannel", 500, `{"message":"Internal Server Error"}`)
		},
		drive: func(h *harness, c *aritest.Call) { h.login("wang", "PJSIP/8001", aritest.Phone{}); c.Press("0") },
		cause: "addChannel",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs logBuffer
			h := newHarness(t, withLog(&logs))
			caller := h.dial("13800138000", "12345")
			h.waitPlayed(caller, "welcome-mayor")
			tc.fail(h.srv)
			if tc.name == "play" {
				// The next playback (the menu) is refused.
				h.eventually("the caller is handed on", func() bool { return !caller.InStasis() })
			} else {
				h.waitPlayed(caller, "menu-main")
				tc.drive(h, caller)
			}
			h.eventually("the caller is handed to the fallback", func() bool { return !caller.InStasis() })
			if got := caller.Context(); got != fallbackContext {
				t.Errorf("the caller went to context %q, want %s", got, fallbackContext)
			}
			if caller.State() != "Up" {
				t.Errorf("the caller's channel is %q, want Up: the fallback takes the message", caller.State())
			}
			rec := h.record(caller.ID())
			if rec.Outcome != OutcomeFallback || !strings.Contains(rec.Note, tc.cause) {
				t.Errorf("record: outcome %q note %q, want fallback with the cause", rec.Outcome, rec.Note)
			}
			if played(caller, "error-try-later") {
				t.Error("the caller heard 请稍后再拨")
			}
			errs := logs.errors(caller.ID())
			if len(errs) != 1 || !strings.Contains(errs[0]["err"].(string), tc.cause) {
				t.Errorf("error lines about the call: %v, want one naming %q", errs, tc.cause)
			}
			if a, ok := h.ctrl.acd.agent("wang"); ok {
				h.eventually("the operator is free again", func() bool {
					a, _ = h.ctrl.acd.agent("wang")
					return a.State == AgentReady
				})
			}
			caller.Hangup()
			h.idle()
		})
	}
}

// TestOperatorPhoneThatCannotBeRungStillTakesTheMessage: an originate Asterisk refuses
// (500 Allocation failed: the phone is not registered) pauses that operator; the caller,
// with nobody else to wait for, leaves a voice message that becomes a ticket.
func TestOperatorPhoneThatCannotBeRungStillTakesTheMessage(t *testing.T) {
	h := newHarness(t)
	h.login("wang", "PJSIP/8001", aritest.Phone{})
	h.srv.FailNext("POST", "/channels", 500, `{"error":"Allocation failed"}`)
	caller := h.dial("13800138000", "12345")
	h.waitPlayed(caller, "menu-main")
	caller.Press("0")
	h.waitAgent("wang", AgentPaused)
	h.waitPlayed(caller, "voicemail-intro")
	ctxRec, cancel := context.WithTimeout(h.ctx, 10*time.Second)
	defer cancel()
	if _, err := caller.WaitRecording(ctxRec); err != nil {
		t.Fatal(err)
	}
	caller.Speak(2 * time.Second)
	caller.Press("#")
	h.waitPlayed(caller, "voicemail-thanks")
	caller.Hangup()
	if rec := h.record(caller.ID()); rec.Outcome != OutcomeVoicemail || rec.TicketNumber == "" {
		t.Errorf("record: outcome %q ticket %q, want a voice message with its ticket", rec.Outcome, rec.TicketNumber)
	}
	h.idle()
}
