package callback

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
)

// Span is a daily period in minutes after midnight; it may wrap midnight. The zero Span
// (start == end) is empty: for allowed hours it means "any time", for quiet hours "never".
type Span struct{ Start, End int }

// ParseSpan reads "HH:MM-HH:MM"; "" is the zero Span.
func ParseSpan(s string) (Span, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Span{}, nil
	}
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		return Span{}, fmt.Errorf("%q is not HH:MM-HH:MM (e.g. 09:00-20:00)", s)
	}
	parse := func(hm string) (int, error) {
		hm = strings.TrimSpace(hm)
		if hm == "24:00" {
			return 24 * 60, nil
		}
		t, err := time.Parse("15:04", hm)
		if err != nil {
			return 0, fmt.Errorf("%q is not HH:MM-HH:MM (e.g. 09:00-20:00)", s)
		}
		return t.Hour()*60 + t.Minute(), nil
	}
	a, err := parse(from)
	if err != nil {
		return Span{}, err
	}
	b, err := parse(to)
	if err != nil {
		return Span{}, err
	}
	if a == b || a == 24*60 {
		return Span{}, fmt.Errorf("%q is an empty period", s)
	}
	return Span{a, b}, nil
}

func (p Span) empty() bool { return p.Start == p.End }

// contains reports whether minute m of the day is inside the span.
func (p Span) contains(m int) bool {
	if p.Start < p.End {
		return m >= p.Start && m < p.End
	}
	return m >= p.Start || m < p.End
}

// policy is the survey rules: who is surveyed, and when.
type policy struct {
	loc      *time.Location
	delay    time.Duration
	hours    Span // allowed hours; empty: any time
	quiet    Span // SMS quiet hours; empty: none
	sample   float64
	category map[string]float64
}

// allowed reports whether a survey may reach a citizen at t.
func (p *policy) allowed(t time.Time) bool {
	lt := t.In(p.loc)
	m := lt.Hour()*60 + lt.Minute()
	return (p.hours.empty() || p.hours.contains(m)) && (p.quiet.empty() || !p.quiet.contains(m))
}

// next returns t if a survey may reach a citizen then, else the next moment it may. A
// time that was missed (the worker was down) is caught up at the next allowed moment.
func (p *policy) next(t time.Time) time.Time {
	t = t.UTC()
	for range 8 {
		if p.allowed(t) {
			return t
		}
		// Jump to the nearest boundary after t: the start of the allowed hours or the
		// end of the quiet hours, whichever comes first.
		lt := t.In(p.loc)
		var best time.Time
		for _, m := range []int{p.hours.Start, p.quiet.End} {
			b := time.Date(lt.Year(), lt.Month(), lt.Day(), m/60, m%60, 0, 0, p.loc)
			if !b.After(lt) {
				b = time.Date(lt.Year(), lt.Month(), lt.Day()+1, m/60, m%60, 0, 0, p.loc)
			}
			if best.IsZero() || b.Before(best) {
				best = b
			}
		}
		t = best.UTC()
	}
	return t // allowed hours inside quiet hours: configuration refuses it; do not loop
}

// rate is the sampling rate of a category: its own code, else its parents' (TS-GN, TS),
// else the default.
func (p *policy) rate(code string) float64 {
	for c := code; c != ""; {
		if r, ok := p.category[c]; ok {
			return r
		}
		i := strings.LastIndex(c, "-")
		if i < 0 {
			break
		}
		c = c[:i]
	}
	return p.sample
}

// sampled decides whether a completion is surveyed. It hashes the ticket number and the
// completion event, so that any instance, before or after a restart, decides the same.
func sampled(number string, seq int, rate float64) bool {
	if rate >= 1 {
		return true
	}
	if rate <= 0 {
		return false
	}
	h := fnv.New64a()
	h.Write([]byte(number + ":" + strconv.Itoa(seq)))
	return float64(h.Sum64()>>11)/float64(1<<53) < rate
}

// ParseCategorySample reads "CODE=rate" entries.
func ParseCategorySample(entries []string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, e := range entries {
		code, v, ok := strings.Cut(e, "=")
		code = strings.TrimSpace(code)
		if !ok || code == "" {
			return nil, fmt.Errorf("%q is not CODE=rate (e.g. ZX=0.2)", e)
		}
		r, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || r < 0 || r > 1 {
			return nil, fmt.Errorf("%q: the rate must be a number from 0 to 1", e)
		}
		out[code] = r
	}
	return out, nil
}
