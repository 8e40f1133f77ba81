// Package importer moves a city's tickets in from its previous platform: an .xlsx or
// .csv export (UTF-8 or GB18030) whose columns a Mapping names, read as a stream and
// written in batches through tickets.Store.Import, which keeps each ticket's history as
// imported timeline events at their original times and skips records imported before.
// A satisfaction column becomes a finished callback survey, so that the figures count
// it; the tickets count in the period of their original registration.
//
// A dry run reads the whole file and reports every row it would refuse, with its row
// number, column and reason, and writes nothing.
package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
	"gorm.io/gorm"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/callback"
	"github.com/rexian/rexian/tickets"
)

// Options configure a run.
type Options struct {
	Store    *tickets.Store
	Location *time.Location // the city's zone, for times written without one
	Now      func() time.Time
	Log      *slog.Logger
	// BatchSize is how many rows are written per transaction (default 1000).
	BatchSize int
	// Progress, when set, is called after each batch with the rows read so far.
	Progress func(rows int)
}

// Refusal is a row that is not imported, and why.
type Refusal struct {
	Row    int    `json:"row"`
	Column string `json:"column,omitempty"` // the header, as in the file
	Field  Field  `json:"field,omitempty"`
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

func (r Refusal) String() string {
	where := fmt.Sprintf("row %d", r.Row)
	if r.Column != "" {
		where += fmt.Sprintf(", column %s", r.Column)
	}
	return fmt.Sprintf("%s: %s: %s", where, r.Code, r.Reason)
}

// Report is what a run did (or, in a dry run, would do).
type Report struct {
	Source   string
	DryRun   bool
	Rows     int // data rows read (blank rows are not counted)
	Imported int // tickets written, or that would be
	Existing int // rows imported by an earlier run, skipped
	Surveys  int // satisfaction results kept as finished surveys
	Refused  []Refusal
	Elapsed  time.Duration
}

// Summary is the report's last line, as the CLI prints it.
func (r *Report) Summary() string {
	verb := "imported"
	if r.DryRun {
		verb = "would import"
	}
	return fmt.Sprintf("%s: %d rows read, %s %d, %d already imported, %d refused, %d satisfaction results, in %s",
		r.Source, r.Rows, verb, r.Imported, r.Existing, len(r.Refused), r.Surveys, r.Elapsed.Round(time.Millisecond))
}

// Importer reads files into tickets.
type Importer struct {
	opts Options
}

// New returns an importer.
func New(opts Options) *Importer {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Location == nil {
		opts.Location = time.FixedZone("CST", 8*3600)
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1000
	}
	return &Importer{opts: opts}
}

// run is one file's reading state.
type run struct {
	im       *Importer
	m        Mapping
	cols     map[Field]int
	headers  []string
	statuses words[tickets.Status]
	channels words[tickets.Channel]
	urgency  words[tickets.Urgency]
	satisf   words[callback.Result]
	depts    names
	cats     names
	refs     map[string]int // row of each reference seen in the file
	rep      *Report
	dryRun   bool
}

// pending is a row read and waiting for its batch.
type pending struct {
	row     int
	rec     tickets.Import
	result  callback.Result
	surveys *time.Time
}

// Run imports the file at path (.xlsx or .csv) with m; with dryRun it writes nothing.
// Rows that cannot be imported are refused in the report; the error is for a file that
// cannot be read or a database that fails.
func (im *Importer) Run(ctx context.Context, path string, m Mapping, dryRun bool) (*Report, error) {
	began := time.Now()
	if err := m.check(); err != nil {
		return nil, err
	}
	m.Source = strings.TrimSpace(m.Source)
	if m.Source == "" {
		return nil, errors.New("the import needs a source name (the previous platform's, e.g. old-12345): re-runs with the same source skip what was imported")
	}
	rs, err := openRows(path, m)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	r := &run{im: im, m: m, rep: &Report{Source: m.Source, DryRun: dryRun}, dryRun: dryRun, refs: map[string]int{},
		statuses: newWords(defaultStatuses, tickets.ImportStatuses, m.Statuses),
		channels: newWords(defaultChannels, nil, m.Channels),
		urgency:  newWords(defaultUrgencies, []tickets.Urgency{tickets.UrgencyNormal, tickets.UrgencyUrgent, tickets.UrgencyCritical}, m.Urgencies),
		satisf:   newWords(defaultSatisfaction, []callback.Result{callback.ResultSatisfied, callback.ResultFairlySatisfied, callback.ResultDissatisfied}, m.Satisfaction),
		depts:    names(m.Departments), cats: names(m.Categories)}
	r.satisf["none"] = callback.ResultNone
	for _, c := range []tickets.Channel{tickets.ChannelPhone, tickets.ChannelVoicemail, tickets.ChannelMailbox, tickets.ChannelQQ,
		tickets.ChannelWeb, tickets.ChannelOpen311, tickets.ChannelSMS, tickets.ChannelWalkIn} {
		if _, ok := r.channels[string(c)]; !ok {
			r.channels[string(c)] = c
		}
	}
	if err := r.header(rs); err != nil {
		return nil, err
	}
	var batch []pending
	for {
		if err := ctx.Err(); err != nil {
			return r.rep, err
		}
		cells, err := rs.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		var br *badRow
		if errors.As(err, &br) {
			r.rep.Rows++
			r.refuse(rs.Row(), "", "unreadable_row", "the row cannot be read: "+br.Error())
			continue
		}
		if err != nil {
			return r.rep, fmt.Errorf("read row %d: %w", rs.Row()+1, err)
		}
		if blank(cells) {
			continue
		}
		r.rep.Rows++
		p, ok := r.convert(rs.Row(), cells)
		if !ok {
			continue
		}
		batch = append(batch, p)
		if len(batch) >= im.opts.BatchSize {
			if err := r.flush(ctx, batch); err != nil {
				return r.rep, err
			}
			batch = batch[:0]
		}
	}
	if err := r.flush(ctx, batch); err != nil {
		return r.rep, err
	}
	sort.SliceStable(r.rep.Refused, func(i, j int) bool { return r.rep.Refused[i].Row < r.rep.Refused[j].Row })
	r.rep.Elapsed = time.Since(began)
	return r.rep, nil
}

func blank(cells []string) bool {
	for _, c := range cells {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// header reads the first non-blank row as the headers and finds each field's column.
func (r *run) header(rs rows) error {
	for {
		cells, err := rs.Next()
		if errors.Is(err, io.EOF) {
			return errors.New("the file has no header row")
		}
		if err != nil {
			return fmt.Errorf("read the header row: %w", err)
		}
		if !blank(cells) {
			r.headers = make([]string, len(cells))
			for i, c := range cells {
				r.headers[i] = strings.TrimSpace(strings.TrimPrefix(c, "\ufeff"))
			}
			break
		}
	}
	at := map[string]int{}
	for i, h := range r.headers {
		if _, dup := at[h]; !dup && h != "" {
			at[h] = i
		}
	}
	r.cols = map[Field]int{}
	var missing []string
	for _, d := range defaultHeaders {
		if h, ok := r.m.Columns[d.field]; ok {
			i, found := at[strings.TrimSpace(h)]
			if !found {
				missing = append(missing, fmt.Sprintf("%s: the mapping names column %q, which the file does not have", d.field, h))
				continue
			}
			r.cols[d.field] = i
			continue
		}
		for _, h := range append(d.headers, string(d.field)) {
			if i, ok := at[h]; ok {
				r.cols[d.field] = i
				break
			}
		}
	}
	for _, f := range requiredFields {
		if _, ok := r.cols[f]; !ok && r.m.Columns[f] == "" {
			missing = append(missing, fmt.Sprintf("%s: no column found (looked for %s); name it with --column %s=HEADER", f, strings.Join(headersOf(f), ", "), f))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("columns: %s (the file's headers: %s)", strings.Join(missing, "; "), strings.Join(r.headers, ", "))
	}
	return nil
}

func headersOf(f Field) []string {
	for _, d := range defaultHeaders {
		if d.field == f {
			return d.headers
		}
	}
	return nil
}

// column is f's header in the file, for a refusal.
func (r *run) column(f Field) string {
	if i, ok := r.cols[f]; ok && i < len(r.headers) {
		return r.headers[i]
	}
	return string(f)
}

func (r *run) refuse(row int, f Field, code, reason string) {
	rf := Refusal{Row: row, Field: f, Code: code, Reason: reason}
	if f != "" {
		rf.Column = r.column(f)
	}
	r.rep.Refused = append(r.rep.Refused, rf)
}

// convert turns a row's cells into a record; a cell that cannot be read refuses the
// row (the first such cell is named).
func (r *run) convert(row int, cells []string) (pending, bool) {
	get := func(f Field) string {
		i, ok := r.cols[f]
		if !ok || i >= len(cells) {
			return ""
		}
		return strings.TrimSpace(cells[i])
	}
	p := pending{row: row}
	in := &p.rec
	in.Ref, in.Name, in.Phone, in.Email = get(FieldRef), get(FieldName), get(FieldPhone), get(FieldEmail)
	in.Title, in.Content, in.Address = get(FieldTitle), get(FieldContent), get(FieldAddress)
	in.Reply, in.Answer, in.Operator = get(FieldReply), get(FieldAnswer), get(FieldOperator)
	in.Category = r.cats.of(get(FieldCategory))
	in.Department = r.depts.of(get(FieldDepartment))
	in.District = r.depts.of(get(FieldDistrict))
	in.Township = r.depts.of(get(FieldTownship))
	if in.Ref == "" {
		r.refuse(row, FieldRef, "missing_ref", "the row has no reference (the old ticket number); it is what makes a re-run skip the row")
		return p, false
	}
	if first, ok := r.refs[in.Ref]; ok {
		r.refuse(row, FieldRef, "duplicate_ref", fmt.Sprintf("reference %q is also on row %d", in.Ref, first))
		return p, false
	}
	r.refs[in.Ref] = row
	word := func(f Field, ok bool, code, what string) bool {
		if !ok {
			r.refuse(row, f, code, fmt.Sprintf("unknown %s %q; map it in the mapping file", what, get(f)))
		}
		return ok
	}
	var ok bool
	if s := get(FieldStatus); s != "" {
		if in.Status, ok = r.statuses.lookup(s); !word(FieldStatus, ok, "unknown_status", "status") {
			return p, false
		}
	}
	if s := get(FieldChannel); s != "" {
		if in.Channel, ok = r.channels.lookup(s); !word(FieldChannel, ok, "unknown_channel", "channel") {
			return p, false
		}
	}
	if s := get(FieldUrgency); s != "" {
		if in.Urgency, ok = r.urgency.lookup(s); !word(FieldUrgency, ok, "unknown_urgency", "urgency") {
			return p, false
		}
	}
	if s := get(FieldSatisfaction); s != "" {
		if p.result, ok = r.satisf.lookup(s); !word(FieldSatisfaction, ok, "unknown_satisfaction", "satisfaction result") {
			return p, false
		}
	}
	times := []struct {
		f   Field
		set func(time.Time)
	}{
		{FieldRegisteredAt, func(t time.Time) { in.RegisteredAt = t }},
		{FieldDispatchedAt, func(t time.Time) { in.DispatchedAt = &t }},
		{FieldSignedAt, func(t time.Time) { in.SignedAt = &t }},
		{FieldRepliedAt, func(t time.Time) { in.RepliedAt = &t }},
		{FieldCompletedAt, func(t time.Time) { in.CompletedAt = &t }},
		{FieldDueAt, func(t time.Time) { in.DueAt = &t }},
		{FieldSurveyedAt, func(t time.Time) { p.surveys = &t }},
	}
	for _, x := range times {
		s := get(x.f)
		if s == "" {
			continue
		}
		t, err := r.parseTime(s)
		if err != nil {
			r.refuse(row, x.f, "invalid_time", err.Error())
			return p, false
		}
		x.set(t)
	}
	if p.result != callback.ResultNone && in.Status != "" && in.Status != tickets.StatusCompleted {
		r.refuse(row, FieldSatisfaction, "satisfaction_not_completed", fmt.Sprintf("a satisfaction result (%s) is given but the ticket is not completed", get(FieldSatisfaction)))
		return p, false
	}
	if p.surveys != nil && in.CompletedAt != nil && p.surveys.Before(*in.CompletedAt) {
		r.refuse(row, FieldSurveyedAt, "time_order", "the survey is before the completion")
		return p, false
	}
	return p, true
}

// timeLayouts are the usual ways exports write a time, tried in order.
var timeLayouts = []string{
	"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02T15:04:05Z07:00", "2006-01-02",
	"2006-1-2 15:04:05", "2006-1-2 15:04", "2006-1-2",
	"2006/1/2 15:04:05", "2006/1/2 15:04", "2006/1/2",
	"2006年1月2日 15:04:05", "2006年1月2日 15:04", "2006年1月2日15时04分", "2006年1月2日 15时04分", "2006年1月2日",
	"2006.1.2 15:04:05", "2006.1.2 15:04", "2006.1.2", "20060102150405", "20060102",
}

// parseTime reads a time in the city's zone: one of the layouts, or a spreadsheet's
// date serial number (days since 1899-12-30, the fraction the time of day).
func (r *run) parseTime(s string) (time.Time, error) {
	loc := r.im.opts.Location
	if f, err := strconv.ParseFloat(s, 64); err == nil && f > 1 && f < 2958466 && !strings.ContainsAny(s, "-/年") {
		if len(s) == 8 && !strings.Contains(s, ".") { // 20230105
			if t, err := time.ParseInLocation("20060102", s, loc); err == nil {
				return t, nil
			}
		}
		t, err := excelize.ExcelDateToTime(f, false)
		if err == nil {
			// The serial is a wall-clock time: the city's, not UTC.
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, loc)
			return t.Round(time.Second), nil
		}
	}
	for _, l := range append(r.m.TimeLayouts, timeLayouts...) {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time (write it as 2024-03-01 14:30:00, or add the layout to time_layouts)", s)
}

// flush imports (or checks) a batch and records what became of each row.
func (r *run) flush(ctx context.Context, batch []pending) error {
	if len(batch) == 0 {
		return nil
	}
	recs := make([]tickets.Import, len(batch))
	for i := range batch {
		recs[i] = batch[i].rec
	}
	now := r.im.opts.Now().UTC()
	surveys := 0
	opts := tickets.ImportOptions{DryRun: r.dryRun, Also: func(tx *gorm.DB, done []tickets.Imported) error {
		var rows []callback.Survey
		for _, d := range done {
			p := batch[d.Index]
			if p.result == callback.ResultNone || d.CompletionSeq == 0 {
				continue
			}
			rows = append(rows, surveyOf(d, p, now))
		}
		surveys = len(rows)
		if len(rows) == 0 {
			return nil
		}
		return tx.CreateInBatches(rows, 500).Error
	}}
	results, err := r.im.opts.Store.Import(ctx, r.m.Source, recs, opts)
	if err != nil {
		return err
	}
	for i, res := range results {
		switch {
		case res.Err != nil:
			var ae *api.Error
			if errors.As(res.Err, &ae) {
				r.refuse(batch[i].row, Field(ae.Field), ae.Code, ae.Message)
			} else {
				return fmt.Errorf("row %d: %w", batch[i].row, res.Err)
			}
		case res.Existing:
			r.rep.Existing++
		default:
			r.rep.Imported++
			if r.dryRun && batch[i].result != callback.ResultNone {
				surveys++
			}
		}
	}
	r.rep.Surveys += surveys
	if r.im.opts.Progress != nil {
		r.im.opts.Progress(r.rep.Rows)
	}
	return nil
}

// surveyOf is the finished survey an imported satisfaction result becomes: done, by
// hand, at the survey time (else at completion). A dissatisfied result is marked as
// handled, so the callback worker does not reopen a ticket the old platform closed.
func surveyOf(d tickets.Imported, p pending, now time.Time) callback.Survey {
	t := d.Ticket
	answered := *t.CompletedAt
	if p.surveys != nil {
		answered = p.surveys.UTC()
	}
	sv := callback.Survey{TicketID: t.ID, TicketNumber: t.Number, CompletionSeq: d.CompletionSeq, CompletedAt: *t.CompletedAt,
		CategoryID: t.CategoryID, DepartmentID: d.LeadID, TicketChannel: string(t.Channel), DistrictID: t.DistrictID,
		Phone: t.CitizenPhone, PhoneKind: string(t.PhoneKind), Status: callback.StatusDone, DueAt: *t.CompletedAt,
		Note: "imported", Result: p.result, Channel: callback.ChannelManual, AnsweredAt: &answered,
		AnsweredBy: tickets.ImportActor, CreatedAt: now, UpdatedAt: now}
	if p.result == callback.ResultDissatisfied {
		sv.EscalatedAt = &answered
	}
	return sv
}
