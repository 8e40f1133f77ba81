package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/sms"
)

// TestOptOutsPage keeps the SMS opt-out list from the admin console: a bad number is
// refused in words with the input kept, a number put on the list stops the survey queued
// to it and is listed masked, a second entry for it changes nothing, taking off a number
// that is not on the list says so, each change is audited, and only administrators reach
// the page.
func TestOptOutsPage(t *testing.T) {
	f, adm, csrf, _ := adminFixture(t)
	texts := f.h.opts.SMS
	survey, _, err := texts.Enqueue(f.env.Ctx, sms.NewMessage{Kind: sms.KindSurvey, To: "13800138000", Text: "回复1满意 2基本满意 3不满意"})
	if err != nil {
		t.Fatal(err)
	}
	post := func(path string, form url.Values) (*http.Response, string) {
		form.Set("csrf_token", csrf)
		return adm.do("POST", path, form)
	}
	if resp, page := adm.do("GET", "/console/admin", nil); resp.StatusCode != http.StatusOK || !strings.Contains(page, `href="/console/admin/optouts"`) {
		t.Errorf("the admin menu has no link to the opt-out list: %d", resp.StatusCode)
	}
	if resp, page := adm.do("GET", "/console/admin/optouts", nil); resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="optouts-empty"`) {
		t.Fatalf("the empty list: %d\n%s", resp.StatusCode, page)
	}

	for _, tt := range []struct {
		name, path, phone, says, kept string
		status                        int
	}{
		{"bad number", "/console/admin/optouts", "12ab", "不是有效的手机号码", `id="optout-phone" name="phone" inputmode="tel" required maxlength="32" value="12ab"`, http.StatusBadRequest},
		{"landline", "/console/admin/optouts", "0477-8581234", "是固定电话", `value="0477-8581234"`, http.StatusBadRequest},
		{"not on the list", "/console/admin/optouts/remove", "13900139000", "139****9000 不在退订名单中", `id="optout-remove-phone" name="phone" inputmode="tel" required maxlength="32" value="13900139000"`, http.StatusNotFound},
	} {
		form := url.Values{"phone": {tt.phone}}
		if strings.HasSuffix(tt.path, "remove") {
			form.Set("remove", "1")
		}
		resp, page := post(tt.path, form)
		if resp.StatusCode != tt.status || !strings.Contains(page, tt.says) || !strings.Contains(page, tt.kept) {
			t.Errorf("%s: %d, want %d saying %q with the number kept", tt.name, resp.StatusCode, tt.status, tt.says)
		}
	}

	for range 2 {
		resp, _ := post("/console/admin/optouts", url.Values{"phone": {"138-0013-8000"}, "note": {"市民来电要求不再接收回访短信"}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/admin/optouts?ok=opt_out_added" {
			t.Fatalf("put on the list: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if m, err := texts.Message(f.env.Ctx, survey.ID, false); err != nil || m.Status != sms.StatusSuppressed {
		t.Errorf("the survey queued before: %s, %v; want it suppressed", m.Status, err)
	}
	resp, page := adm.do("GET", "/console/admin/optouts?ok=opt_out_added", nil)
	if resp.StatusCode != http.StatusOK || strings.Count(page, "138****8000") != 1 || strings.Contains(page, "13800138000") ||
		!strings.Contains(page, "市民来电要求不再接收回访短信") || !strings.Contains(page, "工作人员登记") || !strings.Contains(page, "已列入退订名单") {
		t.Fatalf("the list after the entry (once, masked, with its note): %d\n%s", resp.StatusCode, page)
	}

	resp, _ = post("/console/admin/optouts/remove", url.Values{"phone": {"13800138000"}, "remove": {"1"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/admin/optouts?ok=opt_out_removed" {
		t.Fatalf("take off the list: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if off, err := texts.Suppressed(f.env.Ctx, "13800138000"); err != nil || off {
		t.Errorf("after taking it off: suppressed %v, %v", off, err)
	}
	rs, _, err := f.env.Audit.Find(f.env.Ctx, audit.Filter{Action: audit.ActionConfig}, pageOne)
	if err != nil {
		t.Fatal(err)
	}
	var changes []string
	for _, r := range rs {
		if strings.HasPrefix(r.Target, "sms_opt_out:") {
			changes = append(changes, r.Target+" "+strings.Fields(r.Detail)[0])
		}
	}
	slices.Sort(changes)
	if strings.Join(changes, ",") != "sms_opt_out:138****8000 sms_opt_out_added,sms_opt_out:138****8000 sms_opt_out_added,sms_opt_out:138****8000 sms_opt_out_removed" {
		t.Errorf("audited: %q", changes)
	}

	sup := f.client()
	supCSRF := sup.login("sup")
	if resp, _ := sup.do("POST", "/console/admin/optouts", url.Values{"csrf_token": {supCSRF}, "phone": {"13800138000"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a supervisor posting an opt-out: %d, want 403", resp.StatusCode)
	}
}
