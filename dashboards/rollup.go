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

// Daily roll-ups of the ticket and timeline figures.
//
// A pass of RollUp finds the days touched since its watermark and rebuilds each of them
// in dash_day_tickets (by registration day) and dash_day_events (by event day), for every
// grouping, with DELETE + INSERT … SELECT over the day's [start, end) in the city's zone.
// A day is touched by a ticket written since the watermark (every write of a ticket sets
// updated_at: registration, each workflow action and the overdue marking), which touches
// its registration day and the days of its extensions and returns (their grouping comes
// from the ticket), and by an extension or return recorded since the watermark.
//
// The figures read a whole day from the roll-ups only when it ended before the
// watermark and nothing has touched it since; every other day, and the part of a period
// that is not whole days, is counted live, and the two are added. As a day's counts
// change only through writes that touch it, the sum equals the live count at every
// moment, "overdue now" included: the overdue flag of an open ticket changes only by a
// write that sets updated_at, which sends its registration day back to the live count.

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

// eventColumn is the events figures' group column: departments are those that asked or
// returned.
func eventColumn(g Group) string {
	if g == GroupDepartment {
		return "COALESCE(e.department_id, t.lead_department_id)"
	}
	return groupColumn(g)
}

func (s *Service) dayKey(t time.Time) string { return t.In(s.opts.Location).Format(time.DateOnly) }

func (s *Service) dayStart(key string) time.Time {
	d, _ := time.ParseInLocation(time.DateOnly, key, s.opts.Location)
	return d
}

// watermark is the last pass's watermark; ok is false before the first pass.
func (s *Service) watermark(ctx context.Context) (time.Time, bool, error) {
	var marks []rollupMarkV1
	if err := s.db.WithContext(ctx).Where("name = ?", rollupMarkName).Find(&marks).Error; err != nil {
		return time.Time{}, false, fmt.Errorf("dashboards: roll-up watermark: %w", err)
	}
	if len(marks) == 0 {
		return time.Time{}, false, nil
	}
	return time.UnixMicro(marks[0].PassAt).UTC(), true, nil
}

// touchedDays are the registration days (for the ticket figures) and the event days
// (for the events figures) touched since wm.
func (s *Service) touchedDays(ctx context.Context, wm time.Time) (tdays, edays map[string]bool, err error) {
	var created, at, old []time.Time
	err = parallel(
		func() error {
			return s.db.WithContext(ctx).Raw(`SELECT created_at FROM tickets WHERE updated_at >= ?`, wm).Scan(&created).Error
		},
		func() error {
			return s.db.WithContext(ctx).Raw(`SELECT at FROM events WHERE action IN ? AND at >= ?`, rolledActions, wm).Scan(&at).Error
		},
		func() error {
			return s.db.WithContext(ctx).Raw(`SELECT e.at FROM events e WHERE e.action IN ? AND e.ticket_id IN
				(SELECT id FROM tickets WHERE updated_at >= ?)`, rolledActions, wm).Scan(&old).Error
		},
	)
	if err != nil {
		return nil, nil, fmt.Errorf("dashboards: touched days: %w", err)
	}
	tdays, edays = map[string]bool{}, map[string]bool{}
	for _, t := range created {
		tdays[s.dayKey(t)] = true
	}
	for _, t := range append(at, old...) {
		edays[s.dayKey(t)] = true
	}
	return tdays, edays, nil
}

// RollUp makes a pass of the daily roll-ups: it rebuilds every day touched since the
// last pass (every day with data, the first time) and moves the watermark. It returns
// the number of days rebuilt. A pass is idempotent.
func (s *Service) RollUp(ctx context.Context) (int, error) {
	began := s.now()
	wm, ok, err := s.watermark(ctx)
	if err != nil {
		return 0, err
	}
	days := map[string]bool{}
	if ok {
		tdays, edays, err := s.touchedDays(ctx, wm)
		if err != nil {
			return 0, err
		}
		for d := range tdays {
			days[d] = true
		}
		for d := range edays {
			days[d] = true
		}
	} else {
		var first []time.Time
		if err := s.db.WithContext(ctx).Raw(`SELECT created_at FROM tickets ORDER BY created_at LIMIT 1`).Scan(&first).Error; err != nil {
			return 0, fmt.Errorf("dashboards: roll-up start: %w", err)
		}
		var firstEvent []time.Time
		if err := s.db.WithContext(ctx).Raw(`SELECT at FROM events WHERE action IN ? ORDER BY at LIMIT 1`, rolledActions).Scan(&firstEvent).Error; err != nil {
			return 0, fmt.Errorf("dashboards: roll-up start: %w", err)
		}
		first = append(first, firstEvent...)
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

// rebuildDay recounts one day of both roll-up tables.
func (s *Service) rebuildDay(ctx context.Context, day string) error {
	from := s.dayStart(day)
	to := from.AddDate(0, 0, 1)
	from, to = from.UTC(), to.UTC()
	var tq, eq []string
	var targs, eargs []any
	for _, g := range rollupGroups {
		col, ecol := groupColumn(g), eventColumn(g)
		lit := "'" + dimOf(g) + "', '" + day + "'"
		tq = append(tq, `SELECT `+lit+`, COALESCE(CAST(`+col+` AS TEXT), ''), COUNT(*),
			COALESCE(SUM(CASE WHEN t.status = ? THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN t.status = ? AND (t.due_at IS NULL OR t.completed_at <= t.due_at) THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN t.open = ? AND t.overdue = ? THEN 1 ELSE 0 END), 0)
			FROM tickets t WHERE t.created_at >= ? AND t.created_at < ? AND t.status IN ?`+groupBy(col))
		targs = append(targs, tickets.StatusCompleted, tickets.StatusCompleted, true, true, from, to, acceptedStatuses)
		eq = append(eq, `SELECT `+lit+`, COALESCE(CAST(`+ecol+` AS TEXT), ''),
			COALESCE(SUM(CASE WHEN e.action = ? THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN e.action = ? THEN 1 ELSE 0 END), 0)
			FROM events e JOIN tickets t ON t.id = e.ticket_id
			WHERE e.action IN ? AND e.at >= ? AND e.at < ?`+groupBy(ecol))
		eargs = append(eargs, tickets.ActApproveExtension, tickets.ActReturn, rolledActions, from, to)
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec(`DELETE FROM dash_day_tickets WHERE day = ?`, day).Error; err != nil {
			return err
		}
		if err := tx.Exec(`DELETE FROM dash_day_events WHERE day = ?`, day).Error; err != nil {
			return err
		}
		if err := tx.Exec(`INSERT INTO dash_day_tickets (dim, day, gkey, accepted, completed, on_time, overdue_now) `+
			strings.Join(tq, " UNION ALL "), targs...).Error; err != nil {
			return err
		}
		return tx.Exec(`INSERT INTO dash_day_events (dim, day, gkey, extensions, returns) `+
			strings.Join(eq, " UNION ALL "), eargs...).Error
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

// rollupPlan is where a period's ticket and events figures come from.
type rollupPlan struct {
	trolled, erolled []dayRange
	tlive, elive     []span
}

func (s *Service) plan(ctx context.Context, from, to time.Time) (*rollupPlan, error) {
	whole := []span{{from, to}}
	if s.liveOnly {
		return &rollupPlan{tlive: whole, elive: whole}, nil
	}
	wm, ok, err := s.watermark(ctx)
	if err != nil {
		return nil, err
	}
	if !ok || !from.Before(wm) {
		return &rollupPlan{tlive: whole, elive: whole}, nil
	}
	tdays, edays, err := s.touchedDays(ctx, wm)
	if err != nil {
		return nil, err
	}
	p := &rollupPlan{}
	p.trolled, p.tlive = s.split(from, to, wm, ok, tdays)
	p.erolled, p.elive = s.split(from, to, wm, ok, edays)
	return p, nil
}

// ticketCounts are the ticket figures of the plan, by raw group key.
func (s *Service) ticketCounts(ctx context.Context, pl *rollupPlan, g Group) ([]ticketRow, error) {
	col := groupColumn(g)
	var live, rolled []ticketRow
	err := parallel(
		func() error {
			if len(pl.tlive) == 0 {
				return nil
			}
			w, args := spansWhere("t.created_at", pl.tlive)
			args = append([]any{tickets.StatusCompleted, tickets.StatusCompleted, true, true}, args...)
			args = append(args, acceptedStatuses)
			return s.db.WithContext(ctx).Raw(`SELECT CAST(`+col+` AS TEXT) AS k, COUNT(*) AS accepted,
				COALESCE(SUM(CASE WHEN t.status = ? THEN 1 ELSE 0 END), 0) AS completed,
				COALESCE(SUM(CASE WHEN t.status = ? AND (t.due_at IS NULL OR t.completed_at <= t.due_at) THEN 1 ELSE 0 END), 0) AS on_time,
				COALESCE(SUM(CASE WHEN t.open = ? AND t.overdue = ? THEN 1 ELSE 0 END), 0) AS overdue_now
				FROM tickets t WHERE `+w+` AND t.status IN ?
				`+groupBy(col), args...).Scan(&live).Error
		},
		func() error {
			if len(pl.trolled) == 0 {
				return nil
			}
			w, args := rangesWhere(pl.trolled)
			return s.db.WithContext(ctx).Raw(`SELECT gkey AS k, CAST(SUM(accepted) AS BIGINT) AS accepted,
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
	ecol := eventColumn(g)
	var live, rolled []eventRow
	err := parallel(
		func() error {
			if len(pl.elive) == 0 {
				return nil
			}
			w, args := spansWhere("e.at", pl.elive)
			args = append([]any{tickets.ActApproveExtension, tickets.ActReturn, rolledActions}, args...)
			return s.db.WithContext(ctx).Raw(`SELECT CAST(`+ecol+` AS TEXT) AS k,
				COALESCE(SUM(CASE WHEN e.action = ? THEN 1 ELSE 0 END), 0) AS extensions,
				COALESCE(SUM(CASE WHEN e.action = ? THEN 1 ELSE 0 END), 0) AS returns
				FROM events e JOIN tickets t ON t.id = e.ticket_id
				WHERE e.action IN ? AND `+w+`
				`+groupBy(ecol), args...).Scan(&live).Error
		},
		func() error {
			if len(pl.erolled) == 0 {
				return nil
			}
			w, args := rangesWhere(pl.erolled)
			return s.db.WithContext(ctx).Raw(`SELECT gkey AS k, CAST(SUM(extensions) AS BIGINT) AS extensions,
				CAST(SUM(returns) AS BIGINT) AS returns
				FROM dash_day_events WHERE dim = ? AND `+w+` GROUP BY gkey`, append([]any{dimOf(g)}, args...)...).Scan(&rolled).Error
		},
	)
	if err != nil {
		return nil, fmt.Errorf("dashboards: event figures: %w", err)
	}
	return append(live, rolled...), nil
}
