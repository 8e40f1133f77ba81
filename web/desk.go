package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/ivr"
)

// deskPage is the operator console's home: the queue, the live panel and the screen-pop.
type deskPage struct {
	base
	Live  *ivr.Snapshot
	Me    *ivr.Agent
	Phone string // the phone to join with, kept when joining failed
	// Softphone is the browser phone's part of the page (nil: not offered).
	Softphone *softphoneView
	Waiting   []waitingRow
	LastCall  *ivr.Record // the operator's latest call, the screen-pop of a page without script
	Now       time.Time
	Reasons   []string // the not-ready reasons offered
	// Controls are the call controls of the operator's conversation (shown while busy).
	Controls *callControls
	// Supervising: the listen-in form is offered, for the conversations in Monitorable,
	// ringing MonitorPhone unless another is typed.
	Supervising  bool
	Monitorable  []monitorChoice
	MonitorPhone string
}

// waitingRow is a waiting caller with how long they have waited.
type waitingRow struct {
	ivr.Waiting
	Waited string
}

func (h *Handler) showDesk(c *gin.Context) {
	h.renderDesk(c, http.StatusOK, h.base(c, "话务台"), "")
}

func (h *Handler) renderDesk(c *gin.Context, status int, b base, phone string) {
	ctx := c.Request.Context()
	p := auth.Current(c)
	b.Nav = "desk"
	page := deskPage{base: b, Live: h.phone.Snapshot(ctx), Phone: phone, Now: h.opts.Now(), Reasons: h.opts.IVR.Settings.Reasons()}
	if page.Live != nil {
		for i := range page.Live.Agents {
			if page.Live.Agents[i].User == p.Name {
				page.Me = &page.Live.Agents[i]
			}
		}
		for _, w := range page.Live.Waiting {
			page.Waiting = append(page.Waiting, waitingRow{Waiting: w, Waited: since(page.Now, w.Since)})
		}
		if page.Me != nil && page.Phone == "" {
			page.Phone = page.Me.Phone
		}
	}
	if db := h.opts.IVR.DB; db != nil {
		var rec ivr.Record
		err := db.WithContext(ctx).Where("operator = ?", p.Name).Order("id DESC").Limit(1).Find(&rec).Error
		if err != nil {
			h.log.WarnContext(ctx, "desk: read the last call", "err", err)
		} else if rec.ID != 0 {
			page.LastCall = &rec
		}
	}
	page.Softphone = h.softphoneView(c, page.Me)
	h.deskControls(c, &page)
	h.render(c, status, "desk", page)
}

// since is a wait as people say it: 1分05秒.
func since(now, t time.Time) string {
	return duration(now.Sub(t))
}

func duration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	m, s := int(d/time.Minute), int(d%time.Minute/time.Second)
	if m >= 60 {
		return itoa(m/60) + "小时" + itoa(m%60) + "分"
	}
	if m > 0 {
		return itoa(m) + "分" + pad2(s) + "秒"
	}
	return itoa(s) + "秒"
}

func (h *Handler) joinQueue(c *gin.Context) {
	p := auth.Current(c)
	phone := strings.TrimSpace(c.PostForm("phone"))
	browser := c.PostForm("device") == "browser"
	var err error
	if browser {
		phone, err = h.browserPhone(c)
	}
	if err == nil {
		err = h.phone.Join(c.Request.Context(), p, phone)
	}
	if err == nil && browser {
		// Not offered calls until the page has the microphone and has registered: the
		// widget makes the operator ready then. Until then the queue treats the phone as
		// it treats any phone it cannot ring.
		err = h.phone.SetState(c.Request.Context(), p, string(ivr.AgentPaused), ivr.PauseUnreachable)
	}
	if err != nil {
		if browser {
			phone = ""
		}
		b := h.base(c, "话务台")
		b.Error = message(err)
		h.renderDesk(c, statusOf(err), b, phone)
		return
	}
	redirect(c, "/console/desk", "joined")
}

func (h *Handler) leaveQueue(c *gin.Context) {
	if err := h.phone.Leave(c.Request.Context(), auth.Current(c)); err != nil {
		b := h.base(c, "话务台")
		b.Error = message(err)
		h.renderDesk(c, statusOf(err), b, "")
		return
	}
	redirect(c, "/console/desk", "left")
}

func (h *Handler) setState(c *gin.Context) {
	state := c.PostForm("state")
	if err := h.phone.SetState(c.Request.Context(), auth.Current(c), state, strings.TrimSpace(c.PostForm("reason"))); err != nil {
		b := h.base(c, "话务台")
		b.Error = message(err)
		h.renderDesk(c, statusOf(err), b, "")
		return
	}
	flash := state
	if state == "paused" {
		flash = "paused:" + strings.TrimSpace(c.PostForm("reason"))
	}
	redirect(c, "/console/desk", flash)
}
