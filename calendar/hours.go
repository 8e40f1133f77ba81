package calendar

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultWorkHours are the office hours of the reference city's departments: a long
// lunch break, as is usual for Chinese government offices.
const DefaultWorkHours = "08:30-12:00,14:30-18:00"

// Span is one working period of a working day, from From to To. Both are wall-clock
// offsets from local midnight (8h30m means 08:30), so they keep their meaning on
// any date in any location.
type Span struct {
	From, To time.Duration
}

// String formats s as "08:30-12:00".
func (s Span) String() string {
	return clock(s.From) + "-" + clock(s.To)
}

func clock(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// ParseWorkHours parses working periods written as "08:30-12:00,14:30-18:00": one
// or more HH:MM-HH:MM spans separated by commas, in order of the day and not
// overlapping. "24:00" may end the last span.
func ParseWorkHours(s string) ([]Span, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("calendar: empty working hours, want spans such as %q: %w", DefaultWorkHours, ErrInvalid)
	}
	var spans []Span
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		from, to, ok := strings.Cut(part, "-")
		if !ok {
			return nil, fmt.Errorf("calendar: working hours %q: span %q is not HH:MM-HH:MM: %w", s, part, ErrInvalid)
		}
		f, err := parseClock(strings.TrimSpace(from))
		if err != nil {
			return nil, fmt.Errorf("calendar: working hours %q: span %q: %w", s, part, err)
		}
		t, err := parseClock(strings.TrimSpace(to))
		if err != nil {
			return nil, fmt.Errorf("calendar: working hours %q: span %q: %w", s, part, err)
		}
		spans = append(spans, Span{From: f, To: t})
	}
	if err := checkSpans(spans); err != nil {
		return nil, fmt.Errorf("calendar: working hours %q: %w", s, err)
	}
	return spans, nil
}

// checkSpans holds for every []Span the calendar uses, parsed or given in Options:
// the day walk in Add and WorkingDuration relies on spans being ordered and disjoint.
func checkSpans(spans []Span) error {
	if len(spans) == 0 {
		return fmt.Errorf("no working periods: %w", ErrInvalid)
	}
	for i, sp := range spans {
		if sp.From < 0 || sp.To > 24*time.Hour {
			return fmt.Errorf("span %s is outside the day: %w", sp, ErrInvalid)
		}
		if sp.From >= sp.To {
			return fmt.Errorf("span %s does not end after it starts: %w", sp, ErrInvalid)
		}
		if i > 0 && sp.From < spans[i-1].To {
			return fmt.Errorf("span %s starts before %s ends: %w", sp, spans[i-1], ErrInvalid)
		}
	}
	return nil
}

func parseClock(s string) (time.Duration, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 || !digits(h) || !digits(m) {
		return 0, fmt.Errorf("%q is not HH:MM: %w", s, ErrInvalid)
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("%q is not a time of day: %w", s, ErrInvalid)
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, nil
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
