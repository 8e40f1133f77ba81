package web

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/tickets"
)

// TestAdminEditsRefusalReasons: the administrator replaces the refusal reasons on
// /console/admin/settings; a bad list is refused with the API's message and the text
// kept as typed; the desk then offers the new list, refuses with a new reason and not
// with a removed one; the change is in the security audit log with the administrator.
func TestAdminEditsRefusalReasons(t *testing.T) {
	f, adm, csrf, _ := adminFixture(t)
	post := func(form url.Values) (*http.Response, string) {
		form.Set("csrf_token", csrf)
		return adm.do("POST", "/console/admin/refusal-reasons", form)
	}
	_, page := adm.do("GET", "/console/admin/settings", nil)
	if !strings.Contains(page, "outside_remit = 不属于本市管辖范围") {
		t.Fatalf("the settings page does not show the configured reasons:\n%s", excerpt(page, "<main"))
	}

	root := &auth.Principal{Name: "root", Role: auth.RoleAdmin}
	for _, tt := range []struct{ name, text string }{
		{"bad code", "Outside = 不属于本市管辖范围"},
		{"no wording", "outside_remit = "},
		{"twice", "a = 甲\na = 乙"},
		{"empty", "# nothing"},
	} {
		rs, err := tickets.ParseRefusalReasons(tt.text)
		if err == nil {
			_, err = f.env.Store.SaveRefusalReasons(f.env.Ctx, root, rs)
		}
		want := serviceMessage(t, err)
		resp, page := post(url.Values{"refusal_reasons": {tt.text}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, want) || !strings.Contains(page, html.EscapeString(strings.TrimSpace(tt.text))) {
			t.Errorf("%s: %d, want 400 with %q and the text as typed", tt.name, resp.StatusCode, want)
		}
	}
	if resp, page := post(url.Values{"refusal_reasons": {"civil_dispute = 属于民事纠纷，建议通过调解或诉讼解决\noutside_remit = 不属于本市管辖范围"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", resp.StatusCode, excerpt(page, "<main"))
	}
	_, page = adm.do("GET", "/console/admin/settings?ok=refusals_saved", nil)
	if !strings.Contains(page, "不予受理理由已保存。") || !strings.Contains(page, "civil_dispute = 属于民事纠纷") {
		t.Errorf("after saving the page does not say so or show the list:\n%s", excerpt(page, "<main"))
	}

	// The desk offers the new list, in its order, and the store refuses with it.
	op := &auth.Principal{Name: "op", Role: auth.RoleOperator}
	n := func() string {
		v, err := f.env.Store.Create(f.env.Ctx, op, tickets.NewTicket{Content: "邻居借钱不还", Category: "TS-WY"})
		if err != nil {
			t.Fatal(err)
		}
		return v.Number
	}
	c := f.client()
	c.login("op")
	number := n()
	_, page = c.do("GET", "/console/tickets/"+number, nil)
	if i, j := strings.Index(page, `value="civil_dispute"`), strings.Index(page, `value="outside_remit"`); i < 0 || j < i || strings.Contains(page, `value="litigation"`) {
		t.Errorf("the desk's refusal reasons are not the saved list in its order")
	}
	if _, err := f.env.Store.Act(f.env.Ctx, op, n(), tickets.ActRefuse, tickets.ActionRequest{Reason: "litigation"}); err == nil {
		t.Error("a removed reason is still accepted")
	}
	v, err := f.env.Store.Act(f.env.Ctx, op, number, tickets.ActRefuse, tickets.ActionRequest{Reason: "civil_dispute"})
	if err != nil || !strings.Contains(v.Answer, "属于民事纠纷") {
		t.Fatalf("refuse with a saved reason: %v", err)
	}

	var recs []audit.Record
	if err := f.env.DB.WithContext(f.env.Ctx).Where("target = ?", "refusal_reasons").Find(&recs).Error; err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Actor != "admin:adm" || recs[0].Action != audit.ActionConfig || !strings.Contains(recs[0].Detail, "civil_dispute=属于民事纠纷") {
		t.Errorf("the audit log holds %+v, want the one change by admin:adm with what was saved", recs)
	}
}
