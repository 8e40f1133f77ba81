package dashboards

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/callback"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/tickets"
	"github.com/rexian/rexian/tickets/ticketstest"
)

var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}()

// monday10 is Monday 23 November 2026, 10:00 in the city: a working day.
var monday10 = time.Date(2026, 11, 23, 10, 0, 0, 0, shanghai)

var (
	desk       = &auth.Principal{Name: "zhang", Role: auth.RoleOperator}
	supervisor = &auth.Principal{Name: "li", Role: auth.RoleSupervisor}
)

// env is the small city over a fresh database, the dashboards on the same clock.
type env struct {
	t     *testing.T
	ctx   context.Context
	clk   *ticketstest.Clock
	store *tickets.Store
	svc   *Service
	*ticketstest.Env
}

func newEnv(t *testing.T) *env {
	t.Helper()
	clk := ticketstest.NewClock(monday10)
	te := ticketstest.New(t, ticketstest.Options{Migrations: slices.Concat(ivr.Migrations(), callback.Migrations(), Migrations()),
		Store: tickets.Options{Location: shanghai, Now: clk.Now}})
	e := &env{t: t, ctx: te.Ctx, clk: clk, store: te.Store, Env: te}
	e.svc = NewService(te.DB, Options{Location: shanghai, Now: clk.Now, Tickets: te.Store})
	return e
}

// department is a principal of the department with code.
func (e *env) department(code string) *auth.Principal {
	e.t.Helper()
	id, err := e.store.DepartmentByCode(e.ctx, code)
	if err != nil {
		e.t.Fatal(err)
	}
	return &auth.Principal{Name: "u-" + code, Role: auth.RoleDepartment, DepartmentID: id}
}

// ticket registers a ticket of category, dispatched at once unless it is a consultation
// with an answer.
func (e *env) ticket(category string, mod func(*tickets.NewTicket)) string {
	e.t.Helper()
	in := tickets.NewTicket{Channel: tickets.ChannelPhone, Citizen: tickets.NewCitizen{Name: "王小明", Phone: "13812345678"},
		Title: "暖气不热", Content: "家里暖气不热，室温只有十二度。", Category: category, Urgency: tickets.UrgencyNormal,
		Dispatch: &tickets.DispatchRequest{}}
	if mod != nil {
		mod(&in)
	}
	v, err := e.store.Create(e.ctx, desk, in)
	if err != nil {
		e.t.Fatalf("create ticket: %v", err)
	}
	return v.Number
}

func (e *env) act(p *auth.Principal, number string, a tickets.Action, req tickets.ActionRequest) {
	e.t.Helper()
	if _, err := e.store.Act(e.ctx, p, number, a, req); err != nil {
		e.t.Fatalf("%s %s: %v", a, number, err)
	}
}

// call records an inbound call: finished, or in progress with no outcome.
func (e *env) call(at time.Time, outcome ivr.Outcome, wait time.Duration) *ivr.Record {
	e.t.Helper()
	rec := ivr.Record{Node: "n1", ChannelID: at.String(), Caller: "13800000000", Dialled: "12345", Hotline: "12345",
		Direction: "inbound", ArrivedAt: at.UTC(), WaitMS: wait.Milliseconds(), ConnectMS: wait.Milliseconds(),
		InTarget: outcome == ivr.OutcomeAnswered && wait <= 15*time.Second, Outcome: outcome}
	if err := e.DB.WithContext(e.ctx).Create(&rec).Error; err != nil {
		e.t.Fatal(err)
	}
	return &rec
}

// survey records a survey of the ticket's completion, answered with result (none: still
// waiting for the citizen).
func (e *env) survey(number string, result callback.Result) *callback.Survey {
	e.t.Helper()
	var t struct {
		ID               uint64
		CategoryID       uint
		LeadDepartmentID *uint
		CompletedAt      *time.Time
		EventSeq         int
		Channel          string
		DistrictID       *uint
	}
	if err := e.DB.WithContext(e.ctx).Raw(`SELECT id, category_id, lead_department_id, completed_at, event_seq, channel, district_id FROM tickets
		WHERE number = ?`, number).Scan(&t).Error; err != nil || t.CompletedAt == nil {
		e.t.Fatalf("survey of %s: not completed (%v)", number, err)
	}
	sv := &callback.Survey{TicketID: t.ID, TicketNumber: number, CompletionSeq: t.EventSeq, CompletedAt: *t.CompletedAt,
		CategoryID: t.CategoryID, DepartmentID: t.LeadDepartmentID, TicketChannel: t.Channel, DistrictID: t.DistrictID, Phone: "13812345678", PhoneKind: "mobile",
		Status: callback.StatusAwaitingSMS, DueAt: e.clk.Now(), Result: result}
	if result != callback.ResultNone {
		sv.Status = callback.StatusDone
	}
	if err := e.DB.WithContext(e.ctx).Create(sv).Error; err != nil {
		e.t.Fatal(err)
	}
	return sv
}

// answerSurvey records the citizen's answer to a survey now.
func (e *env) answerSurvey(sv *callback.Survey, result callback.Result) {
	e.t.Helper()
	err := e.DB.WithContext(e.ctx).Model(sv).Updates(map[string]any{"status": callback.StatusDone, "result": result}).Error
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) markOverdue() {
	e.t.Helper()
	if _, err := e.store.MarkOverdue(e.ctx); err != nil {
		e.t.Fatal(err)
	}
}

func f64(v float64) *float64 { return &v }
