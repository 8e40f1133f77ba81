package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/tickets"
)

// Every page that shows a citizen's unmasked number leaves a record of who saw it, for
// which ticket and where; a department's masked view leaves none. Administrators find
// the records on the audit page, and nobody else may open it.
func TestUnmaskedViewsAreAudited(t *testing.T) {
	f := newFixture(t)
	op := &auth.Principal{Name: "op", Role: auth.RoleOperator}
	v, err := f.h.opts.Tickets.Create(f.env.Ctx, op, tickets.NewTicket{Citizen: tickets.NewCitizen{Name: "王女士", Phone: "13800001234"},
		Content: "暖气不热", Category: "TS-GN", Dispatch: &tickets.DispatchRequest{}})
	if err != nil {
		t.Fatal(err)
	}
	pii := func() []audit.Record {
		t.Helper()
		rs, _, err := f.env.Audit.Find(f.env.Ctx, audit.Filter{Action: audit.ActionPIIViewed}, pageOne)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}

	dept := f.client()
	dept.login("heat")
	if resp, body := dept.do("GET", "/portal/tickets/"+v.Number, nil); resp.StatusCode != http.StatusOK || strings.Contains(body, "13800001234") {
		t.Fatalf("department's view: %d", resp.StatusCode)
	}
	if rs := pii(); len(rs) != 0 {
		t.Errorf("a masked view was recorded as unmasked: %+v", rs)
	}

	desk := f.client()
	desk.login("op")
	if resp, body := desk.do("GET", "/console/tickets/"+v.Number, nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, "13800001234") {
		t.Fatalf("operator's ticket page: %d", resp.StatusCode)
	}
	rs := pii()
	if len(rs) != 1 || rs[0].Actor != "operator:op" || rs[0].Target != "ticket:"+v.Number || rs[0].IP == "" ||
		!strings.Contains(rs[0].Detail, "ticket page") {
		t.Fatalf("after the ticket page: %+v", rs)
	}
	if resp, body := desk.do("GET", "/console/tickets?q=13800001234", nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, v.Number) {
		t.Fatalf("search: %d", resp.StatusCode)
	}
	if rs := pii(); len(rs) != 2 || !strings.Contains(rs[0].Detail, "search") || rs[0].Target != "ticket:"+v.Number {
		t.Fatalf("after the search: %+v", rs)
	}

	if resp, _ := desk.do("GET", "/console/audit", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("an operator opened the audit page: %d", resp.StatusCode)
	}
	admin := f.client()
	admin.login("root")
	resp, body := admin.do("GET", "/console/audit?action=pii_viewed&target=ticket:"+v.Number, nil)
	if resp.StatusCode != http.StatusOK || strings.Count(body, "<tr><td>") != 2 {
		t.Errorf("admin's audit page: %d\n%s", resp.StatusCode, body)
	}
	// The actor is a person in words; the account stays in the cell's title for the filter.
	if !strings.Contains(body, `title="operator:op"`) || strings.Contains(body, `>operator:op<`) {
		t.Errorf("the audit page names the actor by account, not in words:\n%s", body)
	}
	if resp, body := admin.do("GET", "/console/audit?from=yesterday", nil); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "yesterday") {
		t.Errorf("a bad date: %d\n%s", resp.StatusCode, body)
	}
	if rep, err := f.env.Audit.Verify(f.env.Ctx); err != nil || !rep.OK() {
		t.Errorf("chain: %+v %v", rep, err)
	}
}
