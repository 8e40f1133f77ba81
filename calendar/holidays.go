package calendar

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"gopkg.in/yaml.v3"
)

// embeddedHolidays is the schedule shipped with the binary, so that a fresh install
// counts deadlines correctly without any set-up.
//
//go:embed holidays-cn.yaml
var embeddedHolidays []byte

// maxHolidayDays bounds one holiday's days off. The longest Chinese holiday is nine
// days; anything much longer is a typo in the data, not a holiday.
const maxHolidayDays = 31

// Date is a civil date with no time of day and no zone: a holiday is a day on the
// local calendar, not an instant.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the civil date of t in t's own location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{Year: y, Month: m, Day: d}
}

// ParseDate parses a date written as 2006-01-02.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("calendar: date %q is not YYYY-MM-DD: %w", s, ErrInvalid)
	}
	return DateOf(t), nil
}

// String formats d as 2006-01-02.
func (d Date) String() string {
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// IsZero reports whether d is the zero Date, which in the data means "not given".
func (d Date) IsZero() bool { return d == Date{} }

// MarshalText implements encoding.TextMarshaler.
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Date) UnmarshalText(b []byte) error {
	v, err := ParseDate(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// AddDays returns the date n days after d (before, if n is negative).
func (d Date) AddDays(n int) Date {
	// Arithmetic in UTC: civil days have no DST gaps there.
	return DateOf(time.Date(d.Year, d.Month, d.Day+n, 0, 0, 0, 0, time.UTC))
}

// Weekday returns the day of the week of d.
func (d Date) Weekday() time.Weekday {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Weekday()
}

// Before reports whether d comes before e.
func (d Date) Before(e Date) bool {
	if d.Year != e.Year {
		return d.Year < e.Year
	}
	if d.Month != e.Month {
		return d.Month < e.Month
	}
	return d.Day < e.Day
}

// In returns the instant at which d begins in loc.
func (d Date) In(loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

// Holidays is a holiday schedule: the published years, each with its holidays.
type Holidays struct {
	Years []Year `yaml:"years" json:"years"`
}

// Year is the schedule published for one calendar year. A year present here is
// covered: the calendar trusts it instead of guessing from weekends.
type Year struct {
	Year      int       `yaml:"year" json:"year"`
	Published Date      `yaml:"published,omitempty" json:"published,omitzero"`
	Holidays  []Holiday `yaml:"holidays" json:"holidays"`
}

// Holiday is one statutory holiday: its days off (From..To, inclusive) and the
// weekend days worked in exchange (调休补班).
type Holiday struct {
	Name   string `yaml:"name" json:"name"`       // Chinese name, as published
	NameEN string `yaml:"name_en" json:"name_en"` // English name, for logs and foreign-language screens
	From   Date   `yaml:"from" json:"from"`
	To     Date   `yaml:"to" json:"to"`
	Work   []Date `yaml:"work,omitempty" json:"work,omitempty"`
}

// DefaultHolidays returns the schedule embedded in the binary. Each call returns a
// fresh copy, so callers may change it freely.
func DefaultHolidays() (*Holidays, error) {
	h, err := ParseHolidays(embeddedHolidays)
	if err != nil {
		return nil, fmt.Errorf("calendar: embedded holidays-cn.yaml: %w", err)
	}
	return h, nil
}

// ParseHolidays parses and checks a schedule in the format of the embedded
// holidays-cn.yaml. Unknown fields are errors, because a misspelt "work" would
// otherwise silently turn a working Saturday into a rest day.
func ParseHolidays(data []byte) (*Holidays, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var h Holidays
	if err := dec.Decode(&h); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("calendar: holiday data is empty: %w", ErrInvalid)
		}
		return nil, fmt.Errorf("calendar: holiday data: %v: %w", err, ErrInvalid)
	}
	if err := h.Validate(); err != nil {
		return nil, err
	}
	return &h, nil
}

// Validate checks the schedule for the mistakes a person typing it in makes: a
// range backwards, a make-up day on a weekday, a year listed twice, a date in the
// wrong year's block.
func (h *Holidays) Validate() error {
	seen := make(map[int]bool)
	for _, y := range h.Years {
		if y.Year <= 0 {
			return fmt.Errorf("calendar: holiday data: year %d is not a year: %w", y.Year, ErrInvalid)
		}
		if seen[y.Year] {
			return fmt.Errorf("calendar: holiday data: year %d is listed twice: %w", y.Year, ErrInvalid)
		}
		seen[y.Year] = true
		for _, hd := range y.Holidays {
			if err := hd.validate(y.Year); err != nil {
				return fmt.Errorf("calendar: holiday data: year %d: %w", y.Year, err)
			}
		}
	}
	return nil
}

func (hd Holiday) validate(year int) error {
	if hd.Name == "" {
		return fmt.Errorf("holiday from %s has no name: %w", hd.From, ErrInvalid)
	}
	if hd.From.IsZero() || hd.To.IsZero() {
		return fmt.Errorf("holiday %s needs both from and to: %w", hd.Name, ErrInvalid)
	}
	if hd.To.Before(hd.From) {
		return fmt.Errorf("holiday %s ends (%s) before it starts (%s): %w", hd.Name, hd.To, hd.From, ErrInvalid)
	}
	if hd.From.AddDays(maxHolidayDays).Before(hd.To) {
		return fmt.Errorf("holiday %s runs %s..%s, longer than %d days: %w", hd.Name, hd.From, hd.To, maxHolidayDays, ErrInvalid)
	}
	// A holiday may spill over New Year (30 Dec .. 1 Jan), so it need only touch its year.
	if hd.From.Year != year && hd.To.Year != year {
		return fmt.Errorf("holiday %s (%s..%s) is not in %d: %w", hd.Name, hd.From, hd.To, year, ErrInvalid)
	}
	for _, w := range hd.Work {
		if wd := w.Weekday(); wd != time.Saturday && wd != time.Sunday {
			return fmt.Errorf("holiday %s: make-up working day %s is a %s, not a weekend day: %w", hd.Name, w, wd, ErrInvalid)
		}
		if w.Year < year-1 || w.Year > year+1 {
			return fmt.Errorf("holiday %s: make-up working day %s is far from %d: %w", hd.Name, w, year, ErrInvalid)
		}
		if !w.Before(hd.From) && !hd.To.Before(w) {
			return fmt.Errorf("holiday %s: %s is both a day off and a working day: %w", hd.Name, w, ErrInvalid)
		}
	}
	return nil
}

// Merge returns a schedule with the years of h, where each year that override also
// lists is replaced whole by override's, and override's other years are added.
// Whole-year replacement lets an override file correct or remove a date, not only
// add one. Neither h nor override is changed.
func (h *Holidays) Merge(override *Holidays) *Holidays {
	out := &Holidays{}
	if h != nil {
		out.Years = slices.Clone(h.Years)
	}
	if override == nil {
		return out
	}
	for _, y := range override.Years {
		i := slices.IndexFunc(out.Years, func(e Year) bool { return e.Year == y.Year })
		if i >= 0 {
			out.Years[i] = y
		} else {
			out.Years = append(out.Years, y)
		}
	}
	slices.SortFunc(out.Years, func(a, b Year) int { return a.Year - b.Year })
	return out
}
