package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/xuri/excelize/v2"

	"github.com/rexian/rexian/auth"
	"github.com/rexian/rexian/database/dbtest"
	"github.com/rexian/rexian/tickets"
)

// TestSupervisorAndAdminInBrowser drives the supervisor's figures and the administrator's
// pages in headless Chromium: every figure link lands on a page (never on JSON), the
// figures download as a workbook that excelize reads back, and the administrator
// creates a user and a category, creates and revokes a token, keeps the SMS opt-out list
// and serves a citizen's deletion request.
func TestSupervisorAndAdminInBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		dbtest.Unavailable(t, "Chromium", "apt-get install chromium fonts-wqy-microhei (scripts/test does it)", err)
	}
	cfg := testConfig(t, testEnv(t, ""))
	r := startLongApp(t, cfg, WithDemo())
	base := r.base
	opr := &auth.Principal{Name: "setup", Role: auth.RoleOperator}
	for _, in := range []tickets.NewTicket{
		{Content: "小区路灯不亮", Category: "TS-GN", Dispatch: &tickets.DispatchRequest{Departments: []string{"DSQ"}}},
		{Content: "暖气不热", Category: "TS-GN", Dispatch: &tickets.DispatchRequest{}},
	} {
		if _, err := r.app.domains.tickets.Create(context.Background(), opr, in); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	step := 0
	artifacts := t.TempDir()
	sup := newBrowser(t, ctx, "supervisor", artifacts, &step)

	// Every count on the figures page is a link to a page.
	sup.login(base, "supervisor1")
	sup.navigate("the figures", base+"/console/figures?period=month&group=department", "#figures-table")
	hrefs, err := chromedp.Run(sup.ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("td[data-figure] a")).map(a => a.href)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(hrefs) < 8 {
		t.Fatalf("%d figure links, want every count linked: %v", len(hrefs), hrefs)
	}
	seen := map[string]bool{}
	for _, h := range hrefs {
		if seen[h] {
			continue
		}
		seen[h] = true
		resp, err := chromedp.Run(sup.ctx, chromedp.NavigateResponse(h))
		if err != nil {
			t.Fatalf("open %s: %v", h, err)
		}
		if resp.Status != 200 || resp.MimeType != "text/html" || strings.Contains(h, "/api/") {
			t.Errorf("%s: %d %s, want an HTML page", h, resp.Status, resp.MimeType)
			continue
		}
		if !sup.eval(`document.querySelector("#active-filters") !== null && document.querySelector("main h1") !== null`) {
			t.Errorf("%s does not say what it lists", h)
		}
	}

	// The figures download as a workbook.
	dir := t.TempDir()
	done := make(chan string, 4)
	if err := chromedp.ListenBrowser(sup.ctx, func(ev any) {
		if e, ok := ev.(*cdpbrowser.EventDownloadProgress); ok && e.State == cdpbrowser.DownloadProgressStateCompleted {
			select {
			case done <- e.GUID:
			default:
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	yes := true
	if _, err := chromedp.CallBrowser(sup.ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
		Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: &yes}); err != nil {
		t.Fatal(err)
	}
	sup.navigate("the figures again", base+"/console/figures?period=month&group=department", "#download")
	sup.do("download the figures", chromedp.Click(chromedp.ID("download")))
	var guid string
	select {
	case guid = <-done:
	case <-ctx.Done():
		t.Fatal("the download did not finish")
	}
	x, err := excelize.OpenFile(filepath.Join(dir, guid))
	if err != nil {
		t.Fatalf("the download is not a workbook: %v", err)
	}
	rows, err := x.GetRows(x.GetSheetName(0))
	x.Close()
	if err != nil || len(rows) < 3 || rows[0][1] != "受理" {
		t.Errorf("the workbook's rows %q (%v), want the figures table", rows, err)
	}
	found := false
	for _, row := range rows {
		found = found || (len(row) > 1 && row[0] == "市热力公司" && row[1] == "1")
	}
	if !found {
		t.Errorf("the workbook lacks the heating company's ticket: %q", rows)
	}
	sup.logout()

	// The administrator creates a user and a category, creates a token and revokes it.
	adm := newBrowser(t, ctx, "admin", artifacts, &step)
	adm.login(base, "admin")
	adm.do("the admin page", chromedp.WaitVisible(chromedp.ID("admin-menu")))
	adm.navigate("the users", base+"/console/admin/users", "#new-user")
	adm.do("fill in the user", chromedp.SetValue(chromedp.ID("new-username"), "liuyang"), chromedp.SetValue(chromedp.ID("new-display-name"), "刘洋"),
		chromedp.SetValue(chromedp.ID("new-role"), "department"), chromedp.SetValue(chromedp.ID("new-department"), "DSQ"),
		chromedp.SetValue(chromedp.ID("new-password"), "liuyang-password-2026"))
	adm.submit("create the user", "#create-user")
	if got := adm.text(`tr[data-user="liuyang"]`); !strings.Contains(got, "刘洋") || !strings.Contains(got, "东胜区") {
		t.Errorf("the new user's row: %q", got)
	}
	adm.navigate("the categories", base+"/console/admin/categories", "#save-category")
	adm.do("fill in the category", chromedp.SetValue(chromedp.ID("cat-code"), "TS-GN-QJ"), chromedp.SetValue(chromedp.ID("cat-name"), "供暖期前检修"),
		chromedp.SetValue(chromedp.ID("cat-parent"), "TS-GN"), chromedp.SetValue(chromedp.ID("cat-handle"), "3wd"))
	adm.submit("save the category", "#save-category")
	if got := adm.text(`tr[data-category="TS-GN-QJ"]`); !strings.Contains(got, "供暖期前检修") || !strings.Contains(got, "3wd") {
		t.Errorf("the new category's row: %q", got)
	}
	adm.navigate("the tokens", base+"/console/admin/tokens", "#create-token")
	adm.do("name the token", chromedp.SetValue(chromedp.ID("token-name"), "网上审批系统"))
	adm.submit("create the token", "#create-token")
	secret := adm.text("#token-secret")
	if len(secret) < 20 {
		t.Fatalf("the token's secret %q", secret)
	}
	resp, err := chromedp.Run(adm.ctx, chromedp.NavigateResponse(base+"/console/admin/tokens"))
	if err != nil || resp.Status != 200 {
		t.Fatalf("the token list: %v", err)
	}
	if adm.eval(`document.body.textContent.includes(` + jsString(secret) + `)`) {
		t.Error("the token list shows the secret again")
	}
	adm.submit("revoke the token", `tr[data-token] button.revoke`)
	if got := adm.text(`tr[data-token] .token-state`); !strings.Contains(got, "已吊销") {
		t.Errorf("the token's state after revoking: %q", got)
	}
	if _, err := r.app.domains.auth.AuthenticateToken(context.Background(), secret); err == nil {
		t.Error("the revoked token still authenticates")
	}

	// A citizen asks by telephone to receive no more surveys, then asks again to have them.
	adm.navigate("the SMS opt-out list", base+"/console/admin/optouts", "#optout-add")
	adm.do("type the number", chromedp.SetValue(chromedp.ID("optout-phone"), "138 0013 8000"),
		chromedp.SetValue(chromedp.ID("optout-note"), "市民来电要求不再接收回访短信"))
	adm.submit("put it on the list", "#optout-add-button")
	if got := adm.text("#optouts"); !strings.Contains(got, "138****8000") || !strings.Contains(got, "市民来电要求不再接收回访短信") || strings.Contains(got, "13800138000") {
		t.Errorf("the opt-out list: %q; want the number masked, with its note", got)
	}
	if off, err := r.app.domains.sms.Suppressed(context.Background(), "13800138000"); err != nil || !off {
		t.Errorf("after the page put it on the list: suppressed %v, %v", off, err)
	}
	adm.do("type the number to take off", chromedp.SetValue(chromedp.ID("optout-remove-phone"), "13800138000"))
	adm.submit("take it off the list", "#optout-remove-button")
	adm.do("the list is empty", chromedp.WaitVisible(chromedp.ID("optouts-empty")))

	// A citizen's deletion request: the closed ticket loses the citizen's data after the
	// administrator confirms.
	closed, err := r.app.domains.tickets.Create(context.Background(), opr, tickets.NewTicket{
		Citizen: tickets.NewCitizen{Name: "李女士", Phone: "13800138000"}, Content: "路灯不亮", Category: "TS-GN"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.app.domains.tickets.Act(context.Background(), opr, closed.Number, tickets.ActRefuse,
		tickets.ActionRequest{Reason: tickets.DefaultRefusalReasons()[0].Code}); err != nil {
		t.Fatal(err)
	}
	adm.navigate("the deletion page", base+"/console/admin/privacy", "#privacy-form")
	adm.do("type the request", chromedp.SetValue(chromedp.ID("privacy-phone"), "138 0013 8000"),
		chromedp.SetValue(chromedp.ID("privacy-reason"), "市民 2026-12-06 的书面申请"))
	adm.submit("ask for the deletion", "#privacy-submit")
	adm.submit("confirm it", "#privacy-confirm-button")
	if got := adm.text("#privacy-erased"); !strings.Contains(got, closed.Number) {
		t.Errorf("the deletion result: %q; want %s erased", got, closed.Number)
	}
	if v, err := r.app.domains.tickets.Find(context.Background(), opr, closed.Number); err != nil || v.Citizen.Phone != "" || v.Citizen.Name != "" {
		t.Errorf("the ticket after the deletion: %+v, %v", v.Citizen, err)
	}
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
