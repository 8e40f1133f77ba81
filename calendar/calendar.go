package calendar

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Options configures a Calendar. The zero Options gives the reference city's
// calendar: Asia/Shanghai, DefaultWorkHours and the embedded holiday schedule.
type Options struct {
	Location  *time.Location // default Asia/Shanghai
	WorkHours []Span         // default DefaultWorkHours; see ParseWorkHours
	Holidays  *Holidays      // default DefaultHolidays(); see ParseHolidays and Merge
	Log       *slog.Logger   // default slog.Default()
}

// Calendar tells working days from rest days and counts time limits on them. It is
// safe for concurrent use.
type Calendar struct {
	loc   *time.Location
	spans []Span
	// special holds the dates the schedule overrides: false for a day off, true for a
	// make-up working day. Every other date follows the weekend rule.
	special map[Date]bool
	covered map[int]bool
	log     *slog.Logger

	mu     sync.Mutex
	warned map[int]bool // years already logged as uncovered
}

// New builds a Calendar, checking the working hours and the holiday schedule.
func New(opts Options) (*Calendar, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Location == nil {
		opts.Location = shanghai()
	}
	spans := slices.Clone(opts.WorkHours)
	if len(spans) == 0 {
		var err error
		if spans, err = ParseWorkHours(DefaultWorkHours); err != nil {
			return nil, err
		}
	}
	if err := checkSpans(spans); err != nil {
		return nil, fmt.Errorf("calendar: working hours: %w", err)
	}
	h := opts.Holidays
	if h == nil {
		var err error
		if h, err = DefaultHolidays(); err != nil {
			return nil, err
		}
	}
	if err := h.Validate(); err != nil {
		return nil, err
	}
	c := &Calendar{
		loc:     opts.Location,
		spans:   spans,
		special: make(map[Date]bool),
		covered: make(map[int]bool),
		log:     opts.Log.With("component", "calendar"),
		warned:  make(map[int]bool),
	}
	for _, y := range h.Years {
		c.covered[y.Year] = true
		for _, hd := range y.Holidays {
			for d := hd.From; !hd.To.Before(d); d = d.AddDays(1) {
				if err := c.mark(d, false, hd); err != nil {
					return nil, err
				}
			}
			for _, d := range hd.Work {
				if err := c.mark(d, true, hd); err != nil {
					return nil, err
				}
			}
		}
	}
	return c, nil
}

// mark records d as a day off or a make-up working day, refusing data that says both:
// with two years' blocks disagreeing there is no right answer to pick silently.
func (c *Calendar) mark(d Date, working bool, hd Holiday) error {
	if prev, ok := c.special[d]; ok && prev != working {
		return fmt.Errorf("calendar: holiday data: %s is both a day off and a working day (%s): %w", d, hd.Name, ErrInvalid)
	}
	c.special[d] = working
	return nil
}

// shanghai returns Asia/Shanghai, or a fixed UTC+8 zone where the system has no zone
// database (minimal containers). The two agree on every date the platform handles:
// China has had no daylight saving time since 1991.
func shanghai() *time.Location {
	if loc, err := time.LoadLocation("Asia/Shanghai"); err == nil {
		return loc
	}
	return time.FixedZone("CST", 8*60*60)
}

// Location returns the location whose dates and working hours the calendar counts in.
func (c *Calendar) Location() *time.Location { return c.loc }

// WorkHours returns the working periods of a working day.
func (c *Calendar) WorkHours() []Span { return slices.Clone(c.spans) }

// Covered reports whether the holiday schedule includes year. Outside covered years
// the calendar knows only weekends, and deadlines may land on a holiday.
func (c *Calendar) Covered(year int) bool { return c.covered[year] }

// IsWorkday reports whether the day of t, in the calendar's location, is a working
// day: a weekday that is not a statutory day off, or a make-up working weekend day.
func (c *Calendar) IsWorkday(t time.Time) bool {
	return c.isWorkday(DateOf(t.In(c.loc)))
}

func (c *Calendar) isWorkday(d Date) bool {
	if working, ok := c.special[d]; ok {
		return working
	}
	if !c.covered[d.Year] {
		c.warnUncovered(d.Year)
	}
	wd := d.Weekday()
	return wd != time.Saturday && wd != time.Sunday
}

// warnUncovered logs once per year: the overdue worker asks about the same dates
// every minute, and one line is enough to tell an operator to add the schedule.
func (c *Calendar) warnUncovered(year int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.warned[year] {
		return
	}
	c.warned[year] = true
	c.log.Warn("no holiday schedule for year, counting weekends only; add the year to the holiday data", "year", year)
}

// Add returns the deadline for a limit l that starts at start, in the calendar's
// location. The zero Limit has no deadline: Add returns the zero Time.
//
// Clock units add elapsed time: 30m and 24h are plain durations, and 2d is the same
// wall-clock time two calendar days later.
//
// WorkingHours counts only time inside the working periods of working days; a start
// outside them begins counting at the next working period. A limit used up exactly
// at the end of a period is due at that end, not at the start of the next.
//
// WorkingDays follows the rule for periods counted in days (Civil Code art. 201: the
// day the period begins is not counted): the deadline is the end of the last working
// period of the Nth working day after the day of start, whatever the time of start
// and whether or not that day is itself a working day. A ticket dispatched on Friday
// afternoon with 1wd is due at the end of Monday, or of the first working day after
// a holiday.
func (c *Calendar) Add(start time.Time, l Limit) time.Time {
	if l.N <= 0 {
		return time.Time{}
	}
	start = start.In(c.loc)
	switch l.Unit {
	case ClockMinutes:
		return start.Add(time.Duration(l.N) * time.Minute)
	case ClockHours:
		return start.Add(time.Duration(l.N) * time.Hour)
	case ClockDays:
		return start.AddDate(0, 0, l.N)
	case WorkingHours:
		return c.addWorking(start, time.Duration(l.N)*time.Hour)
	case WorkingDays:
		d := DateOf(start)
		for n := 0; n < l.N; {
			d = d.AddDays(1)
			if c.isWorkday(d) {
				n++
			}
		}
		return c.at(d, c.spans[len(c.spans)-1].To)
	}
	// Only a Limit built by hand, not by ParseLimit, gets here.
	c.log.Error("unknown limit unit, no deadline set", "limit", fmt.Sprintf("%d%s", l.N, l.Unit))
	return time.Time{}
}

// addWorking walks the working periods from start until d of working time is used.
// The walk ends: validated holiday data leaves at most a few weeks without a working
// day, and years without data have weekdays.
func (c *Calendar) addWorking(start time.Time, d time.Duration) time.Time {
	for day := DateOf(start); ; day = day.AddDays(1) {
		if !c.isWorkday(day) {
			continue
		}
		for _, sp := range c.spans {
			from, to := c.at(day, sp.From), c.at(day, sp.To)
			if !to.After(start) {
				continue
			}
			if from.Before(start) {
				from = start
			}
			if left := to.Sub(from); d > left {
				d -= left
				continue
			}
			return from.Add(d)
		}
	}
}

// WorkingDuration returns the working time between from and to: the part of
// [from, to) that falls inside working periods of working days. It is 0 when to is
// not after from. For any start and working-hours limit,
// WorkingDuration(start, Add(start, l)) is l's length.
func (c *Calendar) WorkingDuration(from, to time.Time) time.Duration {
	if !to.After(from) {
		return 0
	}
	from, to = from.In(c.loc), to.In(c.loc)
	last := DateOf(to)
	var total time.Duration
	for day := DateOf(from); !last.Before(day); day = day.AddDays(1) {
		if !c.isWorkday(day) {
			continue
		}
		for _, sp := range c.spans {
			s, e := c.at(day, sp.From), c.at(day, sp.To)
			if s.Before(from) {
				s = from
			}
			if e.After(to) {
				e = to
			}
			if e.After(s) {
				total += e.Sub(s)
			}
		}
	}
	return total
}

// at returns the instant of wall-clock offset off on day d. Building it from fields,
// not midnight plus a duration, keeps 08:30 at 08:30 on a day with a DST change.
func (c *Calendar) at(d Date, off time.Duration) time.Time {
	h := int(off / time.Hour)
	m := int(off % time.Hour / time.Minute)
	s := int(off % time.Minute / time.Second)
	ns := int(off % time.Second)
	return time.Date(d.Year, d.Month, d.Day, h, m, s, ns, c.loc)
}
