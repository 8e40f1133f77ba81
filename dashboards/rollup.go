package dashboards

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/rexian/rexian/tickets"
)

// Daily roll-ups of every figure that is a sum over days.
//
// A pass of RollUp finds the days touched since its watermark and rebuilds each of them,
// with DELETE + INSERT … SELECT over the day's [start, end) in the city's zone, in:
//   - dash_day_tickets: tickets by registration day, for every grouping;
//   - dash_day_events: extensions and returns by event day, for every grouping;
//   - dash_day_surveys: surveys by completion day, for every grouping;
//   - dash_day_calls: inbound calls by arrival day and outcome, the answered calls' waits
//     as a histogram of 100 ms buckets (so that a year's 90th percentile is read from
//     365 rows, not from every bucket of every day);
//   - dash_day_assignments: the three rates' parts that do not depend on the clock, by
//     dispatch day and department;
//   - dash_day_written: the written channels' answers by registration day and channel.
//
// A day is touched by a ticket written since the watermark (every write of a ticket sets
// updated_at: registration, each workflow action and the overdue marking, and its
// assignments and events change only with it), which touches its registration day and
// the days of its extensions, returns, assignments and surveys; by an extension or
// return recorded since the watermark; by a survey written since it (its completion
// day); and by a call record written since it (its arrival day).
//
// The figures read a whole day from the roll-ups only when it ended before the
// watermark and nothing has touched it since; every other day, and the part of a period
// that is not whole days, is counted live, and the two are added. As a day's counts
// change only through writes that touch it, the sum equals the live count at every
// moment, "overdue now" included: the overdue flag of an open ticket changes only by a
// write that sets updated_at, which sends its registration day back to the live count.
//
// Two figures depend on the clock as well as on writes, and are split so that the
// roll-ups keep only what does not: an assignment counts for the response and
// resolution rates once signed or replied (rolled up) or once its limit has passed
// unsigned or unreplied (always counted live, from a partial index of the assignments
// still waiting); and a written-channel ticket counts for the service-standard panel
// once answered or once its limit (at most 24 hours) has passed, so its days are read
// from the roll-ups only when they ended more than 24 hours ago.

// RollUpInterval is how often the roll-up worker makes a pass.
const RollUpInterval = 5 * time.Minute

// rollupMargin is how far before its start a pass sets the watermark, so that a write
// committed while the pass ran, stamped just before it began, still counts as touching.
// It also absorbs the skew between the clocks of the instances that write tickets and
// the one that makes the pass; both must stay within it. Passes on several instances at
// once are safe: a day's rebuild is one transaction, and one that collides with another
// fails and is retried by the next pass.
const rollupMargin = time.Minute

type dayTicketsV1 struct {
	Dim        string `gorm:"primaryKey;size:16"`
	Day        string `gorm:"primaryKey;size:10"`
	Gkey       string `gorm:"primaryKey;size:64"`
	Accepted   int64  `gorm:"not null;default:0"`
	Completed  int64  `gorm:"not null;default:0"`
	OnTime     int64  `gorm:"not null;default:0"`
	OverdueNow int64  `gorm:"not null;default:0"`
}

func (dayTicketsV1) TableName() string { return "dash_day_tickets" }

type dayEventsV1 struct {
	Dim        string `gorm:"primaryKey;size:16"`
	Day        string `gorm:"primaryKey;size:10"`
	Gkey       string `gorm:"primaryKey;size:64"`
	Extensions int64  `gorm:"not null;default:0"`
	Returns    int64  `gorm:"not null;default:0"`
}

func (dayEventsV1) TableName() string { return "dash_day_events" }

// rollupMarkV1 is the watermark of the roll-ups: PassAt, in Unix microseconds.
type rollupMarkV1 struct {
	Name   string `gorm:"primaryKey;size:32"`
	PassAt int64  `gorm:"not null"`
}

func (rollupMarkV1) TableName() string { return "dash_rollup_marks" }

type daySurveysV1 struct {
	Dim       string `gorm:"primaryKey;size:16"`
	Day       string `gorm:"primaryKey;size:10"`
	Gkey      string `gorm:"primaryKey;size:64"`
	Done      int64  `gorm:"not null;default:0"`
	Answered  int64  `gorm:"not null;default:0"`
	Satisfied int64  `gorm:"not null;default:0"`
}

func (daySurveysV1) TableName() string { return "dash_day_surveys" }

// dayCallsV1 is one outcome's calls of a day; Waits, for the answered, is the histogram
// "bucket:calls,…" of their waits in 100 ms buckets.
type dayCallsV1 struct {
	Day      string `gorm:"primaryKey;size:10"`
	Outcome  string `gorm:"primaryKey;size:24"`
	N        int64  `gorm:"not null;default:0"`
	InTarget int64  `gorm:"not null;default:0"`
	// InTargetArrival: answered within the target of the arrival (20261206_12).
	InTargetArrival int64  `gorm:"not null;default:0"`
	WaitSum         int64  `gorm:"not null;default:0"`
	Waits           string `gorm:"type:text;not null;default:''"`
}

func (dayCallsV1) TableName() string { return "dash_day_calls" }

// dayAssignmentsV1 is one department's assignments dispatched on a day: Signed and
// Replied count toward the response and resolution rates whatever the clock says.
type dayAssignmentsV1 struct {
	Day          string `gorm:"primaryKey;size:10"`
	DepartmentID uint   `gorm:"primaryKey"`
	Signed       int64  `gorm:"not null;default:0"`
	Responded    int64  `gorm:"not null;default:0"`
	Replied      int64  `gorm:"not null;default:0"`
	Resolved     int64  `gorm:"not null;default:0"`
}

func (dayAssignmentsV1) TableName() string { return "dash_day_assignments" }

// dayWrittenV1 is one written channel's tickets registered on a day: answered by a
// person (Met within the channel's limit) or not answered at all.
type dayWrittenV1 struct {
	Day        string `gorm:"primaryKey;size:10"`
	Channel    string `gorm:"primaryKey;size:16"`
	Answered   int64  `gorm:"not null;default:0"`
	Met        int64  `gorm:"not null;default:0"`
	Unanswered int64  `gorm:"not null;default:0"`
}

func (dayWrittenV1) TableName() string { return "dash_day_written" }

// rollupTables are every roll-up table: a day's rebuild replaces its rows in each.
var rollupTables = []string{"dash_day_tickets", "dash_day_events", "dash_day_surveys", "dash_day_calls",
	"dash_day_assignments", "dash_day_written"}

const rollupMarkName = "day_figures"

var rollupGroups = []Group{GroupNone, GroupDepartment, GroupCategory, GroupChannel, GroupDistrict}

// dimOf is a grouping's name in the roll-up tables.
func dimOf(g Group) string {
	if g == GroupNone {
		return "all"
	}
	return string(g)
}

var rolledActions = []tickets.Action{tickets.ActApproveExtension, tickets.ActReturn}

// eventQuery counts the extensions and returns recorded in spans by g's raw key: k,
// extensions, returns. Departments are those that asked or returned. The ticket's
// columns are looked up event by event: a period's extensions and returns are few next
// to the tickets, which a join would make PostgreSQL hash whole.
func eventQuery(g Group, spans []span) (string, []any) {
	ticket := func(col string) string { return "(SELECT t." + col + " FROM tickets t WHERE t.id = e.ticket_id)" }
	var col string
	switch g {
	case GroupDepartment:
		col = "COALESCE(e.department_id, " + ticket("lead_department_id") + ")"
	case GroupCategory:
		col = ticket("category_id")
	case GroupChannel:
		col = ticket("channel")
	case GroupDistrict:
		col = ticket("district_id")
	default:
		col = "''"
	}
	key, group := "CAST(x.k AS TEXT)", " GROUP BY x.k"
	if g == GroupNone {
		key, group = "''", ""
	}
	w, args := spansWhere("e.at", spans)
	return `SELECT ` + key + ` AS k,
		COALESCE(SUM(CASE WHEN x.action = ? THEN 1 ELSE 0 END), 0) AS extensions,
		COALESCE(SUM(CASE WHEN x.action = ? THEN 1 ELSE 0 END), 0) AS returns
		FROM (SELECT ` + col + ` AS k, e.action FROM events e WHERE e.action IN ? AND ` + w + `) x` + group,
		append([]any{tickets.ActApproveExtension, tickets.ActReturn, rolledActions}, args...)
}

func (s *Service) dayKey(t time.Time) string { return t.In(s.opts.Location).Format(time.DateOnly) }

func (s *Service) dayStart(key string) time.Time {
	d, _ := time.ParseInLocation(time.DateOnly, key, s.opts.Location)
	return d
}

// watermark is the last pass's watermark; ok is false before the first pass.
func (s *Service) watermark(ctx context.Context, db *gorm.DB) (time.Time, bool, error) {
	var marks []rollupMarkV1
	if err := db.WithContext(ctx).Where("name = ?", rollupMarkName).Find(&marks).Error; err != nil {
		return time.Time{}, false, fmt.Errorf("dashboards: roll-up watermark: %w", err)
	}
	if len(marks) == 0 {
		return time.Time{}, false, nil
	}
	return time.UnixMicro(marks[0].PassAt).UTC(), true, nil
}

// sqlQuery is a statement with its arguments.
type sqlQuery struct {
	sql  string
	args []any
}

// source is what a roll-up table is counted from; each has its own touched days.
type source int

const (
	fromTickets source = iota // tickets, their events and assignments: dash_day_tickets, _events, _assignments, _written
	fromSurveys               // dash_day_surveys
	fromCalls                 // dash_day_calls
	sources
)

// touched are the days touched since the watermark, by source.
type touched [sources]map[string]bool

// touchedDays are the days touched since wm, by source. A survey carries what it is
// broken down by (the ticket's department, category, channel and district at
// completion), so only its own writes touch it.
func (s *Service) touchedDays(ctx context.Context, db *gorm.DB, wm time.Time) (touched, error) {
	const written = `SELECT id FROM tickets WHERE updated_at >= ?`
	type query struct {
		src source
		sqlQuery
	}
	queries := []query{
		{fromTickets, sqlQuery{`SELECT created_at FROM tickets WHERE updated_at >= ?`, []any{wm}}},
		{fromTickets, sqlQuery{`SELECT at FROM events WHERE action IN ? AND at >= ?`, []any{rolledActions, wm}}},
		{fromTickets, sqlQuery{`SELECT e.at FROM events e WHERE e.action IN ? AND e.ticket_id IN (` + written + `)`, []any{rolledActions, wm}}},
		{fromTickets, sqlQuery{`SELECT a.dispatched_at FROM assignments a WHERE a.ticket_id IN (` + written + `)`, []any{wm}}},
		{fromCalls, sqlQuery{`SELECT arrived_at FROM ivr_calls WHERE updated_at >= ?`, []any{wm}}},
	}
	if s.surveyRollups(ctx) {
		queries = append(queries, query{fromSurveys, sqlQuery{`SELECT completed_at FROM callback_surveys WHERE updated_at >= ?`, []any{wm}}})
	}
	times := make([][]time.Time, len(queries))
	fs := make([]func() error, len(queries))
	for i, q := range queries {
		fs[i] = func() error { return db.WithContext(ctx).Raw(q.sql, q.args...).Scan(&times[i]).Error }
	}
	if err := parallel(fs...); err != nil {
		return touched{}, fmt.Errorf("dashboards: touched days: %w", err)
	}
	var t touched
	for i := range t {
		t[i] = map[string]bool{}
	}
	for i, ts := range times {
		for _, at := range ts {
			t[queries[i].src][s.dayKey(at)] = true
		}
	}
	return t, nil
}

// RollUp makes a pass of the daily roll-ups: it rebuilds every day touched since the
// last pass (every day with data, the first time) and moves the watermark. It returns
// the number of days rebuilt. A pass is idempotent.
func (s *Service) RollUp(ctx context.Context) (int, error) {
	began := s.now()
	wm, ok, err := s.watermark(ctx, s.db)
	if err != nil {
		return 0, err
	}
	days := map[string]bool{}
	if ok {
		t, err := s.touchedDays(ctx, s.db, wm)
		if err != nil {
			return 0, err
		}
		for _, m := range t {
			for d := range m {
				days[d] = true
			}
		}
	} else {
		// Every day from the first thing recorded: the first ticket, extension or return,
		// call or survey.
		firsts := []sqlQuery{{`SELECT created_at FROM tickets ORDER BY created_at LIMIT 1`, nil},
			{`SELECT at FROM events WHERE action IN ? ORDER BY at LIMIT 1`, []any{rolledActions}},
			{`SELECT arrived_at FROM ivr_calls ORDER BY arrived_at LIMIT 1`, nil}}
		if s.surveyRollups(ctx) {
			firsts = append(firsts, sqlQuery{`SELECT completed_at FROM callback_surveys ORDER BY completed_at LIMIT 1`, nil})
		}
		var first []time.Time
		for _, q := range firsts {
			var ts []time.Time
			if err := s.db.WithContext(ctx).Raw(q.sql, q.args...).Scan(&ts).Error; err != nil {
				return 0, fmt.Errorf("dashboards: roll-up start: %w", err)
			}
			first = append(first, ts...)
		}
		if len(first) > 0 {
			from := first[0]
			for _, t := range first {
				if t.Before(from) {
					from = t
				}
			}
			for d := s.dayStart(s.dayKey(from)); d.Before(began); d = d.AddDate(0, 0, 1) {
				days[s.dayKey(d)] = true
			}
		}
	}
	keys := make([]string, 0, len(days))
	for d := range days {
		keys = append(keys, d)
	}
	sort.Strings(keys)
	for _, d := range keys {
		if err := s.rebuildDay(ctx, d); err != nil {
			return 0, err
		}
	}
	mark := rollupMarkV1{Name: rollupMarkName, PassAt: began.Add(-rollupMargin).UnixMicro()}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("name = ?", rollupMarkName).Delete(&rollupMarkV1{}).Error; err != nil {
			return err
		}
		return tx.Create(&mark).Error
	})
	if err != nil {
		return 0, fmt.Errorf("dashboards: roll-up watermark: %w", err)
	}
	return len(keys), nil
}

// rebuildDay recounts one day of every roll-up table, in one transaction.
func (s *Service) rebuildDay(ctx context.Context, day string) error {
	from := s.dayStart(day)
	to := from.AddDate(0, 0, 1)
	from, to = from.UTC(), to.UTC()
	whole := []span{{from, to}}
	var tq, eq, sq []string
	var targs, eargs, sargs []any
	surveys := s.surveyRollups(ctx)
	for _, g := range rollupGroups {
		col := groupColumn(g)
		lit := "'" + dimOf(g) + "', '" + day + "'"
		tq = append(tq, `SELECT `+lit+`, COALESCE(CAST(`+col+` AS TEXT), ''), COUNT(*),
			COALESCE(SUM(CASE WHEN t.status = ? THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN t.status = ? AND (t.due_at IS NULL OR t.completed_at <= t.due_at) THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN t.open = ? AND t.overdue = ? THEN 1 ELSE 0 END), 0)
			FROM tickets t WHERE t.created_at >= ? AND t.created_at < ? AND t.status IN ?`+groupBy(col))
		targs = append(targs, tickets.StatusCompleted, tickets.StatusCompleted, true, true, from, to, acceptedStatuses)
		q, args := eventQuery(g, whole)
		eq = append(eq, `SELECT `+lit+`, COALESCE(k, ''), extensions, returns FROM (`+q+`) x`)
		eargs = append(eargs, args...)
		if surveys {
			q, args := surveyQuery(g, whole)
			sq = append(sq, `SELECT `+lit+`, COALESCE(k, ''), done, answered, satisfied FROM (`+q+`) x`)
			sargs = append(sargs, args...)
		}
	}
	aq, aargs := assignmentQuery(whole)
	wq, wargs := s.writtenQuery(whole, nil)
	// The calls are tallied here and written as one row per outcome.
	calls, err := s.tallyCalls(ctx, whole)
	if err != nil {
		return err
	}
	var callRows []dayCallsV1
	for _, o := range calls.outcomes() {
		c := calls.byOutcome[o]
		row := dayCallsV1{Day: day, Outcome: o, N: c.n, InTarget: c.inTarget, InTargetArrival: c.inTargetArrival, WaitSum: c.waitSum}
		if o == answeredOutcome {
			row.Waits = calls.encodeWaits()
		}
		callRows = append(callRows, row)
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, table := range rollupTables {
			if err := tx.Exec(`DELETE FROM `+table+` WHERE day = ?`, day).Error; err != nil {
				return err
			}
		}
		inserts := []sqlQuery{
			{`INSERT INTO dash_day_tickets (dim, day, gkey, accepted, completed, on_time, overdue_now) ` +
				strings.Join(tq, " UNION ALL "), targs},
			{`INSERT INTO dash_day_events (dim, day, gkey, extensions, returns) ` + strings.Join(eq, " UNION ALL "), eargs},
			{`INSERT INTO dash_day_assignments (day, department_id, signed, responded, replied, resolved)
				SELECT '` + day + `', department_id, signed, responded, replied, resolved FROM (` + aq + `) x`, aargs},
			{`INSERT INTO dash_day_written (day, channel, answered, met, unanswered)
				SELECT '` + day + `', channel, answered, met, unanswered FROM (` + wq + `) x`, wargs},
		}
		if surveys {
			inserts = append(inserts, sqlQuery{`INSERT INTO dash_day_surveys (dim, day, gkey, done, answered, satisfied) ` + strings.Join(sq, " UNION ALL "), sargs})
		}
		for _, in := range inserts {
			if err := tx.Exec(in.sql, in.args...).Error; err != nil {
				return err
			}
		}
		if len(callRows) > 0 {
			return tx.Create(&callRows).Error
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("dashboards: roll up %s: %w", day, err)
	}
	return nil
}

// span is a half-open interval of time counted live.
type span struct{ from, to time.Time }

// dayRange is an inclusive range of roll-up days.
type dayRange struct{ first, last string }

// split divides [from, to) into the ranges of clean days read from the roll-ups and the
// spans counted live.
func (s *Service) split(from, to time.Time, wm time.Time, ok bool, touched map[string]bool) ([]dayRange, []span) {
	var rolled []dayRange
	var live []span
	addLive := func(a, b time.Time) {
		if !b.After(a) {
			return
		}
		if n := len(live); n > 0 && live[n-1].to.Equal(a) {
			live[n-1].to = b
			return
		}
		live = append(live, span{a, b})
	}
	d := s.dayStart(s.dayKey(from))
	if d.Before(from) {
		d = d.AddDate(0, 0, 1)
	}
	addLive(from, minTime(d, to))
	var prev string
	for ; !d.AddDate(0, 0, 1).After(to); d = d.AddDate(0, 0, 1) {
		end := d.AddDate(0, 0, 1)
		key := s.dayKey(d)
		if ok && !end.After(wm) && !touched[key] {
			if n := len(rolled); n > 0 && rolled[n-1].last == prev {
				rolled[n-1].last = key
			} else {
				rolled = append(rolled, dayRange{key, key})
			}
			prev = key
			continue
		}
		prev = ""
		addLive(d, end)
	}
	if d.Before(to) {
		addLive(maxTime(d, from), to)
	}
	return rolled, live
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// spansWhere is the condition "column in one of the spans".
func spansWhere(column string, spans []span) (string, []any) {
	parts := make([]string, len(spans))
	args := make([]any, 0, 2*len(spans))
	for i, x := range spans {
		parts[i] = "(" + column + " >= ? AND " + column + " < ?)"
		args = append(args, x.from.UTC(), x.to.UTC())
	}
	return "(" + strings.Join(parts, " OR ") + ")", args
}

// rangesWhere is the condition "day in one of the ranges".
func rangesWhere(rs []dayRange) (string, []any) {
	parts := make([]string, len(rs))
	args := make([]any, 0, 2*len(rs))
	for i, r := range rs {
		parts[i] = "(day >= ? AND day <= ?)"
		args = append(args, r.first, r.last)
	}
	return "(" + strings.Join(parts, " OR ") + ")", args
}

type ticketRow struct {
	K                                       *string
	Accepted, Completed, OnTime, OverdueNow int64
}

type eventRow struct {
	K                   *string
	Extensions, Returns int64
}

// rollupPlan is where a period's figures come from, by source: the whole days read
// from the roll-ups and the spans counted live. The written channels' answers have their
// own, later, cut-off (see the package comment).
type rollupPlan struct {
	tickets, surveys, calls, written sourcePlan
}

type sourcePlan struct {
	rolled []dayRange
	live   []span
}

// writtenLimit is the longest time a written channel has to be answered.
const writtenLimit = 24 * time.Hour

func (s *Service) plan(ctx context.Context, from, to time.Time) (*rollupPlan, error) {
	all := sourcePlan{live: []span{{from, to}}}
	if s.liveOnly {
		return &rollupPlan{all, all, all, all}, nil
	}
	wm, ok, err := s.watermark(ctx, s.read)
	if err != nil {
		return nil, err
	}
	if !ok || !from.Before(wm) {
		return &rollupPlan{all, all, all, all}, nil
	}
	t, err := s.touchedDays(ctx, s.read, wm)
	if err != nil {
		return nil, err
	}
	split := func(wm time.Time, touched map[string]bool) sourcePlan {
		var p sourcePlan
		p.rolled, p.live = s.split(from, to, wm, ok, touched)
		return p
	}
	return &rollupPlan{
		tickets: split(wm, t[fromTickets]),
		surveys: split(wm, t[fromSurveys]),
		calls:   split(wm, t[fromCalls]),
		written: split(minTime(wm, s.now().Add(-writtenLimit)), t[fromTickets]),
	}, nil
}

// ticketCounts are the ticket figures of the plan, by raw group key.
func (s *Service) ticketCounts(ctx context.Context, pl *rollupPlan, g Group) ([]ticketRow, error) {
	col := groupColumn(g)
	var live, rolled []ticketRow
	err := parallel(
		func() error {
			if len(pl.tickets.live) == 0 {
				return nil
			}
			w, args := spansWhere("t.created_at", pl.tickets.live)
			args = append([]any{tickets.StatusCompleted, tickets.StatusCompleted, true, true}, args...)
			args = append(args, acceptedStatuses)
			return s.read.WithContext(ctx).Raw(`SELECT CAST(`+col+` AS TEXT) AS k, COUNT(*) AS accepted,
				COALESCE(SUM(CASE WHEN t.status = ? THEN 1 ELSE 0 END), 0) AS completed,
				COALESCE(SUM(CASE WHEN t.status = ? AND (t.due_at IS NULL OR t.completed_at <= t.due_at) THEN 1 ELSE 0 END), 0) AS on_time,
				COALESCE(SUM(CASE WHEN t.open = ? AND t.overdue = ? THEN 1 ELSE 0 END), 0) AS overdue_now
				FROM tickets t WHERE `+w+` AND t.status IN ?
				`+groupBy(col), args...).Scan(&live).Error
		},
		func() error {
			if len(pl.tickets.rolled) == 0 {
				return nil
			}
			w, args := rangesWhere(pl.tickets.rolled)
			return s.read.WithContext(ctx).Raw(`SELECT gkey AS k, CAST(SUM(accepted) AS BIGINT) AS accepted,
				CAST(SUM(completed) AS BIGINT) AS completed, CAST(SUM(on_time) AS BIGINT) AS on_time,
				CAST(SUM(overdue_now) AS BIGINT) AS overdue_now FROM dash_day_tickets
				WHERE dim = ? AND `+w+` GROUP BY gkey`, append([]any{dimOf(g)}, args...)...).Scan(&rolled).Error
		},
	)
	if err != nil {
		return nil, fmt.Errorf("dashboards: ticket figures: %w", err)
	}
	return append(live, rolled...), nil
}

// eventCounts are the events figures of the plan, by raw group key.
func (s *Service) eventCounts(ctx context.Context, pl *rollupPlan, g Group) ([]eventRow, error) {
	var live, rolled []eventRow
	err := parallel(
		func() error {
			if len(pl.tickets.live) == 0 {
				return nil
			}
			q, args := eventQuery(g, pl.tickets.live)
			return s.read.WithContext(ctx).Raw(q, args...).Scan(&live).Error
		},
		func() error {
			if len(pl.tickets.rolled) == 0 {
				return nil
			}
			w, args := rangesWhere(pl.tickets.rolled)
			return s.read.WithContext(ctx).Raw(`SELECT gkey AS k, CAST(SUM(extensions) AS BIGINT) AS extensions,
				CAST(SUM(returns) AS BIGINT) AS returns
				FROM dash_day_events WHERE dim = ? AND `+w+` GROUP BY gkey`, append([]any{dimOf(g)}, args...)...).Scan(&rolled).Error
		},
	)
	if err != nil {
		return nil, fmt.Errorf("dashboards: event figures: %w", err)
	}
	return append(live, rolled...), nil
}
