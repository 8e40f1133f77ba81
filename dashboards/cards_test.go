package dashboards

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rexian/rexian/api"
	"github.com/rexian/rexian/tickets"
)

func (e *env) issue() int {
	e.t.Helper()
	n, err := e.svc.IssueCards(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) cards() map[string][]Card {
	e.t.Helper()
	var cs []Card
	if err := e.DB.Order("id").Find(&cs).Error; err != nil {
		e.t.Fatal(err)
	}
	out := map[string][]Card{}
	for _, c := range cs {
		out[string(c.Color)] = append(out[string(c.Color)], c)
	}
	return out
}

func TestCards(t *testing.T) {
	e := newEnv(t)
	to := func(code string) func(*tickets.NewTicket) {
		return func(in *tickets.NewTicket) { in.Dispatch = &tickets.DispatchRequest{Departments: []string{code}} }
	}
	// Three tickets to HRSS nobody signs for: three yellow cards, then a red one.
	var ns []string
	for range 3 {
		ns = append(ns, e.ticket("TS-WY", to("HRSS")))
	}
	e.act(e.department("HEAT"), e.ticket("TS-GN", nil), tickets.ActSign, tickets.ActionRequest{}) // in time
	if n := e.issue(); n != 0 {
		t.Fatalf("%d cards before anything is late", n)
	}
	e.clk.Set(monday10.Add(7 * time.Hour))
	e.markOverdue()

	// Passes on several instances at once issue each card once.
	var wg sync.WaitGroup
	issued := make([]int, 4)
	for i := range issued {
		wg.Go(func() {
			n, err := e.svc.IssueCards(e.ctx)
			if err != nil {
				t.Error(err)
			}
			issued[i] = n
		})
	}
	wg.Wait()
	total := 0
	for _, n := range issued {
		total += n
	}
	cs := e.cards()
	hrss, _ := e.store.DepartmentByCode(e.ctx, "HRSS")
	heatID, _ := e.store.DepartmentByCode(e.ctx, "HEAT")
	yellowFor := map[uint]int{}
	for _, c := range cs["yellow"] {
		yellowFor[c.DepartmentID]++
	}
	if yellowFor[hrss] != 3 || len(cs["red"]) != 1 || cs["red"][0].Rule != RuleYellows || cs["red"][0].DepartmentID != hrss {
		t.Fatalf("cards: yellow %v, red %+v", yellowFor, cs["red"])
	}
	if total != len(cs["yellow"])+len(cs["red"]) {
		t.Errorf("passes reported %d cards; %d exist", total, len(cs["yellow"])+len(cs["red"]))
	}
	if n := e.issue(); n != 0 {
		t.Errorf("a second pass issued %d more", n)
	}

	// Late by more than its own limit again: a red card for the ticket, once. The sign-for
	// limit passed; the handling deadline (5 working days) is what "its own time limit" is.
	var tk tickets.Ticket
	if err := e.DB.Where("number = ?", ns[0]).Take(&tk).Error; err != nil {
		t.Fatal(err)
	}
	limit := tk.DueAt.Sub(*tk.DispatchedAt)
	e.clk.Set(tk.DueAt.Add(limit + time.Hour))
	e.markOverdue()
	e.issue()
	e.issue()
	doubles := 0
	for _, c := range e.cards()["red"] {
		if c.Rule == RuleDoubleOverdue {
			doubles++
		}
	}
	if doubles != 4 {
		t.Errorf("%d red cards for double lateness; want 4 (one per ticket: HRSS's three and HEAT's one day job)", doubles)
	}

	// The board: HRSS sees its own; HEAT sees nothing of HRSS's; supervisors see all.
	b, err := e.svc.Board(e.ctx, supervisor, "2026-11")
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Departments) == 0 || b.Departments[0].Department != "HRSS" || b.Departments[0].Red < 1 {
		t.Errorf("board %+v", b)
	}
	own, err := e.svc.Board(e.ctx, e.department("HEAT"), "2026-11")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range own.Departments {
		if d.Department != "HEAT" {
			t.Errorf("HEAT sees %s's cards", d.Department)
		}
	}
	_ = heatID
	if _, err := e.svc.Board(e.ctx, supervisor, "November"); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("bad month: %v", err)
	}

	// A revoked card leaves the board and is never issued again.
	y := e.cards()["yellow"][0]
	if _, err := e.svc.RevokeCard(e.ctx, supervisor, y.ID, "错派导致超期"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.RevokeCard(e.ctx, supervisor, y.ID, "again"); !errors.Is(err, api.ErrConflict) {
		t.Errorf("revoking twice: %v", err)
	}
	if _, err := e.svc.RevokeCard(e.ctx, supervisor, y.ID, ""); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("revoking without a note: %v", err)
	}
	e.issue()
	var n int64
	e.DB.Model(&Card{}).Where("event_id = ?", *y.EventID).Count(&n)
	if n != 1 {
		t.Errorf("%d cards for the revoked cause", n)
	}
}
