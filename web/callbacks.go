package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/callback"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/tickets"
)

// callbacksPage is the manual callback list (人工回访): the surveys that neither the SMS
// nor the automatic call could finish, oldest first, each with a form for the answer the
// operator got on the telephone.
type callbacksPage struct {
	base
	Enabled bool
	Surveys []callback.View
	// Texts are the surveyed tickets' complaints and answers, by number: the operator
	// reads them to the citizen.
	Texts map[string]tickets.Texts
	More  bool
	// Form keeps the input of the survey whose answer was refused.
	Form callbackForm
}

// callbackForm is one survey's answer as typed.
type callbackForm struct {
	ID                   uint64
	Result, Reason, Note string
}

// callbackResults are the answers an operator may record, in the order offered.
var callbackResults = []struct{ Value, Label string }{
	{string(callback.ResultSatisfied), "满意"},
	{string(callback.ResultFairlySatisfied), "基本满意"},
	{string(callback.ResultDissatisfied), "不满意"},
	{string(callback.ResultUnreachable), "无法联系"},
	{string(callback.ResultRefused), "拒绝回访"},
}

// manualReasons say why a survey waits for a person.
var manualReasons = map[string]string{
	callback.ReasonNoTelephony:    "未配置自动外呼",
	callback.ReasonCallsExhausted: "自动外呼多次无人接听",
	callback.ReasonUnrecognised:   "短信回复无法识别",
	callback.ReasonInvalidNumber:  "号码无法接收短信",
}

// callOutcomes name how the last survey call ended.
var callOutcomes = map[string]string{
	string(ivr.SurveyAnswered): "已按键", string(ivr.SurveyNoAnswer): "无人接听", string(ivr.SurveyBusy): "占线",
	string(ivr.SurveyFailed): "呼叫失败", string(ivr.SurveyHungUp): "接通后挂断", string(ivr.SurveyNoKey): "未按键",
}

func callOutcome(code string) string { return nameOr(callOutcomes[code], code) }

func manualReason(code string) string {
	if code == "" {
		return "转人工回访"
	}
	return nameOr(manualReasons[code], code)
}

// callbackMessages are the survey service's refusals in Chinese; the codes are the
// service's own, so they are looked up only for its errors.
var callbackMessages = map[string]string{
	"invalid_result":          "请选择回访结果。",
	"too_long":                fmt.Sprintf("不满意原因和备注各不超过 %d 字。", callback.MaxReasonRunes),
	"reason_not_dissatisfied": "只有“不满意”需要填写原因；其他情况请写在备注中。",
	"survey_not_found":        "没有找到该回访。",
	"already_answered":        "该回访已有结果（以首次结果为准），无需再记录。",
	"survey_skipped":          "该回访未执行，无需记录结果。",
}

func callbackMessage(err error) string {
	var e *api.Error
	if errors.As(err, &e) {
		if m, ok := callbackMessages[e.Code]; ok {
			return m
		}
	}
	return message(err)
}

func (h *Handler) showCallbacks(c *gin.Context) {
	h.renderCallbacks(c, http.StatusOK, h.base(c, "人工回访"), callbackForm{})
}

func (h *Handler) renderCallbacks(c *gin.Context, status int, b base, form callbackForm) {
	b.Nav = "callbacks"
	page := callbacksPage{base: b, Enabled: h.opts.Callback != nil, Form: form}
	if h.opts.Callback != nil {
		var err error
		page.Surveys, page.More, err = h.opts.Callback.Surveys(c.Request.Context(), callback.Filter{Status: callback.StatusManual},
			api.Page{Page: 1, PerPage: api.MaxPerPage}, false)
		if err != nil {
			h.fail(c, b, err)
			return
		}
		numbers := make([]string, len(page.Surveys))
		for i, s := range page.Surveys {
			numbers[i] = s.Ticket
		}
		if err := h.opts.Tickets.RecordView(c.Request.Context(), auth.Current(c), "the console's callback list", numbers...); err != nil {
			h.fail(c, b, err)
			return
		}
		if page.Texts, err = h.opts.Tickets.TextsOf(c.Request.Context(), auth.Current(c), numbers); err != nil {
			h.fail(c, b, err)
			return
		}
	}
	h.render(c, status, "callbacks", page)
}

// recordCallback records an answer from the manual list as the operator signed in.
func (h *Handler) recordCallback(c *gin.Context) {
	b := h.base(c, "人工回访")
	if h.opts.Callback == nil {
		h.fail(c, b, api.Errorf(api.ErrUnavailable, "callback_off", "回访服务未启用。"))
		return
	}
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil || id == 0 {
		h.fail(c, b, api.Errorf(api.ErrNotFound, "survey_not_found", "没有找到该回访。"))
		return
	}
	form := callbackForm{ID: id, Result: c.PostForm("result"), Reason: strings.TrimSpace(c.PostForm("reason")),
		Note: strings.TrimSpace(c.PostForm("note"))}
	refuse := func(status int, msg string) {
		b.Error = msg
		h.renderCallbacks(c, status, b, form)
	}
	switch {
	case form.Result == "":
		refuse(http.StatusBadRequest, "请选择回访结果。")
		return
	case form.Result == string(callback.ResultDissatisfied) && form.Reason == "":
		refuse(http.StatusBadRequest, "请填写市民不满意的原因（将随工单退回承办单位）。")
		return
	}
	in := callback.ManualAnswer{Result: callback.Result(form.Result), Reason: form.Reason, Note: form.Note}
	if _, err := h.opts.Callback.Record(c.Request.Context(), auth.Current(c), id, in); err != nil {
		if statusOf(err) >= 500 {
			h.fail(c, b, err)
			return
		}
		refuse(statusOf(err), callbackMessage(err))
		return
	}
	flash := "surveyed"
	if in.Result == callback.ResultDissatisfied {
		flash = "reopened"
	}
	redirect(c, "/console/callbacks", flash)
}
