package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/tickets"
)

// confirmations are the destructive or final steps that ask again before they are taken:
// what the step does, and the field without which the store would refuse it anyway (an
// empty field goes straight to the store, whose message says what is missing).
var confirmations = map[tickets.Action]struct {
	what     string
	required string
}{
	tickets.ActReturn:       {"退单后，工单交回市民热线中心审定；中心审定前，本单位不能再办理、回复或申请延期。", "reason"},
	tickets.ActRefuse:       {"不予受理后，工单即告结束，不再派单办理；不予受理的理由将告知市民。", "reason"},
	tickets.ActMerge:        {"本工单将作为重复件并入原工单并随即关闭，此后只办理原工单。", "into"},
	tickets.ActRejectReturn: {"驳回后，工单退回该单位继续办理，办理期限不变。", "note"},
	tickets.ActApprove:      {"审核通过后，工单即办结，答复将告知市民，并进入回访。", ""},
}

// confirmPage asks whether to take the step, carrying the form's fields to the next post.
type confirmPage struct {
	base
	Action tickets.Action
	What   string
	Ticket *tickets.View
	Facts  []string
	Fields []hiddenField
	Post   string // where the confirmed form posts
	Back   string
}

// needsConfirmation renders the confirmation page of a destructive step posted without
// confirmed=1, and reports whether it did. It works without script: the page is a form.
func (h *Handler) needsConfirmation(c *gin.Context, action tickets.Action, form url.Values, back string) bool {
	cf, ok := confirmations[action]
	if !ok || form.Get("confirmed") == "1" || (cf.required != "" && strings.TrimSpace(form.Get(cf.required)) == "") {
		return false
	}
	b := h.base(c, "请确认："+actionNames[action])
	v, err := h.opts.Tickets.Find(c.Request.Context(), auth.Current(c), c.Param("number"))
	if err != nil {
		h.fail(c, b, err)
		return true
	}
	page := confirmPage{base: b, Action: action, What: cf.what, Ticket: v, Post: c.Request.URL.Path, Back: back}
	switch action {
	case tickets.ActRefuse:
		reasons, err := h.opts.Tickets.RefusalReasons(c.Request.Context())
		if err != nil {
			h.fail(c, b, err)
			return true
		}
		for _, r := range reasons {
			if r.Code == form.Get("reason") {
				page.Facts = append(page.Facts, "理由："+r.Name)
			}
		}
	case tickets.ActMerge:
		page.Facts = append(page.Facts, "并入原工单："+form.Get("into"))
	case tickets.ActReturn:
		page.Facts = append(page.Facts, "退单理由："+form.Get("reason"))
	case tickets.ActRejectReturn:
		page.Facts = append(page.Facts, "驳回理由："+form.Get("note"))
	case tickets.ActApprove:
		if a := strings.TrimSpace(form.Get("answer")); a != "" {
			page.Facts = append(page.Facts, "告知市民的答复："+a)
		} else {
			page.Facts = append(page.Facts, "告知市民的答复：承办单位的回复")
		}
	}
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k == "csrf_token" || k == "confirmed" {
			continue
		}
		for _, v := range form[k] {
			page.Fields = append(page.Fields, hiddenField{k, v})
		}
	}
	h.render(c, http.StatusOK, "confirm", page)
	return true
}
