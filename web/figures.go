package web

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/dashboards"
)

// The figures page (/console/figures) is the dashboards' FigureSet for a supervisor:
// a table of the ticket figures, the calls, and a trend of accepted and completed
// tickets drawn as inline SVG. Every count links to the records behind it: ticket
// figures to the console's ticket list, survey and call figures to the console's lists.

// option is a choice in a select.
type option struct{ Value, Label string }

var (
	periodOptions = []option{{"today", "今日"}, {"week", "本周"}, {"month", "本月"}, {"quarter", "本季度"},
		{"year", "本年"}, {"custom", "自定义"}}
	groupOptions = []option{{"", "合计"}, {"department", "按单位"}, {"category", "按类别"}, {"channel", "按渠道"},
		{"district", "按旗区"}}
)

// figureCell is one value of the table: its text and, for a count, where its records are.
type figureCell struct {
	Key, Text, Href string
}

// figureRow is a group's (or the total's) line of the table.
type figureRow struct {
	Key, Name string
	Total     bool
	Cells     []figureCell
}

type figuresPage struct {
	base
	Period, From, To, Group string
	Periods, Groups         []option
	// Range is the period in words ("2026-11-01 至 2026-11-30").
	Range   string
	Shown   bool // the figures were computed (not after bad input)
	Columns []string
	Rows    []figureRow
	Calls   []figureCell
	// CallLabels go with Calls, in order.
	CallLabels       []string
	SurveysAvailable bool
	// Agents are the operators' figures (occupancy, handle time, not-ready by reason).
	Agents      []figureCell
	AgentLabels []string
	NotReady    []figureCell // Key: the reason, Text: the time
	AgentsShown bool
	Trend       *trendChart
	TrendError  bool
	Download    string // the table as a workbook
}

var figureColumns = []string{"受理", "办结", "办结率", "按期办结", "按期办结率", "当前超期", "延期", "退单", "回访", "满意率"}

// showFigures reads the period and the breakdown, computes the figures and the trend.
func (h *Handler) showFigures(c *gin.Context) {
	ctx := c.Request.Context()
	b := h.base(c, "统计报表")
	b.Nav = "figures"
	page := figuresPage{base: b, Period: c.DefaultQuery("period", "today"), From: strings.TrimSpace(c.Query("from")),
		To: strings.TrimSpace(c.Query("to")), Group: c.Query("group"), Periods: periodOptions, Groups: groupOptions,
		Columns: figureColumns}
	if h.opts.Cards == nil {
		h.fail(c, b, api.Errorf(api.ErrUnavailable, "no_dashboards", "统计服务未启用。"))
		return
	}
	now := h.opts.Now().In(h.opts.Location)
	p, g, err := h.figuresQuery(page.Period, page.From, page.To, page.Group, now)
	if err != nil {
		page.Error = message(err)
		h.render(c, api.Status(err), "figures", page)
		return
	}
	who := auth.Current(c)
	set, err := h.opts.Cards.Figures(ctx, who, p, g)
	if err != nil {
		h.fail(c, b, err)
		return
	}
	last := p.To.AddDate(0, 0, -1)
	page.From, page.To = p.From.Format(time.DateOnly), last.Format(time.DateOnly)
	page.Range = page.From + " 至 " + page.To
	if page.From == page.To {
		page.Range = page.From
	}
	page.Shown, page.SurveysAvailable = true, set.SurveysAvailable
	page.Download = "/console/export/figures?" + c.Request.URL.RawQuery
	for _, x := range set.Groups {
		page.Rows = append(page.Rows, figureRowOf(x, false))
	}
	page.Rows = append(page.Rows, figureRowOf(set.Total, true))
	page.CallLabels, page.Calls = callCells(set.Calls)
	page.AgentsShown = set.Agents.Available
	page.AgentLabels, page.Agents, page.NotReady = agentCells(set.Agents)
	page.Trend, err = h.trend(ctx, who, p, now)
	if err != nil {
		if api.Status(err) < 500 {
			h.fail(c, b, err)
			return
		}
		// The table is shown; the chart is not worth failing the page for.
		h.log.ErrorContext(ctx, "figures page: trend", "err", err)
		page.TrendError = true
	}
	h.render(c, http.StatusOK, "figures", page)
}

// figuresQuery checks the form and returns the period and the breakdown, with Chinese
// messages for what a person may get wrong.
func (h *Handler) figuresQuery(period, from, to, group string, now time.Time) (dashboards.Period, dashboards.Group, error) {
	kind := dashboards.PeriodKind(period)
	known := false
	for _, o := range periodOptions {
		known = known || o.Value == period
	}
	if !known {
		return dashboards.Period{}, "", api.Errorf(api.ErrInvalid, "invalid_period", "统计周期只能是今日、本周、本月、本季度、本年或自定义，而不是“%s”。", period)
	}
	g := dashboards.Group(group)
	if !g.Valid() {
		return dashboards.Period{}, "", api.Errorf(api.ErrInvalid, "invalid_group", "分组只能是合计、按单位、按类别、按渠道或按旗区，而不是“%s”。", group)
	}
	if kind == dashboards.PeriodCustom {
		if from == "" || to == "" {
			return dashboards.Period{}, "", api.Errorf(api.ErrInvalid, "empty_dates", "自定义周期请填写起始日期和截止日期。")
		}
		for _, d := range []struct{ label, v string }{{"起始日期", from}, {"截止日期", to}} {
			if _, err := time.Parse(time.DateOnly, d.v); err != nil {
				return dashboards.Period{}, "", api.Errorf(api.ErrInvalid, "invalid_date", "%s须为日期（如 2026-01-31），而不是“%s”。", d.label, d.v)
			}
		}
	}
	p, err := dashboards.PeriodOf(kind, now, from, to, h.opts.Location)
	if err != nil {
		var e *api.Error
		if errors.As(err, &e) {
			switch e.Code {
			case "invalid_period":
				return p, "", api.Errorf(api.ErrInvalid, "invalid_period", "截止日期（%s）早于起始日期（%s）。", to, from)
			case "period_too_long":
				return p, "", api.Errorf(api.ErrInvalid, "period_too_long", "自定义周期最长十年。")
			}
		}
		return p, "", err
	}
	return p, g, nil
}

// pct is a rate as a percentage with one decimal; "—" when there is nothing to divide by.
func pct(r *float64) string {
	if r == nil {
		return "—"
	}
	return strconv.FormatFloat(*r*100, 'f', 1, 64) + "%"
}

func count(n int64) string { return strconv.FormatInt(n, 10) }

// linked is the href of a figure's records: base plus the figure's query, or "" when
// the figure has none.
func linked(base string, links map[string]string, key string) string {
	if q, ok := links[key]; ok && q != "" {
		return base + "?" + q
	}
	return ""
}

func figureRowOf(f dashboards.Figures, total bool) figureRow {
	const list, surveys = "/console/tickets", "/console/surveys"
	return figureRow{Key: f.Key, Name: f.Name, Total: total, Cells: []figureCell{
		{"accepted", count(f.Accepted), linked(list, f.Tickets, "accepted")},
		{"completed", count(f.Completed), linked(list, f.Tickets, "completed")},
		{"completion_rate", pct(f.CompletionRate), ""},
		{"completed_on_time", count(f.CompletedOnTime), linked(list, f.Tickets, "completed_on_time")},
		{"on_time_rate", pct(f.OnTimeRate), ""},
		{"overdue_now", count(f.OverdueNow), linked(list, f.Tickets, "overdue_now")},
		// Timeline events: the tickets with one in the period.
		{"extensions", count(f.Extensions), linked(list, f.Tickets, "extensions")},
		{"returns", count(f.Returns), linked(list, f.Tickets, "returns")},
		{"surveys_done", count(f.SurveysDone), linked(surveys, f.Surveys, "surveys_done")},
		{"satisfaction_rate", pct(f.SatisfactionRate), ""},
	}}
}

// seconds is a wait in seconds with one decimal, "—" without answered calls.
func seconds(s *float64) string {
	if s == nil {
		return "—"
	}
	return strconv.FormatFloat(*s, 'f', 1, 64) + " 秒"
}

func callCells(f dashboards.CallFigures) ([]string, []figureCell) {
	const calls = "/console/calls"
	// Two service levels: answered within 15 s of asking for a person (entering the
	// queue), as GB/T 33358 counts, and of the call's arrival.
	return []string{"呼入", "接通", "放弃", "语音留言", "接通率", "15秒接听率（排队起）", "15秒接听率（来电起）", "平均等待", "90%等待"}, []figureCell{
		{"offered", count(f.Offered), linked(calls, f.Links, "offered")},
		{"answered", count(f.Answered), linked(calls, f.Links, "answered")},
		{"abandoned", count(f.Abandoned), linked(calls, f.Links, "abandoned")},
		{"voicemails", count(f.Voicemails), linked(calls, f.Links, "voicemails")},
		{"answer_rate", pct(f.AnswerRate), ""},
		{"service_level", pct(f.ServiceLevel), ""},
		{"service_level_from_arrival", pct(f.ServiceLevelArrival), ""},
		{"avg_wait", seconds(f.AvgWaitSeconds), ""},
		{"p90_wait", seconds(f.P90WaitSeconds), ""},
	}
}

// The trend: accepted and completed tickets per day (per month for a year or a range
// longer than maxTrendDays), each bar a link to its tickets.
const (
	maxTrendDays   = 92 // a quarter
	maxTrendMonths = 36
	todayTrendDays = 14
)

// trendBucket is one day or month of the trend.
type trendBucket struct {
	From, To                    time.Time
	Label, Title                string
	Accepted, Completed         int64
	AcceptedHref, DoneHref      string
	X, AccY, AccH, DoneY, DoneH string
	DoneX                       string
	LabelX                      string
	ShowLabel                   bool
}

type trendTick struct {
	Y, LabelY, Label string
}

// trendChart is the SVG's geometry, computed here so that the template only places it.
type trendChart struct {
	Monthly          bool
	Capped           bool // the range was longer than the chart shows
	Buckets          []trendBucket
	Ticks            []trendTick
	Width, Height    int
	Left, Right      int
	Top, Bottom      int
	BarWidth         string
	BaseY, XLabelY   string // the x axis, and the baseline of its labels
	PlotRight        int
	XTitleX, XTitleY string
}

// trendBuckets are the days (or months) the trend shows for p: today shows the last two
// weeks; a period is cut at today's end, as later days have nothing yet.
func trendBuckets(p dashboards.Period, now time.Time, loc *time.Location) (buckets []trendBucket, monthly, capped bool) {
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	from, to := p.From, p.To
	if p.Kind == dashboards.PeriodToday {
		from, to = today.AddDate(0, 0, 1-todayTrendDays), today.AddDate(0, 0, 1)
	}
	if end := today.AddDate(0, 0, 1); to.After(end) {
		to = end
	}
	if !to.After(from) {
		return nil, false, false
	}
	days := 0
	for d := from; d.Before(to); d = d.AddDate(0, 0, 1) {
		days++
	}
	if p.Kind != dashboards.PeriodYear && days <= maxTrendDays {
		for d := from; d.Before(to); d = d.AddDate(0, 0, 1) {
			buckets = append(buckets, trendBucket{From: d, To: d.AddDate(0, 0, 1), Label: d.Format("01-02"), Title: d.Format("2006-01-02")})
		}
		return buckets, false, false
	}
	for m := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, loc); m.Before(to); m = m.AddDate(0, 1, 0) {
		b := trendBucket{From: m, To: m.AddDate(0, 1, 0), Label: m.Format("2006-01"), Title: m.Format("2006年1月")}
		if b.From.Before(from) {
			b.From = from
		}
		if b.To.After(to) {
			b.To = to
		}
		buckets = append(buckets, b)
	}
	if p.Kind == dashboards.PeriodYear {
		for i := range buckets {
			buckets[i].Label = buckets[i].From.Format("1月")
		}
	}
	if len(buckets) > maxTrendMonths {
		buckets, capped = buckets[len(buckets)-maxTrendMonths:], true
	}
	return buckets, true, capped
}

// trend reads the figures of every bucket at once: the daily roll-ups by day, and the
// days counted live bucket by bucket.
func (h *Handler) trend(ctx context.Context, who *auth.Principal, p dashboards.Period, now time.Time) (*trendChart, error) {
	buckets, monthly, capped := trendBuckets(p, now, h.opts.Location)
	if len(buckets) == 0 {
		return nil, nil
	}
	periods := make([]dashboards.Period, len(buckets))
	for i, b := range buckets {
		periods[i] = dashboards.Period{Kind: dashboards.PeriodCustom, From: b.From, To: b.To}
	}
	points, err := h.opts.Cards.Trend(ctx, who, periods)
	if err != nil {
		return nil, fmt.Errorf("web: trend: %w", err)
	}
	for i, pt := range points {
		b := &buckets[i]
		b.Accepted, b.Completed = pt.Accepted, pt.Completed
		b.AcceptedHref = linked("/console/tickets", pt.Tickets, "accepted")
		b.DoneHref = linked("/console/tickets", pt.Tickets, "completed")
	}
	return layoutTrend(buckets, monthly, capped), nil
}

// niceStep is the smallest of 1, 2, 5 × 10^k not below x (x > 0).
func niceStep(x float64) float64 {
	if x <= 1 {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= x {
			return m * mag
		}
	}
	return 10 * mag
}

func num(f float64) string { return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64) }

// layoutTrend places the bars: a 600 × 260 drawing scaled to the page's width.
func layoutTrend(buckets []trendBucket, monthly, capped bool) *trendChart {
	ch := &trendChart{Monthly: monthly, Capped: capped, Buckets: buckets, Width: 600, Height: 260,
		Left: 44, Right: 10, Top: 28, Bottom: 44}
	plotW := float64(ch.Width - ch.Left - ch.Right)
	plotH := float64(ch.Height - ch.Top - ch.Bottom)
	base := float64(ch.Height - ch.Bottom)
	var most int64
	for _, b := range buckets {
		most = max(most, b.Accepted, b.Completed)
	}
	step := niceStep(float64(most) / 4)
	top := math.Max(step*4, math.Ceil(float64(most)/step)*step)
	for v := 0.0; v <= top+step/2; v += step {
		y := base - v/top*plotH
		ch.Ticks = append(ch.Ticks, trendTick{Y: num(y), LabelY: num(y + 4), Label: strconv.FormatFloat(v, 'f', -1, 64)})
	}
	slot := plotW / float64(len(buckets))
	bar := math.Min(slot*0.4, 18)
	ch.BarWidth = num(bar)
	every := int(math.Ceil(float64(len(buckets)) / 8))
	for i := range ch.Buckets {
		b := &ch.Buckets[i]
		x0 := float64(ch.Left) + float64(i)*slot + (slot-2*bar)/2
		ha, hd := float64(b.Accepted)/top*plotH, float64(b.Completed)/top*plotH
		b.X, b.AccY, b.AccH = num(x0), num(base-ha), num(ha)
		b.DoneX, b.DoneY, b.DoneH = num(x0+bar), num(base-hd), num(hd)
		b.LabelX = num(float64(ch.Left) + (float64(i)+0.5)*slot)
		b.ShowLabel = i%every == 0
	}
	ch.BaseY, ch.XLabelY, ch.PlotRight = num(base), num(base+16), ch.Width-ch.Right
	ch.XTitleX, ch.XTitleY = num(float64(ch.Left)+plotW/2), num(float64(ch.Height)-6)
	return ch
}

// agentCells are the operators' figures as the page shows them.
func agentCells(a dashboards.AgentFigures) ([]string, []figureCell, []figureCell) {
	hours := func(secs float64) string { return duration(time.Duration(secs * float64(time.Second))) }
	labels := []string{"占用率", "接听通话", "平均处理时长", "通话时长", "话后整理", "示闲等待", "示忙合计"}
	cells := []figureCell{
		{"occupancy", pct(a.Occupancy), ""},
		{"handled", count(a.Handled), ""},
		{"avg_handle", seconds(a.AvgHandleSeconds), ""},
		{"talk", hours(a.TalkSeconds), ""},
		{"wrap_up", hours(a.WrapUpSeconds), ""},
		{"idle", hours(a.IdleSeconds), ""},
		{"not_ready", hours(a.NotReadySeconds), ""},
	}
	var reasons []figureCell
	for _, r := range a.NotReady {
		reasons = append(reasons, figureCell{Key: pauseReasonName(r.Reason), Text: hours(r.Seconds)})
	}
	return labels, cells, reasons
}
