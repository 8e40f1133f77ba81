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
	from, to := p.From.UTC(), p.To.UTC()
	pl, err := s.plan(ctx, from, to)
	if err != nil {
		return nil, err
	}
	var rows []assignmentRow
	var surveys []SurveyCount
	err = parallel(
		func() (err error) { rows, err = s.assignmentCounts(ctx, pl, from, to); return err },
		func() (err error) { surveys, _, err = s.surveyFigures(ctx, pl, from, to, GroupDepartment); return err },
	)
	if err != nil {
		return nil, err
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
		x.ResponseCounted += r.Signed + r.SignLate
		x.Responded += r.Responded
		x.ResolutionCounted += r.Replied + r.ReplyLate
		x.Resolved += r.Resolved
	}
	for _, c := range surveys {
		id, err := strconv.ParseUint(c.Key, 10, 64)
		if err != nil {
			continue // no lead department
		}
		x := get(uint(id))
		x.SurveysAnswered += c.Answered
		x.Satisfied += c.Satisfied
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

// excludedAssignment is an assignment returned without being signed for: a
// mis-dispatch, judged by arbitration rather than by the clock.
const excludedAssignment = `(a.signed_at IS NULL AND COALESCE(a.return_reason, '') <> '')`

// assignmentRow is one department's assignments. Signed and Replied count whatever the
// clock says; SignLate and ReplyLate are those still unsigned or unreplied whose limit
// has passed, which only the live count knows.
type assignmentRow struct {
	DepartmentID                         uint
	Signed, Responded, Replied, Resolved int64
	SignLate, ReplyLate                  int64
}

// assignmentQuery counts, by department, the assignments dispatched in spans on tickets
// that count: department_id, signed, responded, replied, resolved.
func assignmentQuery(spans []span) (string, []any) {
	w, args := spansWhere("a.dispatched_at", spans)
	return `SELECT a.department_id,
		COALESCE(SUM(CASE WHEN a.signed_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS signed,
		COALESCE(SUM(CASE WHEN a.signed_at IS NOT NULL AND a.signed_at <= a.sign_due_at THEN 1 ELSE 0 END), 0) AS responded,
		COALESCE(SUM(CASE WHEN NOT ` + excludedAssignment + ` AND a.replied_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS replied,
		COALESCE(SUM(CASE WHEN a.replied_at IS NOT NULL AND (a.due_at IS NULL OR a.replied_at <= a.due_at)
			AND a.ticket_id NOT IN (` + openTickets + `) THEN 1 ELSE 0 END), 0) AS resolved
		FROM assignments a
		WHERE ` + w + ` AND a.ticket_id NOT IN (` + notAcceptedTickets + `)
		GROUP BY a.department_id`, args
}

// The tickets that do not count (merged and refused) and the open ones are each a small
// part of the tickets, kept in partial indexes: the three rates test an assignment's
// ticket against them rather than join the tickets, which PostgreSQL would hash whole.
// A ticket that counts and is not open is completed.
const (
	notAcceptedTickets = `SELECT id FROM tickets WHERE status IN ('merged', 'refused')`
	openTickets        = `SELECT id FROM tickets WHERE open`
)

// assignmentCounts are the three rates' assignment counts of the plan for [from, to).
func (s *Service) assignmentCounts(ctx context.Context, pl *rollupPlan, from, to time.Time) ([]assignmentRow, error) {
	now := s.now()
	var live, rolled, late []assignmentRow
	err := parallel(
		func() error {
			if len(pl.tickets.live) == 0 {
				return nil
			}
			q, args := assignmentQuery(pl.tickets.live)
			return s.read.WithContext(ctx).Raw(q, args...).Scan(&live).Error
		},
		func() error {
			if len(pl.tickets.rolled) == 0 {
				return nil
			}
			w, args := rangesWhere(pl.tickets.rolled)
			return s.read.WithContext(ctx).Raw(`SELECT department_id, CAST(SUM(signed) AS BIGINT) AS signed,
				CAST(SUM(responded) AS BIGINT) AS responded, CAST(SUM(replied) AS BIGINT) AS replied,
				CAST(SUM(resolved) AS BIGINT) AS resolved FROM dash_day_assignments
				WHERE `+w+` GROUP BY department_id`, args...).Scan(&rolled).Error
		},
		func() error {
			// The whole period, from the partial index of the assignments still waiting.
			return s.read.WithContext(ctx).Raw(`SELECT a.department_id,
				COALESCE(SUM(CASE WHEN a.signed_at IS NULL AND NOT `+excludedAssignment+` AND a.sign_due_at < ? THEN 1 ELSE 0 END), 0) AS sign_late,
				COALESCE(SUM(CASE WHEN a.replied_at IS NULL AND NOT `+excludedAssignment+` AND a.due_at < ? THEN 1 ELSE 0 END), 0) AS reply_late
				FROM assignments a WHERE (a.signed_at IS NULL OR a.replied_at IS NULL)
				AND a.dispatched_at >= ? AND a.dispatched_at < ? AND a.ticket_id NOT IN (`+notAcceptedTickets+`)
				GROUP BY a.department_id`, now, now, from, to).Scan(&late).Error
		},
	)
	if err != nil {
		return nil, fmt.Errorf("dashboards: three rates: %w", err)
	}
	return append(append(live, rolled...), late...), nil
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
// it, answer it, refuse it, merge it or note what it did; for a ticket imported from the
// previous platform, its dispatch or completion there.
var answeringActions = []tickets.Action{tickets.ActDispatch, tickets.ActAnswer, tickets.ActRefuse, tickets.ActMerge, tickets.ActNote,
	tickets.ActImportedDispatch, tickets.ActImportedComplete}

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
	pl, err := s.plan(ctx, from, to)
	if err != nil {
		return nil, err
	}
	var calls CallFigures
	var online map[tickets.Channel][2]int64
	err = parallel(
		func() (err error) { calls, err = s.callFigures(ctx, pl); return err },
		func() (err error) { online, err = s.answeredOnline(ctx, pl); return err },
	)
	if err != nil {
		return nil, err
	}
	panel := &StandardPanel{Period: Period{Kind: p.Kind, From: p.From.In(s.opts.Location), To: p.To.In(s.opts.Location)}}
	wanted := calls.Answered + calls.Abandoned + calls.Voicemails + calls.Busy + calls.Callbacks
	panel.Measures = append(panel.Measures,
		Measure{Code: "calls_15s", Name: "15秒内人工接听率", Target: "≥ 80%", Counted: wanted, Met: calls.InTarget, Rate: ratio(calls.InTarget, wanted)},
		// The same counted from the call's arrival rather than from the request for a
		// person: what the caller lived through, welcome and menu included.
		Measure{Code: "calls_15s_arrival", Name: "来电起15秒内人工接听率", Target: "参考", Counted: wanted, Met: calls.InTargetArrival, Rate: ratio(calls.InTargetArrival, wanted)},
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

// answeredOnline counts, per written channel, the tickets of the plan that count and
// those answered within the channel's limit: [counted, met].
func (s *Service) answeredOnline(ctx context.Context, pl *rollupPlan) (map[tickets.Channel][2]int64, error) {
	now := s.now()
	var live, rolled []writtenRow
	err := parallel(
		func() error {
			if len(pl.written.live) == 0 {
				return nil
			}
			q, args := s.writtenQuery(pl.written.live, &now)
			return s.read.WithContext(ctx).Raw(q, args...).Scan(&live).Error
		},
		func() error {
			if len(pl.written.rolled) == 0 {
				return nil
			}
			w, args := rangesWhere(pl.written.rolled)
			return s.read.WithContext(ctx).Raw(`SELECT channel, CAST(SUM(answered) AS BIGINT) AS answered,
				CAST(SUM(met) AS BIGINT) AS met, CAST(SUM(unanswered) AS BIGINT) AS unanswered
				FROM dash_day_written WHERE `+w+` GROUP BY channel`, args...).Scan(&rolled).Error
		},
	)
	if err != nil {
		return nil, fmt.Errorf("dashboards: written channels answered: %w", err)
	}
	out := map[tickets.Channel][2]int64{}
	for _, r := range append(live, rolled...) {
		x := out[r.Channel]
		out[r.Channel] = [2]int64{x[0] + r.Answered + r.Unanswered, x[1] + r.Met}
	}
	return out, nil
}

// writtenRow is one written channel's tickets: answered by a person (Met within the
// limit) and not answered (only those past their limit, when counted live).
type writtenRow struct {
	Channel                   tickets.Channel
	Answered, Met, Unanswered int64
}

// writtenQuery counts, per written channel, the tickets registered in spans: channel,
// answered, met, unanswered. With now, a ticket not answered counts only once its limit
// has passed by then; without, every one counts (for the roll-up of a day whose limits
// have all passed). The first answering event is found by the timeline's (ticket, seq)
// index and the scan stops at it.
func (s *Service) writtenQuery(spans []span, now *time.Time) (string, []any) {
	var seconds string
	if database.DialectOf(s.db) == database.Postgres {
		seconds = "EXTRACT(EPOCH FROM (x.first_at - x.registered_at))"
	} else {
		seconds = "(julianday(x.first_at) - julianday(x.registered_at)) * 86400.0"
	}
	var chans []tickets.Channel
	// Per measure: its channels, when their limit has passed, and the limit in seconds
	// (our own constants, written into the SQL; PostgreSQL cannot type parameters in a
	// CASE that SQLite would read the same way).
	var passed, met []string
	var passedArgs, metArgs []any
	for _, m := range onlineMeasures {
		chans = append(chans, m.channels...)
		passed = append(passed, "(x.channel IN ? AND x.registered_at < ?)")
		if now != nil {
			passedArgs = append(passedArgs, m.channels, now.Add(-m.limit))
		}
		met = append(met, fmt.Sprintf("(x.channel IN ? AND %s <= %d)", seconds, int(m.limit.Seconds())))
		metArgs = append(metArgs, m.channels)
	}
	unanswered := "x.first_at IS NULL"
	if now != nil {
		unanswered += " AND (" + strings.Join(passed, " OR ") + ")"
	}
	w, spanArgs := spansWhere("t.created_at", spans)
	args := append(append([]any{}, metArgs...), passedArgs...)
	args = append(args, answeringActions, machineActors)
	args = append(args, spanArgs...)
	args = append(args, chans)
	return `SELECT x.channel,
		COALESCE(SUM(CASE WHEN x.first_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS answered,
		COALESCE(SUM(CASE WHEN x.first_at IS NOT NULL AND (` + strings.Join(met, " OR ") + `) THEN 1 ELSE 0 END), 0) AS met,
		COALESCE(SUM(CASE WHEN ` + unanswered + ` THEN 1 ELSE 0 END), 0) AS unanswered
		FROM (SELECT t.channel, t.registered_at, (SELECT e.at FROM events e WHERE e.ticket_id = t.id AND e.seq > 1
			AND e.action IN ? AND e.actor NOT IN ? ORDER BY e.seq LIMIT 1) AS first_at
			FROM tickets t WHERE ` + w + ` AND t.channel IN ?) x
		GROUP BY x.channel`, args
}
