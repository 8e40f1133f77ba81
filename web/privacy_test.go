package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/tickets"
)

// TestPrivacyErasePage serves a citizen's deletion request from the admin page: a bad
// number or a missing reason is refused in words with the input kept, the first post only
// asks for confirmation, the confirmed one erases the closed ticket (and only it) and says
// what it erased and kept, and only administrators reach the page.
func TestPrivacyErasePage(t *testing.T) {
	f, adm, csrf, _ := adminFixture(t)
	var actors []string
	f.h.opts.EraseCitizen = func(ctx context.Context, actor, tel, reason string) (Erasure, error) {
		actors = append(actors, actor)
		e, err := f.env.Store.EraseCitizen(ctx, actor, tel, reason)
		return Erasure{Erased: e.Erased, Open: e.Open, Calls: 2}, err
	}
	op := &auth.Principal{Name: "op", Role: auth.RoleOperator}
	v, err := f.env.Store.Create(f.env.Ctx, op, tickets.NewTicket{Citizen: tickets.NewCitizen{Phone: "13800001234"}, Title: "暖气不热",
		Content: "暖气不热，室温只有十二度。", Category: "TS-GN"})
	if err != nil {
		t.Fatal(err)
	}
	closed := v.Number
	if _, err := f.env.Store.Act(f.env.Ctx, op, closed, tickets.ActRefuse, tickets.ActionRequest{Reason: tickets.DefaultRefusalReasons()[0].Code}); err != nil {
		t.Fatal(err)
	}
	open := f.dispatched("楼道灯不亮", "TS-GN", "")
	post := func(form url.Values) (*http.Response, string) {
		form.Set("csrf_token", csrf)
		return adm.do("POST", "/console/admin/privacy", form)
	}

	if resp, page := adm.do("GET", "/console/admin", nil); resp.StatusCode != http.StatusOK || !strings.Contains(page, `href="/console/admin/privacy"`) {
		t.Errorf("the admin menu has no link to the deletion page: %d", resp.StatusCode)
	}
	for _, tt := range []struct {
		name, phone, reason, says, kept string
	}{
		{"bad number", "12ab", "市民书面申请", "不是有效的电话号码", `value="12ab"`},
		{"no reason", "13800001234", "  ", "请填写删除依据", `value="13800001234"`},
	} {
		resp, page := post(url.Values{"phone": {tt.phone}, "reason": {tt.reason}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, tt.says) || !strings.Contains(page, tt.kept) {
			t.Errorf("%s: %d, want 400 saying %q with %s kept", tt.name, resp.StatusCode, tt.says, tt.kept)
		}
	}
	if len(actors) != 0 {
		t.Fatalf("a refused form erased: %v", actors)
	}

	resp, page := post(url.Values{"phone": {"138-0000-1234"}, "reason": {"市民 2026-12-06 的书面申请"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="privacy-confirm"`) || !strings.Contains(page, `name="confirmed" value="1"`) ||
		!strings.Contains(page, "138****1234") {
		t.Fatalf("the first post does not ask for confirmation with the masked number: %d\n%s", resp.StatusCode, page)
	}
	if len(actors) != 0 {
		t.Fatal("the data was erased before the confirmation")
	}
	if v := f.find(closed); v.Citizen.Phone == "" {
		t.Fatal("the closed ticket lost its phone before the confirmation")
	}

	resp, page = post(url.Values{"phone": {"138-0000-1234"}, "reason": {"市民 2026-12-06 的书面申请"}, "confirmed": {"1"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="privacy-done"`) {
		t.Fatalf("confirmed erasure: %d\n%s", resp.StatusCode, page)
	}
	erased := page[strings.Index(page, `id="privacy-erased"`):]
	kept := page[strings.Index(page, `id="privacy-open"`):]
	if !strings.Contains(erased[:strings.Index(erased, "</li>")], closed) || !strings.Contains(kept[:strings.Index(kept, "</li>")], open) ||
		!strings.Contains(page, "2 条通话记录") {
		t.Errorf("the result does not say %s erased, %s kept and the calls:\n%s", closed, open, page)
	}
	if strings.Join(actors, ",") != "admin:adm" {
		t.Errorf("erased as %v, want once as admin:adm", actors)
	}
	if v := f.find(closed); v.Citizen.Phone != "" || v.Status != tickets.StatusRefused {
		t.Errorf("closed ticket after the erasure: phone %q, status %s; want no phone, still refused", v.Citizen.Phone, v.Status)
	}
	if v := f.find(open); v.Citizen.Phone != "13800001234" {
		t.Errorf("the open ticket lost its phone: %q", v.Citizen.Phone)
	}

	sup := f.client()
	supCSRF := sup.login("sup")
	if resp, _ := sup.do("POST", "/console/admin/privacy", url.Values{"csrf_token": {supCSRF}, "phone": {"13800001234"}, "reason": {"x"}, "confirmed": {"1"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a supervisor posting the erasure: %d, want 403", resp.StatusCode)
	}
}
