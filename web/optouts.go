package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/phone"
	"github.com/rexian/rexian/sms"
)

// The SMS opt-out list (退订名单): numbers that receive no surveys and no free texts. A
// citizen opts out by texting 退订 or TD; the administrator puts a number on the list when
// the citizen asks by telephone or letter, and takes it off when they ask to hear from the
// hotline again. Numbers are shown masked: adding and removing take the number the
// citizen gave, so the page never needs to show one whole.

const optOutsTitle = "短信退订名单"

// optOutRow is one entry as the page lists it.
type optOutRow struct {
	Masked, Reason, Note, CreatedBy string
	CreatedAt                       time.Time
}

// optOutList is a page of the list; Next is the next page's address, if there is one.
type optOutList struct {
	Rows []optOutRow
	Next string
}

// optOutReasons name how a number came onto the list.
var optOutReasons = map[string]string{"opt_out": "市民回复退订", "manual": "工作人员登记"}

func (h *Handler) showOptOuts(c *gin.Context) {
	h.renderAdmin(c, http.StatusOK, h.adminBase(c, optOutsTitle), "optouts", nil)
}

// fillOptOuts reads the page of the list that ?page= names.
func (h *Handler) fillOptOuts(c *gin.Context, page *adminPage) error {
	if h.opts.SMS == nil {
		return h.smsOff()
	}
	pg, err := pageParam(c)
	if err != nil {
		return err
	}
	items, more, err := h.opts.SMS.Suppressions(c.Request.Context(), pg)
	if err != nil {
		return err
	}
	list := &optOutList{}
	if more {
		list.Next = "/console/admin/optouts?" + url.Values{"page": {strconv.Itoa(pg.Page + 1)}}.Encode()
	}
	for _, it := range items {
		reason := optOutReasons[it.Reason]
		if reason == "" {
			reason = it.Reason
		}
		list.Rows = append(list.Rows, optOutRow{Masked: phone.Mask(it.Phone), Reason: reason, Note: it.Note,
			CreatedBy: it.CreatedBy, CreatedAt: it.CreatedAt})
	}
	page.OptOuts = list
	return nil
}

// optOutNumber checks the number typed on the page and says what is wrong in words (its
// own codes: the console's words for the service's codes speak of callers).
func optOutNumber(raw string) (string, error) {
	n, err := sms.Recipient(raw)
	var e *api.Error
	if err == nil || !errors.As(err, &e) {
		return n, err
	}
	switch e.Code {
	case "empty_recipient":
		return "", api.Errorf(api.ErrInvalid, "opt_out_no_number", "请输入市民的手机号码。")
	case "landline":
		return "", api.Errorf(api.ErrInvalid, "opt_out_landline", "%s 是固定电话，收不到短信，无需退订。", raw)
	}
	return "", api.Errorf(api.ErrInvalid, "opt_out_bad_number", "“%s”不是有效的手机号码。", raw)
}

// optOutPost reads the number of a post to the list; on a bad one (or no SMS service) it
// has answered the page and returns false.
func (h *Handler) optOutPost(c *gin.Context) (string, bool) {
	if h.opts.SMS == nil {
		h.fail(c, h.adminBase(c, optOutsTitle), h.smsOff())
		return "", false
	}
	num, err := optOutNumber(c.Request.PostForm.Get("phone"))
	if err != nil {
		h.adminFailed(c, optOutsTitle, "optouts", err)
		return "", false
	}
	return num, true
}

// addOptOut puts a number on the list; a number already there keeps its entry.
func (h *Handler) addOptOut(c *gin.Context) {
	num, ok := h.optOutPost(c)
	if !ok {
		return
	}
	v, err := h.opts.SMS.Suppress(c.Request.Context(), auth.Current(c).Actor(), num, c.Request.PostForm.Get("note"))
	if err != nil {
		h.adminFailed(c, optOutsTitle, "optouts", err)
		return
	}
	h.audit(c, audit.ActionConfig, "sms_opt_out_added", "sms_opt_out:"+phone.Mask(num), "reason", v.Reason)
	redirect(c, "/console/admin/optouts", "opt_out_added")
}

// removeOptOut takes a number off the list, when the citizen asks for surveys again.
func (h *Handler) removeOptOut(c *gin.Context) {
	num, ok := h.optOutPost(c)
	if !ok {
		return
	}
	if err := h.opts.SMS.Unsuppress(c.Request.Context(), num); err != nil {
		if errors.Is(err, api.ErrNotFound) {
			err = api.Errorf(api.ErrNotFound, "opt_out_not_listed", "%s 不在退订名单中。", phone.Mask(num))
		}
		h.adminFailed(c, optOutsTitle, "optouts", err)
		return
	}
	h.audit(c, audit.ActionConfig, "sms_opt_out_removed", "sms_opt_out:"+phone.Mask(num))
	redirect(c, "/console/admin/optouts", "opt_out_removed")
}
