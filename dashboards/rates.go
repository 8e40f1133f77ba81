package dashboards

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/database"
	"github.com/rexian/rexian/tickets"
)

// Rates are one department's (or district's) three rates (三率) for a period.
//
// Which work counts (参评): each dispatch (assignment) to the department made in the
// period, on tickets that were not merged or refused, except assignments returned
// without being signed for (a mis-dispatch is judged by arbitration, not by the clock).
// A department counts its own assignments; a sub-unit's assignment counts for the
// sub-unit. A district counts the assignments of every department in it.
//   - Response (响应率): of the assignments signed for, or whose sign-for limit has
//     passed, those signed no later than their limit.
//   - Resolution (按期办结率): of the assignments replied to, or whose handling deadline
//     (extensions included) has passed, those whose ticket is completed and whose reply
//     came by the deadline.
//   - Satisfaction (满意率): of the surveys of completions in the period with an opinion,
//     for tickets the department led at completion, satisfied or fairly satisfied.
//
// Score is the mean of the rates that exist; Rank orders by it (1 is best).
type Rates struct {
	Key               string   `json:"key"`
	Name              string   `json:"name"`
	ResponseCounted   int64    `json:"response_counted"`
	Responded         int64    `json:"responded"`
	ResponseRate      *float64 `json:"response_rate"`
	ResolutionCounted int64    `json:"resolution_counted"`
	Resolved          int64    `json:"resolved"`
	ResolutionRate    *float64 `json:"resolution_rate"`
	SurveysAnswered   int64    `json:"surveys_answered"`
	Satisfied         int64    `json:"satisfied"`
	SatisfactionRate  *float64 `json:"satisfaction_rate"`
	Score             *float64 `json:"score"`
	Rank              int      `json:"rank"`
}

func (r *Rates) add(o Rates) {
	r.ResponseCounted += o.ResponseCounted
	r.Responded += o.Responded
	r.ResolutionCounted += o.ResolutionCounted
	r.Resolved += o.Resolved
	r.SurveysAnswered += o.SurveysAnswered
	r.Satisfied += o.Satisfied
}

func (r *Rates) rates() {
	r.ResponseRate = ratio(r.Responded, r.ResponseCounted)
	r.ResolutionRate = ratio(r.Resolved, r.ResolutionCounted)
	r.SatisfactionRate = ratio(r.Satisfied, r.SurveysAnswered)
	var sum float64
	n := 0
	for _, x := range []*float64{r.ResponseRate, r.ResolutionRate, r.SatisfactionRate} {
		if x != nil {
			sum += *x
			n++
		}
	}
	if n > 0 {
		v := float64(int64(sum/float64(n)*10000+0.5)) / 10000
		r.Score = &v
	}
}

// Ranking is the three rates of every department and district for a period.
type Ranking struct {
	Period      Period  `json:"period"`
	Departments []Rates `json:"departments"`
	Districts   []Rates `json:"districts"`
	Total       Rates   `json:"total"`
}

// Ranking computes the three rates for period p.
func (s *Service) Ranking(ctx context.Context, who *auth.Principal, p Period) (*Ranking, error) {
	if !who.Is(auth.RoleSupervisor) {
		return nil, api.Errorf(api.ErrForbidden, "forbidden", "only supervisors see the rankings")
	}
	dir, err := s.directory(ctx)
	if err != nil {
		return nil, err
	}
	return s.ranking(ctx, dir, p)
}

func (s *Service) ranking(ctx context.Context, dir *directory, p Period) (*Ranking, error) {
	from, to, now := p.From.UTC(), p.To.UTC(), s.now()
	var rows []struct {
		DepartmentID                                 uint
		RespCounted, Responded, ResCounted, Resolved int64
	}
	const excluded = `(a.signed_at IS NULL AND COALESCE(a.return_reason, '') <> '')`
	err := s.db.WithContext(ctx).Raw(`SELECT a.department_id,
		COALESCE(SUM(CASE WHEN NOT `+excluded+` AND (a.signed_at IS NOT NULL OR a.sign_due_at < ?) THEN 1 ELSE 0 END), 0) AS resp_counted,
		COALESCE(SUM(CASE WHEN a.signed_at IS NOT NULL AND a.signed_at <= a.sign_due_at THEN 1 ELSE 0 END), 0) AS responded,
		COALESCE(SUM(CASE WHEN NOT `+excluded+` AND (a.replied_at IS NOT NULL OR a.due_at < ?) THEN 1 ELSE 0 END), 0) AS res_counted,
		COALESCE(SUM(CASE WHEN t.status = ? AND a.replied_at IS NOT NULL AND (a.due_at IS NULL OR a.replied_at <= a.due_at) THEN 1 ELSE 0 END), 0) AS resolved
		FROM assignments a JOIN tickets t ON t.id = a.ticket_id
		WHERE a.dispatched_at >= ? AND a.dispatched_at < ? AND t.status IN ?
		GROUP BY a.department_id`, now, now, tickets.StatusCompleted, from, to, acceptedStatuses).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("dashboards: three rates: %w", err)
	}
	byDept := map[uint]*Rates{}
	get := func(id uint) *Rates {
		r, ok := byDept[id]
		if !ok {
			r = &Rates{}
			byDept[id] = r
		}
		return r
	}
	for _, r := range rows {
		x := get(r.DepartmentID)
		x.ResponseCounted, x.Responded, x.ResolutionCounted, x.Resolved = r.RespCounted, r.Responded, r.ResCounted, r.Resolved
	}
	surveys, _, err := s.opts.Surveys.CountSurveys(ctx, from, to, GroupDepartment)
	if err != nil {
		return nil, err
	}
	for _, c := range surveys {
		id, err := strconv.ParseUint(c.Key, 10, 64)
		if err != nil {
			continue // no lead department
		}
		x := get(uint(id))
		x.SurveysAnswered, x.Satisfied = c.Answered, c.Satisfied
	}
	out := &Ranking{Period: Period{Kind: p.Kind, From: p.From.In(s.opts.Location), To: p.To.In(s.opts.Location)},
		Departments: []Rates{}, Districts: []Rates{}, Total: Rates{Key: "total", Name: "合计"}}
	districts := map[uint]*Rates{}
	for id, r := range byDept {
		d, ok := dir.depts[id]
		if !ok {
			continue
		}
		r.Key, r.Name = d.Code, d.Name
		out.Total.add(*r)
		if g := dir.district(id); g != nil {
			x, ok := districts[g.ID]
			if !ok {
				x = &Rates{Key: g.Code, Name: g.Name}
				districts[g.ID] = x
			}
			x.add(*r)
		}
		r.rates()
		out.Departments = append(out.Departments, *r)
	}
	for _, x := range districts {
		x.rates()
		out.Districts = append(out.Districts, *x)
	}
	out.Total.rates()
	rank(out.Departments)
	rank(out.Districts)
	return out, nil
}

// rank sorts by score, best first, those without a score last, and numbers them; equal
// scores share a rank.
func rank(rs []Rates) {
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i].Score, rs[j].Score
		switch {
		case a == nil || b == nil:
			if (a == nil) != (b == nil) {
				return b == nil
			}
		case *a != *b:
			return *a > *b
		}
		return rs[i].Key < rs[j].Key
	})
	for i := range rs {
		rs[i].Rank = i + 1
		if i > 0 && rs[i].Score != nil && rs[i-1].Score != nil && *rs[i].Score == *rs[i-1].Score {
			rs[i].Rank = rs[i-1].Rank
		}
	}
}

// Measure is one line of the service-standard panel: of Counted, Met met the target.
type Measure struct {
	Code    string   `json:"code"`
	Name    string   `json:"name"`
	Target  string   `json:"target"`
	Counted int64    `json:"counted"`
	Met     int64    `json:"met"`
	Rate    *float64 `json:"rate"`
}

// StandardPanel measures the hotline against GB/T 33358-2016's service measures.
type StandardPanel struct {
	Period   Period    `json:"period"`
	Measures []Measure `json:"measures"`
}

// machineActors register and note tickets for the intake channels; an action of theirs
// is not a person answering.
var machineActors = []string{"system", "operator:web", "operator:mailbox", "operator:qq", "operator:sms", "operator:ivr", "integrator:open311"}

// answeringActions are what the central desk does when it takes up a message: dispatch
// it, answer it, refuse it, merge it or note what it did.
var answeringActions = []tickets.Action{tickets.ActDispatch, tickets.ActAnswer, tickets.ActRefuse, tickets.ActMerge, tickets.ActNote}

// Standard computes the panel for period p:
//   - calls_15s: inbound calls answered by a person within 15 s, over the calls that
//     wanted a person (the ivr service level);
//   - connect_24h: calls that reached a person or the voice mailbox (or heard a status,
//     or chose a call back), over every inbound call at any hour of the period (the ivr
//     answer rate, which counts the night as the day);
//   - sms_3min, web_3min (web form and Open311), qq_3min, mailbox_24h: tickets from the
//     channel registered in the period that a person answered within the limit.
//     "Answered" is read from the timeline: the first dispatch, direct answer, refusal,
//     merge or note by a person (not by the intake channel itself) after registration.
//     A ticket counts once answered or once its limit has passed unanswered.
func (s *Service) Standard(ctx context.Context, who *auth.Principal, p Period) (*StandardPanel, error) {
	if !who.Is(auth.RoleSupervisor) {
		return nil, api.Errorf(api.ErrForbidden, "forbidden", "only supervisors see the service-standard panel")
	}
	return s.standard(ctx, p)
}

func (s *Service) standard(ctx context.Context, p Period) (*StandardPanel, error) {
	from, to := p.From.UTC(), p.To.UTC()
	var calls CallFigures
	var online map[tickets.Channel][2]int64
	err := parallel(
		func() (err error) { calls, err = s.callFigures(ctx, from, to); return err },
		func() (err error) { online, err = s.answeredOnline(ctx, from, to); return err },
	)
	if err != nil {
		return nil, err
	}
	panel := &StandardPanel{Period: Period{Kind: p.Kind, From: p.From.In(s.opts.Location), To: p.To.In(s.opts.Location)}}
	wanted := calls.Answered + calls.Abandoned + calls.Voicemails + calls.Busy + calls.Callbacks
	panel.Measures = append(panel.Measures,
		Measure{Code: "calls_15s", Name: "15秒内人工接听率", Target: "≥ 80%", Counted: wanted, Met: calls.InTarget, Rate: ratio(calls.InTarget, wanted)},
		Measure{Code: "connect_24h", Name: "24小时接通率", Target: "≥ 95%", Counted: calls.Offered,
			Met: calls.Answered + calls.Voicemails + calls.SelfServed + calls.Callbacks, Rate: calls.AnswerRate})
	for _, m := range onlineMeasures {
		var counted, met int64
		for _, ch := range m.channels {
			counted += online[ch][0]
			met += online[ch][1]
		}
		panel.Measures = append(panel.Measures, Measure{Code: m.code, Name: m.name, Target: m.target, Counted: counted, Met: met, Rate: ratio(met, counted)})
	}
	return panel, nil
}

// onlineMeasures are the panel's written channels and their limits.
var onlineMeasures = []struct {
	code, name, target string
	channels           []tickets.Channel
	limit              time.Duration
}{
	{"sms_3min", "短信3分钟内响应率", "3分钟", []tickets.Channel{tickets.ChannelSMS}, 3 * time.Minute},
	{"web_3min", "网站3分钟内响应率", "3分钟", []tickets.Channel{tickets.ChannelWeb, tickets.ChannelOpen311}, 3 * time.Minute},
	{"qq_3min", "QQ 3分钟内响应率", "3分钟", []tickets.Channel{tickets.ChannelQQ}, 3 * time.Minute},
	{"mailbox_24h", "市长信箱24小时内响应率", "24小时", []tickets.Channel{tickets.ChannelMailbox}, 24 * time.Hour},
}

// answeredOnline counts, per written channel, the tickets registered in [from, to) that
// count and those answered within the channel's limit, in one pass. The first answering
// event is found by the timeline's (ticket, seq) index and the scan stops at it.
func (s *Service) answeredOnline(ctx context.Context, from, to time.Time) (map[tickets.Channel][2]int64, error) {
	var seconds string
	if database.DialectOf(s.db) == database.Postgres {
		seconds = "EXTRACT(EPOCH FROM (x.first_at - x.registered_at))"
	} else {
		seconds = "(julianday(x.first_at) - julianday(x.registered_at)) * 86400.0"
	}
	now := s.now()
	var chans []tickets.Channel
	// Per measure: its channels, when their limit has passed, and the limit in seconds
	// (our own constants, written into the SQL; PostgreSQL cannot type parameters in a
	// CASE that SQLite would read the same way).
	var passed, met []string
	var passedArgs, metArgs []any
	for _, m := range onlineMeasures {
		chans = append(chans, m.channels...)
		passed = append(passed, "(x.channel IN ? AND x.registered_at < ?)")
		passedArgs = append(passedArgs, m.channels, now.Add(-m.limit))
		met = append(met, fmt.Sprintf("(x.channel IN ? AND %s <= %d)", seconds, int(m.limit.Seconds())))
		metArgs = append(metArgs, m.channels)
	}
	args := append(append([]any{}, passedArgs...), metArgs...)
	args = append(args, answeringActions, machineActors, from, to, chans)
	var rows []struct {
		Channel      tickets.Channel
		Counted, Met int64
	}
	err := s.db.WithContext(ctx).Raw(`SELECT x.channel,
		COALESCE(SUM(CASE WHEN x.first_at IS NOT NULL OR (`+strings.Join(passed, " OR ")+`) THEN 1 ELSE 0 END), 0) AS counted,
		COALESCE(SUM(CASE WHEN x.first_at IS NOT NULL AND (`+strings.Join(met, " OR ")+`) THEN 1 ELSE 0 END), 0) AS met
		FROM (SELECT t.channel, t.registered_at, (SELECT e.at FROM events e WHERE e.ticket_id = t.id AND e.seq > 1
			AND e.action IN ? AND e.actor NOT IN ? ORDER BY e.seq LIMIT 1) AS first_at
			FROM tickets t WHERE t.created_at >= ? AND t.created_at < ? AND t.channel IN ?) x
		GROUP BY x.channel`, args...).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("dashboards: written channels answered: %w", err)
	}
	out := map[tickets.Channel][2]int64{}
	for _, r := range rows {
		out[r.Channel] = [2]int64{r.Counted, r.Met}
	}
	return out, nil
}
