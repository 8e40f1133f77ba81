package web

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/dashboards"
	"github.com/rexian/rexian/tickets"
)

// The supervisors' oversight pages: the three rates ranking (三率) with the GB/T
// 33358-2016 service-standard panel, and the overdue list with the one-click urge (督办)
// and on-site supervision records (现场督办). They show what the dashboards service
// computes; the service checks the role again.

// oversightRoutes mounts the pages on g, which lets only supervisors through.
func (h *Handler) oversightRoutes(g gin.IRoutes) {
	g.GET("/rates", h.showRates)
	g.GET("/overdue", h.showOverdue)
	g.POST("/overdue/:number/urge", h.urgeOverdue)
	g.POST("/supervisions", h.recordSupervision)
}

// oversightMessages are the Chinese texts of the dashboards' error codes these pages meet.
var oversightMessages = map[string]string{
	"invalid_from":       "开始日期格式不正确，应为 2026-01-01 这样的日期。",
	"invalid_to":         "结束日期格式不正确，应为 2026-01-31 这样的日期。",
	"invalid_period":     "结束日期早于开始日期。",
	"unknown_period":     "统计周期只能是今日、本周、本月、本季度、本年或自定义。",
	"period_too_long":    "自定义统计周期最长十年。",
	"invalid_page":       "页码不正确。",
	"unknown_department": "没有该单位。",
	"urge_unavailable":   "本实例未配置督办。",
	"dashboards_off":     "本实例未启用统计与督办。",
	"note_too_long":      "督办意见过长。",
	"invalid_date":       "督办日期格式不正确，应为 2026-11-26 这样的日期。",
	"missing_place":      "请填写督办地点。",
	"missing_people":     "请填写参加督办的人员。",
	"missing_findings":   "请填写现场督办发现的情况。",
	"place_too_long":     "督办地点过长（最多255字）。",
	"people_too_long":    "督办人员过长（最多2000字）。",
	"findings_too_long":  "发现情况过长（最多20000字）。",
	"unknown_ticket":     "没有该工单。",
	"internal":           "系统出现错误，请稍后重试；如果一再出现，请联系管理员。",
}

// oversightMessage is what a supervisor is told about err.
func oversightMessage(err error) string {
	var e *api.Error
	if errors.As(err, &e) {
		if m, ok := oversightMessages[e.Code]; ok {
			return m
		}
	}
	return message(err)
}

// errorCode is the code of err for a redirect: a code the pages know, never free text.
func oversightCode(err error) string {
	var e *api.Error
	if errors.As(err, &e) && api.Status(err) < 500 {
		return e.Code
	}
	return "internal"
}

// codeMessage is the text of a code carried by a redirect; a code neither map knows
// shows nothing but the fixed failure text, so a link cannot put words into the page.
func oversightCodeMessage(code string) string {
	if m, ok := oversightMessages[code]; ok {
		return m
	}
	if m, ok := messages[code]; ok {
		return m
	}
	return "请刷新页面后重试。"
}

// failOversight answers err with the error page, in the words of these pages.
func (h *Handler) failOversight(c *gin.Context, b base, err error) {
	status := api.Status(err)
	if status >= 500 {
		h.fail(c, b, err)
		return
	}
	b.Title, b.Error, b.Script = headingFor(status), oversightMessage(err), false
	h.render(c, status, "error", errorPage{base: b, Status: status, Heading: headingFor(status), Back: "/console/supervisor"})
	c.Abort()
}

func (h *Handler) dashboardsOff() error {
	return api.Errorf(api.ErrUnavailable, "dashboards_off", "本实例未启用统计与督办。")
}

// oversightPeriods are the period form's options, in order.
var oversightPeriods = []struct{ Kind, Name string }{
	{"today", "今日"}, {"week", "本周"}, {"month", "本月"}, {"quarter", "本季度"}, {"year", "本年"}, {"custom", "自定义"},
}

// ratesPage is the three rates ranking and the service-standard panel for a period.
type ratesPage struct {
	base
	Choices        []struct{ Kind, Name string }
	Kind, From, To string // as asked for
	// Span is the period shown, in words; empty when the form was wrong.
	Span     string
	Rankings []rankingTable
	Measures []measureRow
	Download string // the rankings as a workbook
}

// rankingTable is the departments' or the districts' ranking.
type rankingTable struct {
	ID, Title string
	Rows      []rateRow
	Total     *rateRow // the whole city, under the departments
}

// rateRow is one line of a ranking, with rates as percentages ("—" when nothing counts).
type rateRow struct {
	Rank                                  int
	Key, Name                             string
	Response, Resolution, Satisfaction    string
	ResponseOf, ResolutionOf, SatisfiedOf string // "19/20"
	Score                                 string
}

// measureRow is one line of the service-standard panel.
type measureRow struct {
	Code, Name, Target string
	Counted, Met       int64
	Rate               string
}

// percent shows a fraction as a percentage with one decimal; nil is "—".
func ratePercent(v *float64) string {
	if v == nil {
		return "—"
	}
	return fmt.Sprintf("%.1f%%", math.Round(*v*1000)/10)
}

func rateRowOf(r dashboards.Rates) rateRow {
	return rateRow{Rank: r.Rank, Key: r.Key, Name: r.Name,
		Response: ratePercent(r.ResponseRate), ResponseOf: fmt.Sprintf("%d/%d", r.Responded, r.ResponseCounted),
		Resolution: ratePercent(r.ResolutionRate), ResolutionOf: fmt.Sprintf("%d/%d", r.Resolved, r.ResolutionCounted),
		Satisfaction: ratePercent(r.SatisfactionRate), SatisfiedOf: fmt.Sprintf("%d/%d", r.Satisfied, r.SurveysAnswered),
		Score: ratePercent(r.Score)}
}

// period reads the period form: ?period=today|week|month|quarter|year (default month) or
// custom with from and to (dates, to inclusive); from or to alone mean custom.
func (h *Handler) oversightPeriod(c *gin.Context) (dashboards.Period, string, error) {
	kind := strings.TrimSpace(c.Query("period"))
	from, to := strings.TrimSpace(c.Query("from")), strings.TrimSpace(c.Query("to"))
	if kind == "" {
		kind = "month"
		if from != "" || to != "" {
			kind = "custom"
		}
	}
	known := false
	for _, ch := range oversightPeriods {
		known = known || ch.Kind == kind
	}
	if !known {
		return dashboards.Period{}, kind, api.Errorf(api.ErrInvalid, "unknown_period", "no period %q", kind)
	}
	p, err := dashboards.PeriodOf(dashboards.PeriodKind(kind), h.opts.Now(), from, to, h.opts.Cards.Location())
	return p, kind, err
}

func (h *Handler) showRates(c *gin.Context) {
	b := h.base(c, "三率排名")
	b.Nav = "supervisor"
	if h.opts.Cards == nil {
		h.failOversight(c, b, h.dashboardsOff())
		return
	}
	page := ratesPage{Choices: oversightPeriods, From: c.Query("from"), To: c.Query("to")}
	p, kind, err := h.oversightPeriod(c)
	page.Kind = kind
	if err != nil {
		b.Error = oversightMessage(err)
		page.base = b
		h.render(c, statusOf(err), "rates", page)
		return
	}
	ctx, who := c.Request.Context(), auth.Current(c)
	var rk *dashboards.Ranking
	var panel *dashboards.StandardPanel
	if rk, err = h.opts.Cards.Ranking(ctx, who, p); err == nil {
		panel, err = h.opts.Cards.Standard(ctx, who, p)
	}
	if err != nil {
		h.failOversight(c, b, err)
		return
	}
	page.base = b
	page.Span = p.From.Format("2006-01-02") + " 至 " + p.To.AddDate(0, 0, -1).Format("2006-01-02")
	if kind == "custom" {
		page.From, page.To = p.From.Format("2006-01-02"), p.To.AddDate(0, 0, -1).Format("2006-01-02")
	}
	total := rateRowOf(rk.Total)
	depts := rankingTable{ID: "departments", Title: "单位排名", Total: &total}
	for _, r := range rk.Departments {
		depts.Rows = append(depts.Rows, rateRowOf(r))
	}
	districts := rankingTable{ID: "districts", Title: "旗县区排名"}
	for _, r := range rk.Districts {
		districts.Rows = append(districts.Rows, rateRowOf(r))
	}
	page.Rankings = []rankingTable{depts, districts}
	page.Download = "/console/export/rates?" + c.Request.URL.RawQuery
	for _, m := range panel.Measures {
		page.Measures = append(page.Measures, measureRow{Code: m.Code, Name: m.Name, Target: m.Target, Counted: m.Counted, Met: m.Met, Rate: ratePercent(m.Rate)})
	}
	h.render(c, http.StatusOK, "rates", page)
}

// overduePage is the overdue list with its urge and on-site supervision forms.
type overduePage struct {
	base
	Tickets      []overdueRow
	More         bool
	Page         int
	Department   string
	Supervisions []dashboards.Supervision
	Today        string
	// Form is a supervision form that failed, shown again under its ticket.
	Form url.Values
}

type overdueRow struct {
	dashboards.OverdueTicket
	Late string
}

// lateness says how late a ticket is, in days and hours.
func overdueFor(hours float64) string {
	if hours < 1 {
		return "不足1小时"
	}
	h := int(hours)
	if h < 24 {
		return fmt.Sprintf("%d小时", h)
	}
	if h%24 == 0 {
		return fmt.Sprintf("%d天", h/24)
	}
	return fmt.Sprintf("%d天%d小时", h/24, h%24)
}

// oversightFlashes are the texts of the ok= codes of the overdue page.
var oversightFlashes = map[string]string{
	"urged":      "督办成功：督办意见已写入工单办理经过。",
	"supervised": "现场督办记录已保存。",
}

func (h *Handler) showOverdue(c *gin.Context) {
	b := h.base(c, "超期工单督办")
	if f, ok := oversightFlashes[c.Query("ok")]; ok {
		b.Flash = f
	}
	if code := c.Query("failed"); code != "" {
		b.Error = "督办失败：" + oversightCodeMessage(code)
	}
	h.renderOverdue(c, http.StatusOK, b, nil)
}

func (h *Handler) renderOverdue(c *gin.Context, status int, b base, form url.Values) {
	b.Nav = "supervisor"
	if h.opts.Cards == nil {
		h.failOversight(c, b, h.dashboardsOff())
		return
	}
	ctx, who := c.Request.Context(), auth.Current(c)
	pg, err := api.ParsePage(c)
	if err != nil {
		h.failOversight(c, b, err)
		return
	}
	dept := strings.TrimSpace(c.Query("department"))
	items, more, err := h.opts.Cards.Overdue(ctx, who, dept, pg)
	if err != nil {
		h.failOversight(c, b, err)
		return
	}
	svs, _, err := h.opts.Cards.Supervisions(ctx, who, "", api.Page{Page: 1, PerPage: 20})
	if err != nil {
		h.failOversight(c, b, err)
		return
	}
	page := overduePage{base: b, More: more, Page: pg.Page, Department: dept, Supervisions: svs, Form: form,
		Today: h.opts.Now().In(h.opts.Cards.Location()).Format("2006-01-02")}
	for _, t := range items {
		page.Tickets = append(page.Tickets, overdueRow{OverdueTicket: t, Late: overdueFor(t.LateHours)})
	}
	h.render(c, status, "overdue", page)
}

// urgeOverdue is the one-click urge (督办) of a ticket on the overdue list, by the same
// service call as the API's; the list comes back with whether it worked.
func (h *Handler) urgeOverdue(c *gin.Context) {
	if h.opts.Cards == nil {
		h.failOversight(c, h.base(c, "督办"), h.dashboardsOff())
		return
	}
	form := c.Request.PostForm // parsed and checked by the session middleware
	number := tickets.NormalizeNumber(c.Param("number"))
	_, err := h.opts.Cards.Urge(c.Request.Context(), auth.Current(c), number, dashboards.UrgeRequest{Note: form.Get("note")})
	if err != nil {
		if api.Status(err) >= 500 {
			h.log.ErrorContext(c.Request.Context(), "urge from the overdue list", "ticket", number, "err", err)
		}
		c.Redirect(http.StatusSeeOther, "/console/overdue?failed="+url.QueryEscape(oversightCode(err)))
		c.Abort()
		return
	}
	redirect(c, "/console/overdue", "urged")
}

// recordSupervision records an on-site supervision (现场督办) of a ticket.
func (h *Handler) recordSupervision(c *gin.Context) {
	b := h.base(c, "超期工单督办")
	if h.opts.Cards == nil {
		h.failOversight(c, b, h.dashboardsOff())
		return
	}
	form := c.Request.PostForm
	in := dashboards.SupervisionInput{Ticket: form.Get("ticket"), Date: strings.TrimSpace(form.Get("date")),
		Place: form.Get("place"), People: form.Get("people"), Findings: form.Get("findings")}
	if _, err := h.opts.Cards.CreateSupervision(c.Request.Context(), auth.Current(c), in); err != nil {
		if api.Status(err) >= 500 || api.Status(err) == http.StatusForbidden {
			h.failOversight(c, b, err)
			return
		}
		b.Error = "现场督办未保存：" + oversightMessage(err)
		h.renderOverdue(c, statusOf(err), b, form)
		return
	}
	redirect(c, "/console/overdue", "supervised")
}
