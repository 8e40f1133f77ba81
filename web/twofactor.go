package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
)

// twoFactorPage sets up the second factor, shows the recovery codes once, or says it is on.
type twoFactorPage struct {
	base
	Required  bool
	Enabled   bool
	EnabledAt *time.Time
	Left      int64
	Secret    string
	URI       string
	Codes     []string
	Next      string
	// Regenerated: Codes replace earlier ones (not a first set-up).
	Regenerated bool
}

func (h *Handler) sessionUser(c *gin.Context) *auth.User {
	return c.MustGet(sessionKey).(*auth.Session).User
}

// showTwoFactor shows the set-up (a QR code of the secret and the form for the first
// code), starting it on the first visit, or the second factor's state once it is on.
func (h *Handler) showTwoFactor(c *gin.Context) {
	u := h.sessionUser(c)
	page := twoFactorPage{base: h.base(c, "双因素认证"), Required: h.opts.Auth.TwoFactorRequired(u), Enabled: u.TwoFactor(),
		EnabledAt: u.TOTPEnabledAt}
	ctx := c.Request.Context()
	if u.TwoFactor() {
		left, err := h.opts.Auth.RecoveryCodesLeft(ctx, u.ID)
		if err != nil {
			h.fail(c, page.base, err)
			return
		}
		page.Left = left
		h.render(c, http.StatusOK, "twofactor", page)
		return
	}
	e, err := h.opts.Auth.BeginEnrolment(ctx, u.ID)
	if err != nil {
		h.fail(c, page.base, err)
		return
	}
	page.Secret, page.URI = e.Secret, e.URI
	h.render(c, http.StatusOK, "twofactor", page)
}

// confirmTwoFactor switches the second factor on with its first code and shows the
// recovery codes: they are kept as hashes only, so this is the one page that has them.
func (h *Handler) confirmTwoFactor(c *gin.Context) {
	u := h.sessionUser(c)
	ctx := c.Request.Context()
	codes, err := h.opts.Auth.ConfirmEnrolment(ctx, u.ID, c.PostForm("code"))
	if err != nil {
		page := twoFactorPage{base: h.base(c, "双因素认证"), Required: h.opts.Auth.TwoFactorRequired(u)}
		e, perr := h.opts.Auth.PendingEnrolment(ctx, u.ID)
		if perr != nil || !errors.Is(err, api.ErrInvalid) {
			h.fail(c, page.base, err)
			return
		}
		page.Secret, page.URI = e.Secret, e.URI
		page.Error = "动态码不正确。请确认手机时间准确，并输入应用当前显示的6位动态码。"
		h.render(c, http.StatusBadRequest, "twofactor", page)
		return
	}
	page := twoFactorPage{base: h.base(c, "双因素认证"), Enabled: true, Codes: codes, Next: homeOf(auth.Current(c))}
	h.render(c, http.StatusOK, "twofactor", page)
}

// regenerateRecoveryCodes replaces the user's recovery codes, given a current code from
// the app, and shows the new ones this once.
func (h *Handler) regenerateRecoveryCodes(c *gin.Context) {
	u := h.sessionUser(c)
	ctx := c.Request.Context()
	codes, err := h.opts.Auth.RegenerateRecoveryCodes(ctx, u.ID, c.PostForm("code"))
	if err != nil {
		page := twoFactorPage{base: h.base(c, "双因素认证"), Required: h.opts.Auth.TwoFactorRequired(u), Enabled: u.TwoFactor(), EnabledAt: u.TOTPEnabledAt}
		if !errors.Is(err, api.ErrInvalid) {
			h.fail(c, page.base, err)
			return
		}
		if page.Left, err = h.opts.Auth.RecoveryCodesLeft(ctx, u.ID); err != nil {
			h.fail(c, page.base, err)
			return
		}
		page.Error = "动态码不正确。请输入验证器应用当前显示的6位动态码；恢复码未更换。"
		h.render(c, http.StatusBadRequest, "twofactor", page)
		return
	}
	page := twoFactorPage{base: h.base(c, "双因素认证"), Enabled: true, Codes: codes, Next: "/console/2fa", Regenerated: true}
	h.render(c, http.StatusOK, "twofactor", page)
}

// twoFactorQR is the set-up's QR code, from our own origin: the secret goes to no other
// site, and the pages' Content-Security-Policy stays img-src 'self'.
func (h *Handler) twoFactorQR(c *gin.Context) {
	u := h.sessionUser(c)
	e, err := h.opts.Auth.PendingEnrolment(c.Request.Context(), u.ID)
	if err != nil {
		h.fail(c, h.base(c, "双因素认证"), err)
		return
	}
	img, err := e.QRCode(240)
	if err != nil {
		h.fail(c, h.base(c, "双因素认证"), err)
		return
	}
	securityHeaders(c.Writer, "")
	c.Data(http.StatusOK, "image/png", img)
}
