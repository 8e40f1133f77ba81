package dashboards

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/callback"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/tickets"
)

// recordsServer serves the call records and the surveys to a supervisor, as the call and
// survey figures' links are followed from the dashboards.
func (e *env) recordsServer() *httptest.Server {
	e.t.Helper()
	gin.SetMode(gin.TestMode)
	r := gin.New()
	g := r.Group("/api/v1", func(c *gin.Context) {
		c.Request = c.Request.WithContext(auth.NewContext(c.Request.Context(), supervisor))
	})
	ivr.NewHandler(ivr.HandlerOptions{DB: e.DB, Location: shanghai}).Routes(g)
	svc, err := callback.NewService(callback.Options{DB: e.DB, Location: shanghai, Now: e.clk.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	callback.NewHandler(svc, nil).Routes(g)
	srv := httptest.NewServer(r)
	e.t.Cleanup(srv.Close)
	return srv
}

// followList counts the records GET path?query lists under key, page after page.
func (e *env) followList(srv *httptest.Server, path, key, query string) int64 {
	e.t.Helper()
	q, err := url.ParseQuery(query)
	if err != nil {
		e.t.Fatalf("link %q: %v", query, err)
	}
	q.Set("per_page", "2") // small pages, so that the count depends on following them
	var n int64
	for page := 1; ; page++ {
		q.Set("page", fmt.Sprint(page))
		req, err := http.NewRequestWithContext(e.ctx, http.MethodGet, srv.URL+path+"?"+q.Encode(), nil)
		if err != nil {
			e.t.Fatal(err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			e.t.Fatal(err)
		}
		var body map[string]json.RawMessage
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			e.t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			e.t.Fatalf("GET %s?%s: %d %s", path, query, resp.StatusCode, body["error"])
		}
		var records []json.RawMessage
		var more bool
		if err := json.Unmarshal(body[key], &records); err != nil {
			e.t.Fatal(err)
		}
		if err := json.Unmarshal(body["has_more"], &more); err != nil {
			e.t.Fatal(err)
		}
		n += int64(len(records))
		if !more {
			return n
		}
	}
}

// callOf records a finished (or, with no outcome, ongoing) call of direction.
func (e *env) callOf(direction string, at time.Time, outcome ivr.Outcome, wait time.Duration) {
	e.t.Helper()
	rec := e.call(at, outcome, wait)
	if direction != "inbound" {
		if err := e.DB.WithContext(e.ctx).Model(rec).Update("direction", direction).Error; err != nil {
			e.t.Fatal(err)
		}
	}
}

// surveyFacts are what a survey keeps of its ticket at completion, by code.
type surveyFacts struct {
	category, department, district string // department, district: "" for none
	channel                        tickets.Channel
}

// rawSurvey records a survey of a completion at with status and result, as the callback
// package leaves it; each is of its own ticket.
func (e *env) rawSurvey(at time.Time, f surveyFacts, st callback.Status, r callback.Result) {
	e.t.Helper()
	id := func(table, code string) *uint {
		if code == "" {
			return nil
		}
		var v uint
		if err := e.DB.WithContext(e.ctx).Raw(`SELECT id FROM `+table+` WHERE code = ?`, code).Scan(&v).Error; err != nil || v == 0 {
			e.t.Fatalf("%s %s: %v", table, code, err)
		}
		return &v
	}
	var n int64
	if err := e.DB.WithContext(e.ctx).Model(&callback.Survey{}).Count(&n).Error; err != nil {
		e.t.Fatal(err)
	}
	sv := &callback.Survey{TicketID: uint64(900000 + n), TicketNumber: fmt.Sprint(2600900000 + n), CompletionSeq: 3, CompletedAt: at.UTC(),
		CategoryID: *id("categories", f.category), DepartmentID: id("departments", f.department), DistrictID: id("departments", f.district),
		TicketChannel: string(f.channel), Phone: "13812345678", PhoneKind: "mobile", Status: st, DueAt: at.UTC(), Result: r}
	if err := e.DB.WithContext(e.ctx).Create(sv).Error; err != nil {
		e.t.Fatal(err)
	}
}

// TestCallAndSurveyLinksListExactlyTheRecordsCounted follows every call and survey
// figure's link, for every group of every breakdown, and expects as many call records or
// surveys as the figure says, from the live tables and again from the daily roll-ups.
func TestCallAndSurveyLinksListExactlyTheRecordsCounted(t *testing.T) {
	e := newEnv(t)
	sunday := time.Date(2026, 11, 22, 23, 59, 59, 0, shanghai)
	midnight := time.Date(2026, 11, 23, 0, 0, 0, 0, shanghai)
	tuesday := time.Date(2026, 11, 24, 9, 0, 0, 0, shanghai)
	nextMonday := time.Date(2026, 11, 30, 0, 0, 0, 0, shanghai)

	// Calls: every outcome on Monday, a few in the week only and just outside it.
	e.callOf("inbound", sunday, ivr.OutcomeAnswered, 5*time.Second) // before both periods
	e.callOf("inbound", midnight, ivr.OutcomeAnswered, 5*time.Second)
	at := monday10
	next := func() time.Time { at = at.Add(time.Minute); return at }
	e.callOf("inbound", next(), ivr.OutcomeAnswered, 5*time.Second)
	e.callOf("inbound", next(), ivr.OutcomeAnswered, 30*time.Second) // answered, not in target
	for _, o := range []ivr.Outcome{ivr.OutcomeAbandonedMenu, ivr.OutcomeAbandonedQueue, ivr.OutcomeVoicemail, ivr.OutcomeBusy,
		ivr.OutcomeStatusLookup, ivr.OutcomeCallback, ivr.OutcomeNoMessage, ivr.OutcomeFailed} {
		e.callOf("inbound", next(), o, 8*time.Second)
	}
	// Never counted: a call still in progress, the calls back to citizens, a survey call.
	e.callOf("inbound", next(), ivr.OutcomeOngoing, 0)
	e.callOf("callback", next(), ivr.OutcomeAnswered, 0)
	e.callOf("callback", next(), ivr.OutcomeCallback, 0)
	e.callOf("survey", next(), "survey_answered", 0)
	e.callOf("inbound", tuesday, ivr.OutcomeAbandonedQueue, 40*time.Second)
	e.callOf("inbound", tuesday.Add(time.Minute), ivr.OutcomeAnswered, 3*time.Second)
	e.callOf("inbound", nextMonday, ivr.OutcomeBusy, 0) // after the week

	// Surveys of every status and result, across departments, districts and channels.
	type sv struct {
		at     time.Time
		facts  surveyFacts
		status callback.Status
		result callback.Result
	}
	done := callback.StatusDone
	for _, s := range []sv{
		{sunday, surveyFacts{"TS-GN", "HEAT", "DS", tickets.ChannelPhone}, done, callback.ResultSatisfied}, // before both
		{midnight, surveyFacts{"TS-WY", "HRSS", "KBS", tickets.ChannelPhone}, done, callback.ResultSatisfied},
		{next(), surveyFacts{"TS-GN", "HEAT", "DS", tickets.ChannelPhone}, done, callback.ResultSatisfied},
		{next(), surveyFacts{"TS-GN", "HEAT", "DS", tickets.ChannelWeb}, done, callback.ResultFairlySatisfied},
		{next(), surveyFacts{"TS-WY", "HEAT", "", tickets.ChannelPhone}, done, callback.ResultDissatisfied},
		{next(), surveyFacts{"TS-WY", "DS-ZJ", "DS", tickets.ChannelPhone}, done, callback.ResultUnreachable},
		{next(), surveyFacts{"ZX-SB", "DS", "KBS", tickets.ChannelSMS}, done, callback.ResultRefused},
		{next(), surveyFacts{"ZX-SB", "", "KBS", tickets.ChannelWeb}, callback.StatusAwaitingSMS, callback.ResultNone},
		{next(), surveyFacts{"ZX-SB", "HRSS", "", tickets.ChannelPhone}, callback.StatusPending, callback.ResultNone},
		{next(), surveyFacts{"TS-GN", "HRSS", "KBS", ""}, callback.StatusCalling, callback.ResultNone},
		{next(), surveyFacts{"TS-WY", "DS", "DS", tickets.ChannelPhone}, callback.StatusManual, callback.ResultNone},
		// Skipped surveys are never counted, whatever they say.
		{next(), surveyFacts{"TS-GN", "HEAT", "DS", tickets.ChannelPhone}, callback.StatusSkipped, callback.ResultSatisfied},
		{next(), surveyFacts{"ZX-SB", "", "", tickets.ChannelPhone}, callback.StatusSkipped, callback.ResultNone},
		{tuesday, surveyFacts{"TS-GN", "DS-ZJ", "DS", tickets.ChannelWeb}, done, callback.ResultDissatisfied},
		{nextMonday, surveyFacts{"TS-GN", "HEAT", "DS", tickets.ChannelPhone}, done, callback.ResultSatisfied}, // after the week
	} {
		e.rawSurvey(s.at, s.facts, s.status, s.result)
	}
	// Wednesday: Monday and Tuesday are over, so that the roll-up can take them.
	e.clk.Set(time.Date(2026, 11, 25, 10, 0, 0, 0, shanghai))

	srv := e.recordsServer()
	type want struct{ offered, inTarget, done, answered, satisfied int64 }
	check := func(t *testing.T, kind PeriodKind, w want) {
		p, err := PeriodOf(kind, monday10, "", "", shanghai)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range []Group{GroupNone, GroupDepartment, GroupCategory, GroupChannel, GroupDistrict} {
			t.Run(fmt.Sprintf("%s by %q", kind, g), func(t *testing.T) {
				set, err := e.svc.Figures(e.ctx, supervisor, p, g)
				if err != nil {
					t.Fatal(err)
				}
				c, tot := set.Calls, set.Total
				if got := (want{c.Offered, c.InTarget, tot.SurveysDone, tot.SurveysAnswered, tot.Satisfied}); got != w {
					t.Fatalf("figures %+v; want %+v", got, w)
				}
				calls := map[string]int64{"offered": c.Offered, "answered": c.Answered, "abandoned": c.Abandoned,
					"voicemails": c.Voicemails, "busy": c.Busy, "self_served": c.SelfServed, "callbacks": c.Callbacks,
					"answered_in_target": c.InTarget}
				for fig, n := range calls {
					link, ok := c.Links[fig]
					if !ok {
						t.Errorf("calls: no link for %s", fig)
						continue
					}
					if got := e.followList(srv, "/api/v1/ivr/calls", "calls", link); got != n {
						t.Errorf("calls %s: the link lists %d calls; the figure is %d (%s)", fig, got, n, link)
					}
				}
				var keys []string
				for _, f := range append([]Figures{set.Total}, set.Groups...) {
					keys = append(keys, f.Key)
					surveys := map[string]int64{"surveys_done": f.SurveysDone, "surveys_answered": f.SurveysAnswered, "satisfied": f.Satisfied}
					for fig, n := range surveys {
						link, ok := f.Surveys[fig]
						if !ok {
							t.Errorf("%s: no link for %s", f.Key, fig)
							continue
						}
						if got := e.followList(srv, "/api/v1/callback/surveys", "surveys", link); got != n {
							t.Errorf("%s %s: the link lists %d surveys; the figure is %d (%s)", f.Key, fig, got, n, link)
						}
					}
				}
				// The "none" groups, and a department that is a sub-unit, are there.
				var must []string
				switch g {
				case GroupDepartment:
					must = []string{"HEAT", "DS", "DS-ZJ", "HRSS", noKey}
				case GroupDistrict:
					must = []string{"DS", "KBS", noKey}
				case GroupChannel:
					must = []string{"phone", "web", "sms", noKey}
				case GroupCategory:
					must = []string{"TS", "ZX"}
				}
				for _, k := range must {
					if !slices.Contains(keys, k) {
						t.Errorf("no group %s in %v", k, keys)
					}
				}
			})
		}
	}
	// Monday: 11 finished inbound calls (2 answered in time); 6 surveys done, 4 with an
	// opinion, 3 satisfied. The week adds Tuesday's two calls and one dissatisfied survey.
	day, week := want{11, 2, 6, 4, 3}, want{13, 3, 7, 5, 3}
	check(t, PeriodToday, day)
	check(t, PeriodWeek, week)
	if _, err := e.svc.RollUp(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Run("rolled up", func(t *testing.T) {
		check(t, PeriodToday, day)
		check(t, PeriodWeek, week)
	})
}
