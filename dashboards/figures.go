package dashboards

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/tickets"
)

// Group is what figures are broken down by.
type Group string

const (
	GroupNone       Group = ""
	GroupDepartment Group = "department" // the ticket's lead department (主办单位)
	GroupCategory   Group = "category"   // the top-level category
	GroupChannel    Group = "channel"
	GroupDistrict   Group = "district" // the banner/district where the matter is
)

// Valid reports whether g is a known breakdown.
func (g Group) Valid() bool {
	switch g {
	case GroupNone, GroupDepartment, GroupCategory, GroupChannel, GroupDistrict:
		return true
	}
	return false
}

// Figures are one group's ticket and survey figures for a period.
//
// Which tickets count (参评): those registered (受理) in the period, by their registration
// time, except merged duplicates (重复件) and refused tickets (不予受理), which were never
// taken on. Of these:
//   - Completed: now completed (办结), even if completed after the period ended.
//   - CompletedOnTime: completed no later than the ticket's deadline, which includes
//     approved extensions; a consultation answered at once (no deadline) is on time.
//   - OverdueNow: still open and past a deadline (sign-for or handling) now.
//
// Extensions (approved 延期) and Returns (退单) count timeline events in the period on any
// ticket; for the department breakdown they go to the department that asked or returned.
// Surveys count those of completions in the period (by completion time), as the callback
// package does; SatisfactionRate is (satisfied + fairly satisfied) over surveys answered
// with an opinion. A rate with nothing to divide by is null.
type Figures struct {
	Key              string   `json:"key"`
	Name             string   `json:"name"`
	Accepted         int64    `json:"accepted"`
	Completed        int64    `json:"completed"`
	CompletedOnTime  int64    `json:"completed_on_time"`
	CompletionRate   *float64 `json:"completion_rate"`
	OnTimeRate       *float64 `json:"on_time_rate"`
	OverdueNow       int64    `json:"overdue_now"`
	Extensions       int64    `json:"extensions"`
	Returns          int64    `json:"returns"`
	SurveysDone      int64    `json:"surveys_done"`
	SurveysAnswered  int64    `json:"surveys_answered"`
	Satisfied        int64    `json:"satisfied"`
	SatisfactionRate *float64 `json:"satisfaction_rate"`
	// Tickets are, per figure, the query string of GET /api/v1/tickets that lists, for a
	// supervisor, exactly the tickets the figure counts: "accepted", "completed",
	// "completed_on_time" and "overdue_now". Each asks for registration time in the period
	// (from, to: [From, To)), the figure's statuses (accepted: all but merged and refused;
	// completed: completed; on time: completed and on_time=true; overdue now: the accepted
	// statuses, open=true and overdue=true), and the group: the lead
	// department exactly (lead_department, not its sub-units or co-handlers), the district
	// where the matter is (district), the top-level category with its children
	// (category), or the channel; the "none" group asks for lead_department=none or
	// district=none. "extensions" and "returns" count timeline events: their links list
	// the tickets with such an event in the period (event, event_from, event_to), by the
	// department that asked or returned (event_department) or the ticket's district,
	// category or channel; a ticket with two such events is listed once.
	Tickets map[string]string `json:"tickets,omitempty"`
	// Surveys are, per survey figure, the query string of GET /api/v1/callback/surveys
	// (another endpoint than Tickets', hence another map) that lists exactly the surveys
	// the figure counts: "surveys_done", "surveys_answered" and "satisfied". Each asks for
	// completion time in the period (from, to: [From, To)), counted=true (the skipped are
	// never counted), the figure's status (done) or results (answered: satisfied,
	// fairly_satisfied, dissatisfied; satisfied: the first two), and the group as the
	// survey keeps it: its department or district exactly (department, district), the
	// top-level category with its children (category), or the channel; the "none" group
	// asks for department, district or channel none. Absent while surveys are not kept.
	Surveys map[string]string `json:"surveys,omitempty"`
}

// CallFigures are the hotline's inbound calls in the period, with the ivr package's
// definitions: Offered is every finished inbound call; Answered talked to an operator;
// Abandoned hung up in the menu or the queue; AnswerRate (接通率) is calls that reached a
// person, left a message, heard a status or chose a call back, over Offered;
// ServiceLevel is answered within 15 s over the calls that wanted a person. Waits are of
// answered calls, in seconds.
type CallFigures struct {
	Offered    int64 `json:"offered"`
	Answered   int64 `json:"answered"`
	Abandoned  int64 `json:"abandoned"`
	Voicemails int64 `json:"voicemails"`
	Busy       int64 `json:"busy"`
	SelfServed int64 `json:"self_served"`
	Callbacks  int64 `json:"callbacks"`
	// InTarget: answered by a person within 15 s of entering the queue (GB/T 33358);
	// InTargetArrival: within 15 s of the call's arrival, welcome and menu included.
	InTarget            int64    `json:"answered_in_target"`
	InTargetArrival     int64    `json:"answered_in_target_from_arrival"`
	AnswerRate          *float64 `json:"answer_rate"`
	ServiceLevel        *float64 `json:"service_level"`
	ServiceLevelArrival *float64 `json:"service_level_from_arrival"`
	AvgWaitSeconds      *float64 `json:"avg_wait_seconds"`
	P90WaitSeconds      *float64 `json:"p90_wait_seconds"`
	// Links are, per count above ("offered", "answered", "abandoned", "voicemails",
	// "busy", "self_served", "callbacks", "answered_in_target"), the query string of GET
	// /api/v1/ivr/calls that lists exactly the calls it counts: direction=inbound,
	// arrival in the period (from, to: [From, To)), ended=true (an outcome is set: a
	// call in progress is not counted), and the figure's outcomes (abandoned:
	// abandoned_menu,abandoned_queue) or in_target=true.
	Links map[string]string `json:"calls,omitempty"`
}

// FigureSet is the figures of one period: in total, by group, and the calls.
type FigureSet struct {
	Period Period      `json:"period"`
	Group  Group       `json:"group,omitempty"`
	Total  Figures     `json:"total"`
	Groups []Figures   `json:"groups,omitempty"`
	Calls  CallFigures `json:"calls"`
	// Agents are the operators' occupancy, handle time and not-ready time.
	Agents AgentFigures `json:"agents"`
	// SurveysAvailable is false while the survey tables do not exist.
	SurveysAvailable bool `json:"surveys_available"`
}

func ratio(a, b int64) *float64 {
	if b == 0 {
		return nil
	}
	v := math.Round(float64(a)/float64(b)*10000) / 10000
	return &v
}

func (f *Figures) rates() {
	f.CompletionRate = ratio(f.Completed, f.Accepted)
	f.OnTimeRate = ratio(f.CompletedOnTime, f.Completed)
	f.SatisfactionRate = ratio(f.Satisfied, f.SurveysAnswered)
}

func (f *Figures) add(o Figures) {
	f.Accepted += o.Accepted
	f.Completed += o.Completed
	f.CompletedOnTime += o.CompletedOnTime
	f.OverdueNow += o.OverdueNow
	f.Extensions += o.Extensions
	f.Returns += o.Returns
	f.SurveysDone += o.SurveysDone
	f.SurveysAnswered += o.SurveysAnswered
	f.Satisfied += o.Satisfied
}

// acceptedStatuses are the statuses of tickets that count: all but merged and refused.
var acceptedStatuses = []tickets.Status{tickets.StatusRegistered, tickets.StatusDispatched, tickets.StatusHandling,
	tickets.StatusReplied, tickets.StatusReturned, tickets.StatusCompleted}

// groupColumn is the tickets column each breakdown groups by (nil key: no group).
func groupColumn(g Group) string {
	switch g {
	case GroupDepartment:
		return "t.lead_department_id"
	case GroupCategory:
		return "t.category_id"
	case GroupChannel:
		return "t.channel"
	case GroupDistrict:
		return "t.district_id"
	}
	return "''"
}

// Figures computes the figure set of period p, broken down by g, for a supervisor.
func (s *Service) Figures(ctx context.Context, who *auth.Principal, p Period, g Group) (*FigureSet, error) {
	if !who.Is(auth.RoleSupervisor) {
		return nil, api.Errorf(api.ErrForbidden, "forbidden", "only supervisors see the figures")
	}
	if !g.Valid() {
		return nil, api.Errorf(api.ErrInvalid, "invalid_group", "group must be one of department, category, channel, district; not %q", g)
	}
	dir, err := s.directory(ctx)
	if err != nil {
		return nil, err
	}
	return s.figures(ctx, dir, p, g)
}

func (s *Service) figures(ctx context.Context, dir *directory, p Period, g Group) (*FigureSet, error) {
	from, to := p.From.UTC(), p.To.UTC()
	raw := map[string]*Figures{}
	get := func(k string) *Figures {
		if f, ok := raw[k]; ok {
			return f
		}
		f := &Figures{Key: k}
		raw[k] = f
		return f
	}

	// The four sources are independent: read them at once, each on its own connection.
	// The ticket and events figures come from the daily roll-ups where they can.
	var (
		trows     []ticketRow
		erows     []eventRow
		surveys   []SurveyCount
		available bool
		calls     CallFigures
		agents    AgentFigures
	)
	pl, err := s.plan(ctx, from, to)
	if err != nil {
		return nil, err
	}
	err = parallel(
		func() (err error) {
			trows, err = s.ticketCounts(ctx, pl, g)
			return err
		},
		func() (err error) {
			erows, err = s.eventCounts(ctx, pl, g)
			return err
		},
		func() (err error) {
			surveys, available, err = s.surveyFigures(ctx, pl, from, to, g)
			return err
		},
		func() (err error) {
			calls, err = s.callFigures(ctx, pl)
			return err
		},
		func() (err error) {
			agents, err = s.agentFigures(ctx, from, to)
			return err
		},
	)
	if err != nil {
		return nil, err
	}
	for _, r := range trows {
		f := get(deref(r.K))
		f.Accepted += r.Accepted
		f.Completed += r.Completed
		f.CompletedOnTime += r.OnTime
		f.OverdueNow += r.OverdueNow
	}
	for _, r := range erows {
		f := get(deref(r.K))
		f.Extensions += r.Extensions
		f.Returns += r.Returns
	}
	for _, c := range surveys {
		f := get(c.Key)
		f.SurveysDone, f.SurveysAnswered, f.Satisfied = c.Done, c.Answered, c.Satisfied
	}

	set := &FigureSet{Period: p, Group: g, SurveysAvailable: available}
	set.Period.From, set.Period.To = p.From.In(s.opts.Location), p.To.In(s.opts.Location)
	set.Total = Figures{Key: "total", Name: "合计"}
	groups := map[string]*Figures{}
	for k, f := range raw {
		set.Total.add(*f)
		if g == GroupNone {
			continue
		}
		key, name := dir.name(g, k)
		x, ok := groups[key]
		if !ok {
			x = &Figures{Key: key, Name: name}
			groups[key] = x
		}
		x.add(*f)
	}
	set.Total.rates()
	set.Total.Tickets = ticketLinks(p, "", "")
	if available {
		set.Total.Surveys = surveyLinks(p, "", "")
	}
	for _, x := range groups {
		x.rates()
		x.Tickets = ticketLinks(p, g, x.Key)
		if available {
			x.Surveys = surveyLinks(p, g, x.Key)
		}
		set.Groups = append(set.Groups, *x)
	}
	sort.Slice(set.Groups, func(i, j int) bool {
		a, b := set.Groups[i], set.Groups[j]
		if a.Accepted != b.Accepted {
			return a.Accepted > b.Accepted
		}
		return a.Key < b.Key
	})

	set.Calls = calls
	set.Calls.Links = callLinks(p)
	set.Agents = agents
	return set, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// noKey names the group of tickets without one: not yet dispatched, or no district given.
const noKey = "none"

// name turns a raw group key (an id, or a channel) into the group's code and name.
func (d *directory) name(g Group, raw string) (string, string) {
	if raw == "" {
		return noKey, "未指定"
	}
	switch g {
	case GroupChannel:
		return raw, channelNames[tickets.Channel(raw)]
	case GroupCategory:
		id, _ := strconv.ParseUint(raw, 10, 64)
		if c := d.rootCategory(uint(id)); c != nil {
			return c.Code, c.Name
		}
	case GroupDepartment, GroupDistrict:
		id, _ := strconv.ParseUint(raw, 10, 64)
		if x, ok := d.depts[uint(id)]; ok {
			return x.Code, x.Name
		}
	}
	return raw, raw
}

var channelNames = map[tickets.Channel]string{
	tickets.ChannelPhone: "电话", tickets.ChannelVoicemail: "语音留言", tickets.ChannelMailbox: "市长信箱",
	tickets.ChannelQQ: "QQ", tickets.ChannelWeb: "网站", tickets.ChannelOpen311: "Open311",
	tickets.ChannelSMS: "短信", tickets.ChannelWalkIn: "来访",
}

// answeredOutcome is the outcome of a call that talked to an operator.
const answeredOutcome = "answered"

// callTally adds up inbound calls by outcome, and the answered calls' waits in 100 ms
// buckets, from which the 90th percentile is read to the tenth of a second without
// sorting every call.
type callTally struct {
	byOutcome map[string]*outcomeTally
	waits     map[int64]int64 // bucket → answered calls
}

type outcomeTally struct{ n, inTarget, inTargetArrival, waitSum int64 }

func newCallTally() *callTally {
	return &callTally{byOutcome: map[string]*outcomeTally{}, waits: map[int64]int64{}}
}

func (c *callTally) add(outcome string, n, inTarget, inTargetArrival, waitSum int64) {
	x, ok := c.byOutcome[outcome]
	if !ok {
		x = &outcomeTally{}
		c.byOutcome[outcome] = x
	}
	x.n += n
	x.inTarget += inTarget
	x.inTargetArrival += inTargetArrival
	x.waitSum += waitSum
}

func (c *callTally) outcomes() []string {
	out := make([]string, 0, len(c.byOutcome))
	for o := range c.byOutcome {
		out = append(out, o)
	}
	sort.Strings(out)
	return out
}

// encodeWaits writes the histogram as "bucket:calls,…" in bucket order.
func (c *callTally) encodeWaits() string {
	buckets := make([]int64, 0, len(c.waits))
	for b := range c.waits {
		buckets = append(buckets, b)
	}
	slices.Sort(buckets)
	var sb strings.Builder
	for i, b := range buckets {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.FormatInt(b, 10))
		sb.WriteByte(':')
		sb.WriteString(strconv.FormatInt(c.waits[b], 10))
	}
	return sb.String()
}

// addWaits adds a histogram written by encodeWaits.
func (c *callTally) addWaits(h string) error {
	for h != "" {
		var pair string
		pair, h, _ = strings.Cut(h, ",")
		b, n, ok := strings.Cut(pair, ":")
		bucket, err1 := strconv.ParseInt(b, 10, 64)
		calls, err2 := strconv.ParseInt(n, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return fmt.Errorf("bad wait histogram entry %q", pair)
		}
		c.waits[bucket] += calls
	}
	return nil
}

// figures are the call figures of the tally.
func (c *callTally) figures() CallFigures {
	var f CallFigures
	var waitSum int64
	for o, x := range c.byOutcome {
		f.Offered += x.n
		f.InTarget += x.inTarget
		f.InTargetArrival += x.inTargetArrival
		switch o {
		case answeredOutcome:
			f.Answered += x.n
			waitSum += x.waitSum
		case "abandoned_menu", "abandoned_queue":
			f.Abandoned += x.n
		case "voicemail":
			f.Voicemails += x.n
		case "busy":
			f.Busy += x.n
		case "status_lookup":
			f.SelfServed += x.n
		case "callback":
			f.Callbacks += x.n
		}
	}
	f.AnswerRate = ratio(f.Answered+f.Voicemails+f.SelfServed+f.Callbacks, f.Offered)
	f.ServiceLevel = ratio(f.InTarget, f.Answered+f.Abandoned+f.Voicemails+f.Busy+f.Callbacks)
	f.ServiceLevelArrival = ratio(f.InTargetArrival, f.Answered+f.Abandoned+f.Voicemails+f.Busy+f.Callbacks)
	if f.Answered > 0 {
		avg := math.Round(float64(waitSum)/float64(f.Answered)) / 1000
		f.AvgWaitSeconds = &avg
		// The 90th percentile by rank: the bucket holding the ceil(0.9 n)-th shortest wait.
		buckets := make([]int64, 0, len(c.waits))
		for b := range c.waits {
			buckets = append(buckets, b)
		}
		slices.Sort(buckets)
		rank := int64(math.Ceil(0.9 * float64(f.Answered)))
		var seen int64
		for _, b := range buckets {
			seen += c.waits[b]
			if seen >= rank {
				p90 := float64(b) / 10
				f.P90WaitSeconds = &p90
				break
			}
		}
	}
	return f
}

// tallyCalls counts the inbound calls that arrived in spans and have ended, in one scan.
func (s *Service) tallyCalls(ctx context.Context, spans []span) (*callTally, error) {
	var rows []struct {
		Outcome         string
		Bucket          int64
		N               int64
		InTarget        int64
		InTargetArrival int64
		WaitSum         int64
	}
	w, args := spansWhere("arrived_at", spans)
	err := s.read.WithContext(ctx).Raw(`SELECT outcome, CASE WHEN outcome = 'answered' THEN wait_ms / 100 ELSE 0 END AS bucket,
		COUNT(*) AS n, COALESCE(SUM(CASE WHEN in_target = ? THEN 1 ELSE 0 END), 0) AS in_target,
		COALESCE(SUM(CASE WHEN in_target_arrival = ? THEN 1 ELSE 0 END), 0) AS in_target_arrival,
		COALESCE(SUM(wait_ms), 0) AS wait_sum FROM ivr_calls
		WHERE direction = 'inbound' AND `+w+` AND outcome <> ''
		GROUP BY outcome, CASE WHEN outcome = 'answered' THEN wait_ms / 100 ELSE 0 END`, append([]any{true, true}, args...)...).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("dashboards: call figures: %w", err)
	}
	c := newCallTally()
	for _, r := range rows {
		c.add(r.Outcome, r.N, r.InTarget, r.InTargetArrival, r.WaitSum)
		if r.Outcome == answeredOutcome {
			c.waits[r.Bucket] += r.N
		}
	}
	return c, nil
}

// callFigures are the inbound calls of the plan: the rolled-up days and the live spans.
func (s *Service) callFigures(ctx context.Context, pl *rollupPlan) (CallFigures, error) {
	live := newCallTally()
	var rolled []dayCallsV1
	err := parallel(
		func() (err error) {
			if len(pl.calls.live) > 0 {
				live, err = s.tallyCalls(ctx, pl.calls.live)
			}
			return err
		},
		func() error {
			if len(pl.calls.rolled) == 0 {
				return nil
			}
			w, args := rangesWhere(pl.calls.rolled)
			if err := s.read.WithContext(ctx).Where(w, args...).Find(&rolled).Error; err != nil {
				return fmt.Errorf("dashboards: call figures: %w", err)
			}
			return nil
		},
	)
	if err != nil {
		return CallFigures{}, err
	}
	for _, r := range rolled {
		live.add(r.Outcome, r.N, r.InTarget, r.InTargetArrival, r.WaitSum)
		if err := live.addWaits(r.Waits); err != nil {
			return CallFigures{}, fmt.Errorf("dashboards: call figures of %s: %w", r.Day, err)
		}
	}
	return live.figures(), nil
}

// parallel runs fs at once and returns the first error.
func parallel(fs ...func() error) error {
	errs := make([]error, len(fs))
	var wg sync.WaitGroup
	for i, f := range fs {
		wg.Go(func() { errs[i] = f() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// groupBy is the GROUP BY clause for a group column; the whole-period total has none,
// as PostgreSQL refuses to group by a constant.
func groupBy(col string) string {
	if col == "''" {
		return ""
	}
	return " GROUP BY " + col
}
