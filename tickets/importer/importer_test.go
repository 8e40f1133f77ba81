package importer

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/callback"
	"github.com/rexian/rexian/dashboards"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/pii"
	"github.com/rexian/rexian/tickets"
	"github.com/rexian/rexian/tickets/ticketstest"
)

var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}()

// now is Monday 1 December 2025, 10:00 in the city; the old platform's records are from
// March 2025.
var now = time.Date(2025, 12, 1, 10, 0, 0, 0, shanghai)

// city is the small test city with two bureaus of the same name in two districts, so a
// name alone is ambiguous.
const city = `
departments:
  - {code: HEAT, name: 市热力公司, level: city}
  - {code: HRSS, name: 市人力资源和社会保障局, level: city}
  - code: DS
    name: 东胜区人民政府
    level: district
    government: true
    children:
      - {code: DS-ZJ, name: 住房和城乡建设局, level: district}
      - code: DS-JT
        name: 交通街道办事处
        level: township
        government: true
  - code: KBS
    name: 康巴什区人民政府
    level: district
    government: true
    children:
      - {code: KBS-ZJ, name: 住房和城乡建设局, level: district}
categories:
  - code: ZX
    name: 咨询
    kind: consultation
    handle_limit: 1wd
    children:
      - {code: ZX-SB, name: 社保咨询, department: HRSS}
  - code: TS
    name: 投诉
    kind: complaint
    sign_limit: 4wh
    handle_limit: 5wd
    children:
      - {code: TS-GN, name: 供暖, department: HEAT}
      - {code: TS-QT, name: 其他}
  - code: JY
    name: 建议
    kind: suggestion
    children:
      - {code: JY-QT, name: 其他}
`

type env struct {
	t   testing.TB
	te  *ticketstest.Env
	clk *ticketstest.Clock
	im  *Importer
	dir string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	clk := ticketstest.NewClock(now)
	te := ticketstest.New(t, ticketstest.Options{City: ticketstest.ParseCity(t, city),
		Migrations: slices.Concat(ivr.Migrations(), callback.Migrations(), dashboards.Migrations()),
		Store:      tickets.Options{Location: shanghai, Now: clk.Now}})
	return &env{t: t, te: te, clk: clk, dir: t.TempDir(),
		im: New(Options{Store: te.Store, Location: shanghai, Now: clk.Now, BatchSize: 7})}
}

var header = []string{"工单编号", "来电号码", "姓名", "诉求内容", "诉求类别", "来源", "所属旗区", "承办单位", "状态",
	"受理时间", "派单时间", "回复时间", "办结时间", "办理结果", "满意度"}

// good is a completed complaint of March 2025, answered by the heating company, with
// its satisfaction result; i makes its reference and time differ.
func good(i int, satisfaction string) []string {
	reg := time.Date(2025, 3, 3, 9, 0, 0, 0, shanghai).Add(time.Duration(i) * time.Minute)
	f := func(t time.Time) string { return t.Format("2006-01-02 15:04:05") }
	return []string{fmt.Sprintf("GD2025%06d", i), "13800138000", "王先生", "小区暖气不热，室温只有十五度", "投诉/供暖", "电话", "东胜区人民政府",
		"市热力公司", "已办结", f(reg), f(reg.Add(time.Hour)), f(reg.Add(26 * time.Hour)), f(reg.Add(27 * time.Hour)), "已派人检修，暖气恢复", satisfaction}
}

func (e *env) csvFile(name string, rows [][]string) string {
	e.t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.WriteAll(rows); err != nil {
		e.t.Fatal(err)
	}
	path := filepath.Join(e.dir, name)
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// xlsxFile writes rows with excelize's stream writer; times go in as real date cells,
// as an export from the old platform has them.
func xlsxFile(t testing.TB, path string, rows [][]string) string {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		t.Fatal(err)
	}
	style, err := f.NewStyle(&excelize.Style{NumFmt: 22})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		cells := make([]any, len(r))
		for j, v := range r {
			if ts, err := time.ParseInLocation("2006-01-02 15:04:05", v, shanghai); err == nil && i > 0 {
				cells[j] = excelize.Cell{StyleID: style, Value: time.Date(ts.Year(), ts.Month(), ts.Day(), ts.Hour(), ts.Minute(), ts.Second(), 0, time.UTC)}
				continue
			}
			cells[j] = v
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := sw.SetRow(cell, cells); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func (e *env) count(table string) int64 {
	e.t.Helper()
	var n int64
	if err := e.te.DB.Table(table).Count(&n).Error; err != nil {
		e.t.Fatal(err)
	}
	return n
}

// TestBadRows: a file with a row for every reason a row is refused. The dry run names
// each (row, column, reason) and writes nothing; the import then writes the good rows
// only and refuses the same rows.
func TestBadRows(t *testing.T) {
	e := newEnv(t)
	row := func(i int, change func(r []string)) []string {
		r := good(i, "满意")
		change(r)
		return r
	}
	set := func(col, v string) func([]string) {
		return func(r []string) { r[slices.Index(header, col)] = v }
	}
	both := func(fs ...func([]string)) func([]string) {
		return func(r []string) {
			for _, f := range fs {
				f(r)
			}
		}
	}
	rows := [][]string{header,
		good(1, "满意"),                                   // row 2
		row(2, set("工单编号", "")),                         // 3 missing_ref
		row(1, set("姓名", "李")),                          // 4 duplicate_ref (row 2)
		row(4, set("状态", "不予受理")),                       // 5 unknown_status
		row(5, set("来源", "传真")),                         // 6 unknown_channel
		row(6, set("满意度", "还行")),                        // 7 unknown_satisfaction
		row(7, set("受理时间", "2025-02-30 09:00")),         // 8 invalid_time
		row(8, both(set("状态", "办理中"), set("办结时间", ""))), // 9 satisfaction_not_completed
		row(9, set("诉求内容", " ")),                        // 10 empty_content
		row(10, set("诉求内容", strings.Repeat("长", 5001))), // 11 content_too_long
		row(11, set("来电号码", "12")),                      // 12 invalid_phone
		row(12, set("诉求类别", "")),                        // 13 empty_category
		row(13, set("诉求类别", "噪音")),                      // 14 unknown_category
		row(14, set("诉求类别", "其他")),                      // 15 ambiguous_category
		row(15, set("承办单位", "市水务局")),                    // 16 unknown_department
		row(16, set("承办单位", "住房和城乡建设局")),                // 17 ambiguous_department
		row(17, set("所属旗区", "市热力公司")),                   // 18 invalid_district
		row(18, set("受理时间", "")),                        // 19 missing_registered_at
		row(19, set("办结时间", "2026-01-01 10:00:00")),     // 20 future_time
		row(20, set("派单时间", "2025-03-01 08:00:00")),     // 21 time_order
		row(21, set("状态", "")),                          // 22 missing_status
		row(22, set("办结时间", "")),                        // 23 missing_completed_at
		row(23, both(set("状态", "已受理"), set("满意度", ""))), // 24 completed_at_open
		row(24, both(set("状态", "已受理"), set("满意度", ""), set("办结时间", ""), set("派单时间", ""),
			set("回复时间", ""))), // 25 department_not_dispatched
		row(25, both(set("状态", "办理中"), set("满意度", ""), set("办结时间", ""), set("承办单位", ""),
			set("回复时间", ""))), // 26 missing_department
		row(26, both(set("状态", "已回复"), set("满意度", ""), set("办结时间", ""), set("办理结果", ""))), // 27 missing_reply
		row(27, both(set("承办单位", ""), set("派单时间", ""), set("回复时间", ""), set("办理结果", ""))), // 28 missing_answer
		{"GD-q", "13800138000", "\"bad", "x"}, // 29 unreadable_row (a quote in an unquoted field)
		good(30, ""),                          // 30
	}
	want := []Refusal{
		{Row: 3, Column: "工单编号", Field: FieldRef, Code: "missing_ref"},
		{Row: 4, Column: "工单编号", Field: FieldRef, Code: "duplicate_ref"},
		{Row: 5, Column: "状态", Field: FieldStatus, Code: "unknown_status"},
		{Row: 6, Column: "来源", Field: FieldChannel, Code: "unknown_channel"},
		{Row: 7, Column: "满意度", Field: FieldSatisfaction, Code: "unknown_satisfaction"},
		{Row: 8, Column: "受理时间", Field: FieldRegisteredAt, Code: "invalid_time"},
		{Row: 9, Column: "满意度", Field: FieldSatisfaction, Code: "satisfaction_not_completed"},
		{Row: 10, Column: "诉求内容", Field: FieldContent, Code: "empty_content"},
		{Row: 11, Column: "诉求内容", Field: FieldContent, Code: "content_too_long"},
		{Row: 12, Column: "来电号码", Field: FieldPhone, Code: "invalid_phone"},
		{Row: 13, Column: "诉求类别", Field: FieldCategory, Code: "empty_category"},
		{Row: 14, Column: "诉求类别", Field: FieldCategory, Code: "unknown_category"},
		{Row: 15, Column: "诉求类别", Field: FieldCategory, Code: "ambiguous_category"},
		{Row: 16, Column: "承办单位", Field: FieldDepartment, Code: "unknown_department"},
		{Row: 17, Column: "承办单位", Field: FieldDepartment, Code: "ambiguous_department"},
		{Row: 18, Column: "所属旗区", Field: FieldDistrict, Code: "invalid_district"},
		{Row: 19, Column: "受理时间", Field: FieldRegisteredAt, Code: "missing_registered_at"},
		{Row: 20, Column: "办结时间", Field: FieldCompletedAt, Code: "future_time"},
		{Row: 21, Column: "派单时间", Field: FieldDispatchedAt, Code: "time_order"},
		{Row: 22, Column: "状态", Field: FieldStatus, Code: "missing_status"},
		{Row: 23, Column: "办结时间", Field: FieldCompletedAt, Code: "missing_completed_at"},
		{Row: 24, Column: "办结时间", Field: FieldCompletedAt, Code: "completed_at_open"},
		{Row: 25, Column: "承办单位", Field: FieldDepartment, Code: "department_not_dispatched"},
		{Row: 26, Column: "承办单位", Field: FieldDepartment, Code: "missing_department"},
		{Row: 27, Column: "reply", Field: FieldReply, Code: "missing_reply"},
		{Row: 28, Column: "办理结果", Field: FieldAnswer, Code: "missing_answer"},
		{Row: 29, Code: "unreadable_row"},
	}
	// The quote in row 29 must reach the file as it is, so write the rows by hand.
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(strings.Join(quoteAll(r), ",") + "\n")
	}
	b.WriteString(strings.Join(quoteAll(good(31, "基本满意")), ",") + "\n")
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	lines[28] = `GD-q,13800138000,a"bad,x` // row 29
	path := filepath.Join(e.dir, "bad.csv")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := Mapping{Source: "old-12345"}
	strip := func(rs []Refusal) []Refusal {
		out := make([]Refusal, len(rs))
		for i, r := range rs {
			if r.Reason == "" {
				t.Errorf("row %d (%s) refused without a reason", r.Row, r.Code)
			}
			r.Reason = ""
			out[i] = r
		}
		return out
	}
	dry, err := e.im.Run(e.te.Ctx, path, m, true)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, strip(dry.Refused)); d != "" {
		t.Errorf("dry run refusals (-want +got):\n%s", d)
	}
	if dry.Rows != 30 || dry.Imported != 3 || dry.Surveys != 2 {
		t.Errorf("dry run: %s; want 30 rows read, 3 to import, 2 surveys", dry.Summary())
	}
	if n := e.count("tickets"); n != 0 {
		t.Fatalf("the dry run wrote %d tickets", n)
	}
	rep, err := e.im.Run(e.te.Ctx, path, m, false)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, strip(rep.Refused)); d != "" {
		t.Errorf("import refusals (-want +got):\n%s", d)
	}
	if rep.Imported != 3 || rep.Surveys != 2 {
		t.Errorf("import: %s; want 3 imported, 2 surveys", rep.Summary())
	}
	if n := e.count("tickets"); n != 3 {
		t.Errorf("%d tickets written, want 3", n)
	}
	if n := e.count("callback_surveys"); n != 2 {
		t.Errorf("%d surveys written, want 2", n)
	}
	// A refusal reads as the CLI prints it.
	if s := rep.Refused[0].String(); !strings.HasPrefix(s, "row 3, column 工单编号: missing_ref: ") {
		t.Errorf("refusal printed as %q", s)
	}
}

func quoteAll(r []string) []string {
	out := make([]string, len(r))
	for i, v := range r {
		out[i] = `"` + strings.ReplaceAll(v, `"`, `""`) + `"`
	}
	return out
}

// TestRerunIsIdempotent: the same .xlsx imported twice writes its tickets once; a row
// added to the file is the only one the third run writes.
func TestRerunIsIdempotent(t *testing.T) {
	e := newEnv(t)
	rows := [][]string{header}
	for i := 1; i <= 20; i++ {
		rows = append(rows, good(i, "满意"))
	}
	path := xlsxFile(t, filepath.Join(e.dir, "old.xlsx"), rows)
	m := Mapping{Source: "old-12345"}
	first, err := e.im.Run(e.te.Ctx, path, m, false)
	if err != nil {
		t.Fatal(err)
	}
	if first.Imported != 20 || len(first.Refused) != 0 {
		t.Fatalf("first run: %s %v", first.Summary(), first.Refused)
	}
	second, err := e.im.Run(e.te.Ctx, path, m, false)
	if err != nil {
		t.Fatal(err)
	}
	if second.Imported != 0 || second.Existing != 20 || second.Surveys != 0 {
		t.Errorf("second run: %s; want 0 imported, 20 already imported", second.Summary())
	}
	rows = append(rows, good(21, "不满意"))
	xlsxFile(t, path, rows)
	third, err := e.im.Run(e.te.Ctx, path, m, false)
	if err != nil {
		t.Fatal(err)
	}
	if third.Imported != 1 || third.Existing != 20 {
		t.Errorf("third run: %s; want 1 imported, 20 already imported", third.Summary())
	}
	if n := e.count("tickets"); n != 21 {
		t.Errorf("%d tickets after three runs, want 21", n)
	}
	if n := e.count("callback_surveys"); n != 21 {
		t.Errorf("%d surveys after three runs, want 21", n)
	}
	// Another source's reference may be the same text: it is another ticket.
	other, err := e.im.Run(e.te.Ctx, path, Mapping{Source: "old-mailbox"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if other.Imported != 21 {
		t.Errorf("dry run from another source: %s; want 21 to import", other.Summary())
	}
}

// TestTimelineKeepsHistory: an imported ticket carries its original times, numbered in
// the year of its registration, its timeline chained so that the audit verifies; no
// workflow action is recorded, so neither SMS nor a new survey follows.
func TestTimelineKeepsHistory(t *testing.T) {
	e := newEnv(t)
	r := good(1, "满意")
	open := good(2, "")
	open[slices.Index(header, "状态")] = "办理中"
	open[slices.Index(header, "回复时间")] = ""
	open[slices.Index(header, "办结时间")] = ""
	open[slices.Index(header, "办理结果")] = ""
	path := xlsxFile(t, filepath.Join(e.dir, "old.xlsx"), [][]string{header, r, open})
	rep, err := e.im.Run(e.te.Ctx, path, Mapping{Source: "old-12345"}, false)
	if err != nil || rep.Imported != 2 {
		t.Fatalf("import: %v %+v", err, rep)
	}
	audit, err := tickets.VerifyAudit(e.te.Ctx, e.te.DB)
	if err != nil || !audit.OK() || audit.Tickets != 2 || audit.Events != 6 {
		t.Fatalf("audit: %v %v", audit, err)
	}
	var tk tickets.Ticket
	if err := e.te.DB.Where("external_ref = ?", "GD2025000001").First(&tk).Error; err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tk.Number, "25") || !tickets.CheckNumber(tk.Number) {
		t.Errorf("number %s: want a valid number of 2025", tk.Number)
	}
	reg := time.Date(2025, 3, 3, 9, 1, 0, 0, shanghai)
	var evs []tickets.Event
	if err := e.te.DB.Where("ticket_id = ?", tk.ID).Order("seq").Find(&evs).Error; err != nil {
		t.Fatal(err)
	}
	type step struct {
		Action tickets.Action
		At     time.Time
		To     tickets.Status
	}
	var got []step
	for _, ev := range evs {
		got = append(got, step{ev.Action, ev.At.In(shanghai), ev.ToStatus})
	}
	want := []step{
		{tickets.ActImportedRegister, reg, tickets.StatusRegistered},
		{tickets.ActImportedDispatch, reg.Add(time.Hour), tickets.StatusDispatched},
		{tickets.ActImportedReply, reg.Add(26 * time.Hour), tickets.StatusReplied},
		{tickets.ActImportedComplete, reg.Add(27 * time.Hour), tickets.StatusCompleted},
	}
	if d := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); d != "" {
		t.Errorf("timeline (-want +got):\n%s", d)
	}
	if !tk.CreatedAt.Equal(reg) || tk.Status != tickets.StatusCompleted || tk.Open || tk.Answer != "已派人检修，暖气恢复" {
		t.Errorf("ticket: created %v status %s open %v answer %q", tk.CreatedAt.In(shanghai), tk.Status, tk.Open, tk.Answer)
	}
	// The open one is at its department, which can carry on with it here.
	v, err := e.te.Store.Find(e.te.Ctx, &auth.Principal{Name: "li", Role: auth.RoleSupervisor}, numberOf(t, e, "GD2025000002"))
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != tickets.StatusHandling || len(v.Assignments) != 1 || v.Assignments[0].Department.Code != "HEAT" {
		t.Errorf("open ticket: status %s, assignments %+v", v.Status, v.Assignments)
	}
	// Tampering with an imported event is caught.
	if err := e.te.DB.Model(&tickets.Event{}).Where("ticket_id = ? AND seq = 2", tk.ID).Update("at", reg.Add(2*time.Hour)).Error; err != nil {
		t.Fatal(err)
	}
	if audit, err := tickets.VerifyAudit(e.te.Ctx, e.te.DB); err != nil || audit.OK() {
		t.Errorf("audit after tampering: %v %v", audit, err)
	}
	var workflow int64
	e.te.DB.Model(&tickets.Event{}).Where("action IN ?", []tickets.Action{tickets.ActRegister, tickets.ActApprove, tickets.ActAnswer}).Count(&workflow)
	if workflow != 0 {
		t.Errorf("%d workflow events recorded by the import; the SMS outbox and the surveys would act on them", workflow)
	}
}

func numberOf(t *testing.T, e *env, ref string) string {
	t.Helper()
	var n []string
	if err := e.te.DB.Model(&tickets.Ticket{}).Where("external_ref = ?", ref).Pluck("number", &n).Error; err != nil || len(n) != 1 {
		t.Fatalf("ticket of %s: %v %v", ref, n, err)
	}
	return n[0]
}

// TestFiguresIncludeImported: after an import the supervisors' figures for March 2025
// count the imported tickets in March (registration), their completion and on-time
// figures and their satisfaction results, from the live count and from the daily
// roll-ups, which the import touches although the days ended long ago.
func TestFiguresIncludeImported(t *testing.T) {
	e := newEnv(t)
	svc := dashboards.NewService(e.te.DB, dashboards.Options{Location: shanghai, Now: e.clk.Now, Tickets: e.te.Store})
	if _, err := svc.RollUp(e.te.Ctx); err != nil { // the watermark is set before the import
		t.Fatal(err)
	}
	rows := [][]string{header}
	for i := 1; i <= 9; i++ {
		s := []string{"满意", "基本满意", "不满意"}[i%3]
		rows = append(rows, good(i, s))
	}
	late := good(10, "满意") // completed 12 working days after dispatch: late
	late[slices.Index(header, "回复时间")] = "2025-03-18 09:00:00"
	late[slices.Index(header, "办结时间")] = "2025-03-19 09:00:00"
	rows = append(rows, late)
	april := good(11, "") // registered in April: not March's
	april[slices.Index(header, "受理时间")] = "2025-04-01 09:00:00"
	april[slices.Index(header, "派单时间")] = "2025-04-01 10:00:00"
	april[slices.Index(header, "回复时间")] = "2025-04-02 09:00:00"
	april[slices.Index(header, "办结时间")] = "2025-04-02 10:00:00"
	rows = append(rows, april)
	gb, err := simplifiedchinese.GB18030.NewEncoder().String(csvText(t, rows))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(e.dir, "windows-export.csv") // GB18030, as Excel saves CSV on a Chinese Windows
	if err := os.WriteFile(path, []byte(gb), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := e.im.Run(e.te.Ctx, path, Mapping{Source: "old-12345"}, false)
	if err != nil || rep.Imported != 11 || len(rep.Refused) != 0 {
		t.Fatalf("import: %v %s %v", err, rep.Summary(), rep.Refused)
	}
	supervisor := &auth.Principal{Name: "li", Role: auth.RoleSupervisor}
	march, err := dashboards.PeriodOf(dashboards.PeriodMonth, time.Date(2025, 3, 15, 0, 0, 0, 0, shanghai), "", "", shanghai)
	if err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		fs, err := svc.Figures(e.te.Ctx, supervisor, march, dashboards.GroupNone)
		if err != nil {
			t.Fatal(err)
		}
		f := fs.Total
		got := [6]int64{f.Accepted, f.Completed, f.CompletedOnTime, f.SurveysDone, f.SurveysAnswered, f.Satisfied}
		if want := [6]int64{10, 10, 9, 10, 10, 7}; got != want {
			t.Errorf("%s: March's accepted, completed, on time, surveys done, answered, satisfied = %v, want %v", when, got, want)
		}
		byDept, err := svc.Figures(e.te.Ctx, supervisor, march, dashboards.GroupDepartment)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, g := range byDept.Groups {
			if g.Key == "HEAT" {
				found = g.Accepted == 10
			}
		}
		if !found {
			t.Errorf("%s: the heating company's March figures do not count the 10 imported tickets: %+v", when, byDept.Groups)
		}
	}
	check("live")
	e.clk.Add(10 * time.Minute)
	if _, err := svc.RollUp(e.te.Ctx); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(10 * time.Minute)
	check("from the roll-ups")
	var rolled int64
	if err := e.te.DB.Raw(`SELECT COALESCE(SUM(accepted), 0) FROM dash_day_tickets WHERE dim = 'all' AND day >= '2025-03-01' AND day < '2025-04-01'`).Scan(&rolled).Error; err != nil {
		t.Fatal(err)
	}
	if rolled != 10 {
		t.Errorf("March's roll-ups hold %d accepted tickets, want 10", rolled)
	}
}

func csvText(t *testing.T, rows [][]string) string {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.WriteAll(rows); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestImportSealsPersonalData: with personal-data keys the imported citizens' names and
// numbers are sealed at rest like those registered here, and found by number.
func TestImportSealsPersonalData(t *testing.T) {
	e := newEnv(t)
	keys, err := pii.Parse("key k1 00112233445566778899aabbccddeeff\nindex i1 " +
		"0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0\n")
	if err != nil {
		t.Fatal(err)
	}
	if err := pii.Install(e.te.DB, keys); err != nil {
		t.Fatal(err)
	}
	path := e.csvFile("old.csv", [][]string{header, good(1, "满意")})
	if rep, err := e.im.Run(e.te.Ctx, path, Mapping{Source: "old-12345"}, false); err != nil || rep.Imported != 1 {
		t.Fatalf("import: %v %+v", err, rep)
	}
	var name, tel string
	if err := e.te.DB.Raw(`SELECT citizen_name, citizen_phone FROM tickets`).Row().Scan(&name, &tel); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{name, tel} {
		if _, ok := pii.IsSealed(v); !ok || strings.Contains(v, "13800138000") || strings.Contains(v, "王") {
			t.Errorf("stored %q: want a sealed value", v)
		}
	}
	list, _, err := e.te.Store.List(e.te.Ctx, &auth.Principal{Name: "li", Role: auth.RoleSupervisor}, tickets.Filter{Phone: "13800138000"}, api.Page{Page: 1, PerPage: 10})
	if err != nil || len(list) != 1 {
		t.Errorf("tickets of 13800138000: %+v %v", list, err)
	}
}
