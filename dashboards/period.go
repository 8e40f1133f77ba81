package dashboards

import (
	"time"

	"github.com/rexian/rexian/api"
)

// PeriodKind names the usual reporting periods; custom takes any range of dates.
type PeriodKind string

const (
	PeriodToday   PeriodKind = "today"
	PeriodWeek    PeriodKind = "week" // Monday to Sunday
	PeriodMonth   PeriodKind = "month"
	PeriodQuarter PeriodKind = "quarter"
	PeriodYear    PeriodKind = "year"
	PeriodCustom  PeriodKind = "custom"
)

// Period is a half-open interval [From, To) in the city's zone.
type Period struct {
	Kind PeriodKind `json:"kind"`
	From time.Time  `json:"from"`
	To   time.Time  `json:"to"`
}

// maxPeriod bounds a custom range: a decade is more than any bulletin needs and keeps a
// mistyped year from scanning everything ever recorded.
const maxPeriod = 10 * 366 * 24 * time.Hour

// PeriodOf returns the period of kind that contains at (a date in loc for the usual
// kinds). For custom, from and to are dates ("2026-01-01") and to is inclusive, as people
// say "1 to 31 January".
func PeriodOf(kind PeriodKind, at time.Time, from, to string, loc *time.Location) (Period, error) {
	at = at.In(loc)
	day := time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, loc)
	p := Period{Kind: kind}
	switch kind {
	case PeriodToday, "":
		p.Kind, p.From, p.To = PeriodToday, day, day.AddDate(0, 0, 1)
	case PeriodWeek:
		back := (int(day.Weekday()) + 6) % 7 // days since Monday
		p.From = day.AddDate(0, 0, -back)
		p.To = p.From.AddDate(0, 0, 7)
	case PeriodMonth:
		p.From = time.Date(at.Year(), at.Month(), 1, 0, 0, 0, 0, loc)
		p.To = p.From.AddDate(0, 1, 0)
	case PeriodQuarter:
		m := time.Month((int(at.Month())-1)/3*3 + 1)
		p.From = time.Date(at.Year(), m, 1, 0, 0, 0, 0, loc)
		p.To = p.From.AddDate(0, 3, 0)
	case PeriodYear:
		p.From = time.Date(at.Year(), 1, 1, 0, 0, 0, 0, loc)
		p.To = p.From.AddDate(1, 0, 0)
	case PeriodCustom:
		f, err := time.ParseInLocation(time.DateOnly, from, loc)
		if err != nil {
			return p, api.Errorf(api.ErrInvalid, "invalid_from", "from must be a date such as 2026-01-01, not %q", from)
		}
		t, err := time.ParseInLocation(time.DateOnly, to, loc)
		if err != nil {
			return p, api.Errorf(api.ErrInvalid, "invalid_to", "to must be a date such as 2026-01-31, not %q", to)
		}
		p.From, p.To = f, t.AddDate(0, 0, 1)
		if !p.To.After(p.From) {
			return p, api.Errorf(api.ErrInvalid, "invalid_period", "to (%s) is before from (%s)", to, from)
		}
		if p.To.Sub(p.From) > maxPeriod {
			return p, api.Errorf(api.ErrInvalid, "period_too_long", "a custom period may span at most ten years")
		}
	default:
		return p, api.Errorf(api.ErrInvalid, "invalid_period", "period must be one of today, week, month, quarter, year, custom; not %q", kind)
	}
	return p, nil
}
