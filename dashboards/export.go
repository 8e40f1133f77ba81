package dashboards

import (
	"fmt"
	"io"
	"strings"

	"github.com/xuri/excelize/v2"
)

// WriteBulletinXLSX writes b as a workbook: an overview sheet, then one sheet each for
// departments, the three rates, the service standard, cards and notable cases. Rates
// are numbers formatted as percentages, so that they can be sorted and charted.
func WriteBulletinXLSX(w io.Writer, b *Bulletin) (err error) {
	f := excelize.NewFile()
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("dashboards: close workbook: %w", cerr)
		}
	}()
	pct, err := f.NewStyle(&excelize.Style{NumFmt: 10}) // 0.00%
	if err != nil {
		return fmt.Errorf("dashboards: workbook style: %w", err)
	}
	head, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}, Fill: excelize.Fill{Type: "pattern", Color: []string{"DDDDDD"}, Pattern: 1}})
	if err != nil {
		return fmt.Errorf("dashboards: workbook style: %w", err)
	}
	// sheet writes rows to a new sheet; the columns named in pcts are percentages, and
	// so are the cells isPctCell says are.
	var isPctCell func(row, col int) bool
	sheet := func(name string, rows [][]any, pcts ...int) error {
		if name == "概况" {
			if err := f.SetSheetName("Sheet1", name); err != nil {
				return err
			}
		} else if _, err := f.NewSheet(name); err != nil {
			return err
		}
		sw, err := f.NewStreamWriter(name)
		if err != nil {
			return err
		}
		if err := sw.SetColWidth(1, 1, 28); err != nil {
			return err
		}
		isPct := map[int]bool{}
		for _, c := range pcts {
			isPct[c] = true
		}
		for i, r := range rows {
			cells := make([]any, len(r))
			for j, v := range r {
				switch {
				case i == 0 && name != "概况":
					cells[j] = excelize.Cell{StyleID: head, Value: v}
				case isPct[j] || (isPctCell != nil && isPctCell(i, j)):
					if p, ok := v.(*float64); ok {
						if p == nil {
							cells[j] = nil
						} else {
							cells[j] = excelize.Cell{StyleID: pct, Value: *p}
						}
						continue
					}
					cells[j] = v
				default:
					if p, ok := v.(*float64); ok {
						if p == nil {
							cells[j] = nil
						} else {
							cells[j] = *p
						}
						continue
					}
					cells[j] = v
				}
			}
			cell, _ := excelize.CoordinatesToCellName(1, i+1)
			if err := sw.SetRow(cell, cells); err != nil {
				return err
			}
		}
		return sw.Flush()
	}

	fs := b.Figures
	t, c := fs.Total, fs.Calls
	overview := [][]any{
		{b.Title},
		{"统计时段", b.Period.From.Format("2006-01-02") + " 至 " + b.Period.To.AddDate(0, 0, -1).Format("2006-01-02")},
		{"生成时间", b.GeneratedAt.Format("2006-01-02 15:04")},
		{},
		{"受理", t.Accepted}, {"办结", t.Completed}, {"办结率", t.CompletionRate}, {"按期办结", t.CompletedOnTime},
		{"按期办结率", t.OnTimeRate}, {"超期未办结", t.OverdueNow}, {"批准延期", t.Extensions}, {"退单", t.Returns},
		{"回访", t.SurveysDone}, {"满意率", t.SatisfactionRate},
		{"来电", c.Offered}, {"人工接听", c.Answered}, {"放弃", c.Abandoned}, {"语音留言", c.Voicemails},
		{"接通率", c.AnswerRate}, {"15秒接听率", c.ServiceLevel}, {"平均等待（秒）", c.AvgWaitSeconds}, {"90%等待（秒）", c.P90WaitSeconds},
		{"现场督办", b.Supervisions},
	}
	// In the overview the rates are the rows whose label ends in 率.
	isPctCell = func(row, col int) bool {
		label, _ := overview[row][0].(string)
		return col == 1 && strings.HasSuffix(label, "率")
	}
	if err := sheet("概况", overview); err != nil {
		return fmt.Errorf("dashboards: overview sheet: %w", err)
	}
	isPctCell = nil

	figRows := func(first string, gs []Figures) [][]any {
		rows := [][]any{{first, "受理", "办结", "办结率", "按期办结", "按期办结率", "超期未办结", "延期", "退单", "回访", "满意率"}}
		for _, g := range append(gs, t) {
			rows = append(rows, []any{g.Name, g.Accepted, g.Completed, g.CompletionRate, g.CompletedOnTime, g.OnTimeRate,
				g.OverdueNow, g.Extensions, g.Returns, g.SurveysDone, g.SatisfactionRate})
		}
		return rows
	}
	if err := sheet("承办单位", figRows("承办单位", fs.Groups), 3, 5, 10); err != nil {
		return fmt.Errorf("dashboards: departments sheet: %w", err)
	}
	if err := sheet("渠道", figRows("渠道", b.ByChannel), 3, 5, 10); err != nil {
		return fmt.Errorf("dashboards: channels sheet: %w", err)
	}
	rates := [][]any{{"名次", "单位", "类别", "响应参评", "按时签收", "响应率", "办结参评", "按期办结", "按期办结率", "回访", "满意", "满意率", "综合"}}
	for _, set := range []struct {
		kind string
		rs   []Rates
	}{{"承办单位", b.Ranking.Departments}, {"旗区", b.Ranking.Districts}} {
		for _, r := range set.rs {
			rates = append(rates, []any{r.Rank, r.Name, set.kind, r.ResponseCounted, r.Responded, r.ResponseRate, r.ResolutionCounted,
				r.Resolved, r.ResolutionRate, r.SurveysAnswered, r.Satisfied, r.SatisfactionRate, r.Score})
		}
	}
	if err := sheet("三率排名", rates, 5, 8, 11, 12); err != nil {
		return fmt.Errorf("dashboards: rates sheet: %w", err)
	}
	std := [][]any{{"指标", "目标", "参评", "达标", "达标率"}}
	for _, m := range b.Standard.Measures {
		std = append(std, []any{m.Name, m.Target, m.Counted, m.Met, m.Rate})
	}
	if err := sheet("服务标准", std, 4); err != nil {
		return fmt.Errorf("dashboards: standard sheet: %w", err)
	}
	cards := [][]any{{"单位", "颜色", "事由", "工单", "时间"}}
	for _, d := range b.Cards {
		for _, cd := range d.Cards {
			color := "黄牌"
			if cd.Color == Red {
				color = "红牌"
			}
			cards = append(cards, []any{d.Name, color, cd.Reason, cd.Ticket, cd.CauseAt.Format("2006-01-02 15:04")})
		}
	}
	if err := sheet("红黄牌", cards); err != nil {
		return fmt.Errorf("dashboards: cards sheet: %w", err)
	}
	notable := [][]any{{"工单号", "标题", "承办单位", "状态", "督办次数", "重办次数", "情况"}}
	for _, n := range b.Notable {
		notable = append(notable, []any{n.Number, n.Title, n.Department, n.Status, n.Urges, n.Reopened, n.Why})
	}
	if err := sheet("典型案例", notable); err != nil {
		return fmt.Errorf("dashboards: cases sheet: %w", err)
	}
	if _, err := f.WriteTo(w); err != nil {
		return fmt.Errorf("dashboards: write workbook: %w", err)
	}
	return nil
}
