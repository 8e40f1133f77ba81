package calendar

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrInvalid is wrapped by every error about malformed input: a limit, working
// hours or holiday data. Callers map it to a bad-request or a configuration error.
var ErrInvalid = errors.New("invalid calendar input")

// Unit is the unit of a Limit, written as its suffix in the text form.
type Unit string

// The units of a Limit. Working units count only working time on the calendar;
// clock units count elapsed time, for urgent cases that cannot wait for Monday.
const (
	WorkingDays  Unit = "wd"
	WorkingHours Unit = "wh"
	ClockDays    Unit = "d"
	ClockHours   Unit = "h"
	ClockMinutes Unit = "m"
)

var units = []Unit{WorkingDays, WorkingHours, ClockDays, ClockHours, ClockMinutes}

// maxLimitN keeps a typo such as "55555wd" from becoming a deadline centuries away
// and from making Add walk that many days.
const maxLimitN = 100_000

// Limit is a time limit (时限) such as "5wd" (five working days) or "30m". The zero
// Limit means "no limit".
type Limit struct {
	N    int
	Unit Unit
}

// ParseLimit parses the text form of a Limit: a positive whole number followed by a
// unit, as in "5wd", "4wh", "24h", "2d" or "30m".
func ParseLimit(s string) (Limit, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return Limit{}, fmt.Errorf("calendar: empty limit, want a number and a unit such as 5wd: %w", ErrInvalid)
	}
	i := strings.IndexFunc(t, func(r rune) bool { return r < '0' || r > '9' })
	if i == 0 {
		return Limit{}, fmt.Errorf("calendar: limit %q must start with a positive whole number, as in 5wd: %w", s, ErrInvalid)
	}
	if i < 0 {
		return Limit{}, fmt.Errorf("calendar: limit %q has no unit, want one of %s: %w", s, unitList(), ErrInvalid)
	}
	n, err := strconv.Atoi(t[:i])
	if err != nil || n > maxLimitN {
		return Limit{}, fmt.Errorf("calendar: limit %q is too large (at most %d): %w", s, maxLimitN, ErrInvalid)
	}
	if n == 0 {
		return Limit{}, fmt.Errorf("calendar: limit %q is zero; leave the limit out for no limit: %w", s, ErrInvalid)
	}
	u := Unit(t[i:])
	if !u.valid() {
		return Limit{}, fmt.Errorf("calendar: limit %q has unknown unit %q, want one of %s: %w", s, t[i:], unitList(), ErrInvalid)
	}
	return Limit{N: n, Unit: u}, nil
}

func (u Unit) valid() bool {
	for _, v := range units {
		if u == v {
			return true
		}
	}
	return false
}

func unitList() string {
	names := make([]string, len(units))
	for i, u := range units {
		names[i] = string(u)
	}
	return strings.Join(names, ", ")
}

// IsZero reports whether l is "no limit".
func (l Limit) IsZero() bool { return l.N == 0 }

// String returns the text form that ParseLimit reads, or "" for no limit.
func (l Limit) String() string {
	if l.IsZero() {
		return ""
	}
	return strconv.Itoa(l.N) + string(l.Unit)
}

// MarshalText implements encoding.TextMarshaler, so a Limit reads and writes as
// "5wd" in YAML and JSON configuration.
func (l Limit) MarshalText() ([]byte, error) {
	if !l.IsZero() && (l.N < 0 || !l.Unit.valid()) {
		return nil, fmt.Errorf("calendar: cannot marshal limit {%d %q}: %w", l.N, l.Unit, ErrInvalid)
	}
	return []byte(l.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler. Unlike ParseLimit it accepts
// the empty string as "no limit", because that is how MarshalText writes the zero
// Limit and a stored value must read back.
func (l *Limit) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*l = Limit{}
		return nil
	}
	v, err := ParseLimit(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}
