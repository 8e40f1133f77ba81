package callback

import (
	"context"
	"fmt"
	"time"

	"github.com/rexian/rexian/api"
)

// Group is what the figures are broken down by.
type Group string

const (
	GroupDepartment Group = "department"
	GroupCategory   Group = "category"
	GroupChannel    Group = "channel"
)

// StatsFilter is the period (by completion time, [From, To)) and the breakdown.
type StatsFilter struct {
	From, To time.Time
	Group    Group
}

// Figures are one group's survey figures. Due counts the completions chosen for a
// survey; Done those with a result; Answered those with an opinion. ResponseRate is
// Answered/Due, SatisfactionRate (satisfied + fairly satisfied)/Answered, StrictRate
// satisfied/Answered; a rate with nothing to divide by is null.
type Figures struct {
	Key              string   `json:"key"`
	Name             string   `json:"name,omitempty"`
	Due              int64    `json:"due"`
	Done             int64    `json:"done"`
	Answered         int64    `json:"answered"`
	Satisfied        int64    `json:"satisfied"`
	FairlySatisfied  int64    `json:"fairly_satisfied"`
	Dissatisfied     int64    `json:"dissatisfied"`
	Unreachable      int64    `json:"unreachable"`
	Refused          int64    `json:"refused"`
	ResponseRate     *float64 `json:"response_rate"`
	SatisfactionRate *float64 `json:"satisfaction_rate"`
	StrictRate       *float64 `json:"strict_satisfaction_rate"`
}

// Stats are the figures by group and in total.
type Stats struct {
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Group  Group     `json:"group"`
	Groups []Figures `json:"groups"`
	Total  Figures   `json:"total"`
}

// Stats computes the figures in one query.
func (s *Service) Stats(ctx context.Context, f StatsFilter) (Stats, error) {
	var key, name, join string
	switch f.Group {
	case GroupDepartment, "":
		f.Group = GroupDepartment
		key, name, join = "COALESCE(d.code, '')", "MAX(d.name)", "LEFT JOIN departments d ON d.id = s.department_id"
	case GroupCategory:
		key, name, join = "COALESCE(c.code, '')", "MAX(c.name)", "LEFT JOIN categories c ON c.id = s.category_id"
	case GroupChannel:
		key, name = "s.channel", "''"
	default:
		return Stats{}, api.Errorf(api.ErrInvalid, "invalid_group", "group %q is not one of department, category, channel", f.Group)
	}
	if !f.To.After(f.From) {
		return Stats{}, api.Errorf(api.ErrInvalid, "invalid_period", "to must be after from")
	}
	var rows []Figures
	err := s.db.WithContext(ctx).Raw(`SELECT `+key+` AS key, `+name+` AS name, COUNT(*) AS due,
		SUM(CASE WHEN s.status = 'done' THEN 1 ELSE 0 END) AS done,
		SUM(CASE WHEN s.result = 'satisfied' THEN 1 ELSE 0 END) AS satisfied,
		SUM(CASE WHEN s.result = 'fairly_satisfied' THEN 1 ELSE 0 END) AS fairly_satisfied,
		SUM(CASE WHEN s.result = 'dissatisfied' THEN 1 ELSE 0 END) AS dissatisfied,
		SUM(CASE WHEN s.result = 'unreachable' THEN 1 ELSE 0 END) AS unreachable,
		SUM(CASE WHEN s.result = 'refused' THEN 1 ELSE 0 END) AS refused
		FROM callback_surveys s `+join+`
		WHERE s.status <> 'skipped' AND s.completed_at >= ? AND s.completed_at < ?
		GROUP BY `+key+` ORDER BY `+key, f.From.UTC(), f.To.UTC()).Scan(&rows).Error
	if err != nil {
		return Stats{}, fmt.Errorf("callback: stats: %w", err)
	}
	out := Stats{From: f.From.In(s.opts.Location), To: f.To.In(s.opts.Location), Group: f.Group, Groups: make([]Figures, 0, len(rows))}
	out.Total.Key = "total"
	for _, r := range rows {
		r.rates()
		out.Groups = append(out.Groups, r)
		t := &out.Total
		t.Due += r.Due
		t.Done += r.Done
		t.Satisfied += r.Satisfied
		t.FairlySatisfied += r.FairlySatisfied
		t.Dissatisfied += r.Dissatisfied
		t.Unreachable += r.Unreachable
		t.Refused += r.Refused
	}
	out.Total.rates()
	return out, nil
}

func (f *Figures) rates() {
	f.Answered = f.Satisfied + f.FairlySatisfied + f.Dissatisfied
	ratio := func(a, b int64) *float64 {
		if b == 0 {
			return nil
		}
		v := float64(a) / float64(b)
		return &v
	}
	f.ResponseRate = ratio(f.Answered, f.Due)
	f.SatisfactionRate = ratio(f.Satisfied+f.FairlySatisfied, f.Answered)
	f.StrictRate = ratio(f.Satisfied, f.Answered)
}
