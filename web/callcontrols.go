package web

import (
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/tickets"
)

// Call controls on the desk (hold, transfers, three-way calls) and the supervisors'
// listen-in on the live panel: forms that post here and end on the desk with a message
// saying what was done; the ivr API does the work, so the rules are the API's.

// transferTarget is an operator or a department a call can be handed or conferenced to.
type transferTarget struct{ Value, Label string }

// callControls is the desk's part for a call in conversation.
type callControls struct {
	CallID  uint64
	Targets []transferTarget
}

// monitorChoice is a conversation a supervisor can listen to.
type monitorChoice struct {
	CallID uint64
	Label  string
}

// targets are the operators in the queue (not me) and the active departments that have
// a phone number in the directory.
func (h *Handler) targets(c *gin.Context, live *ivr.Snapshot, me string) []transferTarget {
	var out []transferTarget
	if live != nil {
		for _, a := range live.Agents {
			if a.User != me {
				out = append(out, transferTarget{"operator:" + a.User, "话务员 " + a.Name})
			}
		}
	}
	if h.opts.Tickets == nil {
		return out
	}
	deps, err := h.opts.Tickets.Departments(c.Request.Context())
	if err != nil {
		h.log.WarnContext(c.Request.Context(), "desk: departments for transfers", "err", err)
		return out
	}
	for _, d := range deps {
		if d.Active && ivr.DialDigits(d.Phone) != "" {
			out = append(out, transferTarget{"department:" + d.Code, deptLabel(d)})
		}
	}
	return out
}

func deptLabel(d tickets.DepartmentView) string { return d.Name + "（" + d.Phone + "）" }

var controlFlashes = map[string]string{
	ivr.ActHold:       "call_hold",
	ivr.ActResume:     "call_resume",
	ivr.ActTransfer:   "call_transfer",
	ivr.ActConsult:    "call_consult",
	ivr.ActComplete:   "call_complete",
	ivr.ActConference: "call_conference",
	ivr.ActCancel:     "call_cancel",
	ivr.ActLeave:      "call_leave",
	ivr.ActListen:     "call_listen",
	ivr.ActWhisper:    "call_whisper",
	ivr.ActBarge:      "call_barge",
	ivr.ActStopListen: "call_stop",
}

func (h *Handler) callControl(c *gin.Context) {
	action := c.PostForm("action")
	body := ivr.ControlRequest{Action: action, Target: strings.TrimSpace(c.PostForm("target"))}
	h.postCall(c, "/control", body, action)
}

func (h *Handler) callMonitor(c *gin.Context) {
	mode := c.PostForm("mode")
	body := ivr.MonitorRequest{Mode: mode, Phone: strings.TrimSpace(c.PostForm("phone"))}
	h.postCall(c, "/monitor", body, mode)
}

// postCall runs a control on the call named in the path and ends on the desk.
func (h *Handler) postCall(c *gin.Context, what string, body any, action string) {
	id, err := strconv.ParseUint(c.PostForm("call"), 10, 64)
	if err != nil || id == 0 {
		err = api.Errorf(api.ErrInvalid, "not_talking", "no call chosen")
	}
	p := auth.Current(c)
	if err == nil {
		err = h.phone.call(c.Request.Context(), p, "/ivr/calls/"+strconv.FormatUint(id, 10)+what, body)
	}
	if err != nil {
		b := h.base(c, "话务台")
		b.Error = message(err)
		h.renderDesk(c, statusOf(err), b, "")
		return
	}
	redirect(c, "/console/desk", controlFlashes[action])
}

// deskControls fills the desk page's call controls and listen-in choices.
func (h *Handler) deskControls(c *gin.Context, page *deskPage) {
	p := auth.Current(c)
	if page.Me != nil {
		page.Controls = &callControls{CallID: page.Me.CallID, Targets: h.targets(c, page.Live, p.Name)}
	}
	if page.Live == nil || !p.Is(auth.RoleSupervisor) {
		return
	}
	page.Supervising = true
	page.MonitorPhone = h.configuredPhone(p.Name)
	if page.Me != nil {
		page.MonitorPhone = page.Me.Phone
	}
	for _, a := range page.Live.Agents {
		if a.State == ivr.AgentBusy && a.CallID != 0 {
			page.Monitorable = append(page.Monitorable, monitorChoice{a.CallID, "话务员 " + a.Name + "（通话 " + strconv.FormatUint(a.CallID, 10) + "）"})
		}
	}
	slices.SortFunc(page.Monitorable, func(a, b monitorChoice) int { return int(a.CallID) - int(b.CallID) })
}

// configuredPhone is the phone set for user under ivr.operators.
func (h *Handler) configuredPhone(user string) string {
	for _, o := range h.opts.IVR.Settings.Operators {
		if name, dial, err := config.ParseNamedDial(o); err == nil && name == user {
			return dial
		}
	}
	return ""
}
