package ivr

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/auth"
)

// ActionCallMonitored is the security audit action of a supervisor listening in,
// whispering or barging into a call.
const ActionCallMonitored = "call_monitored"

// ControlRequest is an operator's call control.
type ControlRequest struct {
	// Action: hold, resume, transfer (blind), consult (attended), complete (the
	// consultation's transfer), conference (三方通话; after a consultation: all three),
	// cancel (the target rung or consulted), leave (the operator drops out of a
	// three-way call).
	Action string `json:"action"`
	// Target of transfer, consult and conference: operator:<user> or department:<code>.
	Target string `json:"target"`
}

// MonitorRequest is a supervisor joining a call.
type MonitorRequest struct {
	// Mode: listen (监听), whisper (耳语: the operator alone hears the supervisor), barge
	// (强插: all hear), stop.
	Mode string `json:"mode"`
	// Phone rings the supervisor (a dial string); empty takes the supervisor's own
	// queue phone or the one configured under ivr.operators.
	Phone string `json:"phone"`
}

var controlActions = []string{ActHold, ActResume, ActTransfer, ActConsult, ActComplete, ActConference, ActCancel, ActLeave}

func (h *Handler) control(c *gin.Context) error {
	var in ControlRequest
	if err := api.BindJSON(c, &in); err != nil {
		return err
	}
	if !slices.Contains(controlActions, in.Action) {
		return api.Errorf(api.ErrInvalid, "invalid_action", "action must be one of %s, not %q", strings.Join(controlActions, ", "), in.Action)
	}
	if (in.Action == ActTransfer || in.Action == ActConsult) && in.Target == "" {
		return api.Errorf(api.ErrInvalid, "no_target", "%s needs a target: operator:<user> or department:<code>", in.Action)
	}
	rec, err := h.ownCall(c)
	if err != nil {
		return err
	}
	return h.applyControl(c, rec, in.Action, in.Target, "")
}

func (h *Handler) monitor(c *gin.Context) error {
	var in MonitorRequest
	if err := api.BindJSON(c, &in); err != nil {
		return err
	}
	modes := []string{ActListen, ActWhisper, ActBarge, ActStopListen}
	if !slices.Contains(modes, in.Mode) {
		return api.Errorf(api.ErrInvalid, "invalid_mode", "mode must be one of %s, not %q", strings.Join(modes, ", "), in.Mode)
	}
	rec, err := h.record(c)
	if err != nil {
		return err
	}
	p := auth.Current(c)
	in.Phone = strings.TrimSpace(in.Phone)
	if in.Phone == "" && in.Mode != ActStopListen {
		in.Phone = h.ops[p.Name]
		if h.local() {
			if a, ok := h.ctrl.acd.agent(p.Name); ok {
				in.Phone = a.Phone
			}
		}
	}
	if in.Mode != ActStopListen && in.Phone == "" {
		return api.Errorf(api.ErrInvalid, "no_phone", "name the phone to ring you on (e.g. PJSIP/8003): none is configured for %s", p.Name)
	}
	// The audit record comes first: a listen-in that cannot be recorded does not happen.
	if h.audit != nil {
		err := h.audit.Record(c.Request.Context(), audit.Event{Action: ActionCallMonitored, Actor: p.Actor(),
			Target: fmt.Sprintf("call:%d", rec.ID), Detail: fmt.Sprintf("%s %s operator=%s phone=%s", in.Mode, monitorWord(in.Mode), rec.Operator, in.Phone)})
		if err != nil {
			return fmt.Errorf("audit the listen-in: %w", err)
		}
	}
	return h.applyControl(c, rec, in.Mode, "", in.Phone)
}

// applyControl runs a control on this instance's controller, or sends it to the one
// that runs the calls.
func (h *Handler) applyControl(c *gin.Context, rec *Record, action, target, phone string) error {
	p := auth.Current(c)
	if rec.EndedAt != nil {
		return api.Errorf(api.ErrConflict, "call_ended", "call %d has ended", rec.ID)
	}
	name := p.DisplayName
	if name == "" {
		name = p.Name
	}
	if h.local() {
		res, err := h.ctrl.Control(c.Request.Context(), rec.ID, action, target, phone, p.Actor(), name, p.Name)
		if errors.Is(err, ErrNoCall) {
			return api.Errorf(api.ErrConflict, "call_ended", "call %d is not in progress", rec.ID)
		}
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, res)
		return nil
	}
	if !h.controllerRunning(c.Request.Context()) {
		return errNoController()
	}
	cmd := command{Op: "control", User: p.Name, Name: name, CallID: rec.ID, Target: target, Phone: phone, Reason: action}
	if err := h.live.send(c.Request.Context(), cmd); err != nil {
		return api.Errorf(api.ErrUnavailable, "live_down", "the live store is unreachable: %v", err)
	}
	c.JSON(http.StatusAccepted, ControlResult{CallID: rec.ID, Action: action, Message: "操作已发送，结果将显示在实时面板。"})
	return nil
}
