package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/callback"
	"github.com/rexian/rexian/dashboards"
	"github.com/rexian/rexian/ivr"
)

// The records behind the supervisors' figures, as pages: the call records (with the
// voice messages and conversations playable in the page) and the callback surveys. They
// take the query strings of GET /api/v1/ivr/calls and GET /api/v1/callback/surveys, read
// by the same functions the API uses, so that a figure's link lists what it counts.

// recordsPage is a list of records with its filters in words, its next page and its
// download.
type recordsPage struct {
	base
	Filters  []string
	Next     string
	Download string
}

// pageParam reads ?page= (50 a page).
func pageParam(c *gin.Context) (api.Page, error) {
	page := api.Page{Page: 1, PerPage: 50}
	if s := c.Query("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10000 {
			return page, api.Errorf(api.ErrInvalid, "invalid_page", "页码须为正整数，而不是“%s”。", s)
		}
		page.Page = n
	}
	return page, nil
}

// links are a list's next page and its download, with the same filters.
func links(c *gin.Context, download string, page api.Page, more bool) (next, dl string) {
	q := c.Request.URL.Query()
	q.Del("page")
	dl = download + "?" + q.Encode()
	if more {
		q.Set("page", strconv.Itoa(page.Page+1))
		next = "?" + q.Encode()
	}
	return next, dl
}

// outcomeNames are the call outcomes in words.
var outcomeNames = map[ivr.Outcome]string{
	ivr.OutcomeOngoing: "通话中", ivr.OutcomeAnswered: "人工接听", ivr.OutcomeAbandonedMenu: "菜单中挂断",
	ivr.OutcomeAbandonedQueue: "排队中放弃", ivr.OutcomeVoicemail: "语音留言", ivr.OutcomeBusy: "线路全忙",
	ivr.OutcomeStatusLookup: "自助查询", ivr.OutcomeCallback: "预约回拨", ivr.OutcomeNoMessage: "未留言",
	ivr.OutcomeFailed: "系统未能接续",
}

func outcomeName(o ivr.Outcome) string {
	if n, ok := outcomeNames[o]; ok {
		return n
	}
	if s, ok := strings.CutPrefix(string(o), "survey_"); ok {
		return "回访外呼：" + callOutcome(s)
	}
	return string(o)
}

var directionNames = map[string]string{"inbound": "呼入", "callback": "预约回拨", "survey": "回访外呼"}

type callsPage struct {
	recordsPage
	Calls []ivr.Record
}

// showCalls is the call records a query asks for, newest first.
func (h *Handler) showCalls(c *gin.Context) {
	b := h.base(c, "话务记录")
	b.Nav = "figures"
	if h.opts.IVR.DB == nil {
		h.fail(c, b, api.Errorf(api.ErrUnavailable, "ivr_off", "话务记录未启用。"))
		return
	}
	page, err := pageParam(c)
	if err != nil {
		h.fail(c, b, err)
		return
	}
	q := c.Request.URL.Query()
	recs, more, err := ivr.ListCalls(c.Request.Context(), h.opts.IVR.DB, h.opts.Location, q, page)
	if err == nil {
		err = ivr.ShowCallers(c.Request.Context(), h.opts.Audit, auth.Current(c), "the console's call list", recs)
	}
	if err != nil {
		h.fail(c, b, err)
		return
	}
	p := callsPage{recordsPage: recordsPage{base: b, Filters: h.describeCalls(q)}, Calls: recs}
	p.Next, p.Download = links(c, "/console/export/calls", page, more)
	h.render(c, http.StatusOK, "calls", p)
}

// describeCalls says a call query's filters in words.
func (h *Handler) describeCalls(q url.Values) []string {
	var out []string
	if v := q.Get("direction"); v != "" {
		out = append(out, "方向："+nameOr(directionNames[v], v))
	}
	if v := q.Get("outcome"); v != "" {
		var names []string
		for _, o := range strings.Split(v, ",") {
			names = append(names, outcomeName(ivr.Outcome(strings.TrimSpace(o))))
		}
		out = append(out, "结果："+strings.Join(names, "、"))
	}
	switch q.Get("ended") {
	case "true":
		out = append(out, "仅已结束的通话")
	case "false":
		out = append(out, "仅进行中的通话")
	}
	switch q.Get("in_target") {
	case "true":
		out = append(out, "仅15秒内人工接听")
	case "false":
		out = append(out, "仅未在15秒内人工接听")
	}
	for _, x := range []struct{ key, label string }{{"hotline", "热线"}, {"caller", "来电号码"}, {"operator", "话务员"}, {"ticket", "工单"}} {
		if v := q.Get(x.key); v != "" {
			out = append(out, x.label+"："+v)
		}
	}
	if t := h.timeSpan(q, "from", "to"); t != "" {
		out = append(out, "来电时间："+t)
	}
	return out
}

// timeSpan says a query's [from, to) in words, "" without either.
func (h *Handler) timeSpan(q url.Values, from, to string) string {
	f, okf := queryTime(q.Get(from), h.opts.Location)
	t, okt := queryTime(q.Get(to), h.opts.Location)
	if !okf && !okt {
		return ""
	}
	var fp, tp = &f, &t
	if !okf {
		fp = nil
	}
	if !okt {
		tp = nil
	}
	return h.span(fp, tp)
}

// queryTime reads an RFC 3339 time or a date (midnight in loc), as the APIs do.
func queryTime(s string, loc *time.Location) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	t, err := time.ParseInLocation(time.DateOnly, s, loc)
	return t, err == nil
}

type surveysPage struct {
	recordsPage
	Surveys []callback.View
	// Departments name the surveys' department codes.
	Departments map[string]string
}

// showSurveys is the callback surveys a query asks for, newest first.
func (h *Handler) showSurveys(c *gin.Context) {
	b := h.base(c, "回访记录")
	b.Nav = "figures"
	if h.opts.Callback == nil {
		h.fail(c, b, api.Errorf(api.ErrUnavailable, "callback_off", "回访未启用。"))
		return
	}
	page, err := pageParam(c)
	if err != nil {
		h.fail(c, b, err)
		return
	}
	q := c.Request.URL.Query()
	f, err := callback.ParseFilter(q, h.opts.Location)
	if err != nil {
		h.fail(c, b, err)
		return
	}
	ctx := c.Request.Context()
	items, more, err := h.opts.Callback.Surveys(ctx, f, page, false)
	if err != nil {
		h.fail(c, b, err)
		return
	}
	filters, err := h.describeSurveys(c, q, f)
	if err != nil {
		h.fail(c, b, err)
		return
	}
	dir, err := h.directory(ctx)
	if err != nil {
		h.fail(c, b, err)
		return
	}
	p := surveysPage{recordsPage: recordsPage{base: b, Filters: filters}, Surveys: items, Departments: map[string]string{}}
	for _, s := range items {
		if s.Department != "" {
			p.Departments[s.Department] = dir.name(s.Department)
		}
	}
	p.Next, p.Download = links(c, "/console/export/surveys", page, more)
	h.render(c, http.StatusOK, "surveys", p)
}

// surveyStatuses and surveyResults name a survey's state and answer.
var (
	surveyStatuses = map[callback.Status]string{callback.StatusPending: "待回访", callback.StatusAwaitingSMS: "等待短信回复",
		callback.StatusCalling: "外呼中", callback.StatusManual: "待人工回访", callback.StatusDone: "已回访", callback.StatusSkipped: "不回访"}
	surveyResults = map[callback.Result]string{callback.ResultSatisfied: "满意", callback.ResultFairlySatisfied: "基本满意",
		callback.ResultDissatisfied: "不满意", callback.ResultUnreachable: "无法联系", callback.ResultRefused: "拒绝回访"}
	surveyChannels = map[callback.Channel]string{callback.ChannelSMS: "短信", callback.ChannelIVR: "自动外呼", callback.ChannelManual: "人工"}
)

func (h *Handler) describeSurveys(c *gin.Context, q url.Values, f callback.Filter) ([]string, error) {
	var out []string
	if f.Status != "" {
		out = append(out, "状态："+nameOr(surveyStatuses[f.Status], string(f.Status)))
	}
	if len(f.Results) > 0 {
		names := make([]string, len(f.Results))
		for i, r := range f.Results {
			names[i] = nameOr(surveyResults[r], string(r))
		}
		out = append(out, "结果："+strings.Join(names, "、"))
	}
	if f.Counted != nil {
		if *f.Counted {
			out = append(out, "计入统计的回访（不含不回访的）")
		} else {
			out = append(out, "仅不回访的")
		}
	}
	if f.Department != "" || f.District != "" {
		dir, err := h.directory(c.Request.Context())
		if err != nil {
			return nil, err
		}
		if f.Department != "" {
			out = append(out, "主办单位："+dir.name(f.Department))
		}
		if f.District != "" {
			out = append(out, "所在旗区："+dir.name(f.District))
		}
	}
	if f.Category != "" {
		out = append(out, "类别："+f.Category+"（含子类）")
	}
	if f.Channel != "" {
		out = append(out, "渠道："+f.Channel)
	}
	if f.Ticket != "" {
		out = append(out, "工单："+f.Ticket)
	}
	if t := h.timeSpan(q, "from", "to"); t != "" {
		out = append(out, "办结时间："+t)
	}
	return out, nil
}

type cardsPage struct {
	base
	Month string
	Cards cardBoard
}

// showCards is a month's red and yellow cards (this month unless ?month=2026-11).
func (h *Handler) showCards(c *gin.Context) {
	b := h.base(c, "红黄牌")
	b.Nav = "supervisor"
	if h.opts.Cards == nil {
		h.failOversight(c, b, h.dashboardsOff())
		return
	}
	month := strings.TrimSpace(c.Query("month"))
	board, err := h.opts.Cards.Board(c.Request.Context(), auth.Current(c), month)
	if err != nil {
		h.fail(c, b, err)
		return
	}
	h.render(c, http.StatusOK, "cards", cardsPage{base: b, Month: board.Month, Cards: boardOf(board)})
}

// showBulletin is a bulletin's printable page (the API's format=html, in the console's
// address space so that no person is sent to the API for a page).
func (h *Handler) showBulletin(c *gin.Context) {
	b := h.base(c, "通报")
	if h.opts.Cards == nil {
		h.failOversight(c, b, h.dashboardsOff())
		return
	}
	at := h.opts.Now()
	if s := c.Query("date"); s != "" {
		d, err := time.ParseInLocation(time.DateOnly, s, h.opts.Location)
		if err != nil {
			h.fail(c, b, api.Errorf(api.ErrInvalid, "invalid_date", "日期须如 2026-11-26，而不是“%s”。", s))
			return
		}
		at = d
	}
	bl, err := h.opts.Cards.Bulletin(c.Request.Context(), auth.Current(c), dashboards.BulletinKind(c.Param("kind")), at)
	if err != nil {
		h.fail(c, b, err)
		return
	}
	securityHeaders(c.Writer, "")
	// The printable page carries its own styles and no script, as the API's does.
	c.Writer.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	c.Writer.Header().Set("Content-Type", "text/html; charset=utf-8")
	c.Writer.WriteHeader(http.StatusOK)
	if err := dashboards.RenderBulletin(c.Writer, bl); err != nil {
		h.log.ErrorContext(c.Request.Context(), "render bulletin", "err", err)
	}
}
