package web

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/softphone"
)

// The browser phone: an operator who joins the queue choosing 浏览器电话 gets a SIP
// endpoint of their own for this console session (package softphone); the desk page's
// widget (templates/softphone.html, static/softphone.js with the vendored JsSIP)
// fetches its credentials and registers to Asterisk over WebSocket. Desk phones and
// external softphones are chosen the same way, per join.

// softphoneView is what the desk's widget needs.
type softphoneView struct {
	// Offered: the browser phone can be chosen when joining (ari.softphone_ws is set).
	Offered bool
	// Active: the operator is in the queue with this session's browser phone.
	Active bool
	// Elsewhere: the operator is in the queue with a browser phone of another session
	// (another browser or PC): this page does not ring.
	Elsewhere bool
}

func (h *Handler) softphoneView(c *gin.Context, me *ivr.Agent) *softphoneView {
	if h.opts.Softphone == nil {
		return nil
	}
	v := &softphoneView{Offered: true}
	if me != nil && isBrowserPhone(me.Phone) {
		v.Active = me.Phone == "PJSIP/"+softphone.EndpointFor(sessionID(c))
		v.Elsewhere = !v.Active
	}
	return v
}

func isBrowserPhone(phone string) bool {
	return len(phone) > len("PJSIP/webrtc-") && phone[:len("PJSIP/webrtc-")] == "PJSIP/webrtc-"
}

// phoneLabel is an operator's phone as people read it: a browser phone's endpoint name
// (PJSIP/webrtc-<hex>) means nothing to them. static/console.js says the same on the
// live panel.
func phoneLabel(phone string) string {
	if isBrowserPhone(phone) {
		return "浏览器电话"
	}
	return phone
}

func sessionID(c *gin.Context) string {
	if v, ok := c.Get(sessionKey); ok {
		return v.(*auth.Session).ID
	}
	return ""
}

// browserPhone issues this session's browser phone and returns the dial string the
// queue rings.
func (h *Handler) browserPhone(c *gin.Context) (string, error) {
	if h.opts.Softphone == nil {
		return "", api.Errorf(api.ErrInvalid, "no_softphone", "本系统未启用浏览器电话（ari.softphone_ws 未设置），请填写分机。")
	}
	id := sessionID(c)
	if id == "" {
		return "", api.Errorf(api.ErrUnauthorized, "session_expired", "请重新登录后再使用浏览器电话。")
	}
	p := auth.Current(c)
	name := p.DisplayName
	if name == "" {
		name = p.Name
	}
	cr, err := h.opts.Softphone.Issue(c.Request.Context(), id, p.Name, name)
	if err != nil {
		return "", softphoneError(err)
	}
	return cr.Phone, nil
}

func softphoneError(err error) error {
	if errors.Is(err, softphone.ErrUnavailable) {
		return api.Errorf(api.ErrUnavailable, "softphone_unavailable", "电话服务器暂时无法连接，浏览器电话未能开通，请稍后再试或改用分机（%v）。", err)
	}
	return err
}

// softphoneCredentials answers the widget with this session's credentials, issuing
// them again on Asterisk when they were lost (an Asterisk restart). Only the operator
// who is in the queue with this session's browser phone gets them.
func (h *Handler) softphoneCredentials(c *gin.Context) {
	fail := func(err error) {
		status := api.Status(err)
		if status >= 500 {
			h.log.ErrorContext(c.Request.Context(), "browser phone credentials", "err", err)
		}
		securityHeaders(c.Writer, "")
		c.JSON(status, gin.H{"error": message(err)})
	}
	if h.opts.Softphone == nil {
		fail(api.Errorf(api.ErrNotFound, "no_softphone", "本系统未启用浏览器电话。"))
		return
	}
	p := auth.Current(c)
	name := p.DisplayName
	if name == "" {
		name = p.Name
	}
	cr, err := h.opts.Softphone.Issue(c.Request.Context(), sessionID(c), p.Name, name)
	if err != nil {
		fail(softphoneError(err))
		return
	}
	securityHeaders(c.Writer, "")
	c.JSON(http.StatusOK, cr)
}

// revokeSoftphone ends this session's browser phone (logout): the endpoint is deleted
// from Asterisk and the queue stops ringing it. A failure is logged; the sweep retries.
func (h *Handler) revokeSoftphone(c *gin.Context, id string) {
	if h.opts.Softphone == nil || id == "" {
		return
	}
	if err := h.opts.Softphone.Revoke(c.Request.Context(), id); err != nil {
		h.log.WarnContext(c.Request.Context(), "browser phone: revoke at logout", "err", err)
	}
}

// connectSrc is what the pages' connect-src allows besides rexian itself: the browser
// phone's WebSocket, and nothing else.
func (h *Handler) connectSrc() string {
	if h.opts.Softphone == nil {
		return ""
	}
	return h.opts.Softphone.Origin()
}
