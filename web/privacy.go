package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/phone"
)

// Erasure is what a citizen's deletion request erased: the closed tickets whose personal
// data went, the open ones kept whole (the citizen is owed their result), and how many
// call records, SMS and surveys lost the number.
type Erasure struct {
	Erased, Open        []string
	Calls, SMS, Surveys int64
}

// CitizenEraser serves a citizen's deletion request everywhere their number is kept and
// writes it to the security audit log (rexian privacy erase does the same).
type CitizenEraser func(ctx context.Context, actor, tel, reason string) (Erasure, error)

// privacyForm is the deletion request as the administrator typed it, checked.
type privacyForm struct {
	Masked, Reason string
	// Confirm: the form was checked and waits for the administrator's confirmation.
	Confirm bool
	// Done is the erasure once confirmed.
	Done *Erasure
}

const privacyTitle = "个人信息删除"

func (h *Handler) showPrivacy(c *gin.Context) {
	h.renderAdmin(c, http.StatusOK, h.adminBase(c, privacyTitle), "privacy", nil)
}

// erasePersonalData serves a deletion request from the page in two posts: the first checks
// the number and the reason and asks for confirmation (a form, so it works without
// script), the second erases and shows what was erased and what was kept.
func (h *Handler) erasePersonalData(c *gin.Context) {
	form := c.Request.PostForm
	if h.opts.EraseCitizen == nil {
		h.adminFailed(c, privacyTitle, "privacy", api.Errorf(api.ErrUnavailable, "privacy_off", "本实例不能删除个人信息，请在服务器上运行 rexian privacy erase。"))
		return
	}
	n, err := phone.Parse(strings.TrimSpace(form.Get("phone")))
	if err != nil {
		h.adminFailed(c, privacyTitle, "privacy", api.Errorf(api.ErrInvalid, "privacy_bad_number", "“%s”不是有效的电话号码。", form.Get("phone")))
		return
	}
	reason := strings.TrimSpace(form.Get("reason"))
	if reason == "" {
		h.adminFailed(c, privacyTitle, "privacy", api.Errorf(api.ErrInvalid, "reason_required", "请填写删除依据，例如“市民 2026-12-06 的书面申请”。"))
		return
	}
	pf := privacyForm{Masked: phone.Mask(n.National), Reason: reason, Confirm: form.Get("confirmed") != "1"}
	b := h.adminBase(c, privacyTitle)
	if !pf.Confirm {
		e, err := h.opts.EraseCitizen(c.Request.Context(), auth.Current(c).Actor(), n.National, reason)
		if err != nil {
			h.adminFailed(c, privacyTitle, "privacy", err)
			return
		}
		h.log.InfoContext(c.Request.Context(), "admin change", "by", auth.Current(c).Actor(), "action", "erase_personal_data",
			"number", pf.Masked, "tickets", len(e.Erased), "open", len(e.Open))
		pf.Done = &e
		b.Flash = "已删除该号码的个人信息，删除记录已写入安全审计日志。"
	}
	h.renderPrivacy(c, b, form, pf)
}

func (h *Handler) renderPrivacy(c *gin.Context, b base, form url.Values, pf privacyForm) {
	page := adminPage{base: b, Section: "privacy", Form: form, Privacy: &pf}
	h.render(c, http.StatusOK, "admin", page)
}
