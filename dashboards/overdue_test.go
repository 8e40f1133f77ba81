package dashboards

import (
	"errors"
	"testing"
	"time"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/tickets"
)

func TestOverdueListAndUrge(t *testing.T) {
	e := newEnv(t)
	late := e.ticket("TS-WY", func(in *tickets.NewTicket) { in.Dispatch = &tickets.DispatchRequest{Departments: []string{"DS-ZJ"}} })
	e.ticket("TS-GN", nil) // signed in time below: not overdue
	e.clk.Add(7 * time.Hour)
	e.markOverdue()

	page := api.Page{Page: 1, PerPage: 50}
	list, more, err := e.svc.Overdue(e.ctx, supervisor, "", page)
	if err != nil {
		t.Fatal(err)
	}
	if more || len(list) != 2 {
		t.Fatalf("overdue list: %+v", list)
	}
	// The district sees its bureau's ticket; the heating company does not.
	for _, tc := range []struct {
		who  string
		dept string
		n    int
		err  error
	}{
		{"DS", "", 1, nil}, {"DS-ZJ", "", 1, nil}, {"HRSS", "", 0, nil}, {"HEAT", "", 1, nil},
		{"HEAT", "DS", 0, api.ErrForbidden}, {"DS", "DS-ZJ", 1, nil}, {"DS", "NOPE", 0, api.ErrInvalid},
	} {
		got, _, err := e.svc.Overdue(e.ctx, e.department(tc.who), tc.dept, page)
		if !errors.Is(err, tc.err) || (err == nil && len(got) != tc.n) {
			t.Errorf("%s sees %d (%v); want %d (%v)", tc.who, len(got), err, tc.n, tc.err)
		}
	}
	if list[0].LateHours <= 0 || list[0].Department == "" {
		t.Errorf("line %+v", list[0])
	}

	v, err := e.svc.Urge(e.ctx, supervisor, late, UrgeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	last := v.Timeline[len(v.Timeline)-1]
	if last.Action != tickets.ActUrge || last.Note == "" {
		t.Errorf("the urge on the timeline: %+v", last)
	}
	if _, err := e.svc.Urge(e.ctx, e.department("HEAT"), late, UrgeRequest{}); !errors.Is(err, api.ErrForbidden) {
		t.Errorf("a department urges: %v", err)
	}
	if _, err := e.svc.Urge(e.ctx, supervisor, "2600000000", UrgeRequest{}); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("urging no ticket: %v", err)
	}
}

func TestSupervisions(t *testing.T) {
	e := newEnv(t)
	n := e.ticket("TS-GN", nil)
	in := SupervisionInput{Ticket: n, Date: "2026-11-23", Place: "宝日陶亥社区", People: "王主任", Findings: "阀门已更换。"}
	sv, err := e.svc.CreateSupervision(e.ctx, supervisor, in)
	if err != nil {
		t.Fatal(err)
	}
	if sv.TicketNumber != n || sv.CreatedBy != "supervisor:li" {
		t.Errorf("record %+v", sv)
	}
	in.Findings = "复查：正常。"
	if _, err := e.svc.UpdateSupervision(e.ctx, supervisor, sv.ID, in); err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.Supervision(e.ctx, supervisor, sv.ID)
	if err != nil || got.Findings != "复查：正常。" || got.CreatedBy != "supervisor:li" {
		t.Errorf("after update: %+v, %v", got, err)
	}
	list, _, err := e.svc.Supervisions(e.ctx, supervisor, n, api.Page{Page: 1, PerPage: 10})
	if err != nil || len(list) != 1 {
		t.Errorf("list: %+v, %v", list, err)
	}
	for name, bad := range map[string]SupervisionInput{
		"date":     {Date: "26/11/2026", Place: "x", People: "y", Findings: "z"},
		"place":    {Date: "2026-11-23", People: "y", Findings: "z"},
		"findings": {Date: "2026-11-23", Place: "x", People: "y"},
		"ticket":   {Ticket: "2600000000", Date: "2026-11-23", Place: "x", People: "y", Findings: "z"},
	} {
		if _, err := e.svc.CreateSupervision(e.ctx, supervisor, bad); !errors.Is(err, api.ErrInvalid) {
			t.Errorf("bad %s: %v", name, err)
		}
	}
	if _, err := e.svc.CreateSupervision(e.ctx, e.department("HEAT"), in); !errors.Is(err, api.ErrForbidden) {
		t.Errorf("a department records: %v", err)
	}
	if err := e.svc.DeleteSupervision(e.ctx, supervisor, sv.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Supervision(e.ctx, supervisor, sv.ID); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
}
