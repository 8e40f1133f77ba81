package web

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/xuri/excelize/v2"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/callback"
	"github.com/rexian/rexian/dashboards"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/tickets"
)

// The downloads (/console/export/…): every list and figure table a supervisor sees, as
// an .xlsx workbook. Rows are read from the database a batch at a time and handed to
// excelize's stream writer, which keeps a bounded buffer and spills the rest to a
// temporary file, so that a hundred thousand tickets neither hold the sheet in memory
// nor the whole list in a slice.

// sheet is a one-sheet workbook being written row by row.
type sheet struct {
	f    *excelize.File
	sw   *excelize.StreamWriter
	row  int
	loc  *time.Location // the zone times are shown in
	time int            // the style of date-time cells
	pct  int            // the style of percentages
}

// newSheet starts a workbook whose sheet is called name, with a bold header row; times
// are shown in loc.
func newSheet(loc *time.Location, name string, header ...string) (*sheet, error) {
	f := excelize.NewFile()
	s := &sheet{f: f, loc: loc}
	fail := func(err error) (*sheet, error) {
		f.Close()
		return nil, fmt.Errorf("web: start workbook %s: %w", name, err)
	}
	if err := f.SetSheetName("Sheet1", name); err != nil {
		return fail(err)
	}
	var err error
	if s.sw, err = f.NewStreamWriter(name); err != nil {
		return fail(err)
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return fail(err)
	}
	if s.time, err = f.NewStyle(&excelize.Style{NumFmt: 22}); err != nil { // m/d/yy h:mm, shown in the reader's locale
		return fail(err)
	}
	if s.pct, err = f.NewStyle(&excelize.Style{NumFmt: 10}); err != nil { // 0.00%
		return fail(err)
	}
	if err := s.sw.SetColWidth(1, len(header), 16); err != nil {
		return fail(err)
	}
	cells := make([]any, len(header))
	for i, h := range header {
		cells[i] = excelize.Cell{StyleID: bold, Value: h}
	}
	if err := s.add(cells...); err != nil {
		return fail(err)
	}
	return s, nil
}

// add writes the next row. A *time.Time or time.Time is a date-time cell (nil: empty),
// a *float64 a percentage (nil: empty).
func (s *sheet) add(cells ...any) error {
	for i, v := range cells {
		switch x := v.(type) {
		case *time.Time:
			if x == nil {
				cells[i] = nil
			} else {
				cells[i] = excelize.Cell{StyleID: s.time, Value: x.In(s.loc)}
			}
		case time.Time:
			if x.IsZero() {
				cells[i] = nil
			} else {
				cells[i] = excelize.Cell{StyleID: s.time, Value: x.In(s.loc)}
			}
		case *float64:
			if x == nil {
				cells[i] = nil
			} else {
				cells[i] = excelize.Cell{StyleID: s.pct, Value: *x}
			}
		}
	}
	s.row++
	cell, err := excelize.CoordinatesToCellName(1, s.row)
	if err != nil {
		return err
	}
	return s.sw.SetRow(cell, cells)
}

// write finishes the workbook into w and releases its temporary files.
func (s *sheet) write(w io.Writer) error {
	defer s.f.Close()
	if err := s.sw.Flush(); err != nil {
		return fmt.Errorf("web: finish sheet: %w", err)
	}
	if _, err := s.f.WriteTo(w); err != nil {
		return fmt.Errorf("web: write workbook: %w", err)
	}
	return nil
}

// send answers the request with the workbook as a download called name (without .xlsx).
func (s *sheet) send(c *gin.Context, name string) error {
	file := name + ".xlsx"
	w := c.Writer
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Disposition", `attachment; filename="export.xlsx"; filename*=UTF-8''`+url.PathEscape(file))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	return s.write(w)
}

// download runs fill on a new sheet and sends it; an error before the first byte is an
// error page, after it only a log line (the status has gone out). The download is
// recorded in the security audit log first: a list that holds citizens' numbers does
// not leave unrecorded.
func (h *Handler) download(c *gin.Context, name string, header []string, fill func(*sheet) error) {
	p := auth.Current(c)
	if err := h.opts.Audit.Record(c.Request.Context(), audit.Event{Action: audit.ActionExport, Target: strings.TrimPrefix(c.Request.URL.Path, "/console/export/"),
		Detail: name + " " + c.Request.URL.RawQuery, Actor: p.Actor(), IP: c.ClientIP()}); err != nil {
		h.fail(c, h.base(c, name), api.Errorf(api.ErrUnavailable, "audit_down", "无法记录本次导出，暂不能下载，请稍后重试。"))
		h.log.ErrorContext(c.Request.Context(), "record a download", "err", err)
		return
	}
	s, err := newSheet(h.opts.Location, name, header...)
	if err == nil {
		if err = fill(s); err != nil {
			s.f.Close()
		}
	}
	if err != nil {
		h.fail(c, h.base(c, name), err)
		return
	}
	if err := s.send(c, name+"-"+h.opts.Now().In(h.opts.Location).Format("20060102-1504")); err != nil {
		h.log.ErrorContext(c.Request.Context(), "download", "sheet", name, "err", err)
	}
}

// exportTickets is the ticket list's query as a workbook: every matching ticket, not
// one page.
func (h *Handler) exportTickets(c *gin.Context) {
	_, f, err := listQuery(c, h.opts.Location)
	if err != nil {
		h.fail(c, h.base(c, "工单查询"), err)
		return
	}
	p := auth.Current(c)
	h.download(c, "工单", []string{"编号", "标题", "类别", "渠道", "紧急程度", "状态", "主办单位", "来电号码", "受理时间",
		"办理期限", "办结时间", "超期"}, func(s *sheet) error {
		return h.opts.ReadTickets.Each(c.Request.Context(), p, f, func(items []tickets.Summary) error {
			for _, t := range items {
				lead := ""
				if t.LeadDepartment != nil {
					lead = t.LeadDepartment.Name
				}
				late := ""
				if t.Late || t.Overdue {
					late = "超期"
				}
				if err := s.add(t.Number, t.Title, t.Category.Name, nameOr(channelNames[t.Channel], string(t.Channel)),
					nameOr(urgencyNames[t.Urgency], string(t.Urgency)), nameOr(statusNames[t.Status], string(t.Status)), lead,
					t.CitizenPhone, t.RegisteredAt, t.DueAt, t.CompletedAt, late); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// exportCalls is the call list's query as a workbook.
func (h *Handler) exportCalls(c *gin.Context) {
	if h.opts.IVR.DB == nil {
		h.fail(c, h.base(c, "话务记录"), api.Errorf(api.ErrUnavailable, "ivr_off", "话务记录未启用。"))
		return
	}
	h.download(c, "话务记录", []string{"来电时间", "来电号码", "热线", "方向", "结果", "排队等待（秒）", "话务员", "工单", "语音留言", "通话录音"}, func(s *sheet) error {
		return ivr.EachCall(c.Request.Context(), h.opts.ReadDB, h.opts.Location, c.Request.URL.Query(), func(recs []ivr.Record) error {
			for _, r := range recs {
				yes := func(v string) string {
					if v != "" {
						return "有"
					}
					return ""
				}
				if err := s.add(r.ArrivedAt, r.Caller, r.Hotline, nameOr(directionNames[r.Direction], r.Direction),
					outcomeName(r.Outcome), float64(r.WaitMS)/1000, r.Operator, r.TicketNumber, yes(r.Voicemail), yes(r.Recording)); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// exportSurveys is the survey list's query as a workbook.
func (h *Handler) exportSurveys(c *gin.Context) {
	if h.opts.Callback == nil {
		h.fail(c, h.base(c, "回访记录"), api.Errorf(api.ErrUnavailable, "callback_off", "回访未启用。"))
		return
	}
	f, err := callback.ParseFilter(c.Request.URL.Query(), h.opts.Location)
	if err != nil {
		h.fail(c, h.base(c, "回访记录"), err)
		return
	}
	ctx := c.Request.Context()
	dir, err := h.directory(ctx)
	if err != nil {
		h.fail(c, h.base(c, "回访记录"), err)
		return
	}
	h.download(c, "回访记录", []string{"工单", "办结时间", "主办单位", "状态", "结果", "回访方式", "回访时间", "不满意原因"}, func(s *sheet) error {
		return h.opts.ReadCallback.EachSurvey(ctx, f, false, func(vs []callback.View) error {
			for _, v := range vs {
				dept := ""
				if v.Department != "" {
					dept = dir.name(v.Department)
				}
				if err := s.add(v.Ticket, v.CompletedAt, dept, nameOr(surveyStatuses[v.Status], string(v.Status)),
					nameOr(surveyResults[v.Result], string(v.Result)), nameOr(surveyChannels[v.Channel], string(v.Channel)),
					v.AnsweredAt, v.Reason); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// exportFigures is the figures page's table and calls as a workbook.
func (h *Handler) exportFigures(c *gin.Context) {
	b := h.base(c, "统计报表")
	if h.opts.Cards == nil {
		h.failOversight(c, b, h.dashboardsOff())
		return
	}
	now := h.opts.Now().In(h.opts.Location)
	p, g, err := h.figuresQuery(c.DefaultQuery("period", "today"), strings.TrimSpace(c.Query("from")), strings.TrimSpace(c.Query("to")), c.Query("group"), now)
	if err != nil {
		h.fail(c, b, err)
		return
	}
	set, err := h.opts.Cards.Figures(c.Request.Context(), auth.Current(c), p, g)
	if err != nil {
		h.fail(c, b, err)
		return
	}
	span := p.From.Format(time.DateOnly) + " 至 " + p.To.AddDate(0, 0, -1).Format(time.DateOnly)
	h.download(c, "统计报表", append([]string{"分组（" + span + "）"}, figureColumns...), func(s *sheet) error {
		for _, f := range append(set.Groups, set.Total) {
			if err := s.add(f.Name, f.Accepted, f.Completed, f.CompletionRate, f.CompletedOnTime, f.OnTimeRate, f.OverdueNow,
				f.Extensions, f.Returns, f.SurveysDone, f.SatisfactionRate); err != nil {
				return err
			}
		}
		k := set.Calls
		if err := s.add(); err != nil {
			return err
		}
		labels, _ := callCells(k)
		row := make([]any, len(labels))
		for i, l := range labels {
			row[i] = l
		}
		if err := s.add(row...); err != nil {
			return err
		}
		secs := func(v *float64) any {
			if v == nil {
				return nil
			}
			return *v
		}
		if err := s.add(k.Offered, k.Answered, k.Abandoned, k.Voicemails, k.AnswerRate, k.ServiceLevel, k.ServiceLevelArrival, secs(k.AvgWaitSeconds), secs(k.P90WaitSeconds)); err != nil {
			return err
		}
		return addAgentRows(s, set.Agents, secs)
	})
}

// addAgentRows adds the operators' figures under the calls, as the page shows them:
// the labels, then the values in seconds (and the occupancy as a ratio), each not-ready
// reason a column of its own.
func addAgentRows(s *sheet, a dashboards.AgentFigures, secs func(*float64) any) error {
	if !a.Available {
		return nil
	}
	labels, _, _ := agentCells(a)
	head := make([]any, 0, len(labels)+len(a.NotReady))
	for _, l := range labels {
		head = append(head, l)
	}
	row := []any{secs(a.Occupancy), a.Handled, secs(a.AvgHandleSeconds), a.TalkSeconds, a.WrapUpSeconds, a.IdleSeconds, a.NotReadySeconds}
	for _, r := range a.NotReady {
		head = append(head, "示忙："+pauseReasonName(r.Reason))
		row = append(row, r.Seconds)
	}
	if err := s.add(); err != nil {
		return err
	}
	if err := s.add(head...); err != nil {
		return err
	}
	return s.add(row...)
}

// exportRates is the three rates ranking as a workbook.
func (h *Handler) exportRates(c *gin.Context) {
	b := h.base(c, "三率排名")
	if h.opts.Cards == nil {
		h.failOversight(c, b, h.dashboardsOff())
		return
	}
	p, _, err := h.oversightPeriod(c)
	if err != nil {
		h.failOversight(c, b, err)
		return
	}
	rk, err := h.opts.Cards.Ranking(c.Request.Context(), auth.Current(c), p)
	if err != nil {
		h.failOversight(c, b, err)
		return
	}
	h.download(c, "三率排名", []string{"名次", "单位", "类别", "响应参评", "按时签收", "响应率", "办结参评", "按期办结", "按期办结率",
		"回访", "满意", "满意率", "综合"}, func(s *sheet) error {
		for _, set := range []struct {
			kind string
			rs   []dashboards.Rates
		}{{"承办单位", rk.Departments}, {"旗区", rk.Districts}, {"全市", []dashboards.Rates{rk.Total}}} {
			for _, r := range set.rs {
				if err := s.add(r.Rank, r.Name, set.kind, r.ResponseCounted, r.Responded, r.ResponseRate, r.ResolutionCounted,
					r.Resolved, r.ResolutionRate, r.SurveysAnswered, r.Satisfied, r.SatisfactionRate, r.Score); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
