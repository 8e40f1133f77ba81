package web

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rexian/rexian/audit"
	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/config"
	"github.com/rexian/rexian/ivr"
	"github.com/rexian/rexian/tickets"
)

// The settings page: refusal reasons and prompt texts.

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

// TestAdminEditsPromptTexts: the administrator rewords a prompt on
// /console/admin/settings; bad texts are refused with the API's message and the form
// kept as typed; the saved text is what `rexian prompts` renders, the page says that the
// audio must be rendered and installed before callers hear it, names who changed it, and
// the change is in the security audit log. Setting the configured text back undoes it.
func TestAdminEditsPromptTexts(t *testing.T) {
	f, adm, csrf, _ := adminFixture(t)
	prompts, err := ivr.NewPrompts(f.env.DB, config.DefaultIVR().Prompts, f.env.Audit)
	if err != nil {
		t.Fatal(err)
	}
	f.h.opts.IVR.Prompts = prompts
	configured := config.DefaultIVR().Prompts["welcome-mayor"]
	post := func(form url.Values) (*http.Response, string) {
		form.Set("csrf_token", csrf)
		return adm.do("POST", "/console/admin/prompts", form)
	}
	_, page := adm.do("GET", "/console/admin/settings", nil)
	if !strings.Contains(page, `name="prompt.welcome-mayor"`) || !strings.Contains(page, html.EscapeString(configured)) ||
		!strings.Contains(page, "rexian prompts") || !strings.Contains(page, `name="prompt.fallback-sorry"`) {
		t.Fatalf("the settings page does not offer the prompts with their texts and the step after saving:\n%s", excerpt(page, `id="prompts"`))
	}

	root := &auth.Principal{Name: "root", Role: auth.RoleAdmin}
	for _, tt := range []struct{ name, field, text string }{
		{"empty", "welcome-mayor", "  "},
		{"too long", "welcome-mayor", strings.Repeat("您好", 151)},
		{"two lines", "welcome-mayor", "您好\n请讲"},
		{"unknown prompt", "welcome-nobody", "您好"},
	} {
		_, _, err := prompts.Save(f.env.Ctx, root, map[string]string{tt.field: tt.text})
		want := serviceMessage(t, err)
		resp, page := post(url.Values{"prompt." + tt.field: {tt.text}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, want) {
			t.Errorf("%s: %d, want 400 with %q", tt.name, resp.StatusCode, want)
		}
		if tt.field == "welcome-mayor" && strings.TrimSpace(tt.text) != "" && !strings.Contains(page, html.EscapeString(tt.text)) {
			t.Errorf("%s: the text is not kept as typed", tt.name)
		}
	}

	const reworded = "您好，这里是市长热线，我们二十四小时为您服务。"
	if resp, page := post(url.Values{"prompt.welcome-mayor": {reworded}, "prompt.menu-main": {config.DefaultIVR().Prompts["menu-main"]}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", resp.StatusCode, excerpt(page, "<main"))
	}
	texts, err := prompts.Texts(f.env.Ctx)
	if err != nil || texts["welcome-mayor"] != reworded || texts["menu-main"] != config.DefaultIVR().Prompts["menu-main"] {
		t.Fatalf("texts to render after the save: %v, %q", err, texts["welcome-mayor"])
	}
	_, page = adm.do("GET", "/console/admin/settings?ok=prompts_saved", nil)
	if !strings.Contains(page, "语音提示文本已保存") || !strings.Contains(page, "运行 rexian prompts") || !strings.Contains(page, "已改写") ||
		!strings.Contains(page, html.EscapeString(reworded)) {
		t.Errorf("after saving the page does not say so, what to do next, or show the new text:\n%s", excerpt(page, "<main"))
	}
	if strings.Contains(page, "admin:adm") {
		t.Error("the page names the editor by role:username")
	}

	var recs []audit.Record
	if err := f.env.DB.WithContext(f.env.Ctx).Where("target = ?", "prompt_texts").Find(&recs).Error; err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Actor != "admin:adm" || recs[0].Action != audit.ActionConfig ||
		recs[0].Detail != "save_prompt_texts welcome-mayor="+reworded {
		t.Errorf("the audit log holds %+v, want the one change by admin:adm with the new text of welcome-mayor alone", recs)
	}

	// The configured text again: the rewording is gone.
	if resp, _ := post(url.Values{"prompt.welcome-mayor": {configured}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revert: %d", resp.StatusCode)
	}
	list, err := prompts.List(f.env.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range list {
		if p.Saved {
			t.Errorf("prompt %s still reworded after its configured text was set back", p.Name)
		}
	}
}
